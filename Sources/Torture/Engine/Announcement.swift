#if canImport(Glibc)
import Glibc
#endif

/// `--announce-to`: a second place a run's first violation is written the moment it is seen (the lab gives
/// /dev/kmsg, whose records reach the serial console synchronously). The run's own: opened before it touches KVM
/// (a path it cannot open ends the run there, exit 73: the lab would otherwise wait for a line that never comes),
/// closed with it.
final class Announcement: Sendable {
    private let descriptor: Int32
    /// /dev/kmsg takes one record per write; "<2>" (critical) puts it on every console at once.
    private let isKmsg: Bool

    init(path: String) throws(HostCallError) {
        descriptor = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw HostCallError("open", errno: errno, context: "--announce-to \(path)", hint: "name a file this user can write, such as /dev/kmsg (as root)")
        }
        isKmsg = path == "/dev/kmsg"
    }

    deinit { close(descriptor) }

    /// One write: the line whole, or nothing (a full console drops it; standard error has it too).
    func write(_ line: String) {
        let record = isKmsg ? "<2>" + line : line
        record.withCString { _ = Glibc.write(descriptor, $0, strlen($0)) }
    }
}
