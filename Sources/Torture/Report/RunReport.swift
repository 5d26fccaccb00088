import Foundation

/// The memory-integrity report of one run: what ran, on what host, what the guests checked, what the kernel's
/// counters say, and the verdict. Versioned JSON (see `docs/report-schema.md`).
public struct RunReport: Codable, Sendable {
    public static let currentSchemaVersion = 1
    public static let toolVersion = "0.1.0"

    public var schemaVersion = RunReport.currentSchemaVersion
    public var tool = "mmutorture"
    public var toolVersion = RunReport.toolVersion
    public var host: HostFingerprint
    public var configuration: TortureConfiguration
    public var placement: Placement
    public var startedAt: String
    public var durationSeconds: Double
    /// The signal that interrupted the run, if one did.
    public var interruptedBy: String?
    /// False in a checkpoint: the report of a run still going (or killed before its end), whose verdict is only
    /// the verdict so far. True in a finished run's report; nil in reports older than the field.
    public var complete: Bool? = nil
    /// The duration the run was asked for (a checkpoint's `durationSeconds` is how far it got).
    public var plannedSeconds: Double? = nil

    /// The verdict to act on: a checkpoint that saw nothing wrong is incomplete, never a pass.
    public var standing: Verdict {
        complete == false && ![.violation, .harnessError].contains(verdict) ? .interrupted : verdict
    }
    public var operations: [OperationReport]
    public var checks: CheckReport
    public var publications: UInt64
    public var efaults: UInt64
    /// Guest accesses served as MMIO while the data slot was deleted or moved.
    public var mmioExits: UInt64
    public var heartbeats: UInt64
    /// The lost-write half: what the writers published and how often the host verified it.
    public var writes: WriteReport
    /// Injected runs: microseconds from a faulty publication to the host recording the violation it caused
    /// (keys "50", "99", and "count").
    public var detectionLatencyMicroseconds: [String: Double]?
    /// The antagonists that ran beside the mutator, with the kernel's testimony that they did something.
    public var antagonists: [AntagonistReport]
    /// Distinct publications in which a check found a stale read: with `--inject early`, caught / publications is
    /// the torture's sensitivity to microsecond windows.
    public var caughtPublications: Int
    /// The dirty-log oracle's rounds, when `--dirty` was on.
    public var dirty: DirtyReport?
    /// Kernel log lines reporting a problem (`WARNING:`, `BUG:`, `Call Trace`) logged during the run: findings.
    public var kernelFindings: [String]
    /// THP evidence, for runs on the thp backing or with the thp operation.
    public var thp: THPReport?
    /// Facts about the run worth reading next to the verdict (THP evidence, operations that cannot reach KVM here).
    public var notes: [String]
    /// Every violation seen; ``violations`` keeps the detail of the first 1000.
    public var violationCount: UInt64
    /// Every violation counted by kind (the stored list keeps the first 1000 only). Nil in older reports.
    public var violationsByKind: [String: UInt64]? = nil
    public var violations: [Violation]
    public var harnessErrors: [String]
    public var counters: CounterReport
    public var timeline: [TimelineSample]
    /// The mutator's first steps: the same seed gives the same list.
    public var firstSteps: [Step]
    public var verdict: Verdict
    public var verdictReason: String
    public var exitCode: Int32
    /// Reads in a must-fault window that exited as MMIO while the data slot was away (memslot), served by the
    /// host: the slot change took effect. Nil in older reports.
    public var mmioServedChecks: UInt64? = nil
    /// The missing-flush oracle's probes; nil where it was off.
    public var flushProbes: FlushProbeReport? = nil
    /// The kernel's flush sanitizer (a kvm module built with `lab/flush-sanitizer.patch`); nil where it is absent.
    public var flushSanitizer: FlushSanitizerReport? = nil
    /// Every operation's windows by kind: opened, and sampled (a guest check landed inside). Nil in older reports.
    public var windows: [String: WindowCount]? = nil
    /// The recycled-frame traps (nil when off: `--traps 0`, or an operation that frees no frame).
    public var traps: TrapReport? = nil
    /// The most windows the mutator had open at once (`--in-flight` is the most it may). Nil in older reports.
    public var windowsInFlightPeak: Int? = nil
    /// Must-read-zero and content-kept windows held ``WindowsInFlight/longWindowMicroseconds`` (one in
    /// ``WindowsInFlight/longWindowEvery``, with windows in flight). Nil in older reports and at `--in-flight 1`.
    public var longWindows: Int? = nil

    public struct OperationReport: Codable, Sendable, Equatable {
        public var name: String
        public var count: Int
        public var perSecond: Double
        public var flushRequests: UInt64
        public var flushes: UInt64
        public var faults: UInt64
        public var meanMicroseconds: Double
        public var maxMicroseconds: Double
        /// Call latency percentiles in microseconds: keys "50", "90", "99", "99.9".
        public var latencyPercentilesMicroseconds: [String: Double]
        public var exercised: Bool
        /// Why the operation counts as exercised (which counters moved) or why not.
        public var evidence: String
        /// Its windows by kind (must-read-zero, content-kept, must-fault, read-only): opened and sampled.
        public var windows: [String: WindowCount]? = nil
    }

    public struct AntagonistReport: Codable, Sendable, Equatable {
        public var kind: String
        public var periodMicroseconds: Int
        public var actions: UInt64
        /// `remote_tlb_flush_requests` movement around its actions.
        public var flushRequests: UInt64
        public var exercised: Bool
        /// Actions that found nothing to do (clear-dirty while the slot was not logging).
        public var idleActions: UInt64? = nil
        /// Each evidence counter's movement around the antagonist's actions.
        public var counters: [String: UInt64]? = nil
        /// cr0-wp: resets the vCPUs applied and read back.
        public var mmuResets: UInt64? = nil
        /// Why it counts as exercised, or why not.
        public var evidence: String? = nil
        /// The first actions of its seeded schedule, to show that a seed replays them.
        public var firstActions: [String]? = nil
        /// Its recycled-frame traps (pageout, collapse; nil for the other kinds or with `--traps 0`).
        public var traps: TrapReport? = nil
    }

    public struct DirtyReport: Codable, Sendable, Equatable {
        public var mode: String
        public var rounds: Int
        /// Dirty pages the harvests reported, summed over rounds.
        public var pagesReported: Int
        /// Rounds in which a writer completed a whole sweep between harvests: only those judge every page.
        public var judgedRounds: Int
        /// `KVM_EXIT_DIRTY_RING_FULL` exits (ring mode).
        public var ringFullExits: UInt64
        /// Pages judged by the per-round rule: written by a guest between two harvests (nil in older reports).
        public var writtenPagesJudged: Int? = nil
    }

    public struct THPReport: Codable, Sendable, Equatable {
        /// `AnonHugePages` of the data mapping in /proc/self/smaps; nil where it could not be read.
        public var anonHugePagesKBAtStart: Int?
        public var anonHugePagesKBAtEnd: Int?
        public var collapseFailures: Int
        public var lastCollapseError: String?
    }

    public struct WriteReport: Codable, Sendable, Equatable {
        public var mode: String
        /// Per writer vCPU: the sequence number every page holds at least (its last sweep's, unless a write it
        /// deferred on a faulting page holds it back).
        public var published: [UInt64]
        /// Host reads of a writer's word checked against its publication.
        public var verifications: UInt64
    }

    public struct CheckReport: Codable, Sendable, Equatable {
        public var conclusive: UInt64
        public var conclusiveGeneration: UInt64
        public var conclusiveZeroWindow: UInt64
        public var conclusiveKeptWindow: UInt64
        public var inconclusive: UInt64
        public var sweeps: UInt64
        /// Coverage: each sweep reads every page once, at a word that moves by one per sweep, so after a vCPU's
        /// `sweeps` sweeps every page has had min(sweeps, 448) of its 448 generation words read by it.
        public var wordsReadPerPage: Int
        public var conclusivePerSecond: Double
        public var perVCPU: [VCPUChecks]
        /// Checks whose page faulted (a must-fault window) and that the checker moved past: reads skipped, writes
        /// deferred to a later sweep. Nil in older reports.
        public var faultingReadsSkipped: UInt64? = nil
        public var faultingWritesDeferred: UInt64? = nil
    }

    public struct VCPUChecks: Codable, Sendable, Equatable {
        public var vcpu: Int
        public var cpu: Int?
        public var conclusive: UInt64
        public var inconclusive: UInt64
        public var sweeps: UInt64
        public var exits: UInt64
    }

    public struct CounterReport: Codable, Sendable, Equatable {
        public var vm: CounterSet
        public var vcpus: [CounterSet]
    }

    public struct CounterSet: Codable, Sendable, Equatable {
        public var before: [String: UInt64]
        public var after: [String: UInt64]
        /// Only the counters that moved.
        public var delta: [String: Int64]
    }

    public struct TimelineSample: Codable, Sendable, Equatable {
        public var second: Double
        public var operations: Int
        public var conclusiveChecks: UInt64
        public var remoteTLBFlushes: UInt64
        public var efaults: UInt64
        /// The harness's own resident memory (guest memory it touched included), in KiB.
        public var residentKB: Int?
    }
}
