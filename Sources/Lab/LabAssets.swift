import Foundation
import Torture

/// The lab's shell steps (fetch, build-variant, initramfs), its guest init and its mutants: the top-level `lab/`
/// folder of the source tree, found beside the binary or given with `--assets`.
public struct LabAssets: Sendable {
    public let directory: URL

    /// `lab/` given explicitly, or found by walking up from the executable and from the working directory.
    public static func locate(_ explicit: String?) throws -> LabAssets {
        if let explicit {
            let url = URL(fileURLWithPath: explicit)
            guard FileManager.default.fileExists(atPath: url.appendingPathComponent("fetch.sh").path) else {
                throw LabError.usage("--assets \(explicit): no fetch.sh there; give the lab/ folder of an mmutorture source tree")
            }
            return LabAssets(directory: url)
        }
        let starts = [URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent(),
                      URL(fileURLWithPath: FileManager.default.currentDirectoryPath)]
        for start in starts {
            var directory = start
            for _ in 0..<6 {
                let candidate = directory.appendingPathComponent("lab")
                if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("fetch.sh").path) {
                    return LabAssets(directory: candidate)
                }
                directory.deleteLastPathComponent()
            }
        }
        throw LabError.usage("the lab/ folder was not found beside the binary or the working directory; run from the source tree or give --assets DIR")
    }

    /// The source tree the assets belong to (where `swift build` makes the guest's binary).
    public var packageRoot: URL { directory.deletingLastPathComponent() }
    public func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// Runs one of the lab's scripts: its stderr (progress, errors) goes to ours, its stdout is returned. A
    /// script's sysexits code (64, 65, 69, 70) becomes the lab's, with its message already printed.
    @discardableResult
    public func run(_ script: String, _ arguments: [String]) throws -> String {
        try LabProcess.output(path(script), arguments, what: script)
    }
}

/// Child processes of the lab: their stdout captured, stderr passed through, a failure turned into a `LabError`.
enum LabProcess {
    static func output(_ executable: String, _ arguments: [String], what: String, environment: [String: String]? = nil) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.standardError
        do { try process.run() } catch {
            throw LabError.unavailable("\(what) could not be started: \(error.localizedDescription)")
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let status = process.terminationStatus
        guard status == 0 else {
            switch status {
            case ExitStatus.usage.rawValue: throw LabError.usage("\(what) was called wrongly (exit 64)")
            case ExitStatus.dataError.rawValue: throw LabError.badInput("\(what) refused its input (exit 65; the reason is printed above)")
            case ExitStatus.unavailable.rawValue: throw LabError.unavailable("\(what) needs something this host lacks (exit 69; what, and the fix, above)")
            default: throw LabError.failed("\(what) failed with exit \(status) (its output is above)")
            }
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// The first executable called `name` in a directory of PATH.
    static func onPath(_ name: String) -> String? {
        (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
            .map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// `key=value` lines of a script's output.
    static func keyValues(_ text: String) -> [String: String] {
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            values[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return values
    }
}

/// What can stop the lab before it has rows to report, each with its sysexits code.
public enum LabError: Error, CustomStringConvertible {
    case usage(String)
    case badInput(String)
    case unavailable(String)
    case failed(String)
    /// A file or directory the lab must write cannot be made.
    case cannotCreate(String)

    public var exitCode: Int32 {
        switch self {
        case .usage: ExitStatus.usage.rawValue
        case .badInput: ExitStatus.dataError.rawValue
        case .unavailable: ExitStatus.unavailable.rawValue
        case .failed: ExitStatus.software.rawValue
        case .cannotCreate: ExitStatus.cannotCreate.rawValue
        }
    }

    public var description: String {
        switch self {
        case .usage(let text), .badInput(let text), .unavailable(let text), .failed(let text), .cannotCreate(let text): text
        }
    }
}
