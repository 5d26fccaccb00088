#if canImport(Glibc)
import Glibc
#endif

/// One reading of a ``StatisticCounters`` span, into a buffer allocated once: ``capture()`` is a single `pread`
/// and nothing else; the values are picked out afterwards, with the subscript.
///
/// For callers that bracket latency-sensitive calls with counter reads. A torture mutator reads the flush counters
/// right before and right after each invalidation; everything it does between the previous republication and the
/// next invalidation decides whether the next flush finds the vCPU still out of the guest or has to interrupt it
/// again, so even picking values out of the buffer belongs after the call, not between the calls.
public final class StatisticSample: @unchecked Sendable {
    // @unchecked: the buffer is written by `capture()` and read by the subscript; a sample belongs to one thread.
    public let counters: StatisticCounters
    private let words: UnsafeMutableRawBufferPointer
    // The span, copied out of `counters` so that `capture()` touches this object and the buffer only.
    private let fileDescriptor: Int32
    private let offset: off_t

    public init(_ counters: StatisticCounters) {
        self.counters = counters
        words = .allocate(byteCount: counters.length, alignment: 8)
        words.initializeMemory(as: UInt8.self, repeating: 0)
        fileDescriptor = counters.reader.fd
        offset = off_t(counters.start)
    }

    deinit { words.deallocate() }

    /// Reads the span now: one `pread`, as a C loop would write it; only a short read or EINTR (neither seen in
    /// practice) goes through the retrying ``Syscall/pread(_:into:offset:name:)``.
    public func capture() throws {
        if Glibc.pread(fileDescriptor, words.baseAddress, words.count, offset) != words.count {
            try Syscall.pread(fileDescriptor, into: words, offset: Int(offset), name: "KVM_GET_STATS_FD data")
        }
    }

    /// The counter at `slot` (in the order ``StatisticsReader/counters(_:)`` was asked for) as of the last
    /// ``capture()``; 0 before the first.
    public subscript(slot: Int) -> UInt64 {
        words.load(fromByteOffset: counters.indices[slot] * 8, as: UInt64.self)
    }
}
