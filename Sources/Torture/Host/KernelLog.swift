#if canImport(Glibc)
import Glibc
#endif

/// New kernel log lines during a run that report a kernel problem (`WARNING:`, `BUG:`, `Call Trace`): a kernel
/// warning during a torture run is a finding, not noise. Read from /dev/kmsg where permitted.
final class KernelLog {
    private let fd: Int32
    /// Why the log cannot be read, if it cannot.
    let problem: String?

    /// Opens /dev/kmsg positioned at its end, so only what the kernel logs from now on is read.
    init(path: String = "/dev/kmsg") {
        fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        problem = fd < 0 ? "\(path) cannot be read (errno \(errno)): kernel warnings are not captured" : nil
        if fd >= 0 { lseek(fd, 0, SEEK_END) }
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Every record logged since the last call.
    func newRecords() -> [String] {
        guard fd >= 0 else { return [] }
        var records: [String] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                records.append(String(decoding: buffer[0..<count], as: UTF8.self))
            } else if count < 0 && errno == EPIPE {
                continue  // records were overwritten before we read them; go on with the next
            } else {
                return records
            }
        }
    }

    /// The lines among `records` that report a kernel problem, with the /dev/kmsg prefix
    /// ("level,sequence,timestamp,flags;") removed.
    static func findings(in records: [String]) -> [String] {
        records.flatMap { $0.split(separator: "\n") }
            .map { line in line.firstIndex(of: ";").map { String(line[line.index(after: $0)...]) } ?? String(line) }
            .filter { $0.contains("WARNING:") || $0.contains("BUG:") || $0.contains("Call Trace") }
    }
}
