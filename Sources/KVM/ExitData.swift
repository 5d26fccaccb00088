/// The bytes an exit carries: what a port write (``VCPUExit/ioOut(port:size:data:)``) or an MMIO write
/// (``VCPUExit/mmioWrite(address:data:)``) wrote. Up to 8 bytes are held inline; only a string port write
/// (`rep outs`) longer than that is copied into an array.
///
/// Why not simply `[UInt8]`: an array allocates, and the allocation is the most expensive part of decoding an exit.
/// Timed right after a real `KVM_RUN` on a nested host, decoding with the array took 753 ns on average against 53 ns
/// in a warm loop (the guest has just run on this CPU; malloc's, free's and the runtime's code and data are cold),
/// 2.5% of the exit round trip, where a VMM written in C reads two fields. Every exit a torture run handles
/// (heartbeats, violations) comes through here. (BENCHMARKS.md, "Exit round trips".)
///
/// It is a random-access collection of `UInt8`: compare it with an array literal, index it, or `Array(data)`.
public struct ExitData: RandomAccessCollection, Hashable, Sendable, ExpressibleByArrayLiteral, CustomStringConvertible {
    /// Bytes 0..<inlineCount, little-endian in a word (used when `spilled` is nil).
    private let inline: UInt64
    private let inlineCount: UInt8
    /// The bytes, when there are more than fit inline.
    private let spilled: [UInt8]?

    /// How many bytes fit inline.
    public static let inlineCapacity = 8

    /// Copies `bytes`.
    public init(_ bytes: UnsafeRawBufferPointer) {
        if bytes.count <= Self.inlineCapacity {
            var word: UInt64 = 0
            for (index, byte) in bytes.enumerated() { word |= UInt64(byte) << (8 * index) }
            (inline, inlineCount, spilled) = (word, UInt8(bytes.count), nil)
        } else {
            (inline, inlineCount, spilled) = (0, 0, Array(bytes))
        }
    }

    public init<Bytes: Collection<UInt8>>(_ bytes: Bytes) {
        self = Array(bytes).withUnsafeBytes { ExitData($0) }
    }

    public init(arrayLiteral bytes: UInt8...) { self.init(bytes) }

    public var startIndex: Int { 0 }
    public var endIndex: Int { spilled?.count ?? Int(inlineCount) }

    public subscript(position: Int) -> UInt8 {
        precondition(position >= 0 && position < endIndex, "ExitData index out of range")
        if let spilled { return spilled[position] }
        return UInt8(truncatingIfNeeded: inline >> (8 * position))
    }

    /// Calls `body` with the bytes laid out contiguously (on the stack when they are inline).
    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        if let spilled { return try spilled.withUnsafeBytes(body) }
        return try Swift.withUnsafeBytes(of: inline.littleEndian) { try body(UnsafeRawBufferPointer(rebasing: $0.prefix(Int(inlineCount)))) }
    }

    public static func == (lhs: ExitData, rhs: ExitData) -> Bool { lhs.elementsEqual(rhs) }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        for byte in self { hasher.combine(byte) }
    }

    public var description: String { Array(self).description }
}
