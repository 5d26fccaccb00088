import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Reads files under /proc and /sys whole, and writes their settings. They report a size of 0 (or of one page) to stat, and
/// `String(contentsOfFile:)` trusts that size and truncates them: /proc/self/smaps came back 3790 characters of
/// 81258. Reading to end of file gets all of it (``DescriptorIO``: Foundation's reader traps on a read error).
enum ProcFile {
    static func read(_ path: String) -> String? {
        DescriptorIO.readFile(path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// A one-value file (a /sys setting or counter) without its trailing newline, or nil if it cannot be read.
    static func value(_ path: String) -> String? {
        read(path)?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Writes `value` to a /proc, /sys or cgroup file in one write(2), as the kernel wants; false (errno set) if
    /// the file cannot be opened or the kernel refuses the value.
    static func write(_ value: String, to path: String) -> Bool {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return value.withCString { Glibc.write(fd, $0, strlen($0)) } == value.utf8.count
    }
}
