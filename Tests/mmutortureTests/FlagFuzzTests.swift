import Foundation
import TestSupport
import Testing
import Torture

/// Every numeric flag of `run` driven with extremes: each is refused with a usage error naming it (exit 64) or runs
/// (a short run that ends in a verdict); none crashes, hangs or overflows later in the run.
@Suite(.serialized, .requiresKVM)
struct FlagFuzzTests {
    static let extremes = ["0", "-1", "2147483648", "9223372036854775807", "1e300", "nan", "-inf"]
    static let numericFlags = ["--pages", "--vcpus", "--duration", "--seed", "--dirty-round-ms", "--ring-entries", "--hot", "--hot-repeat",
                               "--fault-window-us", "--window-us", "--flush-probe-ms", "--traps", "--in-flight", "--stop-after-violation",
                               "--checkpoint-interval", "--antagonist dirty-toggle:"]

    /// The options each flag needs to be meaningful (a flag that would do nothing is refused for that alone).
    static func context(_ flag: String) -> [String] {
        switch flag {
        case "--dirty-round-ms": ["--dirty", "log"]
        case "--ring-entries": ["--dirty", "ring"]
        case "--hot-repeat": ["--hot", "4"]
        case "--checkpoint-interval": ["--report", FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-\(getpid()).json").path]
        default: []
        }
    }

    @Test func everyNumericFlagTakesExtremesWithAUsageErrorOrARunNeverACrash() throws {
        let verdicts: Set<Int32> = [0, 1, 2, 3]
        for flag in Self.numericFlags {
            for value in Self.extremes {
                let setting = flag.hasSuffix(":") ? [flag.split(separator: " ")[0].description, flag.split(separator: " ")[1] + value] : [flag, value]
                var arguments = ["run", "--quiet", "--device", kvmDevicePath] + Self.context(flag) + setting
                if flag != "--duration" { arguments += ["--duration", "0.3"] }
                let started = Date()
                let result = try invoke(arguments)
                let seconds = Date().timeIntervalSince(started)
                #expect(result.status == 64 || verdicts.contains(result.status), "\(setting): exit \(result.status): \(result.stderr.suffix(300))")
                if result.status == 64 {
                    #expect(result.stderr.contains(flag.split(separator: " ")[0]) || result.stderr.contains("Usage"), "\(setting): \(result.stderr)")
                }
                #expect(!result.stderr.contains("Fatal error") && !result.stderr.contains("Crash"), "\(setting): \(result.stderr)")
                #expect(seconds < 60, "\(setting) took \(seconds) s")
            }
        }
    }
}
