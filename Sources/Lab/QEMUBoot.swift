import Foundation
import Torture

/// One QEMU boot of the lab's guest, watched: the console and the report channel go to files the lab polls;
/// a guest that stops making progress (a workload past its deadline, a fatal kernel report with no end in
/// sight, no first workload after boot) is stopped, so a hang is a verdict, never a lost run.
struct QEMUBoot {
    var kernel: String
    var initrd: String
    var accel: String
    var directory: URL
    /// Seconds a workload may take from its start marker to its end marker.
    var workloadDeadline: Double
    /// Requested: the guest is stopped and the boot ends `interrupted`.
    var stop: StopRequest
    var cpus = 2
    var memoryMB = 3072
    /// Stop the guest as soon as a workload has ended caught (its run exited with a violation, or the kernel
    /// reported a problem during it): the variant's verdict is known, and the rest of the boot would not change it.
    var stopAtFirstCatch = false
    /// The guest kernel's automatic NUMA balancing (`numa_balancing=disable` on its command line unless set).
    var numaBalancing = false
    var monitor: QEMUMonitor { QEMUMonitor(path: directory.appendingPathComponent("monitor").path) }

    struct Outcome {
        var console: ConsoleLog
        var channel: SerialChannel
        /// `poweroff`, `watchdog`, `exited` (QEMU ended without the guest's poweroff), `interrupted` (Ctrl-C) or
        /// `caught` (stopped at the first caught workload).
        var ended: String
        var seconds: Double
        /// When the lab's watchdog stopped a hung guest: where each CPU was (QEMU's monitor) and what the guest
        /// kernel printed when asked for its CPUs' and blocked tasks' backtraces (SysRq l, w).
        var hangState: [String] = []
        /// QEMU's exit status and last words on stderr when it ended in error on its own.
        var emulatorError: String?
    }

    static func requireQEMU() throws -> String {
        guard let path = LabProcess.onPath("qemu-system-x86_64") else {
            throw LabError.unavailable("qemu-system-x86_64 is missing; install it with: apt-get install qemu-system-x86")
        }
        return path
    }

    var arguments: [String] {
        let cpu = accel == "kvm" ? ["-accel", "kvm", "-cpu", "host"] : ["-accel", "tcg,thread=multi", "-cpu", "max"]
        return cpu + [
            "-smp", String(cpus), "-m", String(memoryMB)] + numaNodes + ["-kernel", kernel, "-initrd", initrd,
            "-append", "console=ttyS0 loglevel=5 panic=-1 softlockup_panic=0 nokaslr sysrq_always_enabled"
                + (numaBalancing ? " numa_balancing=enable" : " numa_balancing=disable"),
            "-display", "none", "-monitor", monitor.qemuArgument, "-no-reboot", "-nodefaults",
            "-serial", "file:" + directory.appendingPathComponent("console.log").path,
            "-serial", "file:" + directory.appendingPathComponent("channel.log").path,
        ]
    }

    /// Two NUMA nodes, half the memory and half the CPUs each (the second may have none), so that page
    /// migration (`--op migrate`) has somewhere to move pages to.
    var numaNodes: [String] {
        let half = memoryMB / 2
        let firstCPUs = max(1, cpus / 2)
        let cpuList = { (range: Range<Int>) in range.count == 1 ? ",cpus=\(range.lowerBound)" : range.isEmpty ? "" : ",cpus=\(range.lowerBound)-\(range.upperBound - 1)" }
        return [
            "-object", "memory-backend-ram,id=node0,size=\(half)M", "-numa", "node,nodeid=0,memdev=node0" + cpuList(0..<firstCPUs),
            "-object", "memory-backend-ram,id=node1,size=\(memoryMB - half)M", "-numa", "node,nodeid=1,memdev=node1" + cpuList(firstCPUs..<cpus),
        ]
    }

    func run(progress: (String) -> Void) throws -> Outcome {
        let consolePath = directory.appendingPathComponent("console.log").path
        let channelPath = directory.appendingPathComponent("channel.log").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try QEMUBoot.requireQEMU())
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        _ = FileManager.default.createFile(atPath: directory.appendingPathComponent("qemu.stderr").path, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: directory.appendingPathComponent("qemu.stderr").path)
            ?? FileHandle.nullDevice
        _ = QEMUMonitor.create(at: monitor.path)
        let start = Date()
        do { try process.run() } catch {
            throw LabError.unavailable("qemu-system-x86_64 could not be started: \(error.localizedDescription)")
        }
        var ended = "exited"
        var hangState: [String] = []
        var deadline = start.addingTimeInterval(180)  // boot to the first workload
        var seenStarts = 0, seenFatal = 0
        var reportedEnds: Set<String> = []
        while process.isRunning {
            usleep(250_000)
            let console = ConsoleLog(read(consolePath))
            let now = Date()
            if console.started.count > seenStarts || console.ended.count > reportedEnds.count {
                for name in console.started.dropFirst(seenStarts) { progress("  \(name): started") }
                for name in console.started where !reportedEnds.contains(name) {
                    guard let code = console.ended[name] else { continue }
                    progress("  \(name): ended, inner exit \(code)")
                    reportedEnds.insert(name)
                }
                seenStarts = console.started.count
                deadline = now.addingTimeInterval(workloadDeadline)
            }
            if stopAtFirstCatch, let caught = console.firstCaughtWorkload {
                progress("  \(caught): caught; the rest of this boot is skipped (--keep-going runs it)")
                ended = "caught"
                process.terminate()
                usleep(500_000)
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                break
            }
            if console.allDone || !console.fatalMessages.isEmpty { deadline = min(deadline, now.addingTimeInterval(30)) }
            let fatal = console.findings.filter(\.fatal).count
            if fatal > seenFatal {
                progress("  kernel: \(console.findings.last(where: \.fatal)!.finding.title)")
                seenFatal = fatal
                deadline = min(deadline, now.addingTimeInterval(45))
            }
            if stop.isRequested || now > deadline {
                ended = stop.isRequested ? "interrupted" : "watchdog"
                if ended == "watchdog" {
                    hangState = diagnoseHang(consoleLines: console.lines.count, consolePath: consolePath)
                    try? Data((hangState.joined(separator: "\n") + "\n").utf8).write(to: directory.appendingPathComponent("hang.txt"))
                }
                process.terminate()
                usleep(500_000)
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                break
            }
        }
        process.waitUntilExit()
        let console = ConsoleLog(read(consolePath))
        let channel = SerialChannel(read(channelPath))
        cacheKernelSymbols(from: channel)
        if ended == "exited" && console.allDone { ended = "poweroff" }
        // Ctrl-C reaches QEMU too (one process group): its exit then is the user's doing, not the guest's death.
        if ended == "exited" && stop.isRequested { ended = "interrupted" }
        var outcome = Outcome(console: console, channel: channel, ended: ended, seconds: Date().timeIntervalSince(start), hangState: hangState)
        if ended == "exited" && process.terminationStatus != 0 {
            let said = read(directory.appendingPathComponent("qemu.stderr").path).split(separator: "\n").suffix(3).joined(separator: "; ")
            let how = process.terminationReason == .uncaughtSignal ? "was killed by signal \(process.terminationStatus)" : "exited with status \(process.terminationStatus)"
            outcome.emulatorError = "QEMU \(how)" + (said.isEmpty ? "" : ": " + said)
            try Self.refuseUnstartedGuest(outcome, accel: accel)
        }
        return outcome
    }

    /// QEMU that ended in error before the guest printed a line could not start it: every boot would end the same
    /// way, so the lab stops with QEMU's own words (exit 69) rather than writing rows that never ran.
    static func refuseUnstartedGuest(_ outcome: Outcome, accel: String) throws {
        guard let error = outcome.emulatorError, outcome.console.lines.allSatisfy({ $0.isEmpty }) else { return }
        throw LabError.unavailable("QEMU could not start the guest (--accel \(accel)): \(error)"
            + (accel == "kvm" ? "; --accel kvm needs a host whose KVM runs QEMU (VMX or SVM with nested virtualization); --accel tcg emulates instead"
                              : "; run the same qemu-system-x86_64 by hand to see why"))
    }

    /// Asks a hung guest where it is before it is stopped: each CPU's instruction pointer, sampled three times
    /// half a second apart (one that never moves spins on one instruction), named from the kernel's symbols, and
    /// the guest kernel's backtraces of its CPUs and blocked tasks, if it still takes a keyboard interrupt.
    /// The monitor's whole answers (registers, the code at each CPU's IP) go to hang.txt beside the console.
    private func diagnoseHang(consoleLines: Int, consolePath: String) -> [String] {
        let samples = (0..<3).compactMap { _ in monitor.ask(["info registers -a"], settle: 0.5) }
        guard let registers = samples.last else {
            return ["QEMU's monitor did not answer: the emulator itself was stuck"]
        }
        cacheKernelSymbols(from: SerialChannel(read(directory.appendingPathComponent("channel.log").path)))
        let symbols = KernelSymbols(file: QEMUBoot.kernelSymbolsPath(kernel))
        var state = QEMUBoot.cpuPlaces(registers).map { $0.description(symbols: symbols) }
        let pointers = samples.map { QEMUBoot.cpuPlaces($0).map(\.instructionPointer) }
        state.append("instruction pointers in \(samples.count) samples 0.5 s apart: "
            + pointers.map { $0.joined(separator: "/") }.joined(separator: ", "))
        let code = monitor.ask((0..<(pointers.last?.count ?? 0)).flatMap { ["cpu \($0)", "x/8i $pc"] }, settle: 0.3) ?? ""
        _ = monitor.ask(["sendkey alt-sysrq-l", "sendkey alt-sysrq-w"], settle: 4)
        let after = ConsoleLog(read(consolePath)).lines.dropFirst(consoleLines).filter { !$0.isEmpty }
        state.append(after.isEmpty ? "the guest kernel printed nothing for SysRq l and w: it took no interrupt"
                                   : "the guest kernel's answer to SysRq l and w:")
        let transcript = (samples + [code]).joined(separator: "\n").replacingOccurrences(of: "\r", with: "")
        try? Data(transcript.utf8).write(to: directory.appendingPathComponent("monitor.log"))
        return state + after.prefix(150)
    }

    /// Where one CPU of a hung guest is: from a line of `info registers -a`.
    struct CPUPlace: Equatable {
        var cpu: Int
        /// As the monitor printed it (hexadecimal, zero-padded).
        var instructionPointer: String
        var address: UInt64
        var privilegeLevel: String
        var halted: String

        /// "CPU 0: IP ffffffff81a2b3c4 (__schedule+0x2ab), CPL 0, halted 0": the kernel function it is in.
        func description(symbols: KernelSymbols?) -> String {
            let place = symbols?.name(of: address) ?? (address < 0x8000_0000_0000 ? "user space or a nested guest" : "outside the kernel's text")
            return "CPU \(cpu): IP \(instructionPointer) (\(place)), CPL \(privilegeLevel), halted \(halted)"
        }
    }

    /// Each CPU of `info registers -a`: its instruction pointer, privilege level and whether it is halted.
    static func cpuPlaces(_ registers: String) -> [CPUPlace] {
        var places: [CPUPlace] = []
        var cpu = 0
        // The monitor ends its lines in "\r\n", which Swift reads as one Character.
        for line in registers.replacingOccurrences(of: "\r", with: "").split(separator: "\n") {
            if line.hasPrefix("CPU#"), let number = Int(line.dropFirst(4).prefix { $0.isNumber }) { cpu = number }
            // RIP in long mode, EIP before it.
            guard let ip = field("RIP", in: line) ?? field("EIP", in: line), let address = UInt64(ip, radix: 16) else { continue }
            places.append(CPUPlace(cpu: cpu, instructionPointer: ip, address: address,
                                   privilegeLevel: field("CPL", in: line) ?? "?", halted: field("HLT", in: line) ?? "?"))
        }
        return places
    }

    /// Where the guest kernel's text symbols are cached, beside its image.
    static func kernelSymbolsPath(_ kernel: String) -> String {
        URL(fileURLWithPath: kernel).deletingLastPathComponent().appendingPathComponent("kallsyms").path
    }

    /// Caches the guest kernel's symbols beside its image when this boot's guest sent them and none are cached
    /// (a boot is asked to send them only then): read only when a guest hangs.
    private func cacheKernelSymbols(from channel: SerialChannel) {
        let path = QEMUBoot.kernelSymbolsPath(kernel)
        guard !FileManager.default.fileExists(atPath: path), let block = channel.last("kallsyms", of: "boot") else { return }
        try? block.data.write(to: URL(fileURLWithPath: path + ".tmp"))
        rename(path + ".tmp", path)
    }

    /// "VALUE" of "NAME=VALUE" in a line of `info registers`.
    static func field(_ name: String, in line: Substring) -> String? {
        for word in line.split(separator: " ") where word.hasPrefix(name + "=") { return String(word.dropFirst(name.count + 1)) }
        return nil
    }

    private func read(_ path: String) -> String {
        String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
    }
}
