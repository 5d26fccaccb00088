import Foundation
import Synchronization

/// The counters of the KVM flush sanitizer (`lab/flush-sanitizer.patch`), where the running kvm module carries it:
/// the kernel checks at every release of `mmu_lock` that each SPTE zapped under it was covered by a remote TLB
/// flush, and counts the releases that were not (the seed's bug, caught without stale data). Absent on a stock
/// kernel, where the run says nothing of it.
struct FlushSanitizerCounters: Equatable, Sendable {
    /// Releases of mmu_lock with a zap not covered by a flush.
    var violations: UInt64
    /// Zaps the sanitizer recorded, and releases it judged with zaps pending: what it really saw.
    var zaps: UInt64
    var judged: UInt64
    /// "release=SITE zap=SITE" of the last violation, or "none".
    var last: String

    static let directory = "/sys/module/kvm/parameters"

    /// The counters as the module reports them now; nil where the module has no sanitizer (or it is turned off).
    static func read(directory: String = directory) -> FlushSanitizerCounters? {
        guard ProcFile.value("\(directory)/flush_sanitizer") == "Y",
              let violations = ProcFile.value("\(directory)/flush_sanitizer_violations").flatMap(UInt64.init),
              let zaps = ProcFile.value("\(directory)/flush_sanitizer_zaps").flatMap(UInt64.init),
              let judged = ProcFile.value("\(directory)/flush_sanitizer_judged").flatMap(UInt64.init) else { return nil }
        return FlushSanitizerCounters(violations: violations, zaps: zaps, judged: judged,
                                      last: ProcFile.value("\(directory)/flush_sanitizer_last") ?? "none")
    }
}

/// A run's view of the sanitizer: each new late flush the kernel counted becomes a `late-flush` violation as soon as
/// it is polled (the run's watch polls it every tick, the report once more), and the report says what it saw.
final class FlushSanitizerWatch: Sendable {
    let directory: String
    let atStart: FlushSanitizerCounters
    private let seen: Mutex<UInt64>

    init?(directory: String = FlushSanitizerCounters.directory) {
        guard let counters = FlushSanitizerCounters.read(directory: directory) else { return nil }
        self.directory = directory
        atStart = counters
        seen = Mutex(counters.violations)
    }

    /// Adds a `late-flush` violation for the late flushes counted since the last poll. A tick reads the one
    /// counter; the site only when it moved.
    func poll(_ observations: Observations) {
        guard let violations = ProcFile.value("\(directory)/flush_sanitizer_violations").flatMap(UInt64.init) else { return }
        let before = seen.withLock { seen in
            defer { seen = max(seen, violations) }
            return seen
        }
        guard violations > before else { return }
        let last = ProcFile.value("\(directory)/flush_sanitizer_last") ?? "none"
        observations.addViolation(Violation(
            kind: .lateFlush, vcpu: -1, page: -1, word: 0, controlBefore: 0, controlAfter: 0,
            window: "the kernel's flush sanitizer", expected: before, observed: violations, time: observations.elapsed,
            operationInFlight: "mmu_lock released with \(violations &- before) zap(s) not covered by a remote TLB flush: \(last)",
            recentOperations: []))
    }

    /// What the sanitizer saw during the run (counts since its start).
    func report() -> RunReport.FlushSanitizerReport? {
        guard let now = FlushSanitizerCounters.read(directory: directory) else { return nil }
        return RunReport.FlushSanitizerReport(
            zaps: now.zaps &- atStart.zaps, judgedReleases: now.judged &- atStart.judged,
            lateFlushes: now.violations &- atStart.violations, last: now.violations > atStart.violations ? now.last : nil)
    }
}

extension RunReport {
    /// What the kernel's flush sanitizer saw during the run; nil where the kvm module has none.
    public struct FlushSanitizerReport: Codable, Sendable, Equatable {
        /// SPTE zaps it recorded (in roots vCPUs could use).
        public var zaps: UInt64
        /// Releases of mmu_lock it judged with zaps pending.
        public var judgedReleases: UInt64
        /// Releases with a zap no flush covered: each is a `late-flush` violation.
        public var lateFlushes: UInt64
        /// "release=SITE zap=SITE" of the last late flush, when there was one.
        public var last: String?

        func adding(_ other: Self) -> Self {
            FlushSanitizerReport(zaps: zaps &+ other.zaps, judgedReleases: judgedReleases &+ other.judgedReleases,
                                 lateFlushes: lateFlushes &+ other.lateFlushes, last: other.last ?? last)
        }
    }
}
