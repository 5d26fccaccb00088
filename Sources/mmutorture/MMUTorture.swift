import ArgumentParser
import Foundation
import Torture

/// `mmutorture`: proves or refutes that once munmap/madvise/mprotect return, no vCPU can still reach the old page.
@main
struct MMUTorture: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mmutorture",
        abstract: "Torture KVM's mmu-notifier invalidations and report whether any vCPU reached an invalidated page.",
        version: RunReport.toolVersion,
        subcommands: [RunCommand.self, DoctorCommand.self, ReportCommand.self, BenchCommand.self, LabCommand.self])

    /// Bare `mmutorture` prints the help: a torture run is something one asks for (`mmutorture run`).
    func run() throws { print(Self.helpMessage()) }

    static func main() {
        // A closed pipe on stdout or stderr (`run … | head`) is an EPIPE each write shrugs off, not the end of a
        // run that has system changes to undo and a report to write.
        StandardStreams.ignoreBrokenPipes()
        do {
            var command = try parseAsRoot(joiningNegativeNumbers(Array(CommandLine.arguments.dropFirst())))
            try command.run()
        } catch {
            exit(withError: error)
        }
    }

    /// `--pages -1` reaches the parser as an option "-1" and would be "missing a value": joined into `--pages=-1`,
    /// it is judged as the number it is, like every other out-of-range value. (No option's name is a number.)
    static func joiningNegativeNumbers(_ arguments: [String]) -> [String] {
        var joined: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument.hasPrefix("--"), !argument.contains("="), index + 1 < arguments.count,
               arguments[index + 1].count > 1, arguments[index + 1].hasPrefix("-"), Double(arguments[index + 1]) != nil {
                joined.append("\(argument)=\(arguments[index + 1])")
                index += 2
            } else {
                joined.append(argument)
                index += 1
            }
        }
        return joined
    }
}
