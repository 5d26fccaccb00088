import Foundation
import TestSupport
import Testing
import KVM
import Bench
import Torture

/// End-to-end runs of the built `mmutorture` binary, the way a user or CI runs it.
struct Invocation {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// The binary SwiftPM built next to this test bundle.
let binary: URL = {
    var directory = Bundle.main.bundleURL
    for _ in 0..<4 where !FileManager.default.fileExists(atPath: directory.appendingPathComponent("mmutorture").path) {
        directory.deleteLastPathComponent()
    }
    return directory.appendingPathComponent("mmutorture")
}()

func invoke(_ arguments: [String], interruptAfter seconds: Double? = nil, signal: Int32 = SIGINT,
            in directory: URL? = nil, environment: [String: String]? = nil, executable: URL = binary) throws -> Invocation {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = directory }
    if let environment { process.environment = environment }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    if let seconds {
        Thread.sleep(forTimeInterval: seconds)
        kill(process.processIdentifier, signal)  // SIGINT, as Ctrl-C; SIGHUP, as an ssh disconnect
    }
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Invocation(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
}

/// A scenario shipped in `scenarios/`.
func scenarioPath(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scenarios/\(name).json").path
}

struct CommandLineTests {
    @Test func aReportPathThatCannotBeWrittenIsRefusedBeforeTheRunStarts() throws {
        let started = Date()
        let missing = try invoke(["run", "--duration", "600", "--report", "/nonexistent-\(getpid())/r.json", "--device", kvmDevicePath])
        #expect(missing.status == 73 && missing.stderr.contains("does not exist"), "\(missing.stderr)")
        // A FIFO stands for any special file: the report must never replace it.
        let fifo = FileManager.default.temporaryDirectory.appendingPathComponent("fifo-\(getpid())").path
        #expect(mkfifo(fifo, 0o600) == 0)
        defer { unlink(fifo) }
        let special = try invoke(["run", "--duration", "600", "--report", fifo, "--device", kvmDevicePath])
        #expect(special.status == 73 && special.stderr.contains("not a regular file"), "\(special.stderr)")
        var status = stat()
        #expect(lstat(fifo, &status) == 0 && status.st_mode & S_IFMT == S_IFIFO, "the FIFO is still a FIFO")
        #expect(Date().timeIntervalSince(started) < 30, "refused before any torture ran")
    }

    @Test func aNegativeNumberAfterASpaceIsOutOfRangeNotAMissingValue() throws {
        for (option, value) in [("--pages", "-1"), ("--duration", "-5"), ("--window-us", "-3")] {
            let result = try invoke(["run", option, value])
            #expect(result.status == 64 && result.stderr.contains("out of range") && !result.stderr.contains("Missing value"), "\(option): \(result.stderr)")
        }
    }

    @Test func anOptionThatWouldDoNothingInTheSetupIsAUsageError() throws {
        for arguments in [["--ring-entries", "64"], ["--dirty", "log", "--ring-entries", "64"], ["--hot-repeat", "3"], ["--dirty-round-ms", "5"]] {
            let result = try invoke(["run"] + arguments)
            #expect(result.status == 64 && result.stderr.contains(arguments.last == "64" ? "--ring-entries" : arguments[0]), "\(arguments): \(result.stderr)")
        }
    }

    @Test func aBadAntagonistSaysWhichPartIsWrongAndListsTheKinds() throws {
        for (argument, words) in [("foo:1", "names no antagonist kind"), ("cr0-wp", "KIND:MICROSECONDS"), ("cr0-wp:x", "period in microseconds")] {
            let result = try invoke(["run", "--antagonist", argument])
            #expect(result.status == 64 && result.stderr.contains(words) && result.stderr.contains("dirty-toggle, clear-dirty"), "\(argument): \(result.stderr)")
        }
    }

    @Test func bareMmutorturePrintsTheHelpAndVersionPrintsTheVersion() throws {
        let bare = try invoke([])
        #expect(bare.status == 0 && bare.stdout.contains("SUBCOMMANDS") && !bare.stdout.contains("verdict"), "\(bare.stdout)")
        let version = try invoke(["--version"])
        #expect(version.status == 0 && version.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == RunReport.toolVersion)
    }

    @Test func anUnknownOperationIsAUsageErrorListingTheChoices() throws {
        let result = try invoke(["run", "--op", "shred"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("--op") && result.stderr.contains("dontneed"))
    }

    @Test func everySettingIsAnOptionOfRunUnderItsFlag() throws {
        let help = try invoke(["run", "--help"])
        for setting in Setting.all { #expect(help.stdout.contains(setting.flag + " "), "\(setting.flag)") }
    }

    @Test func anOperationThatDoesNotFitTheBackingIsAUsageErrorWithTheFix() throws {
        let result = try invoke(["run", "--op", "punch", "--backing", "anonymous"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("--backing memfd|file|shared"))
    }

    @Test func aMissingKVMDeviceIsAnEnvironmentError() throws {
        let result = try invoke(["run", "--duration", "1", "--device", "/nonexistent/kvm"])
        #expect(result.status == 69)
        #expect(result.stderr.contains("KVM not available"))
    }

    @Test(.requiresKVM, .enabled(if: (try? String(contentsOfFile: "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", encoding: .utf8))?
        .trimmingCharacters(in: .whitespacesAndNewlines) == "0", "needs a host with no free 2 MiB huge pages"))
    func aHugetlbBackingWithoutReservedPagesIsUnavailableWithTheFix() throws {
        let result = try invoke(["run", "--op", "none", "--backing", "hugetlb", "--duration", "1", "--device", kvmDevicePath])
        #expect(result.status == 69, "\(result.stdout)\(result.stderr)")
        #expect(result.stderr.contains("hugetlb backing: ") && result.stderr.contains("sysctl vm.nr_hugepages=N"), "\(result.stderr)")
    }

    @Test func aBadScenarioFileIsRefusedNamingTheLineAndField() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bad-scenario-\(getpid()).json").path
        defer { unlink(path) }
        try Data("{\n  \"name\": \"x\",\n  \"backing\": \"anon\"\n}\n".utf8).write(to: URL(fileURLWithPath: path))
        let bad = try invoke(["run", "--scenario", path])
        #expect(bad.status == 65 && bad.stderr.contains("\(path):3: field 'backing': 'anon' is not a choice"), "\(bad.stderr)")
        let missing = try invoke(["run", "--scenario", "/nonexistent/s.json"])
        #expect(missing.status == 66 && missing.stderr.contains("cannot be read"))
        let both = try invoke(["run", "--scenario", scenarioPath("seed-2012"), "--profile", "quick"])
        #expect(both.status == 64 && both.stderr.contains("choose one"))
    }

    @Test func benchRefusesANonPositiveDurationAndAnUnknownSection() throws {
        let zero = try invoke(["bench", "--seconds", "0"])
        #expect(zero.status == 64 && zero.stderr.contains("--seconds"), "\(zero.stderr)")
        let unknown = try invoke(["bench", "--only", "latencies"])
        #expect(unknown.status == 64 && unknown.stderr.contains("exits"), "\(unknown.stderr)")
    }

    @Test func reportShowRefusesAFileThatIsNotAReport() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("not-a-report-\(getpid()).json").path
        defer { unlink(path) }
        try Data("{\"tool\": \"something else\"}".utf8).write(to: URL(fileURLWithPath: path))
        let foreign = try invoke(["report", "show", path])
        #expect(foreign.status == 65 && foreign.stderr.contains("not an mmutorture report"))
        try Data("{\"tool\": \"mmutorture\", \"schema".utf8).write(to: URL(fileURLWithPath: path))
        let truncated = try invoke(["report", "show", path])
        #expect(truncated.status == 65 && truncated.stderr.contains("is not JSON (or is truncated)"))
        try Data("{\"tool\": \"mmutorture\", \"schemaVersion\": 99}".utf8).write(to: URL(fileURLWithPath: path))
        let future = try invoke(["report", "show", path])
        #expect(future.status == 65 && future.stderr.contains("schema version 99"))
    }
}

@Suite(.serialized, .requiresKVM)
struct RunEndToEndTests {
    /// A plain run, and a composed one (every antagonist, two vCPUs): both stop promptly on Ctrl-C, and a plain
    /// one on an ssh disconnect (SIGHUP); neither reads as a pass, and each exits 128 + the signal.
    @Test(arguments: [([], SIGINT), (["--scenario", scenarioPath("everything")], SIGINT), ([], SIGHUP)])
    func aSignalStopsTheRunWhichStillPrintsItsSummaryAndWritesItsReportAsInterrupted(setup: [String], signal: Int32) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("signal-\(getpid()).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let name = signal == SIGINT ? "SIGINT" : "SIGHUP"
        let started = Date()
        let result = try invoke(["run"] + setup + ["--duration", "60", "--seed", "5", "--quiet", "--report", path, "--device", kvmDevicePath],
                                interruptAfter: 2, signal: signal)
        #expect(Date().timeIntervalSince(started) < 30, "the run must stop promptly, not run its 60 s")
        #expect(result.stdout.contains("stopped by \(name)") && result.stdout.contains("verdict: interrupted"), "\(result.stdout)\(result.stderr)")
        #expect(result.status == 128 + signal)
        let report = try RunReport.read(from: path)
        #expect(report.interruptedBy == name && report.configuration.seed == 5 && report.verdict == .interrupted)
        #expect(report.durationSeconds < 30 && report.exitCode == 128 + signal)
        let shown = try invoke(["report", "show", path])
        #expect(shown.status == 0 && shown.stdout.contains("verdict: interrupted"))
        let junit = try invoke(["report", "junit", path])
        #expect(junit.stdout.contains("type=\"interrupted\""), "an interrupted run fails its JUnit case")
    }

    @Test func aSecondRunWritingTheSameReportIsRefusedWhileTheFirstRuns() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("locked-\(getpid()).json").path
        let lock = FileManager.default.temporaryDirectory.appendingPathComponent(".locked-\(getpid()).json.lock").path
        defer { unlink(path) }
        let first = Process()
        first.executableURL = binary
        first.arguments = ["run", "--duration", "60", "--quiet", "--report", path, "--device", kvmDevicePath]
        first.standardOutput = FileHandle.nullDevice
        try first.run()
        defer { first.interrupt(); first.waitUntilExit() }
        let deadline = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: lock) && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        let second = try invoke(["run", "--duration", "1", "--quiet", "--report", path, "--device", kvmDevicePath])
        #expect(second.status == 73 && second.stderr.contains("another mmutorture run (pid \(first.processIdentifier))"), "\(second.stderr)")
    }

    /// The whole chain from a stale frame to the verdict, with no hook in the engine: this test plays the broken
    /// kernel, overwriting a published data page of a running `mmutorture run` through /proc/PID/mem. The real
    /// checker must read it, the host must record it, and the run must end with verdict violation and exit 1.
    @Test(.enabled(if: geteuid() == 0, "writing another process's memory through /proc/PID/mem needs root"))
    func aPageChangedBehindTheHostsBackIsAViolationThroughTheRealChecker() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("served-\(getpid()).json").path
        defer { unlink(path) }
        let run = Process()
        run.executableURL = binary
        // 300 pages: a data mapping of 1,228,800 bytes, a size nothing else in the process has. No operation: the
        // page keeps what it is served until the checker reads it.
        run.arguments = ["run", "--op", "none", "--pages", "300", "--duration", "60", "--stop-after-violation", "0.5", "--quiet", "--report", path, "--device", kvmDevicePath]
        let out = Pipe()
        run.standardOutput = out
        try run.run()
        defer { if run.isRunning { run.interrupt() } }
        // The data pages are found by what the host publishes in them (every reader word of a page holds the same
        // generation, kind 0x01), not by their mapping, which the kernel may merge with a neighbour.
        var data: UInt64?
        let deadline = Date().addingTimeInterval(30)
        while data == nil && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.2)
            data = Self.publishedPages(of: run.processIdentifier, count: 300)
        }
        let base = try #require(data, "the run's 300 published data pages were never found")
        let memory = try #require(FileHandle(forUpdatingAtPath: "/proc/\(run.processIdentifier)/mem"))
        try memory.seek(toOffset: base + 5 * 4096)
        try memory.write(contentsOf: Data(repeating: 0xa5, count: 448 * 8))  // page 5's reader words
        try memory.close()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        run.waitUntilExit()
        #expect(run.terminationStatus == 1 && stdout.contains("verdict: violation"), "\(stdout)")
        let report = try RunReport.read(from: path)
        let violation = try #require(report.violations.first)
        #expect(violation.kind == .staleRead && violation.page == 5 && violation.observed == 0xa5a5_a5a5_a5a5_a5a5, "\(violation.summary)")
        #expect(report.verdict == .violation && report.violationsByKind?["stale-read"] ?? 0 > 0)
    }

    /// The address of the first of `count` consecutive pages of process `pid` whose 448 reader words each hold
    /// one generation (kind 0x01 in the top byte), read through /proc/PID/mem; nil until there are.
    static func publishedPages(of pid: Int32, count: Int) -> UInt64? {
        guard let maps = try? String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8),
              let memory = FileHandle(forReadingAtPath: "/proc/\(pid)/mem") else { return nil }
        defer { try? memory.close() }
        for line in maps.split(separator: "\n") where line.contains(" rw-p ") {
            let range = line.split(separator: " ")[0].split(separator: "-").compactMap { UInt64($0, radix: 16) }
            guard range.count == 2, range[1] - range[0] >= UInt64(count) * 4096, range[1] - range[0] <= 64 << 20 else { continue }
            guard (try? memory.seek(toOffset: range[0])) != nil, let bytes = try? memory.read(upToCount: Int(range[1] - range[0])) else { continue }
            var run = 0
            for page in 0..<(bytes.count / 4096) {
                let published = bytes.withUnsafeBytes { raw -> Bool in
                    let words = raw.baseAddress!.advanced(by: page * 4096).assumingMemoryBound(to: UInt64.self)
                    return words[0] >> 56 == 1 && (1..<448).allSatisfy { words[$0] == words[0] }
                }
                run = published ? run + 1 : 0
                if run == count { return range[0] + UInt64((page + 1 - count) * 4096) }
            }
        }
        return nil
    }

    @Test func aRunBesideAnotherKVMVMNamesIt() throws {
        // This test process holds a VM (no vCPU running): the run it starts must notice it and say so.
        let vm = try KVMSystem(devicePath: kvmDevicePath).createVirtualMachine()
        let result = try invoke(["run", "--duration", "0.5", "--quiet", "--device", kvmDevicePath])
        withExtendedLifetime(vm) {}
        // Whether this process took CPU time meanwhile decides "running" or "idle"; either way it is named.
        #expect(result.stdout.contains("other KVM VMs were") && result.stdout.contains("pid \(getpid())"), "\(result.stdout)")
    }

    @Test(.enabled(if: geteuid() == 0 && FileManager.default.fileExists(atPath: "/sys/kernel/mm/ksm/run"), "needs root and CONFIG_KSM"))
    func ctrlCDuringAKSMRunStillRestoresKsmd() throws {
        let settings = ["run", "sleep_millisecs", "pages_to_scan"].map { "/sys/kernel/mm/ksm/\($0)" }
        let read = { settings.map { try? String(contentsOfFile: $0, encoding: .utf8) } }
        let before = read()
        let result = try invoke(["run", "--op", "ksm", "--mode", "read", "--allow-system-changes", "--duration", "60", "--quiet", "--device", kvmDevicePath], interruptAfter: 2)
        #expect(result.status == 130 && result.stdout.contains("stopped by SIGINT"), "\(result.stdout)\(result.stderr)")
        #expect(read() == before, "ksmd's settings restored after Ctrl-C")
    }

    /// The bench's Swift/C comparisons carry their pairs and intervals, and the targets it judges are the ones it
    /// measured, each ratio judged on its interval (at 0.5 s the mutator's are usually undecided; not asserted).
    @Test func benchJudgesTheTargetsOfTheSectionsItMeasured() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(getpid()).json").path
        defer { unlink(path) }
        let result = try invoke(["bench", "--only", "exits", "mutator", "--seconds", "0.5", "--json", path, "--device", kvmDevicePath])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("95% interval") && result.stdout.contains("targets (BENCHMARKS.md)"), "\(result.stdout)")
        let results = try JSONDecoder().decode(Benchmark.Results.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        let exits = try #require(results.exitRoundTrip)
        #expect(exits.pairs == 240 && exits.ratioLow <= exits.ratio && exits.ratio <= exits.ratioHigh)
        let steps = try #require(results.mutatorSteps)
        #expect(Set(steps.keys) == ["dontneed", "mprotect", "punch"] && steps.values.allSatisfy { $0.pairs >= 6 }, "\(steps)")
        #expect(results.checksPerSecond == nil && results.setup == nil, "sections not asked for are not measured")
        #expect(results.targets.map(\.name) == [
            "exit round trip Swift/C ≥ 0.97", "mutator steps Swift/C ≥ 0.95: dontneed", "mutator steps Swift/C ≥ 0.95: mprotect",
            "mutator steps Swift/C ≥ 0.95: punch",
        ])
        #expect(results.targets[0].outcome == exits.outcome(atLeast: 0.97))
        for (target, name) in zip(results.targets.dropFirst(), ["dontneed", "mprotect", "punch"]) {
            #expect(target.outcome == steps[name]!.outcome(atLeast: 0.95), "\(target)")
        }
    }

    @Test func aScenarioRunsWithExplicitOptionsOverridingTheFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("scenario-\(getpid()).json").path
        let result = try invoke(["run", "--scenario", scenarioPath("seed-2012"), "--duration", "1", "--hot", "4", "--quiet", "--report", path, "--device", kvmDevicePath])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.hasPrefix("scenario seed-2012: ") && result.stdout.contains("antagonist clear-dirty"))
        let report = try RunReport.read(from: path)
        #expect(report.configuration.hotPages == 4 && report.configuration.duration == 1, "the options win")
        #expect(report.configuration.antagonists.map(\.kind) == [.dirtyToggle, .clearDirty], "the file's antagonists")
    }

    @Test func aSeedIsPrintedWhenNoneIsGiven() throws {
        let result = try invoke(["run", "--duration", "0.5", "--quiet", "--device", kvmDevicePath])
        #expect(result.stdout.hasPrefix("seed ") && result.stdout.contains("replay with --seed"))
    }
}
