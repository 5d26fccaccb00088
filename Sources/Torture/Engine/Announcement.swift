#if canImport(Glibc)
import Glibc
#endif

/// `--announce-to`: a second place a run's first violation is written the moment it is seen (the lab gives
/// /dev/kmsg, whose records reach the serial console synchronously). The run's own: opened when it begins, closed
/// with it.
final class Announcement: Sendable {
    private let descriptor: Int32
    /// /dev/kmsg takes one record per write; "<2>" (critical) puts it on every console at once.
    private let isKmsg: Bool

    init?(path: String) {
        descriptor = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        isKmsg = path == "/dev/kmsg"
    }

    deinit { close(descriptor) }

    /// One write: the line whole, or nothing (a full console drops it; standard error has it too).
    func write(_ line: String) {
        let record = isKmsg ? "<2>" + line : line
        record.withCString { _ = Glibc.write(descriptor, $0, strlen($0)) }
    }
}
