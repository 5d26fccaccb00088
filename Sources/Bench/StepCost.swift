import Torture

/// `bench --only stepcost`: what each part of a mutator step costs, found by turning the parts off one at a time
/// and comparing steps per second with every oracle on, in rounds (each round runs every setting once, side by
/// side, so that a nested host's drift hits all of them). A part's cost is the nanoseconds a step spends with it
/// minus without it: `1e9 / rate(on) - 1e9 / rate(part off)`, from the rounds' medians.
extension Benchmark {
    /// One part of a step that can be turned off on its own.
    public enum StepPart: String, Codable, Sendable, CaseIterable {
        /// The recycled-frame traps (`--traps 0`).
        case traps
        /// The missing-flush probes (`--flush-probe-ms 0`).
        case flushProbe = "flush-probe"
        /// The lost-write half: writer vCPUs and the host's verification of their words (`--mode read`).
        case lostWrites = "lost-writes"
        /// The window's hold (`--window-us 1`, `--fault-window-us 1`: published and closed at once).
        case windowHold = "window-hold"
        /// Windows in flight (`--in-flight 1`: every window held and closed before the next call).
        case inFlight = "in-flight"

        func turnOff(_ configuration: inout TortureConfiguration) {
            switch self {
            case .traps: configuration.trapPages = 0
            case .flushProbe: configuration.flushProbeMilliseconds = 0
            case .lostWrites: configuration.mode = .read
            case .windowHold: (configuration.windowMicroseconds, configuration.faultWindowMicroseconds) = (1, 1)
            case .inFlight: configuration.inFlight = 1
            }
        }
    }

    /// An operation's steps per second with every part on, and each part's cost per step.
    public struct StepCost: Codable, Sendable {
        public var operation: String
        /// Steps per second with every part on (the default run, `--mode both`), over the rounds.
        public var stepsPerSecond: MedianInterval
        /// Nanoseconds per step with every part on.
        public var nanosecondsPerStep: Double
        /// Per part: steps per second with it off, and the nanoseconds per step it costs (negative: the step was
        /// faster with it on, as windows in flight make it).
        public var parts: [String: PartCost]
        /// Nanoseconds per step in each phase (``StepPhases``), every part on, from one more run: what the step
        /// spends where, read by the mutator's own clock instead of inferred from runs minutes apart.
        public var phases: [String: Double]?
    }

    public struct PartCost: Codable, Sendable {
        public var stepsPerSecondWithout: MedianInterval
        public var nanosecondsPerStep: Double
    }

    static let stepCostOperations: [Operation] = [.dontneed, .munmap, .mprotect, .mix]
    static let stepCostRounds = 3

    func measureStepCosts() throws -> [StepCost] {
        try Self.stepCostOperations.map { operation in
            var rates: [StepPart?: [Double]] = [:]
            for round in 1...Self.stepCostRounds {
                for part in [nil] + StepPart.allCases.map(Optional.some) {
                    log("step cost: \(operation.rawValue), \(part.map { "without \($0.rawValue)" } ?? "every part on"), round \(round)")
                    let report = try torture(operation, mode: .both) { configuration in part?.turnOff(&configuration) }
                    rates[part, default: []].append(Self.stepsPerSecond(report))
                }
            }
            guard let on = MedianInterval(rates[nil] ?? []), on.median > 0 else { throw HarnessFailure("bench: \(operation.rawValue) made no step") }
            var parts: [String: PartCost] = [:]
            for part in StepPart.allCases {
                guard let off = MedianInterval(rates[part] ?? []), off.median > 0 else { continue }
                parts[part.rawValue] = PartCost(stepsPerSecondWithout: off, nanosecondsPerStep: 1e9 / on.median - 1e9 / off.median)
            }
            log("step cost: \(operation.rawValue), every part on, the mutator's phases timed")
            let phases = StepPhases()
            _ = try torture(operation, mode: .both, phases: phases)
            return StepCost(
                operation: operation.rawValue, stepsPerSecond: on, nanosecondsPerStep: 1e9 / on.median, parts: parts,
                phases: Dictionary(uniqueKeysWithValues: phases.perStep.map { ($0.rawValue, $1) }))
        }
    }
}
