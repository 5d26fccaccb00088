import Testing
@testable import Lab
import Torture

/// How the lab boots one variant on one MMU: which boots it repeats, and what the report says of each. The
/// boots' outcomes are consoles shaped as the guest's init writes them.
@Suite struct LabGroupBootsTests {
    static let loaded = "[    2.5] mmutorture-lab: boot variant=stock mmu=shadow kernel=6.1.0-57-amd64\r\n"
        + "[    3.0] mmutorture-lab: CPUs online while KVM loads: 0\r\n"
    /// The TCG text-patching hang as CI met it: soft lockups, no workload started.
    static let hungBeforeWork = QEMUBoot.Outcome(
        console: ConsoleLog(loaded + "[   40.0] watchdog: BUG: soft lockup - CPU#0 stuck for 26s! [swapper/0:0]\r\n"),
        channel: SerialChannel(""), ended: "watchdog", seconds: 200, hangState: ["CPU 0: IP ffffffff81a44fea (exc_int3+0x3a), CPL 0, halted 0"])
    /// The guest died during the workload: a row with a verdict of its own.
    static let diedInWork = QEMUBoot.Outcome(
        console: ConsoleLog(loaded + "[    4.0] mmutorture-lab: workload mix-s1 start\r\n[    5.2] kernel BUG at arch/x86/kvm/mmu/tdp_mmu.c:485!\r\n"),
        channel: SerialChannel(""), ended: "watchdog", seconds: 60)

    static func boots(_ outcomes: [QEMUBoot.Outcome]) -> (report: LabReport, bootsAsked: Int) {
        let cell = LabMatrix.Cell(variant: .stock, mmu: "shadow", workload: Workload.catalogue.first { $0.name == "mix" }!, seed: 1)
        var report = LabReport(kernelVersion: "6.1", kernelABI: "6.1.0-57-amd64", accel: "tcg", secondsPerWorkload: 30, startedAt: "now",
                               variants: [.init(name: "stock", expectation: .clean, description: "", patch: nil)])
        report.rows = [.init(variant: "stock", mmu: "shadow", workload: "mix", seed: 1, arguments: [])]
        var asked = 0
        LabGroupBoots(cells: [cell], firstRow: 0, progress: { _ in }, checkpoint: { _ in }).run(into: &report) { _ in
            asked += 1
            return outcomes[min(asked, outcomes.count) - 1]
        }
        return (report, asked)
    }

    @Test func aBootThatHungBeforeItsFirstWorkloadIsBootedOnceMoreAndSaysSo() {
        let (report, asked) = Self.boots([Self.hungBeforeWork, Self.diedInWork])
        #expect(asked == 2)
        #expect(report.boots.map(\.bootedAgain) == [true, nil])
        #expect(report.rows[0].verdict == .kernelBug, "the second boot's workload is judged: \(report.rows[0].reason)")
        #expect(report.summary.contains("a boot of stock on shadow hung before its first workload started, and was booted again; when the lab's watchdog stopped it:\n    CPU 0: IP ffffffff81a44fea"), "\(report.summary)")
    }

    @Test func aSecondHangBeforeTheFirstWorkloadEndsTheGroupNotRun() {
        let (report, asked) = Self.boots([Self.hungBeforeWork, Self.hungBeforeWork, Self.diedInWork])
        #expect(asked == 2)
        #expect(report.boots.map(\.bootedAgain) == [true, nil])
        #expect(report.rows[0].verdict == .notRun)
        #expect(report.exitCode == ExitStatus.software.rawValue)
    }

    @Test func anInterruptedLabSaysSoAndExitsWithTheSignalNotAVerdict() {
        var (report, _) = Self.boots([Self.hungBeforeWork, Self.hungBeforeWork])
        #expect(report.exitCode == ExitStatus.software.rawValue)
        report.interruptedBy = "SIGTERM"
        #expect(report.exitCode == 143)
        #expect(report.summary.hasSuffix("lab interrupted by SIGTERM: 1 of 1 runs did not run; what ran is above, and proves nothing of what did not (exit 143)"), "\(report.summary)")
        #expect(!report.summary.contains("lab exit"))
        #expect(report.summary.contains("FAIL stock on shadow: not judged: 1 of 1 runs ended in a harness error or did not run"), "not 'NOT clean': no run showed a bug")
        let merged = LabReport.merging([Self.boots([Self.diedInWork]).report, report])
        #expect(merged?.interruptedBy == "SIGTERM" && merged?.exitCode == 143, "a merge of slices, one interrupted, is interrupted")
    }

    @Test func aBootWhoseInitReportedAFailedStepIsNotBootedAgain() {
        let fatal = QEMUBoot.Outcome(console: ConsoleLog(Self.loaded + "[    3.1] mmutorture-lab: FATAL insmod kvm-amd.ko npt=0 failed\r\n"),
                                     channel: SerialChannel(""), ended: "watchdog", seconds: 200)
        let (report, asked) = Self.boots([fatal, Self.diedInWork])
        #expect(asked == 1)
        #expect(report.rows[0].verdict == .notRun)
        #expect(report.rows[0].reason.contains("insmod kvm-amd.ko npt=0 failed"), "\(report.rows[0].reason)")
    }
}
