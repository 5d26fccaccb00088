import CKVM

/// Why `KVM_RUN` returned: one case per `KVM_EXIT_*` this library decodes, plus the two outcomes that are
/// errno values rather than exit reasons (``interrupted`` for EINTR, ``memoryFault(address:size:flags:)`` for
/// EFAULT), and ``unknown(reason:)`` for exits newer than the headers. (rust-vmm kvm-ioctls' `VcpuExit`.)
public enum VCPUExit: Equatable, Sendable {
    /// `KVM_EXIT_IO`, direction out: the guest wrote `data` (size × count bytes) to `port`.
    case ioOut(port: UInt16, size: Int, data: ExitData)
    /// `KVM_EXIT_IO`, direction in: the guest reads `size` × `count` bytes from `port`.
    case ioIn(port: UInt16, size: Int, count: Int)
    /// `KVM_EXIT_MMIO` read: the guest read `length` bytes at an address no slot maps.
    case mmioRead(address: GuestPhysicalAddress, length: Int)
    /// `KVM_EXIT_MMIO` write: the guest wrote `data` at an address no slot maps (or a read-only slot).
    case mmioWrite(address: GuestPhysicalAddress, data: ExitData)
    /// `KVM_EXIT_HLT`.
    case hlt
    /// `KVM_EXIT_SHUTDOWN`: a triple fault, e.g. an exception at CPL3 with no IDT.
    case shutdown
    /// `KVM_EXIT_FAIL_ENTRY`: the hardware refused to enter the guest.
    case failEntry(hardwareReason: UInt64, cpu: UInt32)
    /// `KVM_EXIT_INTERNAL_ERROR`, with the suberror (1 = emulation failure).
    case internalError(suberror: UInt32)
    /// `KVM_EXIT_SYSTEM_EVENT` (reset, shutdown, crash requested by the guest).
    case systemEvent(type: UInt32)
    /// `KVM_EXIT_DIRTY_RING_FULL`: a dirty ring must be harvested before the vCPU can run on.
    case dirtyRingFull
    /// `KVM_RUN` failed with EFAULT: KVM could not access the host memory behind a guest access (the host
    /// range is unmapped, `PROT_NONE`, or truncated). With `KVM_CAP_MEMORY_FAULT_INFO` the kernel says where.
    case memoryFault(address: GuestPhysicalAddress?, size: UInt64?, flags: UInt64?)
    /// `KVM_RUN` returned EINTR: a signal, or `immediate_exit`, asked the vCPU to come back (see
    /// ``VCPU/requestExit()``). An outcome, not an error.
    case interrupted
    /// An exit reason this library does not decode.
    case unknown(reason: UInt32)

    /// Decodes the exit that `run` describes after a successful `KVM_RUN`. `run` must point at a mapped
    /// `struct kvm_run` of `mappingSize` bytes (the I/O data lives inside that mapping).
    public static func decode(_ run: UnsafeRawPointer, mappingSize: Int) -> VCPUExit {
        let state = run.assumingMemoryBound(to: kvm_run.self).pointee
        switch Int32(state.exit_reason) {
        case KVM_EXIT_IO:
            let io = state.io
            let length = Int(io.size) * Int(io.count)
            if Int32(io.direction) == KVM_EXIT_IO_OUT {
                let offset = Int(io.data_offset)
                guard offset >= 0, offset + length <= mappingSize else { return .unknown(reason: state.exit_reason) }
                let bytes = UnsafeRawBufferPointer(start: run + offset, count: length)
                return .ioOut(port: io.port, size: Int(io.size), data: ExitData(bytes))
            }
            return .ioIn(port: io.port, size: Int(io.size), count: Int(io.count))
        case KVM_EXIT_MMIO:
            let mmio = state.mmio
            let length = min(Int(mmio.len), 8)
            if mmio.is_write != 0 {
                let data = withUnsafeBytes(of: mmio.data) { ExitData(UnsafeRawBufferPointer(rebasing: $0.prefix(length))) }
                return .mmioWrite(address: GuestPhysicalAddress(mmio.phys_addr), data: data)
            }
            return .mmioRead(address: GuestPhysicalAddress(mmio.phys_addr), length: length)
        case KVM_EXIT_HLT:
            return .hlt
        case KVM_EXIT_SHUTDOWN:
            return .shutdown
        case KVM_EXIT_FAIL_ENTRY:
            return .failEntry(
                hardwareReason: state.fail_entry.hardware_entry_failure_reason, cpu: state.fail_entry.cpu)
        case KVM_EXIT_INTERNAL_ERROR:
            return .internalError(suberror: state.internal.suberror)
        case KVM_EXIT_SYSTEM_EVENT:
            return .systemEvent(type: state.system_event.type)
        case KVM_EXIT_DIRTY_RING_FULL:
            return .dirtyRingFull
        default:
            return .unknown(reason: state.exit_reason)
        }
    }

    /// Where the exit-reason union starts in `struct kvm_run`: right after `apic_base`, the last plain field
    /// before it (Swift sees the anonymous union's members only as computed properties, which have no offset).
    static let exitUnionOffset = MemoryLayout<kvm_run>.offset(of: \kvm_run.apic_base)! + 8

    /// Decodes the EFAULT outcome: where the kernel filled `kvm_run.memory_fault`
    /// (`KVM_EXIT_MEMORY_FAULT`, Linux 6.8+), the address, size and flags; otherwise nothing more is known.
    static func decodeMemoryFault(_ run: UnsafeRawPointer) -> VCPUExit {
        let reason = run.assumingMemoryBound(to: kvm_run.self).pointee.exit_reason
        guard Int32(reason) == KVM_EXIT_MEMORY_FAULT else { return .memoryFault(address: nil, size: nil, flags: nil) }
        // struct { __u64 flags; __u64 gpa; __u64 size; } memory_fault sits at the start of the exit union, which
        // the installed headers may predate; read it by layout.
        let union = run + VCPUExit.exitUnionOffset
        return .memoryFault(
            address: GuestPhysicalAddress(union.load(fromByteOffset: 8, as: UInt64.self)),
            size: union.load(fromByteOffset: 16, as: UInt64.self),
            flags: union.load(fromByteOffset: 0, as: UInt64.self))
    }
}
