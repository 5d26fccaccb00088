import Foundation
import KVM

// The report of a rig's run as of now (at the end, or a checkpoint while it goes on), and the notes that say what
// the run's setup means for its evidence.

extension Rig {
    /// The report as of now. `driven`: the mutator's thread was driven from outside (its windows not reported).
    func report(_ timeline: [RunReport.TimelineSample], driven: Bool) -> RunReport {
        flushSanitizer?.poll(observations)
        let duration = observations.elapsed
        let vmAfter = (try? vmStats?.read()) ?? Statistics()
        let vcpuAfter = vcpuStats.map { (try? $0?.read()) ?? Statistics() }
        let (notes, thp) = notesAndTHP(timeline)
        let dirty = mutator.dirtyOracle.map {
            RunReport.DirtyReport(
                mode: config.dirty.rawValue, rounds: $0.rounds, pagesReported: $0.pagesReported, judgedRounds: $0.judgedRounds,
                ringFullExits: observations.ringFullExits.load(ordering: .relaxed), writtenPagesJudged: $0.writtenPagesJudged)
        }
        var report = RunAssessment(
            configuration: config, notes: notes, thp: thp, dirty: dirty, antagonists: antagonists.map(\.report), observations: observations,
            windows: driven ? nil : mutator.windows, duration: duration, status: status.map(GuestStatus.init),
            workers: workers, placement: placement, vm: (vmBefore, vmAfter), vcpus: Array(zip(vcpuBefore, vcpuAfter))
        ).report(host: host, startedAt: startedAt, timeline: timeline, firstSteps: mutator.firstSteps)
        report.flushProbes = mutator.flushProbe?.report.withLock { $0 }
        report.flushSanitizer = flushSanitizer?.report()
        report.traps = mutator.frameTraps?.report
        report.windowsInFlightPeak = driven ? nil : mutator.peakInFlight
        report.longWindows = driven || mutator.configuration.inFlightWindows == 1 ? nil : mutator.longWindows
        report.mmioServedChecks = observations.mmioServedChecks.load(ordering: .relaxed)
        return report
    }

    /// What the run's setup means for its evidence (other VMs, kernel log, fork-cow, starvation, thp, ksm, aging,
    /// operations that unmap nothing), and the thp backing's figures.
    private func notesAndTHP(_ timeline: [RunReport.TimelineSample]) -> ([String], RunReport.THPReport?) {
        var notes: [String] = []
        if let note = OtherKVMUsers.note(atStart: otherVMs, atEnd: OtherKVMUsers.find()) { notes.append(note) }
        if let problem = kernelLog.problem { notes.append(problem) }
        if config.flushProbeInterval > 0, let reason = config.flushProbeOffReason {
            notes.append("the missing-flush oracle is off beside \(reason)")
        }
        if config.operation == .forkCOW {
            let measured = observations.cowMeasured.load(ordering: .relaxed)
            let forks = observations.tallies.withLock { $0[.forkCOW]?.count ?? 0 }
            notes.append("fork-cow: \(forks) forks, each child alive until its page was republished; "
                + (measured > 0 ? "\(observations.cowBreaks.load(ordering: .relaxed)) of \(measured) measured republications broke copy-on-write (the page moved to a new frame)"
                    : "copy-on-write breaks not measured (/proc/self/pagemap shows frames to root only)"))
        }
        if let starved = TortureRun.starvationNote(timeline) { notes.append(starved) }
        if observations.stoppedAfterViolation.load(ordering: .relaxed) {
            notes.append("stopped \(config.stopAfterViolationSeconds ?? 0) s after the first violation (--stop-after-violation), before the planned \(config.duration) s")
        }
        let kernelFindings = KernelLog.findings(in: kernelLog.newRecords())
        observations.kernelFindings.withLock { $0 += kernelFindings }
        var thp: RunReport.THPReport?
        if config.backing == .thp {
            let report = RunReport.THPReport(
                anonHugePagesKBAtStart: hugeAtStart, anonHugePagesKBAtEnd: backing.anonHugePagesKB(),
                collapseFailures: observations.tallies.withLock { $0[.thp]?.failed ?? 0 }, lastCollapseError: mutator.lastCollapseError)
            let kilobytes = { (value: Int?) in value.map { "\($0) kB" } ?? "unknown" }
            notes.append("thp: AnonHugePages of the data mapping \(kilobytes(report.anonHugePagesKBAtStart)) at the start, "
                + "\(kilobytes(report.anonHugePagesKBAtEnd)) at the end; MADV_COLLAPSE failures: \(report.collapseFailures)"
                + (report.lastCollapseError.map { " (last: \($0))" } ?? "")
                + (report.anonHugePagesKBAtStart == 0 ? "; no huge page was ever formed (THP disabled?)" : ""))
            thp = report
            if config.operation == .cold {
                notes.append("cold: the split huge page collapsed again before \(mutator.coldCollapses.tried) steps, "
                    + "\(mutator.coldCollapses.failed) of them failed (that step found the range already small: its MADV_COLD reached nothing)")
            }
        }
        if config.operation == .ksm {
            let republications = observations.tallies.withLock { $0[.ksm]?.count ?? 0 }
            let scans = (KSMDaemon.value("full_scans").flatMap { Int($0) } ?? 0) - (ksmScansAtStart ?? 0)
            notes.append("ksm: \(observations.ksmMergedRepublications.load(ordering: .relaxed)) of \(republications) republications found "
                + "their page merged by ksmd (the host's write broke the sharing); ksm_merging_pages now "
                + "\(KSMDaemon.mergingPages().map(String.init) ?? "unknown"); ksmd full scans +\(scans)")
        }
        if let reclaim {
            let tally = observations.tallies.withLock { $0[.aging] ?? Observations.OperationTally() }
            notes.append("aging through \(reclaim.interface.rawValue) (\(reclaim.directory)): \(tally.count) reclaim steps, "
                + "\(tally.failed) found nothing to reclaim, usage dropped by \(observations.reclaimedBytes.load(ordering: .relaxed) / 1024) KiB in all")
        }
        if config.operation == .cold && config.backing != .thp {
            notes.append("MADV_COLD only moves pages to the inactive list; it unmaps nothing, so KVM is never told")
        } else if config.operation == .pageout && config.backing == .anonymous {
            notes.append("MADV_PAGEOUT on private anonymous memory needs swap to unmap anything")
        }
        return (notes, thp)
    }
}
