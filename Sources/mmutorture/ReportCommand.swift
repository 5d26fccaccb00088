import ArgumentParser
import Foundation
import Torture

/// `mmutorture report`: read reports written by `run --report`.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Inspect memory-integrity reports.", subcommands: [Show.self])

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the human summary of a JSON report.")

        @Argument(help: "A report written by `mmutorture run --report`.")
        var file: String

        func run() throws {
            do {
                print(try RunReport.read(from: file).summary)
            } catch {
                FileHandle.standardError.write(Data("mmutorture: \(error)\n".utf8))
                throw ExitCode(65)  // EX_DATAERR
            }
        }
    }
}
