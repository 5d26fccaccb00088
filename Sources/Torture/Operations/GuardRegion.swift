import CHost

/// `madvise(MADV_GUARD_INSTALL)` (Linux 6.13): the page is zapped (an mmu-notifier invalidation) and guarded, so
/// any access faults (a must-fault window); then `MADV_GUARD_REMOVE`: readable again, and zero. Private anonymous
/// memory.
final class GuardRegion: HostOperation {
    static let name = "guard"
    static let traits: OperationTraits = [.holdsAMustFaultWindow, .freesFrames, .probed, .noinvalSkips]
    static func applies(to backing: BackingKind) -> Bool { backing == .anonymous }
    static let backingFix: String? = "guard regions are tortured on private anonymous memory (--backing anonymous)"
    static var hostProblem: String? { HostMemory.guardRegionsProblem }
    static func forecast(on backing: BackingKind, facts: HostFacts) -> (exercisable: Bool, reason: String)? {
        facts.guardRegionsProblem.map { (false, $0) }
    }

    private let backing: Backing
    init(_ context: StepContext) { backing = context.backing }

    func invoke(page: Int, pages: Range<Int>) throws -> Invocation {
        try backing.advise(page: page, CHOST_MADV_GUARD_INSTALL, name: "madvise(MADV_GUARD_INSTALL)")
        return .holding(.fault, invalidates: true, freedFrames: 1) { [backing] in
            try backing.advise(page: page, CHOST_MADV_GUARD_REMOVE, name: "madvise(MADV_GUARD_REMOVE)")
            return CallOutcome(window: .zero, zeroed: page..<page)
        }
    }
}

extension Operation {
    public static let guardRegion = Operation(GuardRegion.self)
}
