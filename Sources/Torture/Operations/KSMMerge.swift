/// Opt-in (`--allow-system-changes`, root): starts ksmd, keeps an identical twin of every republished page so
/// that ksmd merges the guest's page with it (replace_page: a notifier invalidation), and counts the host's next
/// write to a merged page (a copy-on-write break: another one). Private anonymous memory, `--mode read`.
final class KSMMerge: HostOperation {
    static let name = "ksm"
    static let traits: OperationTraits = [.runsAlone, .optIn]
    static func applies(to backing: BackingKind) -> Bool { backing == .anonymous }
    static let backingFix: String? = "KSM merges private anonymous pages (--backing anonymous)"
    static var hostProblem: String? { KSMDaemon.problem() }
    static var systemChange: (what: String, undo: String)? {
        ("starts the kernel's same-page merging daemon for the whole host (/sys/kernel/mm/ksm/run)", "the settings are restored when the run ends")
    }
    static func problem(in configuration: TortureConfiguration) -> ConfigurationError? {
        configuration.mode == .read ? nil : ConfigurationError(
            .mode, problem: "KSM merges only pages that stay unchanged between its scans, and guest writers change every page every sweep",
            fix: "use --mode read with --op ksm")
    }
    static var pauseAfterStepMicroseconds: UInt32 { KSMTwins.pauseMicroseconds }
    static func changeHost(_ changes: SystemChanges) throws -> (any HostChange)? { try KSMDaemon(changes: changes) }

    private let backing: Backing
    /// Made at the first step (the data made mergeable then).
    private var twins: KSMTwins?
    private let scansAtStart = KSMDaemon.value("full_scans").flatMap { Int($0) }
    private var republications = 0
    private var mergedRepublications = 0

    init(_ context: StepContext) { backing = context.backing }

    /// The page is closed: a write to it now breaks a KSM merge (copy-on-write) before anything is promised.
    func invoke(page: Int, pages: Range<Int>) throws -> Invocation {
        let twins = try self.twins ?? KSMTwins(data: backing)
        self.twins = twins
        republications += 1
        if twins.isMerged(page: page) { mergedRepublications += 1 }
        backing.address(ofPage: page).storeBytes(of: 0, as: UInt64.self)
        return .done(CallOutcome(window: nil, zeroed: page..<page))
    }

    /// The twin gets the page's new content, for ksmd to merge again.
    func republished(page: Int) { twins?.copy(page: page) }

    func notes() -> [String] {
        let scans = (KSMDaemon.value("full_scans").flatMap { Int($0) } ?? 0) - (scansAtStart ?? 0)
        return ["ksm: \(mergedRepublications) of \(republications) republications found "
            + "their page merged by ksmd (the host's write broke the sharing); ksm_merging_pages now "
            + "\(KSMDaemon.mergingPages().map(String.init) ?? "unknown"); ksmd full scans +\(scans)"]
    }
}

extension Operation {
    public static let ksm = Operation(KSMMerge.self)
}
