import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Reads a file a user named (a report, a scenario, a patch), or says why it cannot, before opening it: Foundation's
/// own errors call a FIFO "You don't have permission" and a directory "error 256", and a device may never end.
package enum ReadableFile {
    /// Why there are no bytes: "cannot be read: " and the reason, for the caller's own error to carry.
    package struct Unreadable: Error {
        package let problem: String
    }

    /// The bytes of the regular file at `path`; `document` names what it should be ("a directory, not a report file").
    package static func contents(_ path: String, document: String) throws(Unreadable) -> Data {
        if let problem = problem(path, document: document) { throw Unreadable(problem: problem) }
        // The checks passed: a read that still fails has no errno of its own from Foundation to quote.
        guard let data = FileManager.default.contents(atPath: path) else { throw Unreadable(problem: "cannot be read: reading it failed") }
        return data
    }

    /// Nil when `path` is a regular file this process may read; else "cannot be read: " and why.
    private static func problem(_ path: String, document: String) -> String? {
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
