import CHost
import Guests

/// `madvise(MADV_PAGEOUT)`: the page is reclaimed (swapped out, or a file page dropped), the content kept.
final class PageOut: HostOperation {
    static let name = "pageout"
    static let traits: OperationTraits = [.freesFrames, .judgedByWrites]
    static func applies(to backing: BackingKind) -> Bool { backing != .hugetlb }
    static func forecast(on backing: BackingKind, facts: HostFacts) -> (exercisable: Bool, reason: String)? {
        switch backing {
        case .thp: (true, "advising part of a huge page splits its mapping, which KVM must be told of; once split (or if no huge page formed), nothing more reaches KVM without swap")
        case .anonymous where !facts.swap: (false, "MADV_PAGEOUT of private anonymous memory needs swap")
        default: nil
        }
    }

    private let backing: Backing
    init(_ context: StepContext) { backing = context.backing }

    func invoke(page: Int, pages: Range<Int>) throws -> Invocation {
        try backing.advise(page: page, CHOST_MADV_PAGEOUT, name: "madvise(MADV_PAGEOUT)")
        let movedOut = 1 - backing.residentPages(first: page, count: 1)  // anonymous memory without swap stays
        return .done(CallOutcome(window: .keep, zeroed: page..<page, freedFrames: movedOut))
    }

    func notes() -> [String] {
        backing.kind == .anonymous ? ["MADV_PAGEOUT on private anonymous memory needs swap to unmap anything"] : []
    }
}

extension Operation {
    public static let pageout = Operation(PageOut.self)
}
