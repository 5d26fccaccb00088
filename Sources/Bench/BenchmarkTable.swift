#if canImport(Glibc)
import Glibc
#endif
import Torture
import Baseline
import Foundation
import GuestRuntime
import Guests
import KVM
import Synchronization

// The bench's results as the table it prints.

extension Benchmark.Results {
    public var table: String {
        var lines = exitRoundTrip == nil && mutatorSteps == nil && reference == nil ? []
            : ["measurement                                   Swift             C    Swift/C    95% interval   pairs"]
        func row(_ name: String, _ comparison: Benchmark.Comparison) {
            lines.append(name.padded(40) + String(
                format: "%12.0f/s %12.0f/s %9.3f  [%.3f, %.3f] %6d", comparison.swiftPerSecond, comparison.cPerSecond, comparison.ratio,
                comparison.ratioLow, comparison.ratioHigh, comparison.pairs))
        }
        if let exitRoundTrip { row("exit round trips (KVM_RUN)", exitRoundTrip) }
        for (name, comparison) in (mutatorSteps ?? [:]).sorted(by: { $0.key < $1.key }) {
            row("mutator steps: \(name)", comparison)
            if let floor = mutatorNoiseFloor?[name] { row("  same slices, C against C", floor) }
        }
        for run in reference ?? [] {
            row("reference, dontneed, \(run.windowMicroseconds) µs window: steps", run.steps)
            row("  remote TLB flush requests", run.flushRequests)
        }
        if reference != nil { lines.append("  (reference rows: Swift is the engine with every oracle on, C the minimal loop)") }
        if let checksPerSecond {
            lines.append("")
            for (name, value) in checksPerSecond.sorted(by: { $0.key < $1.key }) {
                lines.append("conclusive checks/s, \(name)".padded(40) + String(format: "%12.3g", value))
            }
        }
        lines.append("")
        if let latency = detectionLatencyMicroseconds {
            lines.append(String(format: "detection latency, nowrite: p50 %.0f µs, p99 %.0f µs (%.0f detections)",
                                latency["50"] ?? .nan, latency["99"] ?? .nan, latency["count"] ?? 0))
        }
        for entry in setup ?? [] {
            lines.append(String(format: "setup, %2d GiB data slot: %.3f s, resident memory +%d KiB", entry.dataGiB, entry.seconds, entry.residentGrowthKB))
        }
        for (name, rate) in (earlyCatchRate ?? [:]).sorted(by: { $0.value < $1.value }) {
            lines.append("early catch rate, \(name): ".padded(64) + String(format: "%.2f%% of publications", 100 * rate))
        }
        if let earlyInFlight {
            for windows in Set(earlyInFlight.map(\.inFlight)).sorted() {
                let rates = earlyInFlight.filter { $0.inFlight == windows }.map(\.caughtPerSecond)
                lines.append("early caught per second, --in-flight \(windows): ".padded(64) + rates.map { String(format: "%.0f", $0) }.joined(separator: ", ") + " (rounds)")
            }
        }
        if let evidence {
            lines.append("dontneed must-read-zero windows sampled: ".padded(64)
                + String(format: "%.1f%% (%llu of %llu)", 100 * evidence.zeroWindowSampledFraction, evidence.zeroWindowsSampled, evidence.zeroWindowsOpened))
            lines.append("dontneed recycled-frame traps that took the freed frame: ".padded(64)
                + (evidence.trapRecycleRate.map { String(format: "%.1f%% of %d measured", 100 * $0, evidence.trapsMeasured) } ?? "not measured (needs root)"))
            lines.append("dontneed steps/s with traps / without: ".padded(64)
                + String(format: "%.0f / %.0f (%.2f)", evidence.opsPerSecondWithTraps, evidence.opsPerSecondWithoutTraps,
                         evidence.opsPerSecondWithoutTraps > 0 ? evidence.opsPerSecondWithTraps / evidence.opsPerSecondWithoutTraps : 0))
        }
        if let inFlight {
            let kinds = WindowKind.allCases.map(\.rawValue).filter { kind in inFlight.contains { $0.windowsSampledPerSecond[kind] != nil } }
            lines.append("")
            lines.append("windows in flight (--mode both)".padded(34) + "ops/s".rightAligned(10) + kinds.map { ($0 + "/s").rightAligned(18) }.joined())
            for run in inFlight {
                lines.append("  \(run.operation), --in-flight \(run.inFlight)".padded(34) + String(format: "%10.0f", run.opsPerSecond)
                    + kinds.map { String(format: "%18.0f", run.windowsSampledPerSecond[$0] ?? 0) }.joined()
                    + (run.verdict == .pass ? "" : "  (\(run.verdict.rawValue))"))
            }
        }
        if let stepCosts {
            let parts = Benchmark.StepPart.allCases.map(\.rawValue)
            lines.append("")
            lines.append("step cost, ns per step (--mode both)".padded(38) + "steps/s".rightAligned(10) + "ns/step".rightAligned(9)
                + parts.map { $0.rightAligned(13) }.joined())
            for cost in stepCosts {
                lines.append("  \(cost.operation)".padded(38) + String(format: "%10.0f%9.0f", cost.stepsPerSecond.median, cost.nanosecondsPerStep)
                    + parts.map { part in cost.parts[part].map { String(format: "%13.0f", $0.nanosecondsPerStep) } ?? "-".rightAligned(13) }.joined())
            }
            lines.append("  (a part's cost: ns per step with every part on, minus with that part off; medians of \(Benchmark.stepCostRounds) rounds)")
            let phases = StepPhases.Phase.allCases.map(\.rawValue)
            lines.append("")
            lines.append("where a step's time goes, ns per step".padded(38) + "total".rightAligned(9) + phases.map { $0.rightAligned(14) }.joined())
            for cost in stepCosts {
                guard let measured = cost.phases else { continue }
                lines.append("  \(cost.operation)".padded(38) + String(format: "%9.0f", measured.values.reduce(0, +))
                    + phases.map { String(format: "%14.0f", measured[$0] ?? 0) }.joined())
            }
            lines.append("  (read by the mutator's clock at each phase's end, in one run with every part on)")
        }
        if let manyVCPUs {
            lines.append("\(manyVCPUs.vcpus) vCPUs on \(manyVCPUs.hostCPUs) CPUs: every vCPU made conclusive checks: \(manyVCPUs.everyVCPUChecked ? "yes" : "NO") (fewest \(manyVCPUs.fewestChecksOfAVCPU)); verdict \(manyVCPUs.verdict.rawValue)")
        }
        if !targets.isEmpty {
            if lines.last != "" { lines.append("") }
            lines.append("targets (BENCHMARKS.md), judged on this run; a ratio on its 95% interval:")
            for target in targets { lines.append("  " + target.outcome.rawValue.padded(10) + target.name + ": " + target.evidence) }
        }
        return lines.joined(separator: "\n")
    }
}
