#if canImport(Glibc)
import Glibc
#endif
import CKVM
import Synchronization

/// A KVM virtual machine: its memory slots and its vCPUs.
///
/// ```swift
/// let vm = try kvm.createVirtualMachine()
/// let memory = try MemoryRegion.anonymous(size: 2 << 20)
/// try vm.setMemorySlot(0, guestAddress: GuestPhysicalAddress(0), region: memory)
/// let vcpu = try vm.createVCPU(id: 0)
/// ```
/// The VM owns the regions behind its slots (see ``MemoryRegion``) and its descriptor; vCPUs keep the VM alive.
/// Slot changes are serialized by a lock, so threads may add, move and delete slots while vCPUs run.
public final class VirtualMachine: Sendable {
    let fd: Int32
    /// The system this VM was created from.
    public let system: KVMSystem
    let vcpuMmapSize: Int
    private let slots = Mutex<[UInt32: MemorySlot]>([:])

    init(fd: Int32, system: KVMSystem, vcpuMmapSize: Int) {
        self.fd = fd
        self.system = system
        self.vcpuMmapSize = vcpuMmapSize
    }

    deinit { Syscall.close(fd) }

    // MARK: Memory slots

    /// Registers (or replaces) slot `id`: `size` bytes of `region` from `offset`, at `guestAddress`.
    ///
    /// Corresponds to `KVM_SET_USER_MEMORY_REGION`. The kernel checks alignment and overlap; its refusal comes
    /// back as a ``KVMError`` naming the ioctl and the slot. `size` defaults to the rest of the region.
    public func setMemorySlot(
        _ id: UInt32, guestAddress: GuestPhysicalAddress, region: MemoryRegion, offset: Int = 0, size: Int? = nil,
        flags: MemorySlotFlags = []
    ) throws {
        let slot = MemorySlot(
            id: id, guestAddress: guestAddress, size: size ?? (region.size - offset), flags: flags, region: region,
            offset: offset)
        precondition(offset >= 0 && slot.size >= 0 && offset + slot.size <= region.size, "slot outside its region")
        try slots.withLock { table in
            try register(slot)
            table[id] = slot
        }
    }

    /// Deletes slot `id` (`KVM_SET_USER_MEMORY_REGION` with size 0) and releases its region.
    /// While the slot is absent, guest accesses to its range exit to the host as MMIO.
    public func deleteMemorySlot(_ id: UInt32) throws {
        try slots.withLock { table in
            guard var slot = table[id] else {
                throw KVMError(
                    operation: "KVM_SET_USER_MEMORY_REGION", errno: EINVAL, context: "delete of slot \(id)",
                    hint: "slot \(id) is not registered")
            }
            slot.size = 0
            try register(slot)
            table[id] = nil
        }
    }

    /// Moves slot `id` to a new guest-physical address (KVM_MR_MOVE: same slot, same flags, new address).
    public func moveMemorySlot(_ id: UInt32, to guestAddress: GuestPhysicalAddress) throws {
        try updateSlot(id) { $0.guestAddress = guestAddress }
    }

    /// Changes the flags of slot `id` only (KVM_MR_FLAGS_ONLY), e.g. to start or stop dirty logging.
    public func setMemorySlotFlags(_ id: UInt32, _ flags: MemorySlotFlags) throws {
        try updateSlot(id) { $0.flags = flags }
    }

    /// The slot registered as `id`, if any.
    public func memorySlot(_ id: UInt32) -> MemorySlot? {
        slots.withLock { $0[id] }
    }

    /// The host address backing a guest-physical address, if a slot maps it.
    public func hostAddress(of address: GuestPhysicalAddress) -> UnsafeMutableRawPointer? {
        slots.withLock { table in table.values.lazy.compactMap { $0.hostAddress(of: address) }.first }
    }

    private func updateSlot(_ id: UInt32, _ change: (inout MemorySlot) -> Void) throws {
        try slots.withLock { table in
            guard var slot = table[id] else {
                throw KVMError(
                    operation: "KVM_SET_USER_MEMORY_REGION", errno: EINVAL, context: "change of slot \(id)",
                    hint: "slot \(id) is not registered")
            }
            change(&slot)
            try register(slot)
            table[id] = slot
        }
    }

    private func register(_ slot: MemorySlot) throws {
        var region = kvm_userspace_memory_region(
            slot: slot.id, flags: slot.flags.rawValue, guest_phys_addr: slot.guestAddress.rawValue,
            memory_size: UInt64(slot.size), userspace_addr: UInt64(UInt(bitPattern: slot.hostAddress)))
        try Syscall.ioctl(
            fd, .setUserMemoryRegion, &region,
            context: "slot \(slot.id), \(slot.guestAddress), \(slot.size) bytes, flags 0x\(String(slot.flags.rawValue, radix: 16))")
    }

    // MARK: Dirty log

    /// The pages of slot `id` written since the last call (`KVM_GET_DIRTY_LOG`). The slot must have
    /// ``MemorySlotFlags/logDirtyPages``. Without manual protection the kernel clears and re-protects the
    /// returned pages.
    public func dirtyLog(slot id: UInt32) throws -> DirtyBitmap {
        guard let slot = memorySlot(id) else {
            throw KVMError(operation: "KVM_GET_DIRTY_LOG", errno: ENOENT, context: "slot \(id)", hint: "slot \(id) is not registered")
        }
        var bitmap = DirtyBitmap(pageCount: slot.pageCount)
        try bitmap.words.withUnsafeMutableBytes { bytes in
            var log = kvm_dirty_log()
            log.slot = id
            log.dirty_bitmap = bytes.baseAddress
            try Syscall.ioctl(fd, .getDirtyLog, &log, context: "slot \(id)")
        }
        return bitmap
    }

    /// Clears (and write-protects again) the pages of slot `id` set in `bitmap` (`KVM_CLEAR_DIRTY_LOG`), for VMs
    /// with `KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2` enabled, where ``dirtyLog(slot:)`` only reports. The bitmap covers
    /// the slot's pages from `firstPage` on; the kernel wants `firstPage` a multiple of 64, and a page count that is
    /// a multiple of 64 unless the range ends with the slot. Only pages KVM also holds dirty are protected again.
    public func clearDirtyLog(slot id: UInt32, _ bitmap: DirtyBitmap, firstPage: Int = 0) throws {
        var words = bitmap.words
        try words.withUnsafeMutableBytes { bytes in
            var clear = kvm_clear_dirty_log()
            clear.slot = id
            clear.num_pages = UInt32(bitmap.pageCount)
            clear.first_page = UInt64(firstPage)
            clear.dirty_bitmap = bytes.baseAddress
            try Syscall.ioctl(
                fd, .clearDirtyLog, &clear,
                context: "slot \(id), pages \(firstPage)..<\(firstPage + bitmap.pageCount)")
        }
    }

    // MARK: Capabilities, vCPUs, statistics

    /// Enables a VM capability (`KVM_ENABLE_CAP` on the VM descriptor) with up to four arguments.
    public func enableCapability(_ capability: Capability, arguments: [UInt64] = []) throws {
        precondition(arguments.count <= 4, "KVM_ENABLE_CAP takes at most four arguments")
        var request = kvm_enable_cap()
        request.cap = UInt32(capability.rawValue)
        withUnsafeMutableBytes(of: &request.args) { raw in
            for (index, value) in arguments.enumerated() { raw.storeBytes(of: value, toByteOffset: index * 8, as: UInt64.self) }
        }
        try Syscall.ioctl(fd, .enableCapability, &request, context: capability.name)
    }

    /// Creates vCPU `id` (`KVM_CREATE_VCPU`) and maps its `struct kvm_run`. `kick`: the signal, installed by the
    /// program, with which ``VCPU/requestExit()`` stops a running guest (``KickSignal``).
    public func createVCPU(id: Int, kick: KickSignal? = nil) throws -> VCPU {
        let vcpufd = try Syscall.ioctl(fd, .createVCPU, UInt(id), context: "vCPU \(id)")
        do {
            let run = try Syscall.mmap(
                length: vcpuMmapSize, protection: PROT_READ | PROT_WRITE, flags: MAP_SHARED, fd: vcpufd,
                name: "mmap(kvm_run)", context: "vCPU \(id)")
            return VCPU(fd: vcpufd, id: id, vm: self, run: run, runSize: vcpuMmapSize, kick: kick)
        } catch {
            Syscall.close(vcpufd)
            throw error
        }
    }

    /// Opens the VM's binary statistics (`KVM_GET_STATS_FD`): `remote_tlb_flush`, `remote_tlb_flush_requests`,
    /// `mmu_shadow_zapped`, and whatever else this kernel exports.
    public func statistics() throws -> StatisticsReader {
        try StatisticsReader(fd: try Syscall.ioctl(fd, .getStatsFD, context: "VM"))
    }
}
