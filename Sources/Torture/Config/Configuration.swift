import Guests
import KVM

/// Everything that defines a torture run. Validated before anything touches KVM.
public struct TortureConfiguration: Codable, Sendable, Equatable {
    public var operation: Operation = .dontneed
    public var backing: BackingKind = .anonymous
    public var pages: Int = 256
    public var vcpus: Int = 1
    /// Seconds.
    public var duration: Double = 10
    public var seed: UInt64 = 0
    public var guestPageSize: GuestPageSize = .size4K
    public var injection: Injection = .none
    public var mode: CheckerMode = .both
    public var dirty: DirtyTracking = .off
    /// Milliseconds between dirty-log harvests.
    public var dirtyRoundMilliseconds: Int = 20
    /// Hot set: the mutator works on pages 0..<hotPages only, and the checkers make `hotRepeat` passes over them
    /// between full sweeps. 0: no hot set.
    public var hotPages: Int = 0
    public var hotRepeat: Int = 8
    /// Antagonists that run beside the mutator, each on its own thread.
    public var antagonists: [AntagonistSpec] = []

    /// Whether the missing-flush oracle can judge beside the antagonists: none of them may zap the data page without
    /// a remote flush request in a correct kernel.
    public var flushProbeJudgeable: Bool { antagonists.allSatisfy { $0.kind.zapsWithoutFlushRequest == nil } }

    /// Why the missing-flush oracle is off beside the antagonists, if it is.
    public var flushProbeOffReason: String? {
        antagonists.lazy.compactMap { spec in spec.kind.zapsWithoutFlushRequest.map { "\(spec.kind.rawValue): \($0)" } }.first
    }
    /// Entries per vCPU dirty ring (a power of two, at least 256).
    public var ringEntries: Int = 4096
    /// Pin the mutator and the vCPUs to different CPUs.
    public var pin: Bool = true
    /// How long a must-fault window stays open, in microseconds. Shorter than a few exit round trips and no guest
    /// ever samples it.
    public var faultWindowMicroseconds: Int = Self.defaultFaultWindowMicroseconds
    public static let defaultFaultWindowMicroseconds = 300
    /// How long a must-read-zero or content-kept window stays open, in microseconds.
    public var windowMicroseconds: Int = Self.defaultWindowMicroseconds
    public static let defaultWindowMicroseconds = 5
    /// The user's explicit consent to operations that change system-wide settings (ksm starts ksmd), each undone
    /// when the run ends. Optional so that reports written before it existed still decode; nil means no.
    public var allowSystemChanges: Bool? = nil
    /// The KVM device to use.
    public var devicePath: String = KVMSystem.defaultDevicePath
    /// Milliseconds between two probes of the missing-flush oracle (``FlushProbe``); 0 turns it off. Optional
    /// so that older reports decode; nil means the default, 5.
    public var flushProbeMilliseconds: Int? = nil
    public var flushProbeInterval: Int { flushProbeMilliseconds ?? Self.defaultFlushProbeMilliseconds }
    public static let defaultFlushProbeMilliseconds = 5
    /// Pages in the ring of recycled-frame traps (``FrameTraps``); 0 turns them off. Optional so that older
    /// reports decode; nil means the default, 64.
    public var trapPages: Int? = nil
    /// The scenario file's name the run was set up from, if any (reports show it; nothing else reads it).
    public var scenarioName: String? = nil
    /// Also write the first violation's line here the moment it is seen (the lab: /dev/kmsg, on the serial
    /// console before a kernel BUG can stop the guest). Nil: standard error only.
    public var announcePath: String? = nil
    /// End the run this many seconds after its first violation (the lab: a mutant's row needs the first
    /// violation and some evidence, not the rest of the duration). Nil: run the whole duration.
    public var stopAfterViolationSeconds: Double? = nil
    public var frameTrapPages: Int { trapPages ?? FrameTraps.defaultPages }
    public static var defaultTrapPages: Int { FrameTraps.defaultPages }
    /// Windows the mutator keeps open at once (``Mutator``: a step's window runs while the next steps begin on
    /// other pages). Optional so that older reports decode; nil means the default.
    public var inFlight: Int? = nil
    public var inFlightWindows: Int { inFlight ?? Self.defaultInFlight }
    public static let defaultInFlight = 8

    public init() {}

    /// `operation` on `backing` for `duration` seconds, with `seed` and `injection`, on the device at
    /// `devicePath`; everything else at its default (the bench's runs and the tests' are made this way).
    public init(
        _ operation: Operation, on backing: BackingKind = .anonymous, injection: Injection = .none, duration: Double, seed: UInt64,
        devicePath: String
    ) {
        self.operation = operation
        self.backing = backing
        self.injection = injection
        self.duration = duration
        self.seed = seed
        self.devicePath = devicePath
    }

    public enum GuestPageSize: String, Codable, Sendable, CaseIterable {
        case size4K = "4k"
        case size2M = "2m"
        public var pageSize: PageSize { self == .size4K ? .size4K : .size2M }
    }

    /// Checks the configuration and names the first problem with the option it came from: each number in its
    /// range first, then the choices that exclude each other, then what each negative control needs.
    public func validate() throws(ConfigurationError) {
        try validateRanges()
        try validateCombinations()
        try validateInjection()
    }

    /// Every setting in its bounds (the table's, ``Setting/all``, in its order).
    private func validateRanges() throws(ConfigurationError) {
        for setting in Setting.all {
            if let wrong = setting.check(self) { throw ConfigurationError(setting, problem: wrong.problem, fix: wrong.fix) }
        }
    }

    /// Operation, backing, mode, dirty tracking and antagonists that cannot go together.
    private func validateCombinations() throws(ConfigurationError) {
        guard operation == .all || operation.applies(to: backing) else {
            throw ConfigurationError(
                .operation, problem: "\(operation.rawValue) does not apply to the \(backing.rawValue) backing",
                fix: operation.fixFor(backing: backing))
        }
        if let change = operation.systemChange, allowSystemChanges != true {
            throw ConfigurationError(.operation, problem: "\(operation.rawValue) \(change.what)", fix: "add --allow-system-changes (\(change.undo))")
        }
        if let problem = operation.row?.problem(in: self) { throw problem }
        if backing == .thp && pages % 512 != 0 {
            throw ConfigurationError(.pages, problem: "the thp backing needs whole 2 MiB huge pages", fix: "use a multiple of 512 pages")
        }
        if dirty != .off && mode == .read {
            throw ConfigurationError(.dirty, problem: "dirty tracking checks guest writes, and --mode read makes none", fix: "use --mode write or both")
        }
        if dirty != .off && [.memslot, .all].contains(operation) {
            throw ConfigurationError(.dirty, problem: "\(operation.rawValue) replaces the data slot, and with it the dirty log", fix: "use another --op")
        }
        if let owner = antagonists.first(where: { $0.kind.ownsDataSlotLog }), dirty != .off || operation == .memslot || operation == .all {
            throw ConfigurationError(.antagonists, problem: "\(owner.kind.rawValue) changes the data slot's dirty log, which --dirty and the memslot operation also own", fix: "drop --dirty, or use another --op")
        }
        if antagonists.contains(where: { $0.kind == .fork }) && ![.anonymous, .thp].contains(backing) {
            throw ConfigurationError(.antagonists, problem: "fork makes private pages copy-on-write, and the \(backing.rawValue) backing is shared", fix: "use --backing anonymous or thp")
        }
        if antagonists.contains(where: { $0.kind == .collapse }) && backing != .thp {
            throw ConfigurationError(.antagonists, problem: "collapse forms huge pages, which needs the thp backing", fix: "use --backing thp")
        }
        if antagonists.contains(where: { $0.kind == .clearDirty }) && mode == .read {
            throw ConfigurationError(.antagonists, problem: "clear-dirty re-protects pages the guests wrote, and --mode read writes none", fix: "use --mode write or both")
        }
        if mode != .read && vcpus > Int(GUEST_MAX_WRITERS) {
            throw ConfigurationError(.vcpus, problem: "at most \(GUEST_MAX_WRITERS) vCPUs can write", fix: "use --mode read, or fewer vCPUs")
        }
    }

    /// What each negative control needs of the rest.
    private func validateInjection() throws(ConfigurationError) {
        if injection == .losewrite && mode == .read {
            throw ConfigurationError(.injection, problem: "losewrite discards guest writes, and --mode read makes none", fix: "use --mode write or both")
        }
        if dirty != .off && injection == .ptswap {
            throw ConfigurationError(.injection, problem: "ptswap sends guest writes to a frame outside the data slot, which no dirty log covers", fix: "use ptswap without --dirty")
        }
        if injection == .poison && frameTrapPages == 0 {
            throw ConfigurationError(.injection, problem: "poison serves a trap's content, and --traps 0 turns the traps off", fix: "leave --traps at its default")
        }
        if injection == .noinval && (flushProbeInterval == 0 || !flushProbeJudgeable) {
            throw ConfigurationError(.injection, problem: "noinval acts on the missing-flush oracle's probes, which are off with --flush-probe-ms 0 or the antagonists memslot-churn and cr0-wp", fix: "leave --flush-probe-ms at its default and run neither memslot-churn nor cr0-wp")
        }
        if injection == .noinval && !stepOperations.contains(where: { $0.traits.contains(.noinvalSkips) }) {
            throw ConfigurationError(.injection, problem: "noinval needs an operation the missing-flush oracle judges, not \(operation.rawValue)", fix: "use --op \(Operation.having(.noinvalSkips)) or mix")
        }
        if injection == .faultearly && !stepOperations.contains(where: { $0.traits.contains(.holdsAMustFaultWindow) }) {
            throw ConfigurationError(.injection, problem: "faultearly opens a must-fault window early, and \(operation.rawValue) has none", fix: "use --op \(Operation.having(.holdsAMustFaultWindow)) or mix")
        }
        if injection == .slotearly && operation != .memslot {
            throw ConfigurationError(.injection, problem: "slotearly opens the memslot operation's must-fault window early, and \(operation.rawValue) has none", fix: "use --op memslot")
        }
        if injection == .slotback && operation != .memslot {
            throw ConfigurationError(.injection, problem: "slotback says the data slot is back early, and only the memslot operation takes it away", fix: "use --op memslot")
        }
        if injection == .dropdirty && dirty == .off {
            throw ConfigurationError(.injection, problem: "dropdirty discards harvested dirty pages, and no --dirty mode harvests any", fix: "add --dirty log or --dirty clear")
        }
        if injection == .ptswap && guestPageSize != .size4K {
            throw ConfigurationError(.injection, problem: "ptswap rewrites a 4 KiB guest page-table entry", fix: "use --guest-page-size 4k")
        }
    }

    /// The single operations the mutator's steps draw from: `mix`'s on this backing, or the one asked for.
    var stepOperations: [Operation] { operation == .mix ? Operation.mixable(on: backing) : [operation] }

    /// The data slot's size: whole guest pages of the chosen size.
    public var dataBytes: Int {
        let bytes = pages * GuestPage.size
        let unit = Int(guestPageSize == .size2M || backing == .thp || backing == .hugetlb ? PageSize.size2M.rawValue : PageSize.size4K.rawValue)
        return (bytes + unit - 1) / unit * unit
    }

    /// The 4 KiB pages the data slot maps: ``pages`` (those the checkers check and the mutator steps on), plus
    /// the padding up to a whole 2 MiB page when the backing or the guest mapping is huge.
    var mappedPages: Int { dataBytes / GuestPage.size }
}

/// A configuration the run cannot start with: which setting, what is wrong, how to fix it.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public var setting: Setting
    public var problem: String
    public var fix: String

    public init(_ setting: Setting, problem: String, fix: String) {
        self.setting = setting
        self.problem = problem
        self.fix = fix
    }

    /// The setting as the command line spells it.
    public var option: String { setting.flag }
    public var description: String { "\(option): \(problem); \(fix)" }
}
