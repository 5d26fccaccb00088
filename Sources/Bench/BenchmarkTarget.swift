import Torture
import Foundation

/// One of the project's performance targets (BENCHMARKS.md), judged on one bench run.
///
/// A ratio target is judged on the 95% interval of the median ratio, not on the median alone: a 0.5 s run rests on
/// about 25 pairs whose ratios scatter from 0.3 to 4 on a nested host, so its median can land at 0.92 or 1.08 by
/// chance (`MedianInterval`). Such a run says "undecided" and how long a run would decide, instead of a verdict the
/// next run contradicts. Targets without an interval (checks per second, latency, setup, scale) are judged on the
/// measured value.
public struct BenchmarkTarget: Codable, Sendable, Equatable {
    public enum Outcome: String, Codable, Sendable {
        /// The whole 95% interval (or the measured value) is on the right side of the bound.
        case met
        /// The whole interval (or the value) is on the wrong side.
        case missed
        /// The interval straddles the bound: this run cannot tell.
        case undecided
    }

    /// The target, as BENCHMARKS.md states it ("mutator steps Swift/C ≥ 0.95: dontneed").
    public var name: String
    public var outcome: Outcome
    /// What it was judged on: the interval and its pairs, or the value.
    public var evidence: String
}

extension Benchmark.Results {
    /// The targets whose sections this run measured, judged (`Benchmark.run()` stores them in `targets`).
    func judgeTargets() -> [BenchmarkTarget] {
        var targets: [BenchmarkTarget] = []
        if let exitRoundTrip { targets.append(ratioTarget("exit round trip Swift/C ≥ 0.97", exitRoundTrip, atLeast: 0.97, pairsGrowWithSeconds: false)) }
        for (name, comparison) in (mutatorSteps ?? [:]).sorted(by: { $0.key < $1.key }) {
            targets.append(ratioTarget("mutator steps Swift/C ≥ 0.95: \(name)", comparison, atLeast: 0.95))
        }
        for run in reference ?? [] {
            let name = "dontneed, every oracle on, ≥ 0.9× the minimal reference loop (\(run.windowMicroseconds) µs windows)"
            targets.append(ratioTarget("\(name): steps/s", run.steps, atLeast: 0.9))
            targets.append(ratioTarget("\(name): flush requests/s", run.flushRequests, atLeast: 0.9))
        }
        if let rate = checksPerSecond?["none, 1 vCPU"] {
            targets.append(valueTarget("conclusive checks/s, no operation, 1 vCPU ≥ 2e8", rate >= 2e8, String(format: "%.3g/s", rate)))
        }
        if let p50 = detectionLatencyMicroseconds?["50"] {
            targets.append(valueTarget("nowrite detection latency p50 ≤ 50 ms (256 pages)", p50 <= 50_000, String(format: "p50 %.1f ms", p50 / 1000)))
        }
        if let largest = setup?.max(by: { $0.dataGiB < $1.dataGiB }), largest.dataGiB >= 16 {
            targets.append(valueTarget(
                "a \(largest.dataGiB) GiB data slot starts in < 1 s, the harness growing < 64 MiB", largest.seconds < 1 && largest.residentGrowthKB < 64 << 10,
                String(format: "%.3f s, +%d KiB", largest.seconds, largest.residentGrowthKB)))
        }
        if let best = earlyCatchRate?.max(by: { $0.value < $1.value }) {
            targets.append(valueTarget("early catch rate ≥ 5% with the best setup", best.value >= 0.05, String(format: "%.1f%%", 100 * best.value) + ", \(best.key)"))
        }
        if let earlyInFlight {
            let median = { (windows: Int) in MedianInterval(earlyInFlight.filter { $0.inFlight == windows }.map(\.caughtPerSecond))?.median }
            let standard = TortureConfiguration.defaultInFlight
            if let alone = median(1), let many = median(standard) {
                targets.append(valueTarget("early caught/s at --in-flight \(standard) ≥ at --in-flight 1 (medians of the rounds)", many >= alone,
                                           String(format: "%.0f/s against %.0f/s", many, alone)))
            }
        }
        if let inFlight {
            let standard = TortureConfiguration.defaultInFlight
            // The last `inFlightRounds` runs of each setting are the rounds (dontneed at the default also ran once
            // beside dontneed at 1), paired by round.
            let rounds = { (operation: Operation, windows: Int) in
                Array(inFlight.filter { $0.operation == operation.rawValue && $0.inFlight == windows }.suffix(Benchmark.inFlightRounds))
            }
            let (mix, dontneed, mixAlone) = (rounds(.mix, standard), rounds(.dontneed, standard), rounds(.mix, 1))
            if !mix.isEmpty, mix.count == dontneed.count, mix.count == mixAlone.count {
                let ratios = zip(mix, dontneed).map { $0.opsPerSecond / max($1.opsPerSecond, 1) }.sorted()
                let gains = zip(mix, mixAlone).map { $0.opsPerSecond / max($1.opsPerSecond, 1) }.sorted()
                let describe = { (values: [Double]) in
                    String(format: "median %.2f of %d rounds (", values[values.count / 2], values.count)
                        + values.map { String(format: "%.2f", $0) }.joined(separator: ", ") + ")"
                }
                targets.append(valueTarget("mix ops/s ≥ 0.8× dontneed ops/s (--mode both, --in-flight \(standard))",
                                           ratios[ratios.count / 2] >= 0.8, describe(ratios)))
                targets.append(valueTarget("mix ops/s at --in-flight \(standard) ≥ 2.5× at --in-flight 1",
                                           gains[gains.count / 2] >= 2.5, describe(gains)))
                let perSecond = { (runs: [Benchmark.InFlightRun], kind: String) in
                    runs.reduce(0) { $0 + ($1.windowsSampledPerSecond[kind] ?? 0) } / Double(runs.count)
                }
                let kinds = Set(mixAlone.flatMap(\.windowsSampledPerSecond.keys)).sorted()
                let lower = kinds.filter { perSecond(mix, $0) < perSecond(mixAlone, $0) }
                targets.append(valueTarget("mix windows sampled/s per kind at --in-flight \(standard) ≥ at --in-flight 1 (mean of the rounds)",
                                           lower.isEmpty, kinds.map { String(format: "%@ %.1f vs %.1f", $0, perSecond(mix, $0), perSecond(mixAlone, $0)) }
                                               .joined(separator: ", ")))
            }
        }
        if let manyVCPUs {
            targets.append(valueTarget(
                "\(manyVCPUs.vcpus) vCPUs on \(manyVCPUs.hostCPUs) CPUs: every vCPU makes conclusive checks", manyVCPUs.everyVCPUChecked,
                "fewest \(manyVCPUs.fewestChecksOfAVCPU) checks of a vCPU"))
        }
        return targets
    }

    /// Judged by `Comparison.outcome(atLeast:)`. An undecided one whose pairs grow with the run (the mutator's; the
    /// exit round trips are a fixed 240) says how many `--seconds` would narrow the interval enough: its width
    /// shrinks as 1/√pairs. An estimate, not a promise.
    private func ratioTarget(_ name: String, _ comparison: Benchmark.Comparison, atLeast bound: Double, pairsGrowWithSeconds: Bool = true) -> BenchmarkTarget {
        var evidence = String(format: "median %.3f, 95%% interval [%.3f, %.3f], %d pairs", comparison.ratio, comparison.ratioLow, comparison.ratioHigh, comparison.pairs)
        let outcome = comparison.outcome(atLeast: bound)
        if outcome == .undecided && pairsGrowWithSeconds {
            let margin = abs(comparison.ratio - bound), halfWidth = (comparison.ratioHigh - comparison.ratioLow) / 2
            if margin > 0.002 && halfWidth > 0 {
                evidence += String(format: "; about --seconds %.0f would decide it", (seconds * pow(halfWidth / margin, 2)).rounded(.up))
            }
        }
        return BenchmarkTarget(name: name, outcome: outcome, evidence: evidence)
    }

    private func valueTarget(_ name: String, _ met: Bool, _ evidence: String) -> BenchmarkTarget {
        BenchmarkTarget(name: name, outcome: met ? .met : .missed, evidence: evidence)
    }
}

extension Benchmark.Comparison {
    /// Swift/C ≥ `bound`, judged on the median's 95% interval: met when its lower end reaches the bound, missed when
    /// its upper end does not, undecided when it straddles it.
    public func outcome(atLeast bound: Double) -> BenchmarkTarget.Outcome {
        if ratioLow >= bound { return .met }
        if ratioHigh < bound { return .missed }
        return .undecided
    }
}
