import CKVM

/// Flags of a memory slot (`kvm_userspace_memory_region.flags`).
public struct MemorySlotFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `KVM_MEM_LOG_DIRTY_PAGES`: track guest writes; read them with ``VirtualMachine/dirtyLog(slot:)``.
    /// Enabling it write-protects the whole slot and flushes the guest's TLBs.
    public static let logDirtyPages = MemorySlotFlags(rawValue: UInt32(KVM_MEM_LOG_DIRTY_PAGES))
    /// `KVM_MEM_READONLY`: guest writes exit to the host as MMIO writes.
    public static let readOnly = MemorySlotFlags(rawValue: UInt32(KVM_MEM_READONLY))
}

/// A registered memory slot: which guest-physical range maps which bytes of which host region.
public struct MemorySlot: Sendable {
    /// The slot id (`kvm_userspace_memory_region.slot`).
    public var id: UInt32
    public var guestAddress: GuestPhysicalAddress
    /// The bytes of guest memory, starting at ``hostAddress``.
    public var size: Int
    public var flags: MemorySlotFlags
    /// The region whose bytes back the slot; kept alive as long as the slot is registered.
    public var region: MemoryRegion
    /// Where in ``region`` the slot starts.
    public var offset: Int

    /// The host address of the slot's first byte.
    public var hostAddress: UnsafeMutableRawPointer { region.base + offset }

    /// The guest-physical range the slot covers.
    public var guestRange: Range<UInt64> { guestAddress.rawValue..<(guestAddress.rawValue + UInt64(size)) }

    /// The host address of a guest-physical address inside the slot, or nil outside it.
    public func hostAddress(of address: GuestPhysicalAddress) -> UnsafeMutableRawPointer? {
        guard guestRange.contains(address.rawValue) else { return nil }
        return hostAddress + Int(address.rawValue - guestAddress.rawValue)
    }

    /// The number of 4 KiB pages in the slot (the granularity of the dirty log).
    public var pageCount: Int { (size + 4095) / 4096 }
}
