import Foundation
import Testing
@testable import Lab
import Torture

/// What the lab reads from a boot: the console's markers and kernel reports, the report channel's blocks, and the
/// row each workload gets from them. The console and channel texts are shaped as the guest's init writes them.
@Suite struct LabParsingTests {
    static let consoleOfAHang = """
        [    2.5] mmutorture-lab: boot variant=range-drops-last-page mmu=tdp kernel=6.1.0-57-amd64\r
        [    3.1] mmutorture-lab: workload mix-s1 start\r
        [    3.9] mmutorture-lab: workload mix-s1 end exit=0\r
        [    4.0] mmutorture-lab: workload all-anon-s1 start\r
        [    5.2] ------------[ cut here ]------------\r
        [    5.2] kernel BUG at arch/x86/kvm/mmu/tdp_mmu.c:485!\r
        [    5.2] invalid opcode: 0000 [#1] PREEMPT SMP NOPTI\r
        [    5.2] RIP: 0010:__handle_changed_spte.cold+0x42/0x49f [kvm]\r
        [    5.2] Call Trace:\r
        [    5.2]  <TASK>\r
        [    5.2]  __handle_changed_spte+0x1a3/0x6f0 [kvm]\r
        [    5.2]  tdp_mmu_zap_leafs+0x10c/0x1d0 [kvm]\r
        [    5.2]  kvm_tdp_mmu_unmap_gfn_range+0x4b/0x70 [kvm]\r
        [    5.2]  kvm_unmap_gfn_range+0x92/0x130 [kvm]\r
        [    5.2]  kvm_mmu_notifier_invalidate_range_start+0x1a8/0x2f0 [kvm]\r
        [    5.2]  __mmu_notifier_invalidate_range_start+0x7f/0x190\r
        [    5.2]  zap_page_range_single+0x14d/0x1a0\r
        [    5.2]  madvise_vma_behavior+0x4d1/0x6f0\r
        [    5.2]  do_madvise+0x1b5/0x350\r
        [    5.2]  __x64_sys_madvise+0x26/0x30\r
        [    5.2]  do_syscall_64+0x5d/0xb0\r
        [    5.2]  entry_SYSCALL_64_after_hwframe+0x6e/0xd8\r
        [    5.2]  </TASK>\r
        [   31.0] watchdog: BUG: soft lockup - CPU#0 stuck for 26s! [mmutorture:97]\r

        """

    @Test func consoleMarkersAndFindingsAreAttributedToTheirWorkload() {
        let console = ConsoleLog(Self.consoleOfAHang)
        #expect(console.started == ["mix-s1", "all-anon-s1"])
        #expect(console.ended == ["mix-s1": 0])
        #expect(!console.allDone)
        #expect(console.findings(of: "mix-s1").isEmpty)
        let findings = console.findings(of: "all-anon-s1")
        // The BUG and its trace are one finding; the soft lockup later is a second.
        #expect(findings.map(\.finding.title) == ["kernel BUG at arch/x86/kvm/mmu/tdp_mmu.c:485!", "watchdog: BUG: soft lockup - CPU#0 stuck for 26s! [mmutorture:97]"])
        #expect(findings.allSatisfy { $0.fatal })
        #expect(findings[0].finding.trace.first == "invalid opcode: 0000 [#1] PREEMPT SMP NOPTI")
    }

    @Test func aWarningIsAFindingButNotFatal() {
        let console = ConsoleLog("[1.0] mmutorture-lab: workload dirty-log-s1 start\n[2.0] WARNING: CPU: 1 PID: 97 at arch/x86/kvm/mmu/mmu.c:6000 foo\n")
        #expect(console.findings(of: "dirty-log-s1").map(\.fatal) == [false])
    }

    /// The flush sanitizer's report as the lab's console showed it (zap-flush-after-unlock on the shadow MMU,
    /// seed-2012-thp, Debian 6.1.192-3): its line, then the WARNING with the release's stack.
    static let consoleOfALateFlush = """
        [   20.1] mmutorture-lab: workload seed-2012-thp-s1 start\r
        [   21.3] ------------[ cut here ]------------\r
        [   21.3] kvm-flush-sanitizer: late-flush: mmu_lock released at kvm_mmu_zap_collapsible_sptes+0x82/0x150 [kvm] with 66 zapped SPTE(s) not covered by a remote TLB flush (last zap at kvm_rmap_zap_collapsible_sptes+0x28c/0x370 [kvm])\r
        [   21.3] WARNING: CPU: 0 PID: 128 at /tmp/tmp.yzdky98qrv/arch/x86/kvm/mmu/flush_sanitizer.c:132 kvm_fos_release+0xf1/0x110 [kvm]\r
        [   21.3] Modules linked in: kvm_amd(OE) ccp kvm(OE) irqbypass\r
        [   21.3] CPU: 0 PID: 128 Comm: antagonist-0 Tainted: G           OE      6.1.0-57-amd64 #1  Debian 6.1.192-3\r
        [   21.3] RIP: 0010:kvm_fos_release+0xf1/0x110 [kvm]\r
        [   25.0] mmutorture-lab: workload seed-2012-thp-s1 end exit=1\r
        [   25.1] mmutorture-lab: all workloads done\r

        """

    @Test func theFlushSanitizersReportIsALateFlushNamingTheReleaseSite() {
        let console = ConsoleLog(Self.consoleOfALateFlush)
        // Its line and the WARNING after it are one finding, titled by the line that names the sites.
        let findings = console.findings(of: "seed-2012-thp-s1")
        #expect(findings.count == 1)
        #expect(findings.first?.fatal == false)
        #expect(findings.first?.finding.title.contains("released at kvm_mmu_zap_collapsible_sptes+0x82/0x150") == true)
        #expect(findings.first?.finding.trace.first?.hasPrefix("WARNING: CPU: 0") == true)
        // With no report out of the run, the console alone names the oracle.
        let row = Self.row("seed-2012-thp", on: "shadow", QEMUBoot.Outcome(console: console, channel: SerialChannel(""), ended: "poweroff", seconds: 30))
        #expect(row.caughtBy.contains("late-flush"))
        #expect(row.caughtBy.contains("kernel-finding"))
        #expect(row.verdict == .kernelBug)
        // An ordinary kernel warning is a finding, not a late flush.
        let other = ConsoleLog("[1.0] mmutorture-lab: workload mix-s1 start\n[2.0] WARNING: CPU: 1 PID: 97 at arch/x86/kvm/mmu/mmu.c:6000 foo\n[3.0] mmutorture-lab: workload mix-s1 end exit=0\n")
        let plain = Self.row("mix", on: "tdp", QEMUBoot.Outcome(console: other, channel: SerialChannel(""), ended: "poweroff", seconds: 30))
        #expect(!plain.caughtBy.contains("late-flush"))
    }

    @Test func channelBlocksDecodeAndACutBlockIsIgnored() {
        let report = Data("{\"a\":1}".utf8).base64EncodedString()
        let text = "==MMUTORTURE-BLOCK checkpoint mix-s1 ==\r\n\(report)\r\n==MMUTORTURE-END==\r\n"
            + "==MMUTORTURE-BLOCK report mix-s1 0==\r\n\(report.prefix(4))\r\n\(report.dropFirst(4))\r\n==MMUTORTURE-END==\r\n"
            + "==MMUTORTURE-BLOCK checkpoint all-anon-s1 ==\r\n\(report)\r\n"
        let channel = SerialChannel(text)
        #expect(channel.blocks.map(\.kind) == ["checkpoint", "report"])
        #expect(channel.last("report", of: "mix-s1")?.exitCode == 0)
        #expect(channel.last("report", of: "mix-s1")?.data == Data("{\"a\":1}".utf8))
        #expect(channel.last("checkpoint", of: "all-anon-s1") == nil)
    }

    /// The report channel carrying a workload's captured output, as the guest's init frames it.
    static func stdout(of workload: String, exit: Int, _ text: String) -> SerialChannel {
        SerialChannel("==MMUTORTURE-BLOCK stdout \(workload) \(exit)==\n\(Data(text.utf8).base64EncodedString())\n==MMUTORTURE-END==\n")
    }

    /// The row the lab makes of seed 1 of catalogue workload `workload` on `mmu` from a boot's `outcome`.
    static func row(_ workload: String, on mmu: String, _ outcome: QEMUBoot.Outcome) -> LabReport.Row {
        let cell = LabMatrix.Cell(variant: .stock, mmu: mmu, workload: Workload.catalogue.first { $0.name == workload }!, seed: 1)
        return LabJudge.row(.init(variant: "v", mmu: mmu, workload: workload, seed: 1, arguments: []), cell: cell, outcome: outcome)
    }

    @Test func aWorkloadTheGuestDiedInIsAKernelBugWithItsFinding() {
        let cell = LabMatrix.Cell(variant: .stock, mmu: "tdp", workload: Workload.catalogue.first { $0.name == "all-anon" }!, seed: 1)
        let outcome = QEMUBoot.Outcome(console: ConsoleLog(Self.consoleOfAHang), channel: SerialChannel(""), ended: "watchdog", seconds: 60)
        let row = LabJudge.row(LabReport.Row(variant: "stock", mmu: "tdp", workload: "all-anon", seed: 1, arguments: []), cell: cell, outcome: outcome)
        #expect(row.verdict == .kernelBug)
        #expect(row.caughtBy == ["kernel-finding", "guest-hang"])
        #expect(row.reason.contains("hung"))
        #expect(row.kernelFindings.count == 2)
    }

    @Test func aWorkloadThatNeverStartedIsNotRunAndARunThatDiedAfterViolationsIsAViolation() {
        let console = ConsoleLog("[1] mmutorture-lab: workload mix-s1 start\n[2] mmutorture-lab: workload mix-s1 end exit=139\n[3] mmutorture-lab: all workloads done\n")
        let channel = Self.stdout(of: "mix-s1", exit: 139, "  1.0/10 s  2890 ops/s  2.35e+04 checks/s  0 violations\n  2.0/10 s  2911 ops/s  2.15e+04 checks/s  7850 violations\nSegmentation fault\n")
        let outcome = QEMUBoot.Outcome(console: console, channel: channel, ended: "poweroff", seconds: 20)
        let died = Self.row("mix", on: "tdp", outcome)
        #expect(died.verdict == .violation)
        #expect(died.reason.contains("7850 violations"))
        #expect(died.caughtBy == ["violations-before-crash"])
        let never = Self.row("all-anon", on: "tdp", outcome)
        #expect(never.verdict == .notRun)
    }

    @Test func aFirstViolationAnnouncedOnTheConsoleBeforeTheGuestHungIsTheDataOraclesCatch() {
        let console = ConsoleLog("""
            [3.1] mmutorture-lab: workload mix-s1 start\r
            [3.4] \(Violation.firstAnnouncementPrefix)0.110000 s: stale-frame: vCPU 0 page 9 word 2 [generation]: expected 0x1, observed 0x5a0000000000000b\r
            [3.4] kernel BUG at arch/x86/kvm/mmu/tdp_mmu.c:485!\r
            [3.4] invalid opcode: 0000 [#1] PREEMPT SMP NOPTI\r

            """)
        #expect(console.announcements["mix-s1"]?.contains("stale-frame: vCPU 0 page 9") == true)
        let outcome = QEMUBoot.Outcome(console: console, channel: SerialChannel(""), ended: "watchdog", seconds: 60)
        let row = Self.row("mix", on: "tdp", outcome)
        #expect(row.verdict == .violation && row.secondsToFirstViolation == 0.11, "\(row.reason)")
        #expect(row.caughtBy == ["stale-frame", "kernel-finding", "guest-hang"])
        #expect(row.kernelFindings.count == 1, "the BUG is still reported")
    }

    @Test func aRunThatDiedBeforeAnyProgressLineIsJudgedByTheFirstViolationItAnnounced() {
        let console = ConsoleLog("[1] mmutorture-lab: workload mix-s1 start\n[2] mmutorture-lab: workload mix-s1 end exit=139\n")
        let announced = Violation.firstAnnouncementPrefix + "0.214000 s: stale-frame: vCPU 0 page 7 word 3 [generation]: expected 0x1, observed 0x5a00000000000009"
        let channel = Self.stdout(of: "mix-s1", exit: 139, "seed 1\n\(announced)\nSegmentation fault\n")
        let outcome = QEMUBoot.Outcome(console: console, channel: channel, ended: "poweroff", seconds: 20)
        let row = Self.row("mix", on: "shadow", outcome)
        #expect(row.verdict == .violation)
        #expect(row.caughtBy == ["stale-frame", "violations-before-crash"])
        #expect(row.secondsToFirstViolation == 0.214)
        #expect(row.reason.contains("exit 139") && row.reason.contains("page 7"))
    }

    /// A channel block of `kind` for `workload`, as the guest's init frames it.
    static func block(_ kind: String, of workload: String, exit: Int? = nil, _ text: String) -> String {
        "==MMUTORTURE-BLOCK \(kind) \(workload) \(exit.map(String.init) ?? "")==\n\(Data(text.utf8).base64EncodedString())\n==MMUTORTURE-END==\n"
    }

    static let overdueConsole = """
        [3.1] mmutorture-lab: workload mix-s1 start\r
        [123.1] mmutorture-lab: workload mix-s1 overdue after 120 s: dumping its threads\r
        [123.2] sysrq: Show Blocked State\r
        [153.5] mmutorture-lab: workload mix-s1 end exit=134\r
        [153.6] mmutorture-lab: all workloads done\r

        """

    @Test func aRunTheGuestsWatchdogFoundHungInUserSpaceIsAHarnessErrorWithItsThreads() {
        let threads = "== thread 97 mmutorture state S wchan futex_wait_queue\n[<0>] futex_wait_queue+0x60/0x90\n== thread 98 vcpu-0 state S wchan futex_wait_queue\n"
        let channel = SerialChannel(Self.block("threads", of: "mix-s1", threads) + Self.block("stdout", of: "mix-s1", exit: 134, "  1.0/30 s  1582 ops/s  7.19e+06 checks/s  0 violations\n"))
        let row = Self.row("mix", on: "shadow", QEMUBoot.Outcome(console: ConsoleLog(Self.overdueConsole), channel: channel, ended: "poweroff", seconds: 160))
        #expect(ConsoleLog(Self.overdueConsole).overdue == ["mix-s1"])
        #expect(row.verdict == .harnessError, "\(row.reason)")
        #expect(row.reason.contains("hung") && row.reason.contains("no thread was blocked in the kernel"))
        #expect(row.hungThreads?.first == "== thread 97 mmutorture state S wchan futex_wait_queue")
        #expect(row.innerOutputTail.count == 1)
    }

    @Test func theJUnitOfAHungRunShowsItsThreadsAndTheHungBootsCPUs() {
        let threads = "== thread 99 mutator state D wchan kvm_mmu_notifier_invalidate_range_start\n"
        var row = Self.row("mix", on: "shadow", QEMUBoot.Outcome(
            console: ConsoleLog(Self.overdueConsole), channel: SerialChannel(Self.block("threads", of: "mix-s1", threads)), ended: "poweroff", seconds: 160))
        row.variant = "stock"
        let boot = LabReport.Boot(variant: "stock", mmu: "shadow", workloads: ["mix-s1"], seconds: 160, ended: "watchdog", consoleTail: [], markers: [],
                                  hangState: ["CPU 0: IP ffffffff81a2b3c4 (__schedule+0x2ab), CPL 0, halted 0"])
        let lab = LabReport(kernelVersion: "6.1", kernelABI: "6.1.0-57-amd64", accel: "tcg", secondsPerWorkload: 30, startedAt: "now",
                            variants: [.init(name: "stock", expectation: .clean, description: "", patch: nil)], rows: [row], boots: [boot])
        let xml = JUnitRenderer.render(lab)
        #expect(xml.contains("    == thread 99 mutator state D wchan kvm_mmu_notifier_invalidate_range_start"), "\(xml)")
        #expect(xml.contains("a boot hung; when the lab's watchdog stopped it:\n    CPU 0: IP ffffffff81a2b3c4 (__schedule+0x2ab)"), "\(xml)")
    }

    @Test func aRunTheGuestsWatchdogFoundBlockedInTheKernelIsAKernelBug() {
        let threads = "== thread 97 mmutorture state S wchan futex_wait_queue\n== thread 99 mutator state D wchan kvm_mmu_notifier_invalidate_range_start\n"
        let channel = SerialChannel(Self.block("threads", of: "mix-s1", threads))
        let row = Self.row("mix", on: "shadow", QEMUBoot.Outcome(console: ConsoleLog(Self.overdueConsole), channel: channel, ended: "poweroff", seconds: 160))
        #expect(row.verdict == .kernelBug, "\(row.reason)")
        #expect(row.caughtBy == ["run-hang"])
        #expect(row.reason.contains("99 mutator state D wchan kvm_mmu_notifier_invalidate_range_start"))
    }

    @Test func aHungGuestsRowShowsTheProgressLinesItSentWhileItRan() {
        let console = ConsoleLog("[3.1] mmutorture-lab: workload mix-s1 start\n")
        let channel = SerialChannel(Self.block("progress", of: "mix-s1", "  1.0/30 s  1582 ops/s  7.19e+06 checks/s  0 violations\n")
            + Self.block("progress", of: "mix-s1", "  1.0/30 s  1582 ops/s  7.19e+06 checks/s  0 violations\n  2.0/30 s  2227 ops/s  6.78e+06 checks/s  0 violations\n"))
        let row = Self.row("mix", on: "shadow", QEMUBoot.Outcome(console: console, channel: channel, ended: "watchdog", seconds: 200))
        #expect(row.verdict == .kernelBug)
        #expect(row.innerOutputTail.last?.hasPrefix("  2.0/30 s") == true)
        #expect(row.reason.contains("no report came out"), "\(row.reason)")
    }
}

/// The lab's eyes on a hung guest: QEMU's monitor and the kernel's symbol map.
@Suite struct LabHangDiagnosisTests {
    @Test func aSystemMapNamesKernelTextAndNothingElse() throws {
        let map = FileManager.default.temporaryDirectory.appendingPathComponent("System.map-\(getpid())")
        try "ffffffff81000000 T _stext\nffffffff81001000 t native_safe_halt\nffffffff81002000 D some_data\nffffffff81003000 T kvm_flush\n".write(to: map, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: map) }
        let symbols = try #require(KernelSymbols(file: map.path))
        #expect(symbols.name(of: 0xffff_ffff_8100_1010) == "native_safe_halt+0x10")
        #expect(symbols.name(of: 0xffff_ffff_8100_2010) == "native_safe_halt+0x1010", "data symbols are not text")
        #expect(symbols.name(of: 0xffff_ffff_8100_3000) == "kvm_flush+0x0")
        #expect(symbols.name(of: 0x40_1000) == nil, "user space is no kernel function")
    }

    @Test(.enabled(if: LabProcess.onPath("qemu-system-x86_64") != nil, "qemu-system-x86_64 is not installed"))
    func aQEMUThatCannotStartTheGuestStopsTheLabWithItsOwnWords() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("unstarted-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let boot = QEMUBoot(kernel: "/nonexistent/vmlinuz", initrd: "/nonexistent/initrd", accel: "tcg", directory: directory, workloadDeadline: 10, stop: StopRequest())
        do {
            _ = try boot.run { _ in }
            Issue.record("a boot with no kernel file returned an outcome")
        } catch let error as LabError {
            #expect(error.exitCode == 69)
            #expect(error.description.hasPrefix("QEMU could not start the guest (--accel tcg): QEMU exited with status 1: "), "\(error)")
            #expect(error.description.contains("could not open kernel file '/nonexistent/vmlinuz'"), "QEMU's own words: \(error)")
        }
    }

    @Test(.enabled(if: LabProcess.onPath("qemu-system-x86_64") != nil, "qemu-system-x86_64 is not installed"))
    func theMonitorSaysWhereAStoppedGuestsCPUsAre() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("monitor-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let monitor = try #require(QEMUMonitor.create(at: directory.appendingPathComponent("monitor").path))
        // A machine stopped before its first instruction (-S): the monitor answers, the CPUs sit at the reset vector.
        let qemu = Process()
        qemu.executableURL = URL(fileURLWithPath: LabProcess.onPath("qemu-system-x86_64")!)
        qemu.arguments = ["-S", "-accel", "tcg", "-smp", "2", "-m", "64", "-display", "none", "-nodefaults", "-monitor", monitor.qemuArgument]
        qemu.standardOutput = FileHandle.nullDevice
        qemu.standardError = FileHandle.nullDevice
        try qemu.run()
        // SIGKILL: the test process may block SIGTERM, and a child inherits that.
        defer { kill(qemu.processIdentifier, SIGKILL); qemu.waitUntilExit() }
        var answer: String?
        for _ in 0..<100 where answer?.contains("CPU#1") != true {
            usleep(100_000)  // until QEMU has opened its ends of the FIFOs
            answer = monitor.ask(["info registers -a"])
        }
        let registers = try #require(answer)
        // The boot CPU is ready to run; the other waits, halted, for the boot CPU to start it.
        let places = QEMUBoot.cpuPlaces(registers)
        #expect(places.map(\.instructionPointer) == ["0000fff0", "0000fff0"] && places.map(\.address) == [0xfff0, 0xfff0], "\(registers)")
        #expect(places.map { $0.description(symbols: nil) } == [
            "CPU 0: IP 0000fff0 (user space or a nested guest), CPL 0, halted 0",
            "CPU 1: IP 0000fff0 (user space or a nested guest), CPL 0, halted 1",
        ], "\(registers)")
    }
}

@Suite struct LabMatrixTests {
    static let mutant = Variant(name: "m", patch: "/m.patch", expectation: .caught, header: ["MMU: tdp", "Workloads: mix, dirty-log"])

    @Test func aMutantRunsItsTargetedWorkloadsOnItsMMUsAndStockTheCatalogue() {
        let matrix = LabMatrix(variants: [.stock, Self.mutant], mmus: ["tdp", "shadow"], workloads: nil, seeds: [1, 2])
        let stockCells = matrix.cells.filter { $0.variant == .stock }
        #expect(stockCells.count == Workload.catalogue.count * 2 * 2)
        let mutantCells = matrix.cells.filter { $0.variant.name == "m" }
        #expect(mutantCells.map(\.mmu).allSatisfy { $0 == "tdp" })
        #expect(mutantCells.map(\.runName) == ["mix-s1", "mix-s2", "dirty-log-s1", "dirty-log-s2"])
        #expect(matrix.groups.map { "\($0[0].variant.name)/\($0[0].mmu)" } == ["stock/tdp", "stock/shadow", "m/tdp"])
    }

    @Test func shardsPartitionTheMatrix() {
        let matrix = LabMatrix(variants: [.stock, Self.mutant], mmus: ["tdp", "shadow"], workloads: nil, seeds: [1, 2, 3])
        let shards = (1...4).map { matrix.shard($0, of: 4).cells.map { "\($0.variant.name)/\($0.mmu)/\($0.runName)" } }
        let all = matrix.cells.map { "\($0.variant.name)/\($0.mmu)/\($0.runName)" }
        #expect(shards.flatMap { $0 }.sorted() == all.sorted())
        #expect(Set(shards[0]).isDisjoint(with: shards[1]))
        #expect(shards.allSatisfy { abs($0.count - all.count / 4) <= 1 })
    }

    @Test func anUnknownWorkloadIsAUsageErrorListingTheKnownOnes() {
        #expect(throws: LabError.self) { try Workload.named(["mix", "nope"]) }
        do { _ = try Workload.named(["nope"]) } catch { #expect("\(error)".contains("known: all, mix")) }
    }
}

@Suite struct LabPatchTests {
    func write(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lab-test-\(UUID().uuidString).patch").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func aPatchHeaderNamesItsMMUsAndWorkloads() throws {
        let path = try write("Mutant: x\nMMU: shadow\nWorkloads: mix\n\n--- a/virt/kvm/kvm_main.c\n+++ b/virt/kvm/kvm_main.c\n@@ -1 +1 @@\n-a\n+b\n")
        defer { unlink(path) }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let variant = try Variant.load(patch: path, name: "x", expectation: .caught)
        #expect(variant.mmus == ["shadow"])
        #expect(variant.targetedWorkloads == ["mix"])
        #expect(variant.header == ["Mutant: x", "MMU: shadow", "Workloads: mix"])
    }

    @Test func aMalformedPatchIsRefusedWithTheReason() throws {
        let path = try write("this is not a diff\n")
        defer { unlink(path) }
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: LabError.self) { try Variant.load(patch: path, name: "x", expectation: .clean) }
        do { _ = try Variant.load(patch: path, name: "x", expectation: .clean) } catch let error as LabError {
            #expect(error.exitCode == 65)
            #expect(error.description.contains("not a unified diff"))
        }
        #expect(throws: LabError.self) { try Variant.load(patch: "/nonexistent.patch", name: "x", expectation: .clean) }
    }

    @Test func theShippedMutantsParseAndEachNamesWhatItBreaks() throws {
        let assets = try LabAssets.locate(URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../lab").standardized.path)
        let mutants = try Variant.mutants(in: assets)
        #expect(mutants.map(\.name) == ["dirty-log-no-flush", "fault-ignores-invalidation", "fault-reads-sequence-late", "memslot-keeps-sptes",
                                         "mmio-spte-keeps-stale-generation", "no-notifier-flush", "range-drops-last-page", "shadow-fault-flush-after-unlock",
                                         "tdp-fault-flush-after-unlock", "zap-flush-after-unlock"])
        for mutant in mutants {
            #expect(mutant.header.first?.hasPrefix("Mutant:") == true, "\(mutant.name)")
            #expect(mutant.header.contains { $0.hasPrefix("Breaks:") }, "\(mutant.name)")
            #expect(mutant.mmus != nil && mutant.targetedWorkloads != nil, "\(mutant.name)")
            #expect(try Workload.named(mutant.targetedWorkloads ?? []).count > 0)
        }
    }
}

@Suite struct LabReportTests {
    func row(_ variant: String, _ verdict: LabReport.RowVerdict) -> LabReport.Row {
        var row = LabReport.Row(variant: variant, mmu: "tdp", workload: "mix", seed: 1, arguments: [])
        row.verdict = verdict
        return row
    }

    func report(_ rows: [LabReport.Row]) -> LabReport {
        LabReport(kernelVersion: "6.1", kernelABI: "6.1.0", accel: "tcg", secondsPerWorkload: 10, startedAt: "", variants: [
            Variant.stock.info, .init(name: "m", expectation: .caught, description: "", patch: nil),
        ], rows: rows)
    }

    @Test func aLabsHTMLOpensWithTheMatrixEachCellLinkingToItsRun() {
        var caught = row("m", .violation)
        caught.caughtBy = ["late-flush"]
        caught.secondsToFirstViolation = 0.13
        caught.mmu = "shadow"
        let html = HTMLRenderer.render(lab: report([row("stock", .pass), caught]), title: "lab")
        let matrix = html.range(of: "<h2>Matrix</h2>")
        let firstRun = html.range(of: "<h2 id=\"row-1\">stock on tdp: mix, seed 1</h2>")
        #expect(matrix != nil && firstRun != nil && matrix!.lowerBound < firstRun!.lowerBound, "the matrix comes before any run")
        #expect(html.contains("<a href=\"#row-2\">mix</a>") && html.contains("<h2 id=\"row-2\">m on shadow: mix, seed 1</h2>"))
        #expect(html.contains("<td>late-flush</td><td>0.13 s</td>"))
        #expect(html.contains("m on tdp") == false && html.contains("m on shadow"))
    }

    @Test func theLabPassesOnlyWhenStockIsCleanAndEveryMutantIsCaught() {
        #expect(report([row("stock", .pass), row("m", .pass), row("m", .violation)]).exitCode == 0)
        #expect(report([row("stock", .pass), row("m", .pass)]).exitCode == 3)
        #expect(report([row("stock", .kernelBug), row("m", .violation)]).exitCode == 1)
        #expect(report([row("stock", .notRun), row("m", .kernelBug)]).exitCode == 70)
        #expect(report([row("stock", .pass), row("m", .notExercised)]).outcomes.last?.met == false)
    }

    @Test func aLabReportRoundTripsThroughReportFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lab-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try report([row("stock", .pass), row("m", .violation)]).write(to: path)
        guard case .lab(let read) = try ReportFile.read(from: path) else { Issue.record("not read as a lab report"); return }
        #expect(read.rows.map(\.verdict) == [.pass, .violation])
        #expect(read.summary.contains("ok   m on tdp: caught in 1 of 1 runs"))
    }
}
