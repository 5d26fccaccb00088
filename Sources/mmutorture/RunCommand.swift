import ArgumentParser
import Foundation
import Torture

// `mmutorture run`: its options, the settings read against the Setting table, their merge over a scenario and a
// profile, the run.
extension Profile: ExpressibleByArgument {}

/// `mmutorture run`: one torture run, a summary on stdout, optionally a JSON report.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the stale-read and lost-write torture against /dev/kvm.",
        discussion: """
            Exit codes: 0 pass (or an injected fault caught), 1 violation found, 2 not exercised, \
            3 injected fault missed, 64 usage error, 65 bad scenario file, 66 unreadable scenario file, \
            69 KVM (or an opt-in operation) unavailable, 70 harness error, 73 a report or announcement file \
            that cannot be written.

            SETTINGS (most are also scenario fields; given here, they override a scenario and a profile):
            \(SettingArguments.help)
            """)

    @Option(help: "Preset: quick (5 s mix), ci (every operation in turn, 60 s), soak (30 min mix, checkpoints every 60 s). Explicit options override it.")
    var profile: Profile?

    @Option(help: "A scenario file (JSON; see scenarios/): antagonists, rates, backing, hot set, duration, vCPUs. Explicit options override it.")
    var scenario: String?

    /// The run's settings (``Setting/all``: `--op`, `--pages`, …), read against the table, not declared here one
    /// by one; `run --help` lists them after the options.
    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("The run's settings (listed below).", valueName: "settings"))
    var settingArguments: [String] = []

    @Flag(name: .customLong("allow-system-changes"), help: "Allow operations that change system-wide settings for the run (ksm: starts ksmd); each is restored when the run ends. Needs root.")
    var allowSystemChanges = false

    @Flag(name: .customLong("no-pin"), help: "Do not pin the mutator and vCPUs to different CPUs (the run may then prove nothing).")
    var noPin = false

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
        let settings = try givenSettings()
        let configuration = try makeConfiguration(scenario: try loadScenario(), settings: settings)
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
        // A setting that would do nothing in this setup is a mistake to say, not to ignore.
        for setting in Setting.all where settings.contains(setting) {
            if let inert = setting.inert(configuration) { throw ValidationError("\(setting.flag) \(inert)") }
        }
    }

    /// The settings given on the command line, read against the table.
    func givenSettings() throws -> SettingArguments {
        do { return try SettingArguments(settingArguments) } catch { throw ValidationError(error.description) }
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

    /// Defaults (or the scenario), then the profile, then the settings given explicitly, then the options.
    func makeConfiguration(scenario: Scenario?, settings: SettingArguments) throws -> TortureConfiguration {
        var c = scenario?.configuration ?? TortureConfiguration()
        profile?.apply(to: &c)
        do { try settings.apply(to: &c) } catch { throw ValidationError(error.description) }
        c.pin = !noPin
        if allowSystemChanges { c.allowSystemChanges = true }
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
        let settings = try givenSettings()
        var configuration = try makeConfiguration(scenario: scenario, settings: settings)
        let seedChosen = settings.contains(.seed) || scenario?.hasSeed == true
        if !seedChosen { configuration.seed = UInt64.random(in: 1...UInt64(UInt32.max)) }
        if let scenario { print("scenario \(scenario.name)\(scenario.description.isEmpty ? "" : ": \(scenario.description)")") }
        if !settings.contains(.seed) { print("seed \(configuration.seed) (replay with --seed \(configuration.seed))") }
        StopRequest.installSignalHandlers()
        var torture = TortureRun(configuration: configuration)
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
