import ArgumentParser

/// `mmutorture`: proves or refutes that once munmap/madvise/mprotect return, no vCPU can still reach the old page.
@main
struct MMUTorture: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mmutorture",
        abstract: "Torture KVM's mmu-notifier invalidations and report whether any vCPU reached an invalidated page.",
        subcommands: [RunCommand.self, DoctorCommand.self, ReportCommand.self, BenchCommand.self, LabCommand.self],
        defaultSubcommand: RunCommand.self)
}
