import Foundation
import KVM

// The report of a rig's run as of now (at the end, or a checkpoint while it goes on), and the notes that say what
// the run's setup means for its evidence.

extension Rig {
    /// The report as of now. `driven`: the mutator's thread was driven from outside (its windows not reported).
    func report(_ timeline: [RunReport.TimelineSample], driven: Bool, interruptedBy stop: StopRequest) -> RunReport {
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
            windows: driven ? nil : mutator.windows, stop: stop, duration: duration, status: status.map(GuestStatus.init),
            workers: workers, placement: placement, vm: (vmBefore, vmAfter), vcpus: Array(zip(vcpuBefore, vcpuAfter))
        ).report(host: host, startedAt: startedAt, timeline: timeline, firstSteps: mutator.firstSteps)
        report.flushProbes = mutator.flushProbe?.report.withLock { $0 }
        report.flushSanitizer = flushSanitizer?.report()
        report.traps = mutator.frameTraps?.report
        report.windowsInFlightPeak = driven ? nil : mutator.inFlight.peak
        report.longWindows = driven || mutator.configuration.inFlightWindows == 1 ? nil : mutator.inFlight.longWindows
        report.mmioServedChecks = observations.mmioServedChecks.load(ordering: .relaxed)
        return report
    }

    /// What the run's setup means for its evidence (other VMs, kernel log, starvation, thp, and what each
    /// operation says of its steps: fork-cow's breaks, ksm's merges, the ones that unmap nothing), and the thp
    /// backing's figures.
    private func notesAndTHP(_ timeline: [RunReport.TimelineSample]) -> ([String], RunReport.THPReport?) {
        var notes: [String] = []
        if let note = OtherKVMUsers.note(atStart: otherVMs, atEnd: OtherKVMUsers.find()) { notes.append(note) }
        if let problem = kernelLog.problem { notes.append(problem) }
        if config.flushProbeInterval > 0, let reason = config.flushProbeOffReason {
            notes.append("the missing-flush oracle is off beside \(reason)")
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
                collapseFailures: observations.tallies.withLock { $0[.thp]?.failed ?? 0 }, lastCollapseError: backing.lastCollapseError)
            let kilobytes = { (value: Int?) in value.map { "\($0) kB" } ?? "unknown" }
            notes.append("thp: AnonHugePages of the data mapping \(kilobytes(report.anonHugePagesKBAtStart)) at the start, "
                + "\(kilobytes(report.anonHugePagesKBAtEnd)) at the end; MADV_COLLAPSE failures: \(report.collapseFailures)"
                + (report.lastCollapseError.map { " (last: \($0))" } ?? "")
                + (report.anonHugePagesKBAtStart == 0 ? "; no huge page was ever formed (THP disabled?)" : ""))
            thp = report
        }
        notes += mutator.operationNotes
        return (notes, thp)
    }
}
