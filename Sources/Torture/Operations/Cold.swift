import CHost
import Guests

/// `madvise(MADV_COLD)`: the page is only deactivated (nothing reaches KVM), except on part of a huge page, whose
/// mapping it splits. So a cold step on THP collapses the huge page again first (once one of its steps has split
/// it): every step has a huge page to split, not only a run's first.
final class Cold: HostOperation {
    static let name = "cold"
    static let traits: OperationTraits = [.judgedByWrites]
    static func applies(to backing: BackingKind) -> Bool { backing != .hugetlb }
    static func forecast(on backing: BackingKind, facts: HostFacts) -> (exercisable: Bool, reason: String)? {
        backing == .thp
            ? (true, "advising part of a huge page splits its mapping, which KVM must be told of; the mutator collapses it again before each step (if no huge page forms, nothing reaches KVM)")
            : (false, "MADV_COLD only deactivates pages; KVM is never told")
    }

    private let backing: Backing
    /// On THP: the huge pages (index of their first data page / 512) a cold step has split.
    private var splitHugePages: Set<Int> = []
    /// On THP: the collapses tried before a step, and how many failed.
    private var collapses = (tried: 0, failed: 0)

    init(_ context: StepContext) { backing = context.backing }

    /// Untimed, before the call: the collapse keeps every page's content, so the windows in flight stay true.
    func prepare(page: Int) {
        guard backing.kind == .thp else { return }
        if !splitHugePages.insert(page / THPCollapse.pagesPerHugePage).inserted {
            collapses.tried += 1
            if !backing.tryCollapse(page: page) { collapses.failed += 1 }  // this step has nothing to split
        }
    }

    func invoke(page: Int, pages: Range<Int>) throws -> Invocation {
        try backing.advise(page: page, CHOST_MADV_COLD, name: "madvise(MADV_COLD)")
        return .done(CallOutcome(window: .keep, zeroed: page..<page))
    }

    func notes() -> [String] {
        guard backing.kind == .thp else { return ["MADV_COLD only moves pages to the inactive list; it unmaps nothing, so KVM is never told"] }
        return ["cold: the split huge page collapsed again before \(collapses.tried) steps, "
            + "\(collapses.failed) of them failed (that step found the range already small: its MADV_COLD reached nothing)"]
    }
}

extension Operation {
    public static let cold = Operation(Cold.self)
}
