#if canImport(Glibc)
import Glibc
#endif
import KVM

/// A system call the harness made on this host that failed (mmap, madvise, fork, memfd_create,
/// pthread_setaffinity_np, …): the harness's own, where a ``KVMError`` is a KVM ioctl's. Named the same way: the
/// call, what it was asked, the errno, and the fix where one is known.
public struct HostCallError: Error, Equatable, CustomStringConvertible, Sendable {
    public var call: String
    public var errno: Int32
    public var context: String
    public var hint: String?

    public init(_ call: String, errno: Int32, context: String = "", hint: String? = nil) {
        self.call = call
        self.errno = errno
        self.context = context
        self.hint = hint
    }

    public var errnoName: String { KVMError.errnoName(errno) }

    public var description: String {
        call + (context.isEmpty ? "" : " (\(context))") + " failed: \(errnoName): \(String(cString: strerror(errno)))"
            + (hint.map { ". \($0)" } ?? "")
    }
}

/// The harness found itself where it cannot go on (a guest PTE missing, a measurement without samples): a bug
/// in it, or a host far from what it was built for. A run ends with a harness error (exit 70).
public struct HarnessFailure: Error, Equatable, CustomStringConvertible, Sendable {
    public var what: String
    public var hint: String?

    public init(_ what: String, hint: String? = nil) {
        self.what = what
        self.hint = hint
    }

    public var description: String { what + (hint.map { "; \($0)" } ?? "") }
}
