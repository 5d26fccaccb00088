import CKVM

/// One statistic a KVM stats descriptor declares (`struct kvm_stats_desc`).
public struct StatisticDescriptor: Sendable, Equatable {
    public enum Kind: UInt32, Sendable {
        case cumulative = 0, instant = 1, peak = 2, linearHistogram = 3, logarithmicHistogram = 4
    }
    /// The statistic's name, e.g. `remote_tlb_flush`.
    public var name: String
    public var kind: Kind?
    /// The raw `flags` field (type, unit and base bits).
    public var flags: UInt32
    public var exponent: Int16
    /// The number of u64 values (1 for a counter, the bucket count for a histogram).
    public var size: Int
    /// Where the values start in the data block.
    public var offset: Int
}

/// A snapshot of statistic values by name. A histogram reads as the sum of its buckets.
public struct Statistics: Sendable, Equatable {
    public var values: [String: UInt64]

    public init(values: [String: UInt64] = [:]) { self.values = values }

    public subscript(name: String) -> UInt64? { values[name] }

    /// `self - earlier` for every statistic present in both (signed: instant and peak values can fall).
    public func delta(since earlier: Statistics) -> [String: Int64] {
        var result: [String: Int64] = [:]
        for (name, value) in values {
            if let before = earlier.values[name] { result[name] = Int64(bitPattern: value &- before) }
        }
        return result
    }
}

/// Reads a VM's or vCPU's binary statistics file (`KVM_GET_STATS_FD`; `Documentation/virt/kvm/api.rst`,
/// "KVM_GET_STATS_FD"). The descriptors are parsed once; each ``read()`` is one `pread` of the data block.
///
/// These counters are the kernel's own testimony: a torture run judges an operation exercised only when they moved.
public final class StatisticsReader: @unchecked Sendable {
    // @unchecked: all state is immutable after init; pread on the descriptor is safe from any thread.
    let fd: Int32
    public let descriptors: [StatisticDescriptor]
    let dataOffset: Int
    private let dataSize: Int

    init(fd: Int32) throws {
        self.fd = fd
        do {
            var header = kvm_stats_header()
            try withUnsafeMutableBytes(of: &header) { try Syscall.pread(fd, into: $0, offset: 0, name: "KVM_GET_STATS_FD header") }
            let descriptorSize = MemoryLayout<kvm_stats_desc>.size + Int(header.name_size)
            let table = UnsafeMutableRawBufferPointer.allocate(byteCount: descriptorSize * Int(header.num_desc), alignment: 8)
            defer { table.deallocate() }
            try Syscall.pread(fd, into: table, offset: Int(header.desc_offset), name: "KVM_GET_STATS_FD descriptors")
            var descriptors: [StatisticDescriptor] = []
            var end = 0
            for index in 0..<Int(header.num_desc) {
                let at = table.baseAddress! + index * descriptorSize
                let raw = at.loadUnaligned(as: kvm_stats_desc.self)
                let nameStart = (at + MemoryLayout<kvm_stats_desc>.size).assumingMemoryBound(to: CChar.self)
                let nameBytes = UnsafeBufferPointer(start: nameStart, count: Int(header.name_size))
                let name = String(decoding: nameBytes.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                let size = max(1, Int(raw.size))
                descriptors.append(StatisticDescriptor(
                    name: name, kind: .init(rawValue: (raw.flags & UInt32(KVM_STATS_TYPE_MASK)) >> UInt32(KVM_STATS_TYPE_SHIFT)),
                    flags: raw.flags, exponent: raw.exponent, size: size, offset: Int(raw.offset)))
                end = max(end, Int(raw.offset) + size * 8)
            }
            self.descriptors = descriptors
            self.dataOffset = Int(header.data_offset)
            self.dataSize = end
        } catch {
            Syscall.close(fd)
            throw error
        }
    }

    deinit { Syscall.close(fd) }

    /// The names of all statistics this kernel exports here.
    public var names: [String] { descriptors.map(\.name) }

    /// Reads every statistic now.
    public func read() throws -> Statistics {
        var words = [UInt64](repeating: 0, count: (dataSize + 7) / 8)
        try words.withUnsafeMutableBytes { try Syscall.pread(fd, into: $0, offset: dataOffset, name: "KVM_GET_STATS_FD data") }
        var values: [String: UInt64] = [:]
        for descriptor in descriptors {
            let first = descriptor.offset / 8
            values[descriptor.name] = words[first..<(first + descriptor.size)].reduce(0, &+)
        }
        return Statistics(values: values)
    }
}

/// A few statistics of a ``StatisticsReader``, read together with one `pread` of the bytes that span them: cheap
/// enough to bracket every operation of a torture run (with a ``StatisticSample``, which allocates nothing per
/// read), where a full ``StatisticsReader/read()`` would decode every statistic.
public struct StatisticCounters: Sendable {
    let reader: StatisticsReader
    let start: Int
    let length: Int
    /// Each counter's word index within the span.
    let indices: [Int]

    /// Where the span lies in the statistics file (descriptor, byte offset, byte length), lent within this package
    /// to code that reads it itself (the bench's C baseline). The reader keeps ownership of the descriptor.
    package var span: (fileDescriptor: Int32, offset: Int, length: Int) { (reader.fd, start, length) }

    /// The counters' current values (the first u64 of each statistic), in the order they were asked for.
    public func read() throws -> [UInt64] {
        let sample = StatisticSample(self)
        try sample.capture()
        return indices.indices.map { sample[$0] }
    }
}

extension StatisticsReader {
    /// A cheap reader for the statistics `names`, or nil if this kernel does not export one of them.
    public func counters(_ names: [String]) -> StatisticCounters? {
        let found = names.compactMap { name in descriptors.first { $0.name == name } }
        guard found.count == names.count, let low = found.map(\.offset).min(), let high = found.map(\.offset).max() else { return nil }
        return StatisticCounters(
            reader: self, start: dataOffset + low, length: high - low + 8, indices: found.map { ($0.offset - low) / 8 })
    }
}
