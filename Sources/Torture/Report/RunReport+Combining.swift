import Foundation

// One report from several (`--op all`): rows, checks and violations together, counters summed, the worst verdict.

extension RunReport {
    /// One report for `--op all`: the parts' operation rows, checks and violations together, counters summed, and
    /// the worst verdict of the parts.
    static func combining(_ parts: [RunReport], as configuration: TortureConfiguration) -> RunReport {
        guard var total = parts.first else { preconditionFailure("no parts to combine") }
        total.configuration = configuration
        for part in parts.dropFirst() {
            let offset = total.durationSeconds
            total.durationSeconds += part.durationSeconds
            total.interruptedBy = total.interruptedBy ?? part.interruptedBy
            total.operations += part.operations
            total.checks = total.checks.adding(part.checks)
            total.publications += part.publications
            total.efaults += part.efaults
            total.mmioExits += part.mmioExits
            if let served = part.mmioServedChecks { total.mmioServedChecks = (total.mmioServedChecks ?? 0) + served }
            total.heartbeats += part.heartbeats
            total.writes.verifications += part.writes.verifications
            total.violationCount += part.violationCount
            if let kinds = part.violationsByKind { total.violationsByKind = (total.violationsByKind ?? [:]).merging(kinds, uniquingKeysWith: +) }
            total.violations += part.violations
            total.harnessErrors += part.harnessErrors
            total.notes += part.notes
            total.thp = total.thp ?? part.thp
            total.kernelFindings += part.kernelFindings
            total.antagonists += part.antagonists
            total.caughtPublications += part.caughtPublications
            if let probes = part.flushProbes { total.flushProbes = (total.flushProbes ?? .init()).adding(probes) }
            if let seen = part.flushSanitizer { total.flushSanitizer = total.flushSanitizer.map { $0.adding(seen) } ?? seen }
            if let windows = part.windows {
                total.windows = (total.windows ?? [:]).merging(windows) { $0.adding($1) }
            }
            if let traps = part.traps { total.traps = (total.traps ?? .init()).adding(traps) }
            if let peak = part.windowsInFlightPeak { total.windowsInFlightPeak = max(total.windowsInFlightPeak ?? 0, peak) }
            if let long = part.longWindows { total.longWindows = (total.longWindows ?? 0) &+ long }
            total.counters.vm = total.counters.vm.adding(part.counters.vm)
            total.counters.vcpus = zip(total.counters.vcpus, part.counters.vcpus).map { $0.adding($1) }
            // Each part counts from zero: its samples continue the totals so far, so the timeline stays cumulative.
            let before = total.timeline.last ?? TimelineSample(second: 0, operations: 0, conclusiveChecks: 0, remoteTLBFlushes: 0, efaults: 0)
            total.timeline += part.timeline.map { sample in
                var continued = sample
                continued.second += offset
                continued.operations += before.operations
                continued.conclusiveChecks += before.conclusiveChecks
                continued.remoteTLBFlushes += before.remoteTLBFlushes
                continued.efaults += before.efaults
                return continued
            }
            if part.verdict.severity > total.verdict.severity {
                total.verdict = part.verdict
                total.verdictReason = "\(part.configuration.operation.rawValue): \(part.verdictReason)"
            }
        }
        total.checks.conclusivePerSecond = Double(total.checks.conclusive) / max(total.durationSeconds, 1e-9)
        if total.verdict == .pass { total.verdictReason = "\(parts.count) operations, every one exercised, no violation" }
        total.exitCode = total.verdict.exitCode
        return total
    }
}

extension RunReport.CheckReport {
    func adding(_ other: Self) -> Self {
        var sum = self
        sum.conclusive += other.conclusive
        sum.conclusiveGeneration += other.conclusiveGeneration
        sum.conclusiveZeroWindow += other.conclusiveZeroWindow
        sum.conclusiveKeptWindow += other.conclusiveKeptWindow
        sum.inconclusive += other.inconclusive
        sum.sweeps += other.sweeps
        sum.perVCPU += other.perVCPU
        if let skipped = other.faultingReadsSkipped { sum.faultingReadsSkipped = (sum.faultingReadsSkipped ?? 0) + skipped }
        if let deferred = other.faultingWritesDeferred { sum.faultingWritesDeferred = (sum.faultingWritesDeferred ?? 0) + deferred }
        return sum
    }
}

extension RunReport.CounterSet {
    func adding(_ other: Self) -> Self {
        var sum = self
        sum.after = other.after
        sum.delta.merge(other.delta, uniquingKeysWith: +)
        return sum
    }
}

extension RunReport.FlushProbeReport {
    func adding(_ other: Self) -> Self {
        var sum = self
        sum.probes += other.probes
        sum.judged += other.judged
        sum.missing += other.missing
        sum.skippedCounterMoved += other.skippedCounterMoved
        sum.skippedNoSweep += other.skippedNoSweep
        sum.skippedNotInvalidating += other.skippedNotInvalidating
        return sum
    }
}
