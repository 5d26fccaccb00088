#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Writes Codable values as pretty JSON, atomically: a temporary file in the same directory, then rename, so a
/// reader never sees a torn file. Only a regular file (or a new path) is ever replaced: a device node, FIFO,
/// directory or symbolic link given as the path is refused, never turned into a regular file.
public enum AtomicFile {
    static func write<T: Encodable>(_ value: T, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try write(try encoder.encode(value), to: path)
    }

    static func write(_ data: Data, to path: String) throws {
        try checkWritable(path)
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
        guard FileManager.default.createFile(atPath: temporary.path, contents: data) else {
            throw ReportError(path: path, problem: "cannot be written: creating \(temporary.path) failed (\(String(cString: strerror(errno))))")
        }
        if rename(temporary.path, url.path) != 0 {
            let error = errno
            try? FileManager.default.removeItem(at: temporary)
            throw ReportError(path: path, problem: "cannot be written: \(String(cString: strerror(error)))")
        }
    }

    /// Whether a report can be written at `path`, checked before a run starts (so that a long run does not end
    /// in an unwritable report): the directory exists and is writable, and the path is new or a regular file.
    public static func checkWritable(_ path: String) throws(ReportError) {
        var status = stat()
        if lstat(path, &status) == 0 && status.st_mode & S_IFMT != S_IFREG {
            throw ReportError(path: path, problem: "is not a regular file (a device, FIFO, directory or symbolic link), and writing a report would replace it; name a regular file or a new path")
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ReportError(path: path, problem: "cannot be written: the directory \(directory) does not exist; create it or name another path")
        }
        guard access(directory, W_OK) == 0 else {
            throw ReportError(path: path, problem: "cannot be written: the directory \(directory) is not writable (\(String(cString: strerror(errno))))")
        }
    }
}

/// An exclusive claim on a report path for the length of a run: a second run given the same `--report` fails at
/// once instead of one report silently replacing the other. A lock file beside the report (`.NAME.lock`, holding
/// the owner's pid) carries a `flock`, which the kernel drops when the process ends, however it ends.
public final class ReportLock {
    private let descriptor: Int32
    private let lockPath: String

    public init(reportPath: String) throws(ReportError) {
        let url = URL(fileURLWithPath: reportPath)
        lockPath = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).lock").path
        descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw ReportError(path: reportPath, problem: "cannot be locked: \(lockPath): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let owner = (try? String(contentsOfFile: lockPath, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            close(descriptor)
            throw ReportError(path: reportPath, problem: "is being written by another mmutorture run (pid \(owner)); wait for it to end, or name another report")
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(descriptor, 0)
        _ = pid.withCString { write(descriptor, $0, strlen($0)) }
    }

    deinit {
        unlink(lockPath)
        close(descriptor)
    }
}
