import Foundation

// The report as the terminal shows it: the summary `run` prints and `report show` prints again.
extension RunReport {
    /// The human summary printed at the end of a run (and by `report show`).
    public var summary: String {
        var lines: [String] = []
        let c = configuration
        lines.append("mmutorture \(toolVersion): \(c.operation.rawValue) on \(c.backing.rawValue), \(c.pages) pages, \(c.vcpus) vCPU(s), mode \(c.mode.rawValue), \(c.guestPageSize.rawValue) guest pages, seed \(c.seed)"
            + (c.injection == .none ? "" : ", inject \(c.injection.rawValue)")
            + (c.scenarioName.map { ", scenario \($0)" } ?? "") + (c.dirty == .off ? "" : ", dirty \(c.dirty.rawValue)")
            + (c.antagonists.isEmpty ? "" : ", antagonists " + c.antagonists.map { "\($0.kind.rawValue):\($0.periodMicroseconds)" }.joined(separator: ",")))
        lines.append("host: Linux \(host.kernelRelease), MMU \(host.mmuMode)\(host.pvm ? " (PVM)" : "")\(host.nested ? ", nested" : ""), \(host.cpus) CPUs; "
            + (placement.pinned ? "mutator on CPU \(placement.mutatorCPU ?? -1), vCPUs on \(placement.vcpuCPUs.map { "\($0 ?? -1)" }.joined(separator: ","))" : placement.note ?? "not pinned"))
        lines.append(String(format: "ran %.1f s%@", durationSeconds, interruptedBy.map { " (stopped by \($0))" } ?? ""))
        lines.append("")
        lines.append("operation       count     ops/s  mean µs   p99 µs  flush-req  flushes  EFAULTs  exercised")
        for op in operations {
            lines.append(op.name.padded(12) + " " + op.count.grouped.rightAligned(8) + " " + (op.perSecond.isFinite ? Int(op.perSecond.rounded()).grouped : "-").rightAligned(9)
                + String(format: " %8.1f %8.1f ", op.meanMicroseconds, op.latencyPercentilesMicroseconds["99"] ?? 0)
                + op.flushRequests.grouped.rightAligned(10) + " " + op.flushes.grouped.rightAligned(8) + " " + op.faults.grouped.rightAligned(8)
                + "  " + (op.exercised ? "yes" : "NO"))
        }
        for op in operations { lines.append("  \(op.name): \(op.evidence)") }
        lines.append("")
        lines.append("checks: \(checks.conclusive.grouped) conclusive (" + String(format: "%.3g/s", checks.conclusivePerSecond)
            + "; generation \(checks.conclusiveGeneration.grouped), zero-window \(checks.conclusiveZeroWindow.grouped), "
            + "kept-window \(checks.conclusiveKeptWindow.grouped)), \(checks.inconclusive.grouped) inconclusive")
        if let windows, !windows.isEmpty {
            let text = windows.keys.sorted().map { kind in
                let count = windows[kind]!
                return "\(kind) \(count.sampled.grouped) of \(count.opened.grouped) (" + String(format: "%.1f%%", 100 * count.sampledFraction) + ")"
            }
            lines.append("windows sampled (a check landed inside): " + text.joined(separator: ", "))
        }
        if let peak = windowsInFlightPeak {
            lines.append("windows in flight: at most \(peak) open at once (--in-flight \(c.inFlightWindows))"
                + (longWindows.map { "; \($0.grouped) windows held \(WindowsInFlight.longWindowMicroseconds) µs (one in \(WindowsInFlight.longWindowEvery))" } ?? ""))
        }
        lines.append("coverage: \(checks.sweeps.grouped) sweeps of all \(c.pages) pages; \(checks.wordsReadPerPage) of 448 generation words read in every page")
        if !writes.published.isEmpty {
            lines.append("writes: published sequence per writer \(writes.published.map(\.grouped).joined(separator: ", ")); \(writes.verifications.grouped) host verifications")
        }
        if let skipped = checks.faultingReadsSkipped, let deferred = checks.faultingWritesDeferred, skipped &+ deferred > 0 {
            lines.append("faulting pages moved past: \(skipped.grouped) reads skipped, \(deferred.grouped) writes deferred to a later sweep")
        }
        lines.append("publications \(publications.grouped), KVM_RUN EFAULTs \(efaults.grouped), MMIO exits \(mmioExits.grouped)\((mmioServedChecks ?? 0) > 0 ? " (\(mmioServedChecks!.grouped) reads served while the data slot was away)" : ""), heartbeats \(heartbeats.grouped)")
        if let sanitizer = flushSanitizer {
            lines.append("flush sanitizer (kernel): \(sanitizer.zaps) SPTE zaps recorded, \(sanitizer.judgedReleases) releases of mmu_lock judged with zaps pending, "
                + "\(sanitizer.lateFlushes) late" + (sanitizer.last.map { " (last: \($0))" } ?? ""))
        }
        if let probes = flushProbes {
            lines.append("missing-flush oracle: \(probes.probes.grouped) probes, \(probes.judged.grouped) judged (page proven mapped, no flush before the call), "
                + "\(probes.missing) with no flush request; void: \(probes.skippedCounterMoved) (a flush came first), \(probes.skippedNoSweep) (no checker sweep), \(probes.skippedNotInvalidating) (not an invalidation)")
        }
        if let traps { lines.append("recycled-frame traps: " + traps.summary) }
        if let dirty { lines.append("dirty log (\(dirty.mode)): \(dirty.rounds.grouped) harvest rounds (\(dirty.judgedRounds.grouped) judged every page; \((dirty.writtenPagesJudged ?? 0).grouped) pages judged as written between two harvests), \(dirty.pagesReported.grouped) dirty pages reported\(dirty.mode == "ring" ? ", \(dirty.ringFullExits) ring-full exits" : "")") }
        for antagonist in antagonists {
            let idle = (antagonist.idleActions ?? 0) > 0 ? " (\(antagonist.idleActions!) found nothing to do)" : ""
            let evidence = antagonist.evidence ?? "remote_tlb_flush_requests +\(antagonist.flushRequests)"
            lines.append("antagonist \(antagonist.kind) every \(antagonist.periodMicroseconds) µs: \(antagonist.actions.grouped) actions\(idle); \(antagonist.exercised ? evidence : "NOT exercised: " + evidence)")
            if let traps = antagonist.traps { lines.append("  its recycled-frame traps: " + traps.summary) }
        }
        if c.injection == .early {
            lines.append(String(format: "early: %d of %llu publications caught (%.2f%%)", caughtPublications, publications, publications > 0 ? 100 * Double(caughtPublications) / Double(publications) : 0))
        }
        if c.hotPages > 0 { lines.append("hot set: pages 0..<\(c.hotPages), \(c.hotRepeat) checker passes between full sweeps") }
        for finding in kernelFindings.prefix(10) { lines.append("KERNEL: \(finding)") }
        for note in notes { lines.append("note: \(note)") }
        let moved = counters.vm.delta.filter { ["remote_tlb_flush", "remote_tlb_flush_requests", "mmu_shadow_zapped"].contains($0.key) }
        let vcpuMoved = counters.vcpus.reduce(into: [String: Int64]()) { sum, set in
            for key in ["pf_taken", "tlb_flush", "exits", "insn_emulation"] { sum[key, default: 0] += set.delta[key] ?? 0 }
        }
        lines.append("kernel counters: " + (moved.sorted { $0.key < $1.key }.map { "\($0.key) +\($0.value.grouped)" }
            + vcpuMoved.sorted { $0.key < $1.key }.map { "\($0.key) +\($0.value.grouped)" }).joined(separator: ", "))
        if let faultOverlap { lines.append(faultOverlap.summary(seconds: durationSeconds)) }
        if !violations.isEmpty {
            lines.append("")
            lines.append("violations: \(violationCount.grouped)")
            for violation in violations.prefix(10) { lines.append("  " + violation.summary) }
            if violationCount > 10 { lines.append("  … \(violationCount - 10) more (the JSON report keeps the first \(violations.count))") }
        }
        for error in harnessErrors.prefix(5) { lines.append("harness error: \(error)") }
        lines.append("")
        if complete == false {
            lines.append(String(format: "INCOMPLETE: a checkpoint at %.1f s of a planned %.1f s run (the run was still going, or was killed); verdict so far: %@",
                                durationSeconds, plannedSeconds ?? configuration.duration, verdict.rawValue))
            lines.append("verdict: \(standing.rawValue): \(verdictReason)")
        } else {
            lines.append("verdict: \(verdict.rawValue) (exit \(exitCode)): \(verdictReason)")
        }
        return lines.joined(separator: "\n")
    }

    /// One line for each term of the summary a reader may not know (`report show` prints it after a run's summary).
    public static let legend = """
        legend:
          flush-req, flushes  the VM's remote_tlb_flush_requests and remote_tlb_flush stats, moved during the operation's calls
          EFAULTs             guest reads KVM_RUN failed with EFAULT (the page was gone, as a must-fault window requires)
          conclusive check    a guest read whose page's control word was the same before and after it: judged
          inconclusive        a read of a page in flux (its control word changed meanwhile): never judged
          generation          checks of the published generation word; zero-window: of a page that must read zero
                              after an invalidation; kept-window: of a page whose content an invalidation must keep
          window sampled      a conclusive check (or a fault) landed while the mutator held that window open
          sweeps              passes of a checker vCPU over every page
          publications        new generations the host wrote and published for the guests to find
          heartbeats          the checker's periodic exits to say it is alive and sweeping
          traps               host-only pages written after each freeing call, to take the freed frame and poison it
          missing-flush probe a page proven mapped, then invalidated: the call must request a remote TLB flush
          faults retried      guest faults KVM neither fixed, emulated nor found spurious: an invalidation overlapped
                              the fault's pfn lookup (or two vCPUs faulted one page at once): the narrow race, happening
        """
}

