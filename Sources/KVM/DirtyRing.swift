#if canImport(Glibc)
import Glibc
#endif
import Atomics
import CKVM

/// One vCPU's dirty ring (`KVM_CAP_DIRTY_LOG_RING`): the pages the vCPU dirtied, pushed by KVM as
/// `struct kvm_dirty_gfn` entries into a ring mapped from the vCPU descriptor at `KVM_DIRTY_LOG_PAGE_OFFSET`.
///
/// Harvest with ``harvest()`` (which marks each collected entry for reset, with release ordering as the ACQ_REL
/// variant of the capability requires), then call ``VirtualMachine/resetDirtyRings()`` so KVM recycles the entries
/// and write-protects the pages again. A full ring makes `KVM_RUN` exit with ``VCPUExit/dirtyRingFull`` until then.
public final class DirtyRing: @unchecked Sendable {
    // @unchecked: harvested by one thread at a time; KVM shares the entries, which are touched only atomically.
    public struct Entry: Equatable, Sendable {
        public var slot: UInt32
        /// The page's index within the slot.
        public var offset: UInt64
    }

    private let base: UnsafeMutableRawPointer
    private let size: Int
    /// The number of entries.
    public let count: Int
    private var fetchIndex: UInt64 = 0

    init(vcpuFD: Int32, entries: Int) throws {
        count = entries
        size = entries * MemoryLayout<kvm_dirty_gfn>.stride
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        base = try Syscall.mmap(
            length: size, protection: PROT_READ | PROT_WRITE, flags: MAP_SHARED, fd: vcpuFD,
            offset: Int(KVM_DIRTY_LOG_PAGE_OFFSET) * pageSize, name: "mmap(dirty ring)", context: "\(entries) entries")
    }

    deinit { try? Syscall.munmap(base, length: size) }

    /// Collects every entry KVM has published since the last harvest, and marks each for reset.
    public func harvest() -> [Entry] {
        var entries: [Entry] = []
        while true {
            let entry = base + Int(fetchIndex % UInt64(count)) * MemoryLayout<kvm_dirty_gfn>.stride
            // SAFETY: `flags` is the entry's first u32, naturally aligned in the shared ring.
            let flags = UnsafeAtomic<UInt32>(at: entry.assumingMemoryBound(to: UnsafeAtomic<UInt32>.Storage.self))
            guard flags.load(ordering: .acquiring) & CKVM_DIRTY_GFN_F_DIRTY != 0 else { return entries }
            entries.append(Entry(slot: entry.load(fromByteOffset: 4, as: UInt32.self), offset: entry.load(fromByteOffset: 8, as: UInt64.self)))
            flags.store(CKVM_DIRTY_GFN_F_RESET, ordering: .releasing)
            fetchIndex += 1
        }
    }
}

extension VirtualMachine {
    /// Switches the VM's dirty tracking to per-vCPU rings of `entries` entries (`KVM_ENABLE_CAP` of
    /// `KVM_CAP_DIRTY_LOG_RING_ACQ_REL` where offered, else `KVM_CAP_DIRTY_LOG_RING`). Must precede every vCPU.
    public func enableDirtyRings(entries: Int) throws {
        let bytes = UInt64(entries * MemoryLayout<kvm_dirty_gfn>.stride)
        let acquireRelease = Capability(rawValue: KVM_CAP_DIRTY_LOG_RING_ACQ_REL)
        try enableCapability(system.has(acquireRelease) ? acquireRelease : .dirtyLogRing, arguments: [bytes])
    }

    /// `KVM_RESET_DIRTY_RINGS`: recycles harvested entries and write-protects their pages again. Returns how many.
    @discardableResult
    public func resetDirtyRings() throws -> Int {
        Int(try Syscall.ioctl(fd, .resetDirtyRings))
    }
}

extension VCPU {
    /// Maps this vCPU's dirty ring (after ``VirtualMachine/enableDirtyRings(entries:)``).
    public func dirtyRing(entries: Int) throws -> DirtyRing {
        try DirtyRing(vcpuFD: fd, entries: entries)
    }
}
