#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import Torture

/// An operation's calls on real host memory, made by the row's own instance (the mutator of a ``ScriptedRun`` is
/// its context), checked by what the kernel says of the page: the state its window promises, without /dev/kvm.
struct OperationCallTests {
    /// uffd-wp: between its two halves the page is write-protected through the userfaultfd (pagemap's
    /// PM_UFFD_WP, bit 57: what makes a guest's write wait instead of landing), and after the second it is not.
    @Test(.enabled(if: Torture.Operation.uffdWriteProtect.hostProblem == nil, "\(Torture.Operation.uffdWriteProtect.hostProblem ?? "")"))
    func aWriteProtectedPageIsProtectedExactlyWhileItsReadOnlyWindowIsHeld() throws {
        let run = try ScriptedRun(.uffdWriteProtect)
        run.mutator.publishInitialGenerations()
        let caller = try #require(run.mutator.callers[Torture.Operation.uffdWriteProtect.index])
        let address = run.mutator.backing.address(ofPage: 3)
        #expect(!Self.isUserfaultWriteProtected(address))
        guard case .holding(let window, let invalidates, _, let rest) = try caller.invoke(page: 3, pages: 3..<4) else {
            Issue.record("uffd-wp holds a window between its halves")
            return
        }
        #expect(window == .readOnly && invalidates)
        #expect(Self.isUserfaultWriteProtected(address), "protected while the read-only window is held")
        #expect(!Self.isUserfaultWriteProtected(run.mutator.backing.address(ofPage: 4)), "only the step's page")
        let outcome = try rest()
        #expect(outcome.window == .keep && !outcome.failed)
        #expect(!Self.isUserfaultWriteProtected(address), "the second half lifts the protection")
    }

    /// /proc/self/pagemap's PM_UFFD_WP bit for the page at `address`.
    static func isUserfaultWriteProtected(_ address: UnsafeMutableRawPointer) -> Bool {
        let fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC)
        defer { close(fd) }
        var entry: UInt64 = 0
        let read = pread(fd, &entry, 8, off_t(UInt(bitPattern: address) / 4096 * 8))
        return read == 8 && entry >> 57 & 1 == 1
    }
}
