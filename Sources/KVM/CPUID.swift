#if canImport(Glibc)
import Glibc
#endif
import CKVM

/// A CPUID table as `KVM_GET_SUPPORTED_CPUID` returns it and `KVM_SET_CPUID2` takes it.
///
/// Guests need a CPUID table before long mode: KVM refuses `EFER.LME` for a vCPU whose CPUID lacks the LM bit.
public struct CPUIDTable: Sendable {
    public var entries: [kvm_cpuid_entry2]

    /// Whether leaf 1 reports the hypervisor bit (ECX bit 31), i.e. this table describes a virtual CPU.
    public var hypervisorBit: Bool {
        entries.first { $0.function == 1 }.map { $0.ecx & (1 << 31) != 0 } ?? false
    }
}

extension KVMSystem {
    /// The CPUID features KVM can expose to a guest (`KVM_GET_SUPPORTED_CPUID`).
    public func supportedCPUID() throws -> CPUIDTable {
        var capacity = 128
        while true {
            do {
                return try CPUIDBuffer.with(capacity: capacity) { buffer in
                    try Syscall.ioctl(fd, .getSupportedCPUID, buffer: buffer.raw)
                    return CPUIDTable(entries: buffer.entries)
                }
            } catch let error as KVMError where error.errno == E2BIG && capacity < 4096 {
                capacity *= 2
            }
        }
    }
}

extension VCPU {
    /// Sets the vCPU's CPUID table (`KVM_SET_CPUID2`).
    public func setCPUID(_ table: CPUIDTable) throws {
        try CPUIDBuffer.with(capacity: table.entries.count) { buffer in
            buffer.entries = table.entries
            try Syscall.ioctl(fd, .setCPUID2, buffer: buffer.raw, context: "vCPU \(id)")
        }
    }
}

/// A `struct kvm_cpuid2` header followed by room for `capacity` entries.
private struct CPUIDBuffer {
    let raw: UnsafeMutableRawPointer
    let capacity: Int

    static func with<R>(capacity: Int, _ body: (inout CPUIDBuffer) throws -> R) throws -> R {
        let size = MemoryLayout<kvm_cpuid2>.size + capacity * MemoryLayout<kvm_cpuid_entry2>.stride
        let raw = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        defer { raw.deallocate() }
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        raw.storeBytes(of: UInt32(capacity), as: UInt32.self)  // nent
        var buffer = CPUIDBuffer(raw: raw, capacity: capacity)
        return try body(&buffer)
    }

    private var entryBase: UnsafeMutableRawPointer { raw + MemoryLayout<kvm_cpuid2>.size }

    var entries: [kvm_cpuid_entry2] {
        get {
            let count = Int(raw.load(as: UInt32.self))
            return (0..<count).map { entryBase.load(fromByteOffset: $0 * MemoryLayout<kvm_cpuid_entry2>.stride, as: kvm_cpuid_entry2.self) }
        }
        nonmutating set {
            precondition(newValue.count <= capacity)
            raw.storeBytes(of: UInt32(newValue.count), as: UInt32.self)
            for (index, entry) in newValue.enumerated() {
                entryBase.storeBytes(of: entry, toByteOffset: index * MemoryLayout<kvm_cpuid_entry2>.stride, as: kvm_cpuid_entry2.self)
            }
        }
    }
}
