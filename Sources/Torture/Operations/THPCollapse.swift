/// `thp`: in turn, `MADV_COLLAPSE` of the page's 2 MiB range into a huge page (the small pages are copied and
/// freed), and a split by dropping one small page of it (which comes back as zeros).
final class THPCollapse: HostOperation {
    static let name = "thp"
    static let traits: OperationTraits = [.freesFrames, .runsAlone, .probed]
    static func applies(to backing: BackingKind) -> Bool { backing == .thp }
    static let backingFix: String? = "collapse needs the THP backing (--backing thp)"
    static func pages(around page: Int, of count: Int) -> Range<Int> {
        let first = page / pagesPerHugePage * pagesPerHugePage
        return first..<(first + pagesPerHugePage)
    }
    static let pagesPerHugePage = 512

    private let backing: Backing
    private var collapsing = false
    init(_ context: StepContext) { backing = context.backing }

    func invoke(page: Int, pages: Range<Int>) throws -> Invocation {
        collapsing.toggle()
        guard collapsing else {
            // DONTNEED of one 4 KiB page inside a huge page splits it: an invalidation.
            try backing.dontneed(page: page)
            return .done(CallOutcome(window: .keep, zeroed: page..<(page + 1), freedFrames: 1))
        }
        // A collapse copies the small pages into a huge one and frees them: a translation left on one of them
        // would read the same content, unless a trap took its frame. A range already huge collapses without an
        // invalidation.
        let collapsed = backing.tryCollapse(page: page)
        return .done(CallOutcome(window: .keep, failed: !collapsed, zeroed: page..<page, invalidates: false,
                                 freedFrames: collapsed ? pages.count : 0))
    }
}

extension Operation {
    public static let thp = Operation(THPCollapse.self)
}
