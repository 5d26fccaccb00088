/// `madvise(MADV_DONTNEED)`: the page is zapped; private memory reads zero after it, shared keeps its content.
final class DontNeed: HostOperation {
    static let name = "dontneed"
    static let traits: OperationTraits = [.mixable, .freesFrames, .probed, .noinvalSkips]
    static func applies(to backing: BackingKind) -> Bool { backing != .hugetlb }

    private let backing: Backing
    init(_ context: StepContext) { backing = context.backing }

    func invoke(page: Int, pages: Range<Int>) throws -> Invocation {
        try backing.dontneed(page: page)
        return .done(.dropped(page: page, pages: pages, zeroes: backing.dontneedZeroes))
    }
}

extension Operation {
    public static let dontneed = Operation(DontNeed.self)
}
