import TestSupport
import Testing
@testable import Bench
@testable import Torture

struct StepCostTests {
    /// Each part the step-cost section turns off changes the run it stands for, and leaves a run that is valid.
    @Test func eachPartTurnedOffChangesItsSettingAndStaysValid() throws {
        let on = TortureConfiguration(.dontneed, on: .anonymous, duration: 1, seed: 1, devicePath: "/dev/kvm")
        for part in Benchmark.StepPart.allCases {
            var off = on
            part.turnOff(&off)
            try off.validate()
            let changed: Bool = switch part {
            case .traps: off.frameTrapPages == 0 && on.frameTrapPages > 0
            case .flushProbe: off.flushProbeInterval == 0 && on.flushProbeInterval > 0
            case .lostWrites: off.mode == .read && on.mode == .both
            case .windowHold: off.windowMicroseconds < on.windowMicroseconds && off.faultWindowMicroseconds < on.faultWindowMicroseconds
            case .inFlight: off.inFlightWindows == 1 && on.inFlightWindows > 1
            }
            #expect(changed, "\(part.rawValue)")
        }
    }
}

/// The mutator's own clock, phase by phase (`bench --only stepcost`'s second table).
@Suite(.requiresKVM)
struct StepPhasesTests {
    @Test func aRunGivenStepPhasesTimesEveryPhaseOfItsStepsAndTheyAddUpToTheRun() throws {
        var bench = Benchmark()
        bench.devicePath = kvmDevicePath
        bench.seconds = 1
        let phases = StepPhases()
        let report = try bench.torture(.dontneed, mode: .both, phases: phases)
        let steps = report.operations.first { $0.name == "dontneed" }?.count ?? 0
        #expect(steps > 100 && (phases.steps - steps) <= 1, "every step was timed: \(phases.steps) of \(steps)")
        let perStep = phases.perStep
        for phase in StepPhases.Phase.allCases {
            #expect((perStep[phase] ?? 0) > 0, "\(phase.rawValue) was timed: \(perStep)")
        }
        // The call (its IPIs to the vCPU's CPU) is most of a dontneed step; the counters' reads around it are not.
        let call = perStep[.call] ?? 0
        #expect(perStep.allSatisfy { $0.key == .call || $0.value < call }, "\(perStep)")
        // Nothing of the mutator's time is counted twice or lost: the phases add up to the run's time per step,
        // less the first step's wait for the checkers' first sweeps.
        let wall = report.durationSeconds * 1e9 / Double(phases.steps)
        let total = perStep.values.reduce(0, +)
        #expect(total <= wall * 1.01 && total > wall * 0.8, "phases \(total) ns a step, the run \(wall)")
    }
}
