import Foundation
import Guests
import KVM

/// Turns what a run observed into the report's figures and its verdict. A pass needs evidence: conclusive checks,
/// and kernel counters that moved because of each operation performed.
struct RunAssessment {
    let configuration: TortureConfiguration
    let notes: [String]
    let thp: RunReport.THPReport?
    let dirty: RunReport.DirtyReport?
    let antagonists: [RunReport.AntagonistReport]
    let observations: Observations
    /// The mutator's windows, opened and sampled (nil: its steps were driven from outside, as the bench does).
    let windows: WindowSampling?
    /// The run's stop request: a signal that asked for it names the interruption.
    let stop: StopRequest
    let duration: Double
    let status: [GuestStatus]
    let workers: [VCPUWorker]
    let placement: Placement
    let vm: (Statistics, Statistics)
    let vcpus: [(Statistics, Statistics)]

    func report(host: HostFingerprint, startedAt: String, timeline: [RunReport.TimelineSample], firstSteps: [Step]) -> RunReport {
        let operations = operationReports()
        let checks = checkReport()
        let violations = observations.violations.withLock { $0 }
        let violationCount = observations.violationCount.load(ordering: .relaxed)
        let byKind = observations.violationsByKind.withLock { $0 }
        let errors = observations.harnessErrors.withLock { $0 } + lostGuestReports(byKind)
        let (verdict, reason) = judge(operations: operations, checks: checks, violations: byKind, errors: errors)
        var report = RunReport(
            host: host, configuration: configuration, placement: placement, startedAt: startedAt, durationSeconds: duration,
            interruptedBy: stop.reason,
            operations: operations, checks: checks, publications: observations.publications.load(ordering: .relaxed),
            efaults: observations.efaults.load(ordering: .relaxed), mmioExits: observations.mmioExits.load(ordering: .relaxed),
            heartbeats: observations.heartbeats.load(ordering: .relaxed), writes: writeReport(), detectionLatencyMicroseconds: detectionLatency(),
            antagonists: antagonists, caughtPublications: observations.caughtPublications.withLock { $0.count }, dirty: dirty,
            kernelFindings: observations.kernelFindings.withLock { $0 }, thp: thp, notes: notes,
            violationCount: violationCount, violations: violations, harnessErrors: errors,
            counters: RunReport.CounterReport(vm: counterSet(vm), vcpus: vcpus.map(counterSet)),
            timeline: timeline, firstSteps: firstSteps, verdict: verdict, verdictReason: reason, exitCode: verdict.exitCode)
        report.violationsByKind = Dictionary(uniqueKeysWithValues: byKind.map { ($0.key.rawValue, $0.value) })
        report.complete = true
        report.plannedSeconds = configuration.duration
        if verdict == .interrupted, let signal = stop.signal { report.exitCode = ExitStatus.interrupted(by: signal) }
        report.windows = windows?.totals()
        return report
    }

    /// The guests count every violation they report; the host records each report (or counts it served as MMIO).
    /// More counted than recorded, beyond one report per vCPU cut off by the run's stop, means reports were lost.
    private func lostGuestReports(_ byKind: [Violation.Kind: UInt64]) -> [String] {
        guard windows != nil else { return [] }  // a mutator driven from outside (the bench's C loop) publishes its own way
        let counted = status.reduce(0) { $0 &+ $1.violations }
        let recorded = [Violation.Kind.staleRead, .staleFrame, .readback].reduce(0) { $0 + (byKind[$1] ?? 0) }
            + observations.mmioServedChecks.load(ordering: .relaxed)
        guard counted > recorded + UInt64(status.count) else { return [] }
        return ["the guests counted \(counted) violations, the host recorded \(recorded): reports were lost"]
    }

    /// Whether an operation's steps tested the kernel: a flush reached a vCPU (a flush request alone may have
    /// found none to interrupt) or a guest access faulted, and, for one judged by its windows, a guest check landed
    /// in at least one of the windows it opened.
    static func isExercised(flushes: UInt64, faults: UInt64, windowsOpened opened: UInt64, windowsSampled sampled: UInt64,
                            judgedByItsWindows: Bool) -> Bool {
        let reached = flushes > 0 || faults > 0
        return reached && (!judgedByItsWindows || opened == 0 || sampled > 0)
    }

    private func operationReports() -> [RunReport.OperationReport] {
        let tallies = observations.tallies.withLock { $0 }
        return Operation.allCases.compactMap { operation in
            guard let tally = tallies[operation], tally.count > 0 || tally.faults > 0 else { return nil }
            let windowCounts = windows?.counts(of: operation) ?? [:]
            let opened = windowCounts.values.reduce(0) { $0 &+ $1.opened }
            let sampled = windowCounts.values.reduce(0) { $0 &+ $1.sampled }
            let exercised = Self.isExercised(flushes: tally.flushes, faults: tally.faults, windowsOpened: opened, windowsSampled: sampled,
                                             judgedByItsWindows: operation.isJudgedByItsWindows)
            var evidence: [String] = []
            if tally.flushRequests > 0 { evidence.append("remote_tlb_flush_requests +\(tally.flushRequests.grouped)") }
            if tally.flushes > 0 { evidence.append("remote_tlb_flush +\(tally.flushes.grouped)") }
            if tally.faults > 0 { evidence.append("\(tally.faults.grouped) guest accesses faulted (KVM_RUN EFAULT) or exited as MMIO while it ran") }
            if tally.failed > 0 { evidence.append("\(tally.failed.grouped) calls failed and were counted") }
            if opened > 0 { evidence.append("\(sampled.grouped) of \(opened.grouped) windows sampled") }
            let why = exercised
                ? "moved during its calls: " + evidence.joined(separator: ", ")
                : operation == .none
                    ? "no invalidation (republication only)"
                    : tally.flushes == 0 && tally.faults == 0
                        ? "no remote TLB flush reached a vCPU and no guest access faulted during its \(tally.count) calls (flush requests +\(tally.flushRequests)): the kernel never had to reach a vCPU"
                        : "none of its \(opened) windows was sampled: no guest check landed while a window was open (longer --window-us or --fault-window-us, fewer --pages)"
            return RunReport.OperationReport(
                name: operation.rawValue, count: tally.count, perSecond: Double(tally.count) / duration,
                flushRequests: tally.flushRequests, flushes: tally.flushes, faults: tally.faults,
                meanMicroseconds: tally.count > 0 ? Double(tally.nanoseconds) / Double(tally.count) / 1000 : 0,
                maxMicroseconds: Double(tally.maxNanoseconds) / 1000,
                latencyPercentilesMicroseconds: Dictionary(uniqueKeysWithValues: [50.0, 90, 99, 99.9].map { percentile in
                    (percentile == 99.9 ? "99.9" : String(Int(percentile)), tally.count > 0 ? Double(tally.latency.valueAtPercentile(percentile)) / 1000 : 0)
                }),
                exercised: exercised || operation == .none, evidence: why, windows: windowCounts.isEmpty ? nil : windowCounts)
        }
    }

    private func detectionLatency() -> [String: Double]? {
        guard configuration.injection != .none else { return nil }
        return observations.detectionLatency.withLock { histogram in
            histogram.totalCount == 0 ? ["count": 0] : [
                "50": Double(histogram.valueAtPercentile(50)) / 1000, "99": Double(histogram.valueAtPercentile(99)) / 1000,
                "count": Double(histogram.totalCount),
            ]
        }
    }

    private func writeReport() -> RunReport.WriteReport {
        RunReport.WriteReport(
            mode: configuration.mode.rawValue,
            published: configuration.mode == .read ? [] : status.map { $0.published },
            verifications: observations.writeVerifications.load(ordering: .relaxed))
    }

    private func checkReport() -> RunReport.CheckReport {
        let perVCPU = status.enumerated().map { index, block in
            RunReport.VCPUChecks(
                vcpu: index, cpu: placement.vcpuCPUs[index], conclusive: block.conclusive, inconclusive: block.inconclusive,
                sweeps: block.sweeps, exits: workers[index].exits.load(ordering: .relaxed))
        }
        let conclusive = status.reduce(0) { $0 &+ $1.conclusive }
        var checks = RunReport.CheckReport(
            conclusive: conclusive, conclusiveGeneration: status.reduce(0) { $0 &+ $1.generation },
            conclusiveZeroWindow: status.reduce(0) { $0 &+ $1.zero }, conclusiveKeptWindow: status.reduce(0) { $0 &+ $1.keep },
            inconclusive: status.reduce(0) { $0 &+ $1.inconclusive }, sweeps: status.reduce(0) { $0 &+ $1.sweeps },
            wordsReadPerPage: Int(min(status.map(\.sweeps).max() ?? 0, UInt64(GUEST_READER_WORDS))),
            conclusivePerSecond: Double(conclusive) / duration, perVCPU: perVCPU)
        checks.faultingReadsSkipped = status.reduce(0) { $0 &+ $1.skippedReads }
        checks.faultingWritesDeferred = status.reduce(0) { $0 &+ $1.deferredWrites }
        return checks
    }

    private func counterSet(_ pair: (Statistics, Statistics)) -> RunReport.CounterSet {
        RunReport.CounterSet(before: pair.0.values, after: pair.1.values, delta: pair.1.delta(since: pair.0).filter { $0.value != 0 })
    }

    private func judge(
        operations: [RunReport.OperationReport], checks: RunReport.CheckReport, violations byKind: [Violation.Kind: UInt64], errors: [String]
    ) -> (Verdict, String) {
        VerdictEvidence(
            injection: configuration.injection, violationsByKind: byKind, kernelFindings: observations.kernelFindings.withLock { $0 },
            harnessErrors: errors, conclusiveChecks: checks.conclusive, writeVerifications: observations.writeVerifications.load(ordering: .relaxed),
            dirtyJudgedRounds: dirty?.judgedRounds,
            idle: operations.filter { !$0.exercised }.map(\.name) + antagonists.filter { !$0.exercised }.map { "antagonist \($0.kind)" },
            operationPerformed: configuration.operation == .none || !operations.allSatisfy({ $0.name == Operation.none.rawValue }),
            interruptedBy: stop.reason
        ).judge()
    }
}
