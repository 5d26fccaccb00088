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
