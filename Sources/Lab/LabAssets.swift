import Foundation
import Torture

/// The lab's shell steps (fetch, build-variant, initramfs), its guest init, its instrumentation and its mutants:
/// the top-level `lab/` folder of the source tree. The lab runs them as whoever runs it (root, often), so they are
/// looked for only where the binary's own installation says, never from the working directory, and refused when
/// another user could have written them (``TrustedPath``).
public struct LabAssets: Sendable {
    public let directory: URL

    /// `lab/` given explicitly, else the first of: `PREFIX/share/mmutorture/lab` beside an installed binary
    /// (`PREFIX/bin/mmutorture`), and the source tree this binary was built from.
    public static func locate(_ explicit: String?, executable: String = "/proc/self/exe", sourceFile: String = #filePath) throws -> LabAssets {
        let assets: LabAssets
        if let explicit {
            let url = URL(fileURLWithPath: explicit)
            guard FileManager.default.fileExists(atPath: url.appendingPathComponent("fetch.sh").path) else {
                throw LabError.usage("--assets \(explicit): no fetch.sh there; give the lab/ folder of an mmutorture source tree")
            }
            assets = LabAssets(directory: url)
        } else {
            let candidates = installedCandidates(executable: executable, sourceFile: sourceFile)
            guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0.appendingPathComponent("fetch.sh").path) }) else {
                throw LabError.usage("the lab's assets were not found (looked in \(candidates.map(\.path).joined(separator: " and "))); "
                    + "install them with the binary (README: Installation) or give --assets DIR")
            }
            assets = LabAssets(directory: found)
        }
        try assets.checkTrusted()
        return assets
    }

    /// Where an installation keeps the assets: beside the binary's prefix, then the source tree it was built from.
    static func installedCandidates(executable: String, sourceFile: String) -> [URL] {
        let binary = URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent()
        let sourceTree = URL(fileURLWithPath: sourceFile).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return [binary.deletingLastPathComponent().appendingPathComponent("share/mmutorture/lab").standardized,
                sourceTree.appendingPathComponent("lab").standardized]
    }

    /// Refuses assets another user could have written: the lab runs its scripts, patches the kernel with its
    /// patches and builds the source tree's manifest, as its caller.
    func checkTrusted() throws {
        var problems = [TrustedPath.problemInTree(directory.path)]
        let scenarios = packageRoot.appendingPathComponent("scenarios").path
        if FileManager.default.fileExists(atPath: scenarios) { problems.append(TrustedPath.problemInTree(scenarios)) }
        let manifest = packageRoot.appendingPathComponent("Package.swift").path
        if FileManager.default.fileExists(atPath: manifest) { problems.append(TrustedPath.problem(manifest)) }
        if let problem = problems.compactMap({ $0 }).first {
            throw LabError.untrusted("the lab's assets in \(directory.path) are not safe to run: \(problem); "
                + "use assets only root or you can write (chmod go-w, chown), or give --assets a copy that is")
        }
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
        let data = DescriptorIO.readToEnd(pipe.fileHandleForReading.fileDescriptor)
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
    /// What the lab would run, source or build could have been written by another user.
    case untrusted(String)

    public var exitCode: Int32 {
        switch self {
        case .usage: ExitStatus.usage.rawValue
        case .badInput: ExitStatus.dataError.rawValue
        case .unavailable: ExitStatus.unavailable.rawValue
        case .failed: ExitStatus.software.rawValue
        case .cannotCreate: ExitStatus.cannotCreate.rawValue
        case .untrusted: ExitStatus.noPermission.rawValue
        }
    }

    public var description: String {
        switch self {
        case .usage(let text), .badInput(let text), .unavailable(let text), .failed(let text), .cannotCreate(let text), .untrusted(let text): text
        }
    }
}
