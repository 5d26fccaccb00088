import ArgumentParser
import Foundation
import Bench
import Torture

// `mmutorture bench`: which sections, how long, where the results go; the table and the targets printed.
extension Benchmark.Section: ExpressibleByArgument {}

/// `mmutorture bench`: throughput, Swift/C ratios, detection latency, setup cost, scale.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure the harness: exit round trips and mutator steps against a C baseline, checks/s, detection latency, setup cost, 64 vCPUs.")

    @Option(help: "Seconds per torture measurement.")
    var seconds: Double = 5

    @Option(parsing: .upToNextOption, help: "Measure only these sections: \(Benchmark.Section.allCases.map(\.rawValue).joined(separator: ", ")) (default: all).")
    var only: [Benchmark.Section] = []

    @Option(help: "Write the results as JSON here.")
    var json: String?

    @Option(help: "KVM device path.")
    var device: String = "/dev/kvm"

    func validate() throws {
        guard seconds > 0 else { throw ValidationError("--seconds: \(seconds) is not a positive number of seconds") }
    }

    func run() throws {
        var bench = Benchmark()
        bench.seconds = seconds
        bench.devicePath = device
        if !only.isEmpty { bench.sections = Set(only) }
        bench.log = { FileHandle.standardError.write(Data("bench: \($0)\n".utf8)) }
        let results: Benchmark.Results
        do { results = try bench.run() } catch let error as TortureRun.SetupError {
            FileHandle.standardError.write(Data("mmutorture: \(error)\n".utf8))
            throw ExitCode(error.exitCode)
        }
        print(results.table)
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(results).write(to: URL(fileURLWithPath: json))
        }
    }
}
