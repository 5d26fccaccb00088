import Foundation

/// Reads files under /proc and /sys whole. They report a size of 0 (or of one page) to stat, and
/// `String(contentsOfFile:)` trusts that size and truncates them: /proc/self/smaps came back 3790 characters of
/// 81258. Reading to end of file gets all of it.
enum ProcFile {
    static func read(_ path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        return String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
    }
}
