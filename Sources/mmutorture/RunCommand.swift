import ArgumentParser
import Foundation
import Torture

// `mmutorture run`: its options (flags named by the Setting table), their merge over a scenario and a profile, the run.
extension Torture.Operation: ExpressibleByArgument {}
extension BackingKind: ExpressibleByArgument {}
extension Injection: ExpressibleByArgument {}
extension TortureConfiguration.GuestPageSize: ExpressibleByArgument {}
extension CheckerMode: ExpressibleByArgument {}
extension Profile: ExpressibleByArgument {}
extension DirtyTracking: ExpressibleByArgument {}
extension AntagonistSpec: ExpressibleByArgument {}

/// `mmutorture run`: one torture run, a summary on stdout, optionally a JSON report.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the stale-read and lost-write torture against /dev/kvm.",
        discussion: """
            Exit codes: 0 pass (or an injected fault caught), 1 violation found, 2 not exercised, \
            3 injected fault missed, 64 usage error, 65 bad scenario file, 66 unreadable scenario file, \
            69 KVM (or an opt-in operation) unavailable, 70 harness error.
            """)

    @Option(help: "Preset: quick (5 s mix), ci (every operation in turn, 60 s), soak (30 min mix, checkpoints every 60 s). Explicit options override it.")
    var profile: Profile?

    @Option(help: "A scenario file (JSON; see scenarios/): antagonists, rates, backing, hot set, duration, vCPUs. Explicit options override it.")
    var scenario: String?

    @Option(name: .customLong(Setting.operation.long), help: "Invalidation to perform: \(Torture.Operation.allCases.map(\.rawValue).joined(separator: ", ")) (default dontneed).")
    var op: Torture.Operation?

    @Option(name: .customLong(Setting.backing.long), help: "Data backing: \(BackingKind.allCases.map(\.rawValue).joined(separator: ", ")) (default anonymous).")
    var backing: BackingKind?

    @Option(name: .customLong(Setting.mode.long), help: "What the checker vCPUs do: read (stale reads), write (lost writes), or both (default).")
    var mode: CheckerMode?

    @Option(name: .customLong(Setting.pages.long), help: "Data pages, 4 KiB each (default 256).")
    var pages: Int?

    @Option(name: .customLong(Setting.vcpus.long), help: "Checker vCPUs (default 1).")
    var vcpus: Int?

    @Option(name: .customLong(Setting.duration.long), help: "Seconds to run (default 10).")
    var duration: Double?

    @Option(name: .customLong(Setting.seed.long), help: "Seed for the host-side schedule (random when omitted; always printed).")
    var seed: UInt64?

    @Option(name: .customLong(Setting.guestPageSize.long), help: "Guest mapping of the data: 4k (default) or 2m.")
    var guestPageSize: TortureConfiguration.GuestPageSize?

    @Option(name: .customLong(Setting.dirty.long), help: "Harvest the data slot's dirty log in rounds and check no guest write escaped it: off, log, clear, ring.")
    var dirty: DirtyTracking?

    @Option(name: .customLong(Setting.dirtyRound.long), help: "Milliseconds between dirty-log harvests (default 20).")
    var dirtyRound: Int?

    @Option(name: .customLong(Setting.ringEntries.long), help: "Entries per vCPU dirty ring with --dirty ring (a power of two, at least 256; default 4096).")
    var ringEntries: Int?

    @Option(name: .customLong(Setting.hot.long), help: "Hot set: the mutator works on the first N pages only, and the checkers pass over them --hot-repeat times between full sweeps.")
    var hot: Int?

    @Option(name: .customLong(Setting.hotRepeat.long), help: "Checker passes over the hot set between full sweeps (default 8).")
    var hotRepeat: Int?

    @Option(name: .customLong(Setting.antagonists.long), help: "An antagonist beside the mutator, KIND:MICROSECONDS (repeatable). Kinds: \(AntagonistSpec.Kind.allCases.map(\.rawValue).joined(separator: ", ")).",
            transform: RunCommand.antagonist)
    var antagonist: [AntagonistSpec] = []

    /// `--antagonist KIND:MICROSECONDS`, or an error that says which part is wrong and lists the kinds.
    static func antagonist(_ argument: String) throws -> AntagonistSpec {
        if let spec = AntagonistSpec(argument: argument) { return spec }
        let kinds = AntagonistSpec.Kind.allCases.map(\.rawValue).joined(separator: ", ")
        let parts = argument.split(separator: ":", omittingEmptySubsequences: false)
        let problem = parts.count != 2 ? "is not of the form KIND:MICROSECONDS (e.g. dirty-toggle:200)"
            : AntagonistSpec.Kind(rawValue: String(parts[0])) == nil ? "names no antagonist kind"
            : "needs a period in microseconds after the colon (a positive whole number)"
        throw ValidationError("it \(problem); use KIND:MICROSECONDS with KIND one of: \(kinds)")
    }

    @Option(name: .customLong(Setting.injection.long), help: "Negative control to inject: \(Injection.allCases.map(\.rawValue).joined(separator: ", ")).")
    var inject: Injection?

    @Flag(name: .customLong("allow-system-changes"), help: "Allow operations that change system-wide settings for the run (ksm: starts ksmd); each is restored when the run ends. Needs root.")
    var allowSystemChanges = false

    @Flag(name: .customLong("no-pin"), help: "Do not pin the mutator and vCPUs to different CPUs (the run may then prove nothing).")
    var noPin = false

    @Option(name: .customLong(Setting.faultWindow.long), help: "Microseconds a must-fault window stays open (default 300).")
    var faultWindow: Int?

    @Option(name: .customLong(Setting.window.long), help: "Microseconds a must-read-zero or content-kept window stays open (default 5).")
    var window: Int?

    @Option(name: .customLong(Setting.flushProbe.long), help: "Milliseconds between two probes of the missing-flush oracle (default 5; 0: off).")
    var flushProbe: Int?

    @Option(name: .customLong(Setting.traps.long), help: "Pages in the ring of recycled-frame traps (default \(TortureConfiguration.defaultTrapPages); 0: off; a multiple of 4).")
    var traps: Int?

    @Option(name: .customLong(Setting.inFlight.long), help: "Windows the mutator keeps open at once, each on its own page (default \(TortureConfiguration.defaultInFlight); 1 to 64).")
    var inFlight: Int?

    @Option(name: .customLong(Setting.stopAfterViolation.long), help: "End the run this many seconds after its first violation (default: run the whole duration).")
    var stopAfterViolation: Double?

    @Option(name: .customLong("announce-to"), help: "Also write the first violation's line to this file the moment it is seen (e.g. /dev/kmsg: the kernel log and console carry it).")
    var announceTo: String?

    @Option(help: "Write the JSON report here.")
    var report: String?

    @Option(name: .customLong("checkpoint-interval"), help: "Also write the report every this many seconds while running (soak: 60).")
    var checkpointInterval: Double?

    @Option(help: "KVM device path.")
    var device: String = "/dev/kvm"

    @Flag(help: "No progress lines.")
    var quiet = false

    func validate() throws {
        if scenario != nil && profile != nil {
            throw ValidationError("--scenario and --profile both set up the whole run; choose one")
        }
        let scenario = try loadScenario()
        let configuration = makeConfiguration(seed: 0, scenario: scenario)
        do { try configuration.validate() } catch { throw ValidationError(error.description) }
        if let checkpointInterval, !(checkpointInterval > 0 && checkpointInterval <= 7 * 24 * 3600) {
            throw ValidationError("--checkpoint-interval: \(checkpointInterval) is out of range; use a positive number of seconds, at most a week")
        }
        if checkpointInterval != nil && report == nil {
            throw ValidationError("--checkpoint-interval: checkpoints are written to the report; add --report PATH")
        }
        if let announceTo, access(announceTo, W_OK) != 0 {
            throw ValidationError("--announce-to: \(announceTo) cannot be written (\(String(cString: strerror(errno)))); name a writable file such as /dev/kmsg (as root)")
        }
        // An option that would do nothing in this setup is a mistake to say, not to ignore.
        if ringEntries != nil && configuration.dirty != .ring {
            throw ValidationError("--ring-entries sizes the dirty ring, which only --dirty ring uses; add --dirty ring or drop it")
        }
        if dirtyRound != nil && configuration.dirty == .off {
            throw ValidationError("--dirty-round-ms paces dirty-log harvests, and --dirty is off; add --dirty log|clear|ring or drop it")
        }
        if hotRepeat != nil && configuration.hotPages == 0 {
            throw ValidationError("--hot-repeat repeats passes over the hot set, and there is none; add --hot PAGES or drop it")
        }
    }

    /// The scenario file, if one was given; a bad one ends the command with its own exit code (65, or 66 when it
    /// cannot be read) and the error naming the line and field.
    func loadScenario() throws -> Scenario? {
        guard let scenario else { return nil }
        do { return try Scenario.load(path: scenario) } catch {
            StandardStreams.error("mmutorture: scenario \(error)\n")
            throw ExitCode(error.exitCode)
        }
    }

    /// Defaults (or the scenario), then the profile, then the options given explicitly.
    func makeConfiguration(seed: UInt64, scenario: Scenario?) -> TortureConfiguration {
        var c = scenario?.configuration ?? TortureConfiguration()
        profile?.apply(to: &c)
        if let op { c.operation = op }
        if let backing { c.backing = backing }
        if let pages { c.pages = pages }
        if let vcpus { c.vcpus = vcpus }
        if let duration { c.duration = duration }
        if let mode { c.mode = mode }
        c.seed = seed
        if let guestPageSize { c.guestPageSize = guestPageSize }
        if let inject { c.injection = inject }
        if let dirty { c.dirty = dirty }
        if let dirtyRound { c.dirtyRoundMilliseconds = dirtyRound }
        if let ringEntries { c.ringEntries = ringEntries }
        if let hot { c.hotPages = hot }
        if let hotRepeat { c.hotRepeat = hotRepeat }
        if !antagonist.isEmpty { c.antagonists = antagonist }
        c.pin = !noPin
        if allowSystemChanges { c.allowSystemChanges = true }
        if let faultWindow { c.faultWindowMicroseconds = faultWindow }
        if let window { c.windowMicroseconds = window }
        if let flushProbe { c.flushProbeMilliseconds = flushProbe }
        if let traps { c.trapPages = traps }
        if let inFlight { c.inFlight = inFlight }
        if let stopAfterViolation { c.stopAfterViolationSeconds = stopAfterViolation }
        c.devicePath = device
        c.scenarioName = scenario?.name
        if let announceTo { c.announcePath = announceTo }
        return c
    }

    func run() throws {
        let scenario = try loadScenario()
        var reportLock: ReportLock?
        if let report {
            // Before the first KVM call: a long run must not end in a report it cannot write, nor race another run
            // writing the same one.
            do {
                try AtomicFile.checkWritable(report)
                reportLock = try ReportLock(reportPath: report)
            } catch {
                StandardStreams.error("mmutorture: cannot write the report: \(error)\n")
                throw ExitCode(ExitStatus.cannotCreate.rawValue)
            }
        }
        defer { withExtendedLifetime(reportLock) {} }
        let chosenSeed = seed ?? (scenario?.hasSeed == true ? scenario!.configuration.seed : UInt64.random(in: 1...UInt64(UInt32.max)))
        if let scenario { print("scenario \(scenario.name)\(scenario.description.isEmpty ? "" : ": \(scenario.description)")") }
        if seed == nil { print("seed \(chosenSeed) (replay with --seed \(chosenSeed))") }
        StopRequest.installSignalHandlers()
        var torture = TortureRun(configuration: makeConfiguration(seed: chosenSeed, scenario: scenario))
        // On a terminal one live line, rewritten in place; otherwise (CI logs) a plain line a second.
        let live = isatty(STDERR_FILENO) == 1
        if !quiet {
            torture.progress = { line in StandardStreams.error((live ? "\r\u{1B}[K" + line : line + "\n")) }
        }
        if let report, let interval = checkpointInterval ?? profile?.checkpointInterval {
            torture.checkpointInterval = interval
            let stop = torture.stop
            torture.checkpoint = { partial in
                do { try partial.write(to: report) } catch {
                    // A run whose evidence cannot be kept stops; its final report is attempted (and reported) below.
                    StandardStreams.error("mmutorture: checkpoint: cannot write the report: \(error); stopping the run\n")
                    stop.request()
                }
            }
        }
        let result: RunReport
        do {
            result = try torture.run()
        } catch {
            StandardStreams.error("mmutorture: \(error)\n")
            throw ExitCode(error.exitCode)
        }
        if live && !quiet { StandardStreams.error("\n") }
        print(result.summary)
        if let report {
            do {
                try result.write(to: report)
                print("report: \(report)")
            } catch {
                StandardStreams.error("mmutorture: cannot write the report: \(error)\n")
                throw ExitCode(ExitStatus.cannotCreate.rawValue)
            }
        }
        if result.exitCode != 0 { throw ExitCode(result.exitCode) }
    }
}
