import ArgumentParser
import Foundation
import Torture

/// `mmutorture doctor`: can this host run the torture, and what will it exercise?
struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check the host: KVM device, capabilities, MMU mode, CPUs, THP, hugetlb, swap; which operations will be exercised.",
        discussion: "Exit code 0: a run can proceed. 69: it cannot (the output says why and how to fix it).")

    @Option(help: "KVM device path.")
    var device: String = "/dev/kvm"

    @Flag(help: "Print the findings as JSON.")
    var json = false

    @Flag(help: "Put back the system-wide settings (ksmd's, a memory cgroup) that a run killed before it could undo them left changed, as journaled in /run/mmutorture, and exit.")
    var restore = false

    func run() throws {
        if restore {
            do {
                let changes = try SystemChanges()
                print(changes.restoredLeftovers.isEmpty ? "nothing to restore: no run left system settings changed" : changes.restoredLeftovers.joined(separator: "\n"))
            } catch {
                StandardStreams.error("mmutorture doctor: \(error)\n")
                throw ExitCode(error.exitCode)
            }
            return
        }
        let report = DoctorReport.examine(devicePath: device)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.text)
        }
        if report.exitCode != 0 { throw ExitCode(report.exitCode) }
    }
}
