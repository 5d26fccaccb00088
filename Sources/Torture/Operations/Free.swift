import CHost

/// `madvise(MADV_FREE)`: the page is zapped (an mmu-notifier invalidation) and left lazily freeable: it keeps its
/// content until reclaim drops it, then reads zero, unless it is written first. Every other step reclaims it at
/// once (`MADV_PAGEOUT` discards a clean lazily freed page, swap or not), so that the frame really is freed and the
/// traps take it. Meanwhile the guest may read the content it was promised or zero, nothing else (an old-or-zero
/// window); what guests wrote before the call may go with the page. Private anonymous memory.
final class Free: HostOperation {
    static let name = "free"
    static let traits: OperationTraits = [.freesFrames, .probed, .noinvalSkips]
    static func applies(to backing: BackingKind) -> Bool { backing == .anonymous }
    static let backingFix: String? = "MADV_FREE frees private anonymous pages (--backing anonymous)"

    private let backing: Backing
    private var reclaiming = false
    /// Steps that reclaimed at once, and how many of them found the page clean and dropped it.
    private var reclaims = 0
    private var dropped = 0

    init(_ context: StepContext) { backing = context.backing }

    func invoke(page: Int, pages: Range<Int>) throws -> Invocation {
        reclaiming.toggle()
        try backing.advise(page: page, CHOST_MADV_FREE, name: "madvise(MADV_FREE)")
        var freed = 0
        if reclaiming {
            try backing.advise(page: page, CHOST_MADV_PAGEOUT, name: "madvise(MADV_PAGEOUT)")
            freed = 1 - backing.residentPages(first: page, count: 1)
            (reclaims, dropped) = (reclaims + 1, dropped + freed)
        }
        return .done(CallOutcome(window: .oldOrZero, zeroed: page..<page, freedFrames: freed))
    }

    func notes() -> [String] {
        ["free: \(dropped) of \(reclaims) steps that reclaimed at once (MADV_PAGEOUT) found the page clean and dropped it "
            + "(the guest then reads zero); the others found it written again (kept), as did the steps left to lazy reclaim"]
    }
}

extension Operation {
    public static let free = Operation(Free.self)
}
