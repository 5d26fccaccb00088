import Foundation
import Testing
@testable import Torture

/// The run's side of the kernel's flush sanitizer: its counters in /sys/module/kvm/parameters read as the module
/// writes them, each new late flush a `late-flush` violation, and nothing at all where the module has none. (The
/// kernel side is judged in the lab: `zap-flush-after-unlock` caught, stock clean.)
@Suite struct FlushSanitizerTests {
    /// A parameters directory shaped as the patched kvm module's.
    final class Parameters {
        let directory: String
        init(enabled: String = "Y", violations: UInt64 = 0, zaps: UInt64 = 0, judged: UInt64 = 0, last: String = "none") throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("fos-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try set(enabled: enabled, violations: violations, zaps: zaps, judged: judged, last: last)
        }
        func set(enabled: String = "Y", violations: UInt64, zaps: UInt64, judged: UInt64, last: String) throws {
            for (name, value) in [("flush_sanitizer", enabled), ("flush_sanitizer_violations", "\(violations)"), ("flush_sanitizer_zaps", "\(zaps)"),
                                  ("flush_sanitizer_judged", "\(judged)"), ("flush_sanitizer_last", last)] {
                try Data((value + "\n").utf8).write(to: URL(fileURLWithPath: "\(directory)/\(name)"))
            }
        }
        deinit { try? FileManager.default.removeItem(atPath: directory) }
    }

    @Test func eachNewLateFlushTheKernelCountsIsALateFlushViolationNamingTheSites() throws {
        let parameters = try Parameters(violations: 3, zaps: 100, judged: 10)
        let watch = try #require(FlushSanitizerWatch(directory: parameters.directory))
        let observations = Observations()
        watch.poll(observations)
        #expect(observations.violationCount.load(ordering: .relaxed) == 0, "late flushes from before the run are not its own")
        let site = "release=kvm_mmu_zap_collapsible_sptes+0x82/0x150 [kvm] zap=kvm_rmap_zap_collapsible_sptes+0x28c/0x370 [kvm]"
        try parameters.set(violations: 5, zaps: 180, judged: 30, last: site)
        watch.poll(observations)
        watch.poll(observations)
        let violations = observations.violations.withLock { $0 }
        #expect(violations.map(\.kind) == [.lateFlush])
        #expect(violations.first?.operationInFlight?.contains("2 zap(s)") == true)
        #expect(violations.first?.operationInFlight?.contains(site) == true)
        #expect(watch.report() == RunReport.FlushSanitizerReport(zaps: 80, judgedReleases: 20, lateFlushes: 2, last: site))
    }

    @Test func aCleanRunReportsWhatTheSanitizerSawAndNoViolation() throws {
        let parameters = try Parameters(violations: 1, zaps: 10, judged: 2, last: "release=a zap=b")
        let watch = try #require(FlushSanitizerWatch(directory: parameters.directory))
        try parameters.set(violations: 1, zaps: 5010, judged: 402, last: "release=a zap=b")
        let observations = Observations()
        watch.poll(observations)
        #expect(observations.violationCount.load(ordering: .relaxed) == 0)
        #expect(watch.report() == RunReport.FlushSanitizerReport(zaps: 5000, judgedReleases: 400, lateFlushes: 0, last: nil))
    }

    @Test func aModuleWithoutTheSanitizerOrWithItTurnedOffIsNotWatched() throws {
        #expect(FlushSanitizerWatch(directory: "/nonexistent") == nil)
        let off = try Parameters(enabled: "N")
        #expect(FlushSanitizerWatch(directory: off.directory) == nil)
    }
}
