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
        LabGroupBoots(cells: [cell], firstRow: 0, progress: { _ in }, checkpoint: { _ in }, stop: StopRequest()).run(into: &report) { _ in
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

/// A boot stops at its variant's first catch (the verdict is known): the rest of its rows are skipped, not booted
/// again and not counted as unjudged, and the mutant's outcome is met.
@Suite struct LabFirstCatchTests {
    /// A mutant's boot of three seeds that the lab stopped after the first ended caught (exit 1).
    static let stoppedAtCatch = QEMUBoot.Outcome(
        console: ConsoleLog(LabGroupBootsTests.loaded + "[    4.0] mmutorture-lab: workload mix-s1 start\r\n[    9.0] mmutorture-lab: workload mix-s1 end exit=1\r\n"
            + "[    9.1] mmutorture-lab: workload mix-s2 start\r\n"),
        channel: SerialChannel(""), ended: "caught", seconds: 20)

    @Test func theConsoleNamesTheFirstWorkloadThatEndedCaught() {
        #expect(Self.stoppedAtCatch.console.firstCaughtWorkload == "mix-s1")
        let clean = ConsoleLog("[1] mmutorture-lab: workload mix-s1 start\n[2] mmutorture-lab: workload mix-s1 end exit=0\n")
        #expect(clean.firstCaughtWorkload == nil, "a run that passed (exit 0) is no catch")
        let warned = ConsoleLog("[1] mmutorture-lab: workload mix-s1 start\n[2] WARNING: CPU: 1 PID: 97 at x\n[3] mmutorture-lab: workload mix-s1 end exit=0\n")
        #expect(warned.firstCaughtWorkload == "mix-s1", "a kernel finding during it is a catch")
    }

    @Test func rowsAfterTheFirstCatchAreSkippedAndTheMutantIsCaught() {
        let mutant = Variant(name: "m", patch: nil, expectation: .caught, header: [])
        let cells = (1...3).map { LabMatrix.Cell(variant: mutant, mmu: "shadow", workload: Workload.catalogue.first { $0.name == "mix" }!, seed: UInt64($0)) }
        var report = LabReport(kernelVersion: "6.1", kernelABI: "6.1.0-57-amd64", accel: "tcg", secondsPerWorkload: 30, startedAt: "now", variants: [mutant.info])
        report.rows = cells.map { .init(variant: "m", mmu: "shadow", workload: "mix", seed: $0.seed, arguments: []) }
        var asked = 0
        LabGroupBoots(cells: cells, firstRow: 0, progress: { _ in }, checkpoint: { _ in }, stop: StopRequest()).run(into: &report) { _ in
            asked += 1
            return Self.stoppedAtCatch
        }
        #expect(asked == 1, "skipped rows are not booted again")
        #expect(report.rows.map(\.verdict) == [.harnessError, .skipped, .skipped], "\(report.rows.map(\.reason))")
        #expect(report.rows[1].reason.contains("caught earlier in this boot (mix-s1)"))
    }

    @Test func skippedRowsNeitherCountAsUnjudgedNorHideACatch() {
        var caught = LabReport.Row(variant: "m", mmu: "tdp", workload: "mix", seed: 1, arguments: [])
        caught.verdict = .violation
        var skipped = LabReport.Row(variant: "m", mmu: "tdp", workload: "mix", seed: 2, arguments: [])
        skipped.verdict = .skipped
        let report = LabReport(kernelVersion: "6.1", kernelABI: "6.1.0", accel: "tcg", secondsPerWorkload: 10, startedAt: "",
                               variants: [.init(name: "m", expectation: .caught, description: "", patch: nil)], rows: [caught, skipped])
        #expect(report.exitCode == 0)
        #expect(report.outcomes.first?.rows == 1 && report.outcomes.first?.met == true)
        #expect(report.summary.contains("1 runs skipped: their variant was already caught"))
    }
}
