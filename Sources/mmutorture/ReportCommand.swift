import ArgumentParser
import Foundation
import Torture

/// `mmutorture report`: read, render, compare and merge reports written by `run --report`.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Inspect, render, compare and merge memory-integrity reports.",
        subcommands: [Show.self, HTML.self, JUnit.self, TAP.self, Diff.self, Merge.self])

    /// Bad report files exit 65 (EX_DATAERR) with the problem named; unwritable output 73 (EX_CANTCREAT).
    static func load(_ path: String) throws -> ReportFile {
        do { return try ReportFile.read(from: path) } catch {
            StandardStreams.error("mmutorture: \(error)\n")
            throw ExitCode(ExitStatus.dataError.rawValue)
        }
    }

    /// `-o`: never one of the inputs, written through the same atomic writer as `run --report` (so never through a
    /// link, into a device, or torn).
    static func output(_ text: String, to path: String?, inputs: [String]) throws {
        guard let path else { return print(text, terminator: text.hasSuffix("\n") ? "" : "\n") }
        do {
            try AtomicFile.checkNotAnInput(path, inputs: inputs)
            try AtomicFile.write(Data(text.utf8), to: path)
        } catch {
            StandardStreams.error("mmutorture: cannot write \(path): \(error.problem)\n")
            throw ExitCode(ExitStatus.cannotCreate.rawValue)
        }
    }

    /// `report merge -o` is checked before anything is read.
    static func checkOutput(_ path: String, inputs: [String]) throws {
        do { try AtomicFile.checkNotAnInput(path, inputs: inputs); try AtomicFile.checkWritable(path) } catch {
            StandardStreams.error("mmutorture: cannot write \(path): \(error.problem)\n")
            throw ExitCode(ExitStatus.cannotCreate.rawValue)
        }
    }

    /// Renders the report in `file` (a lab report with `lab`, any other with `runs`) to `output`, or stdout.
    static func render(_ file: String, to output: String?, lab: (LabReport) -> String, runs: ([RunReport]) -> String) throws {
        let report = try load(file)
        if case .lab(let labReport) = report { return try self.output(lab(labReport), to: output, inputs: [file]) }
        try self.output(runs(report.runs), to: output, inputs: [file])
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the human summary of a report (also a merged one).")
        @Argument(help: "A report written by `mmutorture run --report` or `report merge`.") var file: String
        @Flag(help: "Leave out the legend of the summary's terms.") var noLegend = false
        func run() throws {
            let report = try ReportCommand.load(file)
            print(TextSafety.terminal(report.summary))
            if case .lab = report {} else if !noLegend { print("\n" + RunReport.legend) }
        }
    }

    struct HTML: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "html", abstract: "Render a report as one self-contained HTML page with SVG charts.")
        @Argument(help: "A report.") var file: String
        @Option(name: .short, help: "Where to write the HTML (default: standard output).") var output: String?
        func run() throws {
            let title = "mmutorture report: \(URL(fileURLWithPath: file).lastPathComponent)"
            try ReportCommand.render(file, to: output, lab: { HTMLRenderer.render(lab: $0, title: title) }, runs: { HTMLRenderer.render($0, title: title) })
        }
    }

    struct JUnit: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "junit", abstract: "Render a report as JUnit XML (a test case per operation and backing).")
        @Argument(help: "A report.") var file: String
        @Option(name: .short, help: "Where to write the XML (default: standard output).") var output: String?
        func run() throws { try ReportCommand.render(file, to: output, lab: JUnitRenderer.render, runs: JUnitRenderer.render) }
    }

    struct TAP: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "tap", abstract: "Render a report as KTAP, the kernel's test output format (a test point per operation and run).")
        @Argument(help: "A report.") var file: String
        @Option(name: .short, help: "Where to write the KTAP (default: standard output).") var output: String?
        func run() throws { try ReportCommand.render(file, to: output, lab: KTAPRenderer.render, runs: KTAPRenderer.render) }
    }

    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show what changed between two runs (verdict, operations, rates, counters).")
        @Argument(help: "The first report.") var a: String
        @Argument(help: "The second report.") var b: String
        func run() throws {
            guard case .run(let left) = try ReportCommand.load(a), case .run(let right) = try ReportCommand.load(b) else {
                StandardStreams.error("mmutorture: report diff compares the reports of two single runs, not merged ones\n")
                throw ExitCode(ExitStatus.dataError.rawValue)
            }
            print(TextSafety.terminal(ReportDiff.render(left, right)))
        }
    }

    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Merge many reports (a CI matrix) into one, a row per run.")
        @Argument(help: "Reports to merge (merged ones are flattened).") var files: [String]
        @Option(name: .short, help: "Where to write the merged JSON report.") var output: String
        func validate() throws { if files.isEmpty { throw ValidationError("report merge: give at least one report file") } }
        func run() throws {
            try ReportCommand.checkOutput(output, inputs: files)
            let loaded = try files.map(ReportCommand.load)
            let labs = loaded.compactMap { if case .lab(let lab) = $0 { lab } else { nil } }
            if !labs.isEmpty {
                // Lab reports (the shards of one lab matrix) merge into one lab report.
                guard labs.count == loaded.count, let merged = LabReport.merging(labs) else {
                    StandardStreams.error("mmutorture: report merge: lab reports merge only with lab reports\n")
                    throw ExitCode(ExitStatus.dataError.rawValue)
                }
                do { try merged.write(to: output) } catch {
                    StandardStreams.error("mmutorture: cannot write \(output): \(error)\n")
                    throw ExitCode(ExitStatus.cannotCreate.rawValue)
                }
                print(TextSafety.terminal(merged.summary))
                if merged.exitCode != 0 { throw ExitCode(merged.exitCode) }
                return
            }
            var runs: [(String, RunReport)] = []
            for (file, report) in zip(files, loaded) { runs += report.runs.map { (file, $0) } }
            let merged = MergedReport(merging: runs)
            do { try merged.write(to: output) } catch {
                StandardStreams.error("mmutorture: cannot write \(output): \(error)\n")
                throw ExitCode(ExitStatus.cannotCreate.rawValue)
            }
            print(TextSafety.terminal(merged.summary))
        }
    }
}
