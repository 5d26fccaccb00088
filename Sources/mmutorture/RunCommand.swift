import ArgumentParser
import Foundation
import Torture

extension Torture.Operation: ExpressibleByArgument {}
extension BackingKind: ExpressibleByArgument {}
extension Injection: ExpressibleByArgument {}
extension TortureConfiguration.GuestPageSize: ExpressibleByArgument {}
extension CheckerMode: ExpressibleByArgument {}

/// `mmutorture run`: one torture run, a summary on stdout, optionally a JSON report.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the stale-read and lost-write torture against /dev/kvm.",
        discussion: """
            Exit codes: 0 pass (or an injected fault caught), 1 violation found, 2 not exercised, \
            3 injected fault missed, 64 usage error, 69 KVM unavailable, 70 harness error.
            """)

    @Option(help: "Invalidation to perform: \(Torture.Operation.allCases.map(\.rawValue).joined(separator: ", ")).")
    var op: Torture.Operation = .dontneed

    @Option(help: "Data backing: \(BackingKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var backing: BackingKind = .anonymous

    @Option(help: "What the checker vCPUs do: read (stale reads), write (lost writes), or both.")
    var mode: CheckerMode = .both

    @Option(help: "Data pages (4 KiB each).")
    var pages: Int = 256

    @Option(help: "Checker vCPUs.")
    var vcpus: Int = 1

    @Option(help: "Seconds to run.")
    var duration: Double = 10

    @Option(help: "Seed for the host-side schedule (random when omitted; always printed).")
    var seed: UInt64?

    @Option(name: .customLong("guest-page-size"), help: "Guest mapping of the data: 4k or 2m.")
    var guestPageSize: TortureConfiguration.GuestPageSize = .size4K

    @Option(help: "Negative control to inject: \(Injection.allCases.map(\.rawValue).joined(separator: ", ")).")
    var inject: Injection = .none

    @Flag(name: .customLong("no-pin"), help: "Do not pin the mutator and vCPUs to different CPUs (the run may then prove nothing).")
    var noPin = false

    @Option(name: .customLong("fault-window-us"), help: "Microseconds a must-fault window stays open.")
    var faultWindow: Int = 300

    @Option(name: .customLong("window-us"), help: "Microseconds a must-read-zero or content-kept window stays open.")
    var window: Int = 5

    @Option(help: "Write the JSON report here.")
    var report: String?

    @Option(help: "KVM device path.")
    var device: String = "/dev/kvm"

    @Flag(help: "No progress lines.")
    var quiet = false

    func validate() throws {
        do { try makeConfiguration(seed: 0).validate() } catch { throw ValidationError(error.description) }
    }

    func makeConfiguration(seed: UInt64) -> TortureConfiguration {
        var c = TortureConfiguration()
        c.operation = op
        c.backing = backing
        c.pages = pages
        c.vcpus = vcpus
        c.duration = duration
        c.seed = seed
        c.guestPageSize = guestPageSize
        c.injection = inject
        c.mode = mode
        c.pin = !noPin
        c.faultWindowMicroseconds = faultWindow
        c.windowMicroseconds = window
        c.devicePath = device
        return c
    }

    func run() throws {
        let chosenSeed = seed ?? UInt64.random(in: 1...UInt64(UInt32.max))
        if seed == nil { print("seed \(chosenSeed) (replay with --seed \(chosenSeed))") }
        StopRequest.installSignalHandlers()
        var torture = TortureRun(configuration: makeConfiguration(seed: chosenSeed))
        if !quiet { torture.progress = { line in FileHandle.standardError.write(Data((line + "\n").utf8)) } }
        let result: RunReport
        do {
            result = try torture.run()
        } catch {
            FileHandle.standardError.write(Data("mmutorture: \(error)\n".utf8))
            throw ExitCode(error.exitCode)
        }
        print(result.summary)
        if let report {
            do {
                try result.write(to: report)
                print("report: \(report)")
            } catch {
                FileHandle.standardError.write(Data("mmutorture: cannot write the report to \(report): \(error)\n".utf8))
                throw ExitCode(Verdict.harnessError.exitCode)
            }
        }
        if result.exitCode != 0 { throw ExitCode(result.exitCode) }
    }
}
