#if canImport(Glibc)
import Glibc
#endif
import CHost

/// `uffd-wp`: userfaultfd write-protection of the page (`UFFDIO_WRITEPROTECT` on, a protection-change notifier
/// invalidation), a read-only window, then off. Reads go on; a guest write must not land while the page is
/// protected (KVM cannot write through): the vCPU's fault waits in the kernel until the protection is lifted,
/// which wakes it, and the write then lands (the lost-write oracle checks that none is lost). Private anonymous
/// memory; the run needs a userfaultfd that handles the kernel's own faults (root, or vm.unprivileged_userfaultfd=1).
final class UFFDWriteProtect: HostOperation {
    static let name = "uffd-wp"
    static let traits: OperationTraits = [.probed, .noinvalSkips]
    static func applies(to backing: BackingKind) -> Bool { backing == .anonymous }
    static let backingFix: String? = "userfaultfd write-protection is tortured on private anonymous memory (--backing anonymous)"
    static var hostProblem: String? { WriteProtection.problem }
    static func forecast(on backing: BackingKind, facts: HostFacts) -> (exercisable: Bool, reason: String)? {
        WriteProtection.problem.map { (false, $0) }
    }

    private let backing: Backing
    private var protection: WriteProtection?

    init(_ context: StepContext) { backing = context.backing }

    func invoke(page: Int, pages: Range<Int>) throws -> Invocation {
        let protection = try self.protection ?? WriteProtection(registering: backing)
        self.protection = protection
        try protection.set(true, page: page)
        return .holding(.readOnly, invalidates: true, freedFrames: 0) {
            try protection.set(false, page: page)
            return CallOutcome(window: .keep, zeroed: page..<page)
        }
    }
}

/// A userfaultfd with the data registered for write-protection, open for the run (closing it would drop the
/// protection and wake every waiting fault).
private final class WriteProtection {
    private let descriptor: Int32
    private let backing: Backing

    init(registering backing: Backing) throws {
        let descriptor = chost_userfaultfd()
        guard descriptor >= 0 else { throw HostCallError("userfaultfd", errno: errno, hint: Self.sysctlHint) }
        self.descriptor = descriptor
        self.backing = backing
        guard chost_uffd_api(descriptor) == 0 else { throw HostCallError("ioctl(UFFDIO_API)", errno: errno) }
        guard chost_uffd_register_wp(descriptor, backing.address(ofPage: 0), UInt64(backing.size)) == 0 else {
            throw HostCallError("ioctl(UFFDIO_REGISTER, write-protect)", errno: errno, context: "the data, \(backing.size) bytes")
        }
    }

    deinit { close(descriptor) }

    func set(_ protect: Bool, page: Int) throws {
        guard chost_uffd_writeprotect(descriptor, backing.address(ofPage: page), UInt64(GuestPage.size), protect ? 1 : 0) == 0 else {
            throw HostCallError("ioctl(UFFDIO_WRITEPROTECT)", errno: errno, context: "\(protect ? "on" : "off") for page \(page)")
        }
    }

    static let sysctlHint = "a userfaultfd that handles the kernel's faults (KVM's) needs root (CAP_SYS_PTRACE) or sysctl vm.unprivileged_userfaultfd=1"

    /// Why write-protection cannot be tortured here (tried on a scratch page), or nil.
    static let problem: String? = {
        let descriptor = chost_userfaultfd()
        guard descriptor >= 0 else {
            let error = errno
            return error == ENOSYS ? "the kernel has no userfaultfd (CONFIG_USERFAULTFD)"
                : "userfaultfd failed (\(String(cString: strerror(error)))): \(sysctlHint)"
        }
        defer { close(descriptor) }
        guard let page = mmap(nil, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), page != MAP_FAILED else {
            return "mmap of a scratch page failed (\(String(cString: strerror(errno))))"
        }
        defer { munmap(page, 4096) }
        guard chost_uffd_api(descriptor) == 0, chost_uffd_register_wp(descriptor, page, 4096) == 0 else {
            return "userfaultfd write-protection of anonymous memory failed (\(String(cString: strerror(errno)))): it needs Linux 5.7 or later"
        }
        return nil
    }()
}

extension Operation {
    public static let uffdWriteProtect = Operation(UFFDWriteProtect.self)
}
