import Guests
import KVM

/// An invalidation the mutator performs on one data page per step (README, "Operations").
public enum Operation: String, CaseIterable, Codable, Sendable {
    /// No invalidation: the mutator only republishes pages. The baseline for check throughput.
    case none
    /// `madvise(MADV_DONTNEED)`.
    case dontneed
    /// `mmap(MAP_FIXED)` of the same backing over the page.
    case remap
    /// `munmap`, a must-fault window, then `mmap(MAP_FIXED_NOREPLACE)` back.
    case munmap
    /// `fallocate(PUNCH_HOLE)` on a memfd or file, `MADV_REMOVE` on shared anonymous memory.
    case punch
    /// `mprotect(PROT_NONE)`, a must-fault window, then back to read-write.
    case mprotect
    /// `mprotect(PROT_READ)`: reads go on, guest writes must fault (and none may land), then back.
    case mprotectReadOnly = "mprotect-ro"
    /// `mremap` the page away (a must-fault hole) and back.
    case mremap
    /// `fork()` with a child that exits at once: every private page becomes copy-on-write.
    case forkCOW = "fork-cow"
    /// `MADV_COLLAPSE` of the page's 2 MiB range into a huge page, or a split by a partial `mprotect`.
    case thp
    /// `madvise(MADV_PAGEOUT)`.
    case pageout
    /// `madvise(MADV_COLD)`.
    case cold
    /// Delete and re-add, or move away and back, the data memslot under the running vCPUs.
    case memslot
    /// `ftruncate` the file down to the page (a must-fault window for the cut pages) and back up (zeros).
    case truncate
    /// Opt-in (`--allow-system-changes`, root): starts ksmd, keeps an identical twin of every republished page so
    /// that ksmd merges the guest's page with it (replace_page: a notifier invalidation), and counts the host's
    /// next write to a merged page (a copy-on-write break: another one). Private anonymous memory, `--mode read`.
    case ksm
    /// Opt-in (`--allow-system-changes`, root): memory-cgroup reclaim of about 64 pages per step (cgroup v2
    /// `memory.reclaim`, or a v1 child cgroup's limit lowered below its usage), so that the kernel ages the data's
    /// page cache: `clear_flush_young` on the pages KVM maps, eviction of the cold ones. File backing (without swap
    /// nothing else is reclaimable).
    case aging
    /// Each step picks one of the operations that replace or protect a page on this backing.
    case mix
    /// Every operation that applies to the backing, one after the other, summarised in one table.
    case all

    /// The single operations (not `none`, `mix`, `all`).
    public static let catalogue: [Operation] = [
        .dontneed, .remap, .munmap, .punch, .mprotect, .mprotectReadOnly, .mremap, .forkCOW, .thp, .pageout, .cold,
        .memslot, .truncate,
    ]

    /// The operations `mix` draws from on `backing`: the per-page ones of the stale-read catalogue.
    public static func mixable(on backing: BackingKind) -> [Operation] {
        [.dontneed, .remap, .munmap, .punch, .mprotect].filter { $0.applies(to: backing) }
    }

    /// Whether what tests the operation is its windows (the stale-read half). Not for those whose invariant is
    /// the lost-write half (the catalogue: fork-cow, pageout, cold, aging): their content-kept window is a formality
    /// (a fork stalls the vCPUs for milliseconds; a 5 µs window is rarely sampled), the writes' verification is
    /// what they are judged by.
    public var isJudgedByItsWindows: Bool { ![.forkCOW, .pageout, .cold, .aging].contains(self) }

    /// The operations that take the page away between two calls, holding a must-fault window meanwhile.
    public static let holdsAMustFaultWindow: Set<Operation> = [.munmap, .mprotect, .mremap, .truncate]

    /// Whether the operation means anything on `backing`.
    public func applies(to backing: BackingKind) -> Bool {
        switch (self, backing) {
        case (.none, _), (.memslot, _): true
        case (_, .hugetlb): false
        case (.punch, .anonymous), (.punch, .thp): false
        case (.forkCOW, _): backing == .anonymous || backing == .thp
        case (.thp, _): backing == .thp
        case (.truncate, _): backing == .memfd || backing == .file
        case (.ksm, _): backing == .anonymous
        case (.aging, _): backing == .file
        case (.mix, _): !Operation.mixable(on: backing).isEmpty
        default: true
        }
    }

    /// For the opt-in operations: the system-wide change they make, and how the run undoes it.
    var systemChange: (what: String, undo: String)? {
        switch self {
        case .ksm: ("starts the kernel's same-page merging daemon for the whole host (/sys/kernel/mm/ksm/run)", "the settings are restored when the run ends")
        case .aging: ("reclaims memory through a memory cgroup (v1: moves the harness into a child cgroup it creates)", "the harness moves back and removes the child when the run ends")
        default: nil
        }
    }

    /// Why an opt-in operation cannot run on this host, or nil.
    var hostProblem: String? {
        switch self {
        case .ksm: KSMDaemon.problem()
        case .aging: if case .failure(let problem) = ReclaimCgroup.locate() { problem.description } else { nil }
        default: nil
        }
    }

    /// What to tell a user who asks for the operation on a backing it does not apply to.
    func fixFor(backing: BackingKind) -> String {
        switch self {
        case .punch: "punch a hole in a memfd, file or shared backing (--backing memfd|file|shared)"
        case .forkCOW: "copy-on-write needs private memory (--backing anonymous|thp)"
        case .thp: "collapse needs the THP backing (--backing thp)"
        case .truncate: "truncate needs a file (--backing memfd|file)"
        case .ksm: "KSM merges private anonymous pages (--backing anonymous)"
        case .aging: "reclaim ages page cache (--backing file)"
        default: "the hugetlb backing supports --op none and memslot"
        }
    }
}

/// What backs the data slot.
public enum BackingKind: String, CaseIterable, Codable, Sendable {
    /// `MAP_PRIVATE | MAP_ANONYMOUS`: DONTNEED replaces pages with zeros.
    case anonymous
    /// `MAP_SHARED | MAP_ANONYMOUS` (shmem): DONTNEED keeps the content; MADV_REMOVE punches.
    case sharedAnonymous = "shared"
    /// A `memfd_create` file mapped shared.
    case memfd
    /// A regular file in a temporary directory, mapped shared.
    case file
    /// Private anonymous memory, 2 MiB aligned, with `MADV_HUGEPAGE`.
    case thp
    /// `MAP_HUGETLB` memory from the host's reserved huge pages.
    case hugetlb
}

/// How the host harvests guest writes, the way a live migration does (the dirty-tracking oracle).
public enum DirtyTracking: String, CaseIterable, Codable, Sendable {
    case off
    /// `KVM_GET_DIRTY_LOG`, which reports and write-protects again in one call.
    case log
    /// `KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2`: `KVM_GET_DIRTY_LOG` reports, `KVM_CLEAR_DIRTY_LOG` write-protects.
    case clear
    /// Per-vCPU dirty rings (`KVM_CAP_DIRTY_LOG_RING`), harvested and reset with `KVM_RESET_DIRTY_RINGS`.
    case ring
}

/// Which halves of the contract the checker vCPUs exercise.
public enum CheckerMode: String, CaseIterable, Codable, Sendable {
    /// Stale reads only.
    case read
    /// Lost writes only.
    case write
    /// Both, on the same pages.
    case both
}

/// A fault the harness injects into its own side of the contract, to prove the checker catches it.
public enum Injection: String, CaseIterable, Codable, Sendable {
    /// The violation kinds this control produces through its mechanism: a control fires only with one of them;
    /// any other kind seen during a control run is a real violation. (ptswap's decoy and losewrite's restored
    /// snapshot also take the writers' words back, which the readback and lost-write checks rightly see.)
    public var violationKinds: Set<String> {
        switch self {
        case .none: []
        case .nowrite, .early, .slotearly, .faultearly: ["stale-read"]
        case .ptswap: ["stale-read", "readback", "lost-write"]
        case .losewrite: ["lost-write", "readback"]
        case .dropdirty: ["missed-dirty"]
        case .noinval: ["missing-flush"]
        case .poison: ["stale-frame"]
        }
    }

    case none
    /// Publish a generation without writing it into the page.
    case nowrite
    /// Rewrite the guest's own page-table entry to another frame, without the guest flushing its TLB: a real
    /// stale translation (KVM is not told of host writes to guest page tables).
    case ptswap
    /// Publish the generation before writing the page: a narrow race, caught only sometimes.
    case early
    /// Discard one random page from every dirty-log harvest: the dirty oracle must report it missed.
    case dropdirty
    /// Snapshot a page before a content-preserving operation and restore the snapshot after it, discarding the
    /// guests' writes in between: the lost-write detector must notice.
    case losewrite
    /// On every probe of the missing-flush oracle, skip the invalidating call (the content stays, so a
    /// content-kept window is published): a mapped page "invalidated" with no flush request, which the oracle
    /// must report as `missing-flush`.
    case noinval
    /// memslot: open the must-fault window on every page before the data slot is deleted or moved, while the
    /// guests still translate their reads: the memslot window must flag them.
    case slotearly
    /// munmap, mprotect, mremap, truncate: open the must-fault window before the call that takes the page away,
    /// while the guests still translate their reads: the must-fault window must flag them.
    case faultearly
    /// On every republication after a content-replacing call, write the poison of the trap that call sprang into
    /// the page instead of the generation (the page then reads as a stale translation into a recycled frame): the
    /// checker must flag it, and the host must name it `stale-frame` with the step that freed the frame.
    case poison
}

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
    /// Entries per vCPU dirty ring (a power of two, at least 256).
    public var ringEntries: Int = 4096
    /// Pin the mutator and the vCPUs to different CPUs.
    public var pin: Bool = true
    /// How long a must-fault window stays open, in microseconds. Shorter than a few exit round trips and no guest
    /// ever samples it.
    public var faultWindowMicroseconds: Int = 300
    /// How long a must-read-zero or content-kept window stays open, in microseconds.
    public var windowMicroseconds: Int = 5
    /// Benchmark only: run the mutator's steps in the plain-C baseline (`Sources/Baseline`) instead of the
    /// engine, on the same VM and memory, for dontneed, mprotect and punch.
    public var baselineMutator: Bool = false
    /// Benchmark only, with `baselineMutator`: the engine's slices run the C loop too, so the comparison measures
    /// the method's own noise and bias (an A/A control). Optional so that older reports decode.
    public var baselineAgainstItself: Bool? = nil
    /// The user's explicit consent to operations that change system-wide settings (ksm starts ksmd), each undone
    /// when the run ends. Optional so that reports written before it existed still decode; nil means no.
    public var allowSystemChanges: Bool? = nil
    /// The KVM device to use.
    public var devicePath: String = KVMSystem.defaultDevicePath
    /// Milliseconds between two probes of the missing-flush oracle (``FlushProbe``); 0 turns it off. Optional
    /// so that older reports decode; nil means the default, 5.
    public var flushProbeMilliseconds: Int? = nil
    public var flushProbeInterval: Int { flushProbeMilliseconds ?? 5 }
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
    /// Windows the mutator keeps open at once (``Mutator``: a step's window runs while the next steps begin on
    /// other pages). Optional so that older reports decode; nil means the default.
    public var inFlight: Int? = nil
    public var inFlightWindows: Int { inFlight ?? Self.defaultInFlight }
    public static let defaultInFlight = 8

    public init() {}

    public enum GuestPageSize: String, Codable, Sendable, CaseIterable {
        case size4K = "4k"
        case size2M = "2m"
        public var pageSize: PageSize { self == .size4K ? .size4K : .size2M }
    }

    /// Checks the configuration and names the first problem with the option it came from.
    public func validate() throws(ConfigurationError) {
        guard pages >= 1 && pages <= 1 << 22 else {
            throw ConfigurationError(option: "--pages", problem: "\(pages) is out of range", fix: "use 1 to 4194304 pages")
        }
        guard vcpus >= 1 && vcpus <= 64 else {
            throw ConfigurationError(option: "--vcpus", problem: "\(vcpus) is out of range", fix: "use 1 to 64 vCPUs")
        }
        guard duration > 0 && duration <= 7 * 24 * 3600 else {
            throw ConfigurationError(option: "--duration", problem: "\(duration) s is out of range", fix: "use a positive number of seconds, at most a week")
        }
        guard operation == .all || operation.applies(to: backing) else {
            throw ConfigurationError(
                option: "--op", problem: "\(operation.rawValue) does not apply to the \(backing.rawValue) backing",
                fix: operation.fixFor(backing: backing))
        }
        if let change = operation.systemChange, allowSystemChanges != true {
            throw ConfigurationError(option: "--op", problem: "\(operation.rawValue) \(change.what)", fix: "add --allow-system-changes (\(change.undo))")
        }
        if operation == .ksm && mode != .read {
            throw ConfigurationError(option: "--mode", problem: "KSM merges only pages that stay unchanged between its scans, and guest writers change every page every sweep", fix: "use --mode read with --op ksm")
        }
        if backing == .thp && pages % 512 != 0 {
            throw ConfigurationError(option: "--pages", problem: "the thp backing needs whole 2 MiB huge pages", fix: "use a multiple of 512 pages")
        }
        if injection == .losewrite && mode == .read {
            throw ConfigurationError(option: "--inject", problem: "losewrite discards guest writes, and --mode read makes none", fix: "use --mode write or both")
        }
        if dirty != .off && mode == .read {
            throw ConfigurationError(option: "--dirty", problem: "dirty tracking checks guest writes, and --mode read makes none", fix: "use --mode write or both")
        }
        if dirty != .off && [.memslot, .all].contains(operation) {
            throw ConfigurationError(option: "--dirty", problem: "\(operation.rawValue) replaces the data slot, and with it the dirty log", fix: "use another --op")
        }
        if dirty != .off && injection == .ptswap {
            throw ConfigurationError(option: "--inject", problem: "ptswap sends guest writes to a frame outside the data slot, which no dirty log covers", fix: "use ptswap without --dirty")
        }
        if dirty == .ring && (ringEntries < 256 || ringEntries & (ringEntries - 1) != 0) {
            throw ConfigurationError(option: "--ring-entries", problem: "\(ringEntries) is not a power of two of at least 256", fix: "use 256, 512, 1024, …")
        }
        if hotPages < 0 || hotPages > pages {
            throw ConfigurationError(option: "--hot", problem: "\(hotPages) hot pages of \(pages)", fix: "use 1 to --pages, or 0 for none")
        }
        if hotRepeat < 1 {
            throw ConfigurationError(option: "--hot-repeat", problem: "\(hotRepeat) passes", fix: "use 1 or more")
        }
        for antagonist in antagonists where antagonist.periodMicroseconds < 1 {
            throw ConfigurationError(option: "--antagonist", problem: "\(antagonist.kind.rawValue) every \(antagonist.periodMicroseconds) µs", fix: "use a period of 1 µs or more")
        }
        if let owner = antagonists.first(where: { $0.kind.ownsDataSlotLog }), dirty != .off || operation == .memslot || operation == .all {
            throw ConfigurationError(option: "--antagonist", problem: "\(owner.kind.rawValue) changes the data slot's dirty log, which --dirty and the memslot operation also own", fix: "drop --dirty, or use another --op")
        }
        if antagonists.contains(where: { $0.kind == .fork }) && ![.anonymous, .thp].contains(backing) {
            throw ConfigurationError(option: "--antagonist", problem: "fork makes private pages copy-on-write, and the \(backing.rawValue) backing is shared", fix: "use --backing anonymous or thp")
        }
        if antagonists.contains(where: { $0.kind == .collapse }) && backing != .thp {
            throw ConfigurationError(option: "--antagonist", problem: "collapse forms huge pages, which needs the thp backing", fix: "use --backing thp")
        }
        if antagonists.contains(where: { $0.kind == .clearDirty }) && mode == .read {
            throw ConfigurationError(option: "--antagonist", problem: "clear-dirty re-protects pages the guests wrote, and --mode read writes none", fix: "use --mode write or both")
        }
        if dirtyRoundMilliseconds < 1 {
            throw ConfigurationError(option: "--dirty-round-ms", problem: "\(dirtyRoundMilliseconds) is not a positive number", fix: "use 1 or more milliseconds")
        }
        if let probe = flushProbeMilliseconds, probe < 0 || probe > 60_000 {
            throw ConfigurationError(option: "--flush-probe-ms", problem: "\(probe) is out of range", fix: "use 0 (off) to 60000 milliseconds")
        }
        if let grace = stopAfterViolationSeconds, !(grace >= 0 && grace <= 3600) {
            throw ConfigurationError(option: "--stop-after-violation", problem: "\(grace) seconds is out of range", fix: "use 0 to 3600 seconds")
        }
        if let inFlight, !(1...Observations.maxInFlight).contains(inFlight) {
            throw ConfigurationError(option: "--in-flight", problem: "\(inFlight) windows in flight is out of range", fix: "use 1 to \(Observations.maxInFlight) (default \(Self.defaultInFlight))")
        }
        if let traps = trapPages, traps != 0 && (traps < 4 || traps % 4 != 0 || traps > 65536) {
            throw ConfigurationError(option: "--traps", problem: "\(traps) trap pages is not 0 or a multiple of 4 from 4 to 65536", fix: "use 0 (off), or 64")
        }
        if injection == .poison && frameTrapPages == 0 {
            throw ConfigurationError(option: "--inject", problem: "poison serves a trap's content, and --traps 0 turns the traps off", fix: "leave --traps at its default")
        }
        if injection == .noinval && (flushProbeInterval == 0 || !antagonists.isEmpty) {
            throw ConfigurationError(option: "--inject", problem: "noinval acts on the missing-flush oracle's probes, which are off with --flush-probe-ms 0 or antagonists", fix: "leave --flush-probe-ms at its default and run no antagonist")
        }
        if injection == .noinval && ![.dontneed, .remap, .munmap, .punch, .mprotect, .mprotectReadOnly, .mremap, .truncate, .mix].contains(operation) {
            throw ConfigurationError(option: "--inject", problem: "noinval needs an operation the missing-flush oracle judges, not \(operation.rawValue)", fix: "use --op dontneed (or remap, munmap, punch, mprotect, mprotect-ro, mremap, truncate, mix)")
        }
        if injection == .faultearly && !stepOperations.contains(where: Operation.holdsAMustFaultWindow.contains) {
            throw ConfigurationError(option: "--inject", problem: "faultearly opens a must-fault window early, and \(operation.rawValue) has none", fix: "use --op munmap, mprotect, mremap, truncate or mix")
        }
        if injection == .slotearly && operation != .memslot {
            throw ConfigurationError(option: "--inject", problem: "slotearly opens the memslot operation's must-fault window early, and \(operation.rawValue) has none", fix: "use --op memslot")
        }
        if injection == .dropdirty && dirty == .off {
            throw ConfigurationError(option: "--inject", problem: "dropdirty discards harvested dirty pages, and no --dirty mode harvests any", fix: "add --dirty log or --dirty clear")
        }
        if mode != .read && vcpus > Int(GUEST_MAX_WRITERS) {
            throw ConfigurationError(option: "--vcpus", problem: "at most \(GUEST_MAX_WRITERS) vCPUs can write", fix: "use --mode read, or fewer vCPUs")
        }
        if injection == .ptswap && guestPageSize != .size4K {
            throw ConfigurationError(option: "--inject", problem: "ptswap rewrites a 4 KiB guest page-table entry", fix: "use --guest-page-size 4k")
        }
        // A window no check can land in tests nothing, and a run with one would still look exercised.
        guard windowMicroseconds >= 1 && windowMicroseconds <= 1_000_000 else {
            throw ConfigurationError(option: "--window-us", problem: "\(windowMicroseconds) µs is out of range: a window no guest read can land in tests nothing", fix: "use 1 to 1000000 microseconds (default 5)")
        }
        guard faultWindowMicroseconds >= 1 && faultWindowMicroseconds <= 1_000_000 else {
            throw ConfigurationError(option: "--fault-window-us", problem: "\(faultWindowMicroseconds) µs is out of range: a window no guest read can land in tests nothing", fix: "use 1 to 1000000 microseconds (default 300)")
        }
    }

    /// The single operations the mutator's steps draw from: `mix`'s on this backing, or the one asked for.
    var stepOperations: [Operation] { operation == .mix ? Operation.mixable(on: backing) : [operation] }

    /// The data slot's size: whole guest pages of the chosen size.
    public var dataBytes: Int {
        let bytes = pages * 4096
        let unit = Int(guestPageSize == .size2M || backing == .thp || backing == .hugetlb ? PageSize.size2M.rawValue : PageSize.size4K.rawValue)
        return (bytes + unit - 1) / unit * unit
    }
}

/// A configuration the run cannot start with: which option, what is wrong, how to fix it.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public var option: String
    public var problem: String
    public var fix: String
    public var description: String { "\(option): \(problem); \(fix)" }
}

/// An antagonist beside the mutator: what it does and how often.
public struct AntagonistSpec: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// Toggle `KVM_MEM_LOG_DIRTY_PAGES` on the data slot: enabling it write-protects the whole slot and flushes,
        /// a KVM-internal zap racing the notifier invalidations (the seed's interleaving).
        case dirtyToggle = "dirty-toggle"
        /// `KVM_CLEAR_DIRTY_LOG` on random 64-page-aligned ranges of the target pages (the manual-protect dirty
        /// log): write-protects again whatever the guests dirtied there, then flushes.
        case clearDirty = "clear-dirty"
        /// Add, move, re-flag and delete a spare memslot: every deletion or move makes KVM drop all the VM's
        /// shadow pages (or TDP roots) while the vCPUs run, the shadow-page recycling of the seed.
        case memslotChurn = "memslot-churn"
        /// Toggle CR0.WP of a random vCPU through `KVM_SET_SREGS` on the vCPU's own thread: an MMU context reset
        /// (new shadow roots), as the kernel's mmu_stress_test does.
        case mmuReset = "cr0-wp"
        /// `fork()` with a child that exits at once: every private page of the harness becomes copy-on-write (a
        /// notifier invalidation of the whole data range), racing the mutator. Private backings.
        case fork
        /// `MADV_PAGEOUT` of up to 256 target pages: reclaim unmaps them where it can (file backing; anonymous
        /// memory only with swap).
        case pageout
        /// `MADV_COLLAPSE` of the 2 MiB range of a random target page (thp backing).
        case collapse

        /// Whether it changes the data slot's dirty-logging state, which `--dirty` and the memslot operation own.
        var ownsDataSlotLog: Bool { self == .dirtyToggle || self == .clearDirty }
    }
    public var kind: Kind
    public var periodMicroseconds: Int

    public init(kind: Kind, periodMicroseconds: Int) {
        self.kind = kind
        self.periodMicroseconds = periodMicroseconds
    }

    /// Parses `KIND:MICROSECONDS`, e.g. `dirty-toggle:500`.
    public init?(argument: String) {
        let parts = argument.split(separator: ":")
        guard parts.count == 2, let kind = Kind(rawValue: String(parts[0])), let period = Int(parts[1]) else { return nil }
        self.init(kind: kind, periodMicroseconds: period)
    }
}
