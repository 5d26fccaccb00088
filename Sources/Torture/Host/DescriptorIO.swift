#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Whole reads and writes on a file descriptor: the one place that loops over partial transfers and retries EINTR
/// (a signal the run installs with SA_RESTART still interrupts some reads). Foundation's `readDataToEndOfFile` and
/// `write(_:)` trap on an I/O error (an EIO from a sysfs file, a closed pipe), so nothing here uses them.
public enum DescriptorIO {
    /// Writes all of `bytes`; nil when done, else the errno that stopped it (EPIPE, EIO, ENOSPC, …).
    public static func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32? {
        var offset = 0
        while offset < bytes.count {
            let count = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if count > 0 { offset += count; continue }
            if count < 0 && errno == EINTR { continue }
            return count < 0 ? errno : EIO
        }
        return nil
    }

    /// Writes all of `text` (UTF-8); nil when done, else the errno that stopped it.
    public static func writeAll(_ descriptor: Int32, _ text: String) -> Int32? {
        Array(text.utf8).withUnsafeBytes { writeAll(descriptor, $0) }
    }

    /// Everything the descriptor delivers until end of file (or a pipe's writer closes it); at any error other
    /// than EINTR, what it had.
    public static func readToEnd(_ descriptor: Int32) -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count > 0 { data.append(contentsOf: buffer[0..<count]); continue }
            if count < 0 && errno == EINTR { continue }
            return data
        }
    }

    /// A whole file read through one descriptor, or nil if it cannot be opened.
    public static func readFile(_ path: String) -> Data? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        return readToEnd(descriptor)
    }
}
