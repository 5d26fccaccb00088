#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Writes every file the tool outputs (reports, renderings, bench results), atomically: a new temporary file in the
/// same directory (never one that was there: a planted link is not followed), synced, renamed over the path, and the
/// directory synced, so a reader never sees a torn file and a host panic (which this tool can cause) does not lose
/// the last one written. Only a regular file (or a new path) is ever replaced, keeping its permissions: a device
/// node, FIFO, directory or symbolic link given as the path is refused, never turned into a regular file.
public enum AtomicFile {
    static func write<T: Encodable>(_ value: T, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try write(try encoder.encode(value), to: path)
    }

    public static func write(_ data: Data, to path: String) throws(ReportError) {
        try checkWritable(path)
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp").path
        var existing = stat()
        let mode = stat(path, &existing) == 0 ? existing.st_mode & 0o7777 : 0o644
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw ReportError(path: path, problem: "cannot be written: creating \(temporary) failed (\(String(cString: strerror(errno))))")
        }
        fchmod(fd, mode)  // the umask narrowed open's mode; a replaced report keeps the old one
        let failure = data.withUnsafeBytes { DescriptorIO.writeAll(fd, $0) } ?? (fsync(fd) == 0 ? nil : errno)
        close(fd)
        if let failure {
            unlink(temporary)
            throw ReportError(path: path, problem: "cannot be written: \(String(cString: strerror(failure)))")
        }
        if rename(temporary, path) != 0 {
            let error = errno
            unlink(temporary)
            throw ReportError(path: path, problem: "cannot be written: \(String(cString: strerror(error)))")
        }
        let directoryDescriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryDescriptor >= 0 { fsync(directoryDescriptor); close(directoryDescriptor) }
    }

    /// Refuses an output that is one of the inputs (the same file, by device and inode, whatever the path says), as
    /// `sort -o` does: writing it would destroy what is being read.
    public static func checkNotAnInput(_ output: String, inputs: [String]) throws(ReportError) {
        var out = stat()
        guard stat(output, &out) == 0 else { return }
        for input in inputs {
            var status = stat()
            if stat(input, &status) == 0 && status.st_dev == out.st_dev && status.st_ino == out.st_ino {
                throw ReportError(path: output, problem: "is also an input (\(input)); writing it would destroy what is read: name another output")
            }
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
/// once instead of one report silently replacing the other. The claim is a ``LockFile`` beside the report
/// (`.NAME.lock`), removed only by the run that holds it: a run refused the lock leaves the owner's file alone (it
/// once removed it, and a third run then wrote beside the first).
public final class ReportLock {
    private let lock: LockFile

    public init(reportPath: String) throws(ReportError) {
        let url = URL(fileURLWithPath: reportPath)
        let lockPath = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).lock").path
        switch LockFile.claim(lockPath, mode: 0o644) {
        case .success(let lock): self.lock = lock
        case .failure(.cannotOpen(let reason)):
            throw ReportError(path: reportPath, problem: "cannot be locked: \(lockPath): \(reason)")
        case .failure(.notARegularFile):
            throw ReportError(path: reportPath, problem: "cannot be locked: \(lockPath) is not a regular file; remove it")
        case .failure(.held(let owner)):
            throw ReportError(path: reportPath, problem: "is being written by another mmutorture run (pid \(owner)); wait for it to end, or name another report")
        }
    }

    deinit { lock.release(removing: true) }
}
