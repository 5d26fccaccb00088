/// `fork()` with a child that lives until the page is republished: every private page becomes copy-on-write, and
/// the host's write must break it (a notifier invalidation of the page).
final class ForkCOW: HostOperation {
    static let name = "fork-cow"
    static let traits: OperationTraits = [.runsAlone, .judgedByWrites]
    static func applies(to backing: BackingKind) -> Bool { backing == .anonymous || backing == .thp }
    static let backingFix: String? = "copy-on-write needs private memory (--backing anonymous|thp)"

    private let backing: Backing
    /// The child holding the pages shared until the step's republication, and the page's frame before.
    private var heldChild: HeldChild?
    private var frameBeforeFork: UInt64 = 0
    private lazy var pageMap = PageMap()
    private var forks = 0
    /// Republications whose frames were measured (root sees frames), and how many moved to a new frame.
    private var measured = 0
    private var breaks = 0

    init(_ context: StepContext) { backing = context.backing }

    func invoke(page: Int, pages: Range<Int>) throws -> Invocation {
        heldChild = try HeldChild.fork()
        forks += 1
        frameBeforeFork = pageMap.frame(backing.address(ofPage: page))
        return .done(CallOutcome(window: .keep, zeroed: page..<page))
    }

    /// The child is let go once its page is republished, and whether the write moved the page is counted.
    func republished(page: Int) {
        guard let child = heldChild else { return }
        heldChild = nil
        let after = pageMap.frame(backing.address(ofPage: page))
        if frameBeforeFork != 0 && after != 0 {
            measured += 1
            if after != frameBeforeFork { breaks += 1 }
        }
        child.release()
    }

    func notes() -> [String] {
        ["fork-cow: \(forks) forks, each child alive until its page was republished; "
            + (measured > 0 ? "\(breaks) of \(measured) measured republications broke copy-on-write (the page moved to a new frame)"
                : "copy-on-write breaks not measured (/proc/self/pagemap shows frames to root only)")]
    }
}

extension Operation {
    public static let forkCOW = Operation(ForkCOW.self)
}
