/// `madvise(MADV_DONTNEED)`: the page is zapped; private memory reads zero after it, shared keeps its content.
final class DontNeed: HostOperation {
    static let name = "dontneed"
    static let traits: OperationTraits = [.mixable, .freesFrames, .probed, .noinvalSkips]
    static func applies(to backing: BackingKind) -> Bool { backing != .hugetlb }

    private let backing: Backing
    init(_ context: StepContext) { backing = context.backing }

    func invoke(page: Int, pages: Range<Int>) throws -> Invocation {
        try backing.dontneed(page: page)
        let window: ControlWord.Kind = backing.dontneedZeroes ? .zero : .keep
        return .done(CallOutcome(window: window, zeroed: page..<page, freedFrames: window == .zero ? pages.count : 0))
    }
}

extension Operation {
    public static let dontneed = Operation(DontNeed.self)
}
