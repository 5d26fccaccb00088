import Foundation
import KVM

// The run's watch, on the calling thread while the others run: progress and the timeline, stalled vCPUs,
// checkpoints, the deadline, stop requests and --stop-after-violation.

extension TortureRun {
    /// Watches the rig's threads until the run should end; returns the timeline, a sample a second.
    func watch(_ rig: Rig) -> [RunReport.TimelineSample] {
        let (config, observations, workers, status, mutator) = (rig.config, rig.observations, rig.workers, rig.status, rig.mutator)
        let flushCounter = rig.vmStats?.counters(["remote_tlb_flush"])
        let flushBase = (try? flushCounter?.read().first) ?? 0
        var timeline: [RunReport.TimelineSample] = []
        var stalls = StallWatch(workers: workers, status: status)
        var nextSample = 1.0
        var nextCheckpoint = checkpointInterval ?? .infinity
        var checkpointedViolation = false
        var firstViolationSeen: Double?
        while observations.elapsed < config.duration && !stop.isRequested && !mutator.stop.load(ordering: .relaxed)
            && observations.harnessErrors.withLock({ $0.isEmpty }) {
            usleep(20_000)
            let now = observations.elapsed
            stalls.kickStalled(now: now, after: Self.stallSeconds)
            rig.flushSanitizer?.poll(observations)
            // Also at the first violation: a kernel bug that lets the guest write freed frames can corrupt this
            // process soon after, and the evidence must be out before that.
            let violated = observations.violationCount.load(ordering: .relaxed) > 0
            let firstViolation = !checkpointedViolation && violated
            if let grace = config.stopAfterViolationSeconds, violated {
                firstViolationSeen = firstViolationSeen ?? now
                if now - firstViolationSeen! >= grace {
                    observations.stoppedAfterViolation.store(true, ordering: .relaxed)
                    break
                }
            }
            if let checkpoint, now >= nextCheckpoint || firstViolation {
                if now >= nextCheckpoint { nextCheckpoint += checkpointInterval ?? .infinity }
                checkpointedViolation = checkpointedViolation || firstViolation
                var partial = rig.report(timeline, driven: mutatorDriver != nil, interruptedBy: stop)
                partial.complete = false
                checkpoint(partial)
            }
            if now >= nextSample {
                nextSample += 1
                let sample = RunReport.TimelineSample(
                    second: now, operations: observations.tallies.withLock { $0.values.reduce(0) { $0 &+ $1.count } },
                    conclusiveChecks: status.reduce(0) { $0 &+ $1.conclusive },
                    remoteTLBFlushes: ((try? flushCounter?.read().first) ?? 0) &- flushBase,
                    efaults: observations.efaults.load(ordering: .relaxed), residentKB: ProcessMemory.residentKB())
                report(sample, after: timeline.last, of: config.duration, violations: observations.violationCount.load(ordering: .relaxed))
                timeline.append(sample)
            }
        }
        return timeline
    }

    /// The progress line of a timeline sample: rates since the previous one.
    private func report(_ sample: RunReport.TimelineSample, after previous: RunReport.TimelineSample?, of duration: Double, violations: UInt64) {
        guard let progress else { return }
        let span = sample.second - (previous?.second ?? 0)
        let ops = Double(sample.operations - (previous?.operations ?? 0)) / span
        let rate = Double(sample.conclusiveChecks - (previous?.conclusiveChecks ?? 0)) / span
        progress(String(format: "%5.1f/%.0f s  %8.0f ops/s  %10.3g checks/s  %d violations", sample.second, duration, ops, rate, violations))
    }
}

/// The watchdog's view of each vCPU: one whose sweeps and exits have not moved for a while is kicked, and says
/// where it was (a harness error) when it leaves the guest.
struct StallWatch {
    let workers: [VCPUWorker]
    let status: [CheckerStatus]
    private var lastProgress: [(sweeps: UInt64, exits: UInt64)]
    private var stalledSince: [Double?]

    init(workers: [VCPUWorker], status: [CheckerStatus]) {
        self.workers = workers
        self.status = status
        lastProgress = workers.map { _ in (0, 0) }
        stalledSince = workers.map { _ in nil }
    }

    mutating func kickStalled(now: Double, after seconds: Double) {
        for (index, worker) in workers.enumerated() {
            let progressMark = (sweeps: status[index].load(.sweeps), exits: worker.exits.load(ordering: .relaxed))
            if progressMark != lastProgress[index] {
                lastProgress[index] = progressMark
                stalledSince[index] = nil
            } else if let since = stalledSince[index] {
                if now - since > seconds {
                    worker.stallKick.store(true, ordering: .relaxed)
                    worker.vcpu.requestExit()
                    stalledSince[index] = now
                }
            } else {
                stalledSince[index] = now
            }
        }
    }
}
