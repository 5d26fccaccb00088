#if canImport(Glibc)
import Glibc
#endif

/// Why a file a user named (a report, a scenario, a patch) cannot be read, said before reading it: Foundation's
/// own errors call a FIFO "You don't have permission" and a directory "error 256", and a device may never end.
package enum ReadableFile {
    /// Nil when `path` is a regular file this process may read; else "cannot be read: " and why.
    package static func problem(_ path: String, document: String) -> String? {
        var status = stat()
        guard stat(path, &status) == 0 else {
            return "cannot be read: " + (errno == ENOENT ? "it does not exist" : String(cString: strerror(errno)))
        }
        switch status.st_mode & S_IFMT {
        case S_IFDIR: return "cannot be read: it is a directory, not a \(document)"
        case S_IFREG: return access(path, R_OK) == 0 ? nil : "cannot be read: \(String(cString: strerror(errno)))"
        default: return "cannot be read: it is not a regular file (a device, FIFO or socket), not a \(document)"
        }
    }
}
