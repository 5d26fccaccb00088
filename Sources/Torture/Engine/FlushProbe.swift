#if canImport(Glibc)
import Glibc
#endif
import Atomics
import Guests
import Synchronization

/// The missing-flush oracle: KVM's promise has a second half that the kernel's own counters show even where stale
/// data cannot (under QEMU's TCG, which flushes its software TLB on every VMRUN, or when the freed frame is
/// recycled with the next generation).
///
/// The rule, from virt/kvm/kvm_main.c (6.1 and later): an mmu-notifier invalidation (`invalidate_range_start`)
/// runs `kvm_unmap_gfn_range` on every memslot the range overlaps; it returns true when it zapped any present
/// SPTE, and then `kvm_flush_remote_tlbs` runs before the notifier returns, and it increments the VM's
/// `remote_tlb_flush_requests` unconditionally (whether or not a vCPU had to be kicked, and whatever the
/// architecture's range flush does). So: if a data page is mapped in the SPTEs when a call that invalidates it
/// starts, `remote_tlb_flush_requests` must have moved by the time the call returns.
///
/// A probe proves the page mapped: with no window open (a probed step runs alone), the mutator waits until some checker vCPU finished two
/// sweeps (the second began after the wait started, and a sweep accesses every page the mutator can pick), and
/// reads `remote_tlb_flush_requests` before the wait and right before the call. Equal readings mean nothing
/// zapped anything meanwhile: every removal of a present SPTE that KVM makes flushes (notifier zaps, MMU page
/// recycling, memslot changes' zaps of obsolete pages, collapsible-SPTE zaps), so the page's SPTE is still there.
/// A probe whose readings differ judges nothing (counted as `skippedCounterMoved`). Probes are off while
/// antagonists run (memslot churn and CR0.WP flips make KVM rebuild roots beside the mutator) and only judge
/// operations that are invalidations of a mapped range in every backing they run on.
final class FlushProbe {
    /// How long a probe waits for the checkers' two sweeps before giving up on this step.
    static let sweepWaitNanoseconds: UInt64 = 50_000_000

    private let statusBlocks: [CheckerStatus]
    private let intervalNanoseconds: UInt64
    private var nextProbe: UInt64 = 0
    private var stepsUntilClock = 0
    static let stepsPerClockRead = 16
    /// The flush-request reading taken before the probe's wait, while a probe is armed.
    private var armedAt: UInt64?
    /// Read by the report while the mutator updates it.
    let report = Mutex(RunReport.FlushProbeReport())

    init(statusBlocks: [CheckerStatus], intervalMilliseconds: Int) {
        self.statusBlocks = statusBlocks
        intervalNanoseconds = UInt64(intervalMilliseconds) * 1_000_000
    }

    /// Before a step on `operation`: whether a probe is due (the mutator then lets the step run alone).
    func isDue(for operation: Operation) -> Bool {
        armedAt = nil
        // The clock is read on one step in 16 only: this runs between two invalidations, where every cycle delays
        // the next flush (see `Mutator.begin`).
        stepsUntilClock -= 1
        guard stepsUntilClock <= 0 else { return false }
        stepsUntilClock = Self.stepsPerClockRead
        return operation.traits.contains(.probed) && MonotonicClock.now() >= nextProbe
    }

    /// A due probe: waits for two checker sweeps and arms it with the flush request count `requests` read before
    /// the wait. Returns whether the probe is armed.
    func arm(requests: () -> UInt64?) -> Bool {
        let now = MonotonicClock.now()
        guard let before = requests() else { return false }
        report.withLock { $0.probes += 1 }
        let start = statusBlocks.map { $0.load(.sweeps) }
        let deadline = now + Self.sweepWaitNanoseconds
        // However slow the sweeps (many pages, or a guest that exits on every page), probing takes at most a
        // fortieth of the mutator's time: the next probe comes no sooner than 39 waits after this one ends.
        defer {
            let end = MonotonicClock.now()
            nextProbe = end + max(intervalNanoseconds, (end - now) * Self.waitShare)
        }
        while !zip(statusBlocks, start).contains(where: { $0.load(.sweeps) >= $1 + 2 }) {
            if MonotonicClock.now() > deadline {
                report.withLock { $0.skippedNoSweep += 1 }
                return false
            }
            sched_yield()
        }
        armedAt = before
        return true
    }

    /// The mutator's time between two probes, in units of the first one's wait: probing takes at most a fortieth
    /// of it (2.5%). A probe waits 1.5 sweeps on average, and every step the mutator does not make meanwhile is an
    /// invalidation fewer: at 256 pages on a nested host, a tenth (the share until 2026-12-07) was about 4% of a
    /// dontneed step's time at the 5 ms interval.
    static let waitShare: UInt64 = 39

    /// After the call: `requestsBefore`/`requestsAfter` bracket the call itself. Returns the missing flush, if
    /// this probe proves one: nil when the probe was not armed, judged nothing, or saw the flush.
    func judge(requestsBefore: UInt64, requestsAfter: UInt64, judgeable: Bool) -> (before: UInt64, after: UInt64)? {
        guard let armed = armedAt else { return nil }
        armedAt = nil
        return report.withLock { report in
            guard judgeable else { report.skippedNotInvalidating += 1; return nil }
            guard armed == requestsBefore else { report.skippedCounterMoved += 1; return nil }
            report.judged += 1
            guard requestsAfter == requestsBefore else { return nil }
            report.missing += 1
            return (requestsBefore, requestsAfter)
        }
    }
}

extension RunReport {
    /// The missing-flush oracle's probes (``FlushProbe``).
    public struct FlushProbeReport: Codable, Sendable, Equatable {
        /// Probes started (a step on a judged operation, at most one per `--flush-probe-ms`).
        public var probes = 0
        /// Probes that judged a call: the page proven mapped, nothing flushed between the proof and the call.
        public var judged = 0
        /// Judged calls that moved no flush request: each is a `missing-flush` violation.
        public var missing = 0
        /// Probes void because a flush request came between the proof and the call (something else zapped).
        public var skippedCounterMoved = 0
        /// Probes given up because no checker finished two sweeps within 50 ms (a descheduled vCPU).
        public var skippedNoSweep = 0
        /// Probes whose call turned out not to invalidate (a failed THP collapse, the collapse half of `thp`).
        public var skippedNotInvalidating = 0
        public init() {}
    }
}
