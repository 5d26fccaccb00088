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
        if let json {
            // Before minutes of measuring: a path that cannot be written is said now.
            do { try AtomicFile.checkWritable(json) } catch {
                StandardStreams.error("mmutorture: cannot write \(json): \(error.problem)\n")
                throw ExitCode(ExitStatus.cannotCreate.rawValue)
            }
        }
        var bench = Benchmark()
        bench.seconds = seconds
        bench.devicePath = device
        if !only.isEmpty { bench.sections = Set(only) }
        bench.log = { StandardStreams.error("bench: \($0)\n") }
        let results: Benchmark.Results
        do { results = try bench.run() } catch let error as TortureRun.SetupError {
            StandardStreams.error("mmutorture: \(error)\n")
            throw ExitCode(error.exitCode)
        }
        print(results.table)
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            do { try AtomicFile.write(try encoder.encode(results), to: json) } catch {
                StandardStreams.error("mmutorture: cannot write \(json): \(error)\n")
                throw ExitCode(ExitStatus.cannotCreate.rawValue)
            }
        }
    }
}
