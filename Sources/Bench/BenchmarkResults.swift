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

// What `mmutorture bench` measured: the results model, a section each (nil when left out).

extension Benchmark {
    /// What the bench measured; sections left out (`--only`) are nil.
    public struct Results: Codable, Sendable {
        public var host: HostFingerprint
        /// Seconds per torture measurement (`--seconds`): the mutator comparisons' pairs grow with it.
        public var seconds: Double
        public var exitRoundTrip: Comparison?
        public var mutatorSteps: [String: Comparison]?
        /// The same slices with the C loop on both sides: how far from 1 the method itself strays.
        public var mutatorNoiseFloor: [String: Comparison]?
        /// dontneed, every oracle on, against the minimal reference loop: at the default window and at 1 µs.
        public var reference: [ReferenceRun]?
        /// Conclusive checks per second, by scenario ("none, 1 vCPU", …).
        public var checksPerSecond: [String: Double]?
        public var detectionLatencyMicroseconds: [String: Double]?
        public var setup: [Setup]?
        public var manyVCPUs: ManyVCPUs?
        /// `--inject early`: caught publications / publications, by setup (the sensitivity to microsecond windows).
        public var earlyCatchRate: [String: Double]?
        /// `--inject early` caught per second at `--in-flight 1` and at the default, in rounds.
        public var earlyInFlight: [EarlyRun]?
        /// dontneed, 256 pages, 1 vCPU: what its windows and traps prove, and what the traps cost.
        public var evidence: Evidence?
        /// `mix` and each of its operations alone, `--mode both`, at one window in flight and at the default.
        public var inFlight: [InFlightRun]?
        /// dontneed, munmap, mprotect and mix: what each part of a step costs (``StepCost``).
        public var stepCosts: [StepCost]?
        /// The project's targets for the sections measured, judged on this run (`BenchmarkTarget`).
        public var targets: [BenchmarkTarget] = []
    }

    /// The same work through the Swift harness and through the C baseline: per-second rates and their ratio.
    public struct Comparison: Codable, Sendable {
        public var swiftPerSecond: Double
        public var cPerSecond: Double
        /// Swift / C, the median of the pairs' ratios: 1 means the Swift layers cost nothing.
        public var ratio: Double
        /// The 95% interval of that median, and how many pairs it rests on: whether this run can decide a target.
        public var ratioLow: Double
        public var ratioHigh: Double
        public var pairs: Int

        /// Steps per second of paired slices.
        init(steps rounds: [MutatorComparison.Round]) throws {
            try self.init(
                swiftRates: rounds.map { Double($0.engineSteps) / $0.engineSeconds }, cRates: rounds.map { Double($0.cSteps) / $0.cSeconds },
                ratios: rounds.map(\.ratio))
        }

        /// From paired measurements: the rates are the medians of each side's rates, the ratio the median of the
        /// pairs' ratios (so that a nested host's drifts cancel within each pair instead of deciding a best-of).
        init(swiftRates: [Double], cRates: [Double], ratios: [Double]) throws {
            guard let swift = MedianInterval(swiftRates), let c = MedianInterval(cRates), let ratio = MedianInterval(ratios) else {
                throw HarnessFailure("bench: no paired measurements")
            }
            swiftPerSecond = swift.median
            cPerSecond = c.median
            self.ratio = ratio.median
            ratioLow = ratio.low
            ratioHigh = ratio.high
            pairs = ratio.count
        }
    }

    /// The engine's dontneed steps (every oracle on) and the minimal reference loop's, both holding windows of
    /// `windowMicroseconds`, in paired slices: steps per second, and `remote_tlb_flush_requests` per second.
    public struct ReferenceRun: Codable, Sendable {
        public var windowMicroseconds: Int
        public var steps: Comparison
        public var flushRequests: Comparison
    }

    public struct Setup: Codable, Sendable {
        public var dataGiB: Int
        /// Create the VM, register the data slot (2 MiB guest mappings), create a vCPU and run a guest to its end.
        public var seconds: Double
        /// The harness's resident memory growth meanwhile.
        public var residentGrowthKB: Int
    }

    /// How much a dontneed run proves: its must-read-zero windows sampled, its traps' recycle rate, and its
    /// steps per second with and without the traps (the same run, one after the other).
    public struct Evidence: Codable, Sendable {
        public var zeroWindowsOpened: UInt64
        public var zeroWindowsSampled: UInt64
        public var zeroWindowSampledFraction: Double
        /// nil when PFNs are hidden (not root).
        public var trapRecycleRate: Double?
        public var trapsMeasured: Int
        public var opsPerSecondWithTraps: Double
        public var opsPerSecondWithoutTraps: Double
    }

    /// One run of `--inject early` at `inFlight` windows: publications the checkers caught, per second.
    public struct EarlyRun: Codable, Sendable, Equatable {
        public var inFlight: Int
        public var caughtPerSecond: Double
    }

    /// One run of the in-flight section: its operation's (or the mix's) steps per second and, per window kind,
    /// windows sampled per second.
    public struct InFlightRun: Codable, Sendable, Equatable {
        public var operation: String
        public var inFlight: Int
        public var opsPerSecond: Double
        public var windowsSampledPerSecond: [String: Double]
        public var verdict: Verdict
    }

    /// The operations the in-flight section runs alone, beside `mix` (its members on anonymous memory).
    static let inFlightOperations: [Operation] = [.dontneed, .remap, .munmap, .mprotect, .mix]
    /// Rounds of the three runs the in-flight targets judge (dontneed and mix at the default, mix at 1).
    static let inFlightRounds = 3

    public struct ManyVCPUs: Codable, Sendable {
        public var vcpus: Int
        public var hostCPUs: Int
        public var everyVCPUChecked: Bool
        public var fewestChecksOfAVCPU: UInt64
        public var verdict: Verdict
    }
}
