#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Standard output and error as a run writes them: a closed pipe (`run … | head`), a hung-up terminal (an ssh drop:
/// EIO) or a full disk must never stop a run before it has undone its system changes and written its report. A write
/// that fails that way ends the printing to that stream, silently; a signal that interrupts it (EINTR) is retried.
/// SIGPIPE is ignored (``ignoreBrokenPipes()``), so a closed pipe is an EPIPE here, not the end of the process.
public enum StandardStreams {
    /// Streams (a bit per descriptor below 8) a write failed on for good: nothing more is written to them.
    private static let closed = Atomic<UInt8>(0)

    /// SIGPIPE's default action ends the process at the first write to a closed pipe: ignore it, at start.
    public static func ignoreBrokenPipes() { signal(SIGPIPE, SIG_IGN) }

    public static func error(_ text: String) { write(text, to: STDERR_FILENO) }
    public static func output(_ text: String) { write(text, to: STDOUT_FILENO) }

    /// The whole of `text` to `descriptor`, resumed after partial writes and EINTR; false once the stream is gone.
    @discardableResult
    public static func write(_ text: String, to descriptor: Int32) -> Bool {
        let bit: UInt8 = descriptor >= 0 && descriptor < 8 ? 1 << UInt8(descriptor) : 0
        if closed.load(ordering: .relaxed) & bit != 0 { return false }
        guard DescriptorIO.writeAll(descriptor, text) == nil else {
            closed.bitwiseOr(bit, ordering: .relaxed)
            return false
        }
        return true
    }
}
