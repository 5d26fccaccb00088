import Guests

/// Opt-in (`--allow-system-changes`, root): memory-cgroup reclaim of about 64 pages per step (cgroup v2
/// `memory.reclaim`, or a v1 child cgroup's limit lowered below its usage), so that the kernel ages the data's
/// page cache: `clear_flush_young` on the pages KVM maps, eviction of the cold ones. File backing (without swap
/// nothing else is reclaimable).
final class Aging: HostOperation {
    static let name = "aging"
    static let traits: OperationTraits = [.freesFrames, .freesUnknownFrames, .runsAlone, .judgedByWrites, .optIn]
    static func applies(to backing: BackingKind) -> Bool { backing == .file }
    static let backingFix: String? = "reclaim ages page cache (--backing file)"
    static var hostProblem: String? {
        if case .failure(let problem) = ReclaimCgroup.locate() { problem.description } else { nil }
    }
    static var systemChange: (what: String, undo: String)? {
        ("reclaims memory through a memory cgroup (v1: moves the harness into a child cgroup it creates)", "the harness moves back and removes the child when the run ends")
    }
    static func changeHost(_ changes: SystemChanges) throws -> (any HostChange)? { try ReclaimCgroup(changes: changes) }
    /// What one step asks the cgroup to reclaim: 64 pages.
    static let bytesPerStep = 64 * GuestPage.size

    private let reclaim: ReclaimCgroup?
    private var steps = 0
    private var fruitless = 0
    private var reclaimedBytes = 0

    init(_ context: StepContext) { reclaim = context.environment.hostChange as? ReclaimCgroup }

    /// Nothing reclaimable (EAGAIN, EBUSY) is counted, not fatal.
    func invoke(page: Int, pages: Range<Int>) throws -> Invocation {
        steps += 1
        guard let reclaimed = reclaim?.reclaim(bytes: Self.bytesPerStep) else {
            fruitless += 1
            return .done(CallOutcome(window: .keep, failed: true, zeroed: page..<page, invalidates: false))
        }
        reclaimedBytes += reclaimed
        return .done(CallOutcome(window: .keep, zeroed: page..<page, freedFrames: reclaimed / GuestPage.size))
    }

    func notes() -> [String] {
        guard let reclaim else { return [] }
        return ["aging through \(reclaim.interface.rawValue) (\(reclaim.directory)): \(steps) reclaim steps, "
            + "\(fruitless) found nothing to reclaim, usage dropped by \(reclaimedBytes / 1024) KiB in all"]
    }
}

extension Operation {
    public static let aging = Operation(Aging.self)
}
