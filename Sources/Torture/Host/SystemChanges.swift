#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The system-wide state a run changes (ksmd's settings, a memory cgroup it makes), journaled under
/// `/run/mmutorture` before it changes, so that a run that could not undo it (SIGKILL, a crash, a host reset of the
/// tool's process) is undone by the next run that changes system state, or by `mmutorture doctor --restore`. One
/// lock held for the whole run keeps two runs from saving each other's changed values as the ones to put back.
public final class SystemChanges {
    public static let defaultDirectory = "/run/mmutorture"
    let directory: String
    private var lock: LockFile?
    /// What was put back from an earlier run's journal when this one took the lock (one line each).
    public private(set) var restoredLeftovers: [String] = []

    /// Takes the system-wide lock (or says who holds it) and puts back what an earlier run left changed.
    public init(directory: String = SystemChanges.defaultDirectory) throws(SystemChangesError) {
        self.directory = directory
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw SystemChangesError(.unavailable, "\(directory) cannot be made: \(String(cString: strerror(errno)))")
        }
        if let problem = TrustedPath.problem(directory) {
            throw SystemChangesError(.noPermission, "\(directory) holds the journal of system changes to undo, and \(problem); remove it (it is remade)")
        }
        let lockPath = directory + "/lock"
        switch LockFile.claim(lockPath, mode: 0o600) {
        case .success(let lock): self.lock = lock
        case .failure(.cannotOpen(let reason)):
            throw SystemChangesError(.unavailable, "\(lockPath) cannot be opened: \(reason)")
        case .failure(.notARegularFile):
            throw SystemChangesError(.noPermission, "\(lockPath) is not a regular file; remove it")
        case .failure(.held(let owner)):
            throw SystemChangesError(.busy, "another mmutorture run (pid \(owner)) has changed system-wide settings and will put them back; wait for it to end")
        }
        restoredLeftovers = Self.restoreLeftovers(in: directory)
    }

    deinit { release() }

    /// Lets the next run change system settings: called once this run has undone its changes (not left to deinit:
    /// something may keep this object alive, and the lock with it, long after the run).
    public func release() {
        lock?.release(removing: false)
        lock = nil
    }

    /// Journals the settings about to change (`path` and the value to put back), before any is changed.
    func journal(_ name: String, settings: [(path: String, value: String)]) {
        let text = settings.map { "\($0.path)=\($0.value)\n" }.joined()
        let path = "\(directory)/\(name).state", temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        _ = DescriptorIO.writeAll(fd, text)
        fsync(fd)
        close(fd)
        rename(temporary, path)
    }

    /// The change `name` was undone: its journal goes.
    func forget(_ name: String) { unlink("\(directory)/\(name).state") }

    /// Puts back every journaled setting (a `PATH=VALUE` line: the value written back to the file; a `rmdir=PATH`
    /// line: the directory removed), last line first; returns what it did.
    static func restoreLeftovers(in directory: String) -> [String] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".state") }.sorted()
        var done: [String] = []
        for name in names {
            let path = "\(directory)/\(name)"
            for line in (ProcFile.read(path) ?? "").split(separator: "\n").reversed() {
                guard let equals = line.firstIndex(of: "=") else { continue }
                let (key, value) = (String(line[..<equals]), String(line[line.index(after: equals)...]))
                if key == "rmdir" {
                    let removed = rmdir(value) == 0 || errno == ENOENT
                    done.append(removed ? "removed \(value), left by an earlier run" : "could not remove \(value), left by an earlier run: \(String(cString: strerror(errno)))")
                } else {
                    let written = ProcFile.write(value, to: key)
                    done.append(written ? "set \(key) back to \(value), left changed by an earlier run" : "could not set \(key) back to \(value) (errno \(errno))")
                }
            }
            unlink(path)
        }
        return done
    }
}

/// The system-wide lock or journal cannot be used.
public struct SystemChangesError: Error, CustomStringConvertible {
    public enum Kind: Sendable { case unavailable, noPermission, busy }
    public var kind: Kind
    public var description: String
    init(_ kind: Kind, _ description: String) { self.kind = kind; self.description = description }
    public var exitCode: Int32 {
        switch kind {
        case .unavailable: ExitStatus.unavailable.rawValue
        case .noPermission: ExitStatus.noPermission.rawValue
        case .busy: ExitStatus.temporaryFailure.rawValue
        }
    }
}
