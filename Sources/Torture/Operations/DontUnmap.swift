#if canImport(Glibc)
import Glibc
#endif
import CHost

/// `dontunmap`: `mremap(MREMAP_DONTUNMAP)` moves the page's frame to a parking page and leaves the old range mapped
/// and empty (the move's notifier invalidation zaps it): the guest must read zero there. The host checks that the
/// content arrived at the new address, then unmaps it, which frees the frame (the traps take it). What guests wrote
/// before the call moved with it. Private anonymous memory.
final class DontUnmap: HostOperation {
    static let name = "dontunmap"
    static let traits: OperationTraits = [.freesFrames, .probed, .noinvalSkips]
    static func applies(to backing: BackingKind) -> Bool { backing == .anonymous }
    static let backingFix: String? = "MREMAP_DONTUNMAP moves private anonymous pages (--backing anonymous)"
    static var hostProblem: String? { problem }
    static func forecast(on backing: BackingKind, facts: HostFacts) -> (exercisable: Bool, reason: String)? {
        problem.map { (false, $0) }
    }

    private unowned let context: StepContext
    /// Moves whose content did not arrive at the new address (the host's own check of mremap; reported).
    private var moves = 0
    private var contentLost = 0

    init(_ context: StepContext) { self.context = context }

    func invoke(page: Int, pages: Range<Int>) throws -> Invocation {
        let backing = context.backing
        guard let scratch = backing.scratch else { throw HostCallError("mremap", errno: ENOMEM, context: "no scratch page reserved") }
        let (old, parked) = (backing.address(ofPage: page), scratch + context.currentSlot * GuestPage.size)
        let before = old.load(as: UInt64.self)
        let result = chost_mremap_dontunmap(old, GuestPage.size, parked)
        guard result != MAP_FAILED, result == parked else {
            throw HostCallError("mremap(MREMAP_DONTUNMAP)", errno: errno, context: "page \(page)")
        }
        moves += 1
        if parked.load(as: UInt64.self) != before { contentLost += 1 }
        _ = try HostMemory.reserve(GuestPage.size, at: parked)  // the moved frame is freed, the parking page reserved again
        return .done(CallOutcome(window: .zero, zeroed: page..<page, freedFrames: 1))
    }

    func notes() -> [String] {
        contentLost == 0 ? [] : ["dontunmap: \(contentLost) of \(moves) moves did not carry the page's first word to the new address (the host's check of mremap)"]
    }

    /// Why the move cannot be tortured here (tried on a scratch page), or nil.
    static let problem: String? = {
        guard let pages = mmap(nil, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), pages != MAP_FAILED else {
            return "mmap of scratch pages failed (\(String(cString: strerror(errno))))"
        }
        defer { munmap(pages, 2 * 4096) }
        guard chost_mremap_dontunmap(pages, 4096, pages + 4096) != MAP_FAILED else {
            return "mremap(MREMAP_DONTUNMAP) failed (\(String(cString: strerror(errno)))): it needs Linux 5.7 or later"
        }
        return nil
    }()
}

extension Operation {
    public static let dontunmap = Operation(DontUnmap.self)
}
