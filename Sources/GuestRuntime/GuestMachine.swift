import Guests
import KVM

/// A VM laid out as `guest_abi.h` says: the system slot (code, status blocks, decoy frame, page tables) at
/// `GUEST_SYSTEM_GPA`, identity-mapped for CPL3, with one guest program loaded at `GUEST_CODE_GPA`. Further slots
/// (the control words, the data under test) are added with ``addMemory(slot:at:region:pageSize:flags:)``, which
/// also maps them in the guest's page tables.
public final class GuestMachine: @unchecked Sendable {
    // @unchecked: `pageTables` is mutated only while slots are added, before any vCPU runs; afterwards the
    // machine is read-only except through guest memory, which is accessed through pointers on purpose.

    public let kvm: KVMSystem
    public let vm: VirtualMachine
    public let program: GuestProgram
    /// The system slot's backing.
    public let system: MemoryRegion
    public private(set) var pageTables: PageTableBuilder
    /// The CPUID table every vCPU gets (the host's supported one).
    public let cpuid: CPUIDTable

    /// Bytes of fixed layout below the page-table area.
    static let fixedBytes = Int(GUEST_PAGE_TABLES_GPA)

    /// - Parameters:
    ///   - mappableBytes: how many bytes of further slots (4 KiB mapped) the page-table area must have room for.
    public init(kvm: KVMSystem, program: GuestProgram, mappableBytes: UInt64 = 1 << 30) throws {
        self.kvm = kvm
        self.program = program
        self.vm = try kvm.createVirtualMachine()
        self.cpuid = try kvm.supportedCPUID()

        let tableBytes = Int((mappableBytes / UInt64(PageSize.size2M.rawValue) + 64) * 4096)
        let systemSize = Self.roundUp(Self.fixedBytes + tableBytes, to: Int(PageSize.size2M.rawValue))
        self.system = try MemoryRegion.anonymous(size: systemSize)
        self.pageTables = try PageTableBuilder(
            area: system.base + Self.fixedBytes, guestAddress: GuestPhysicalAddress(UInt64(GUEST_PAGE_TABLES_GPA)),
            size: systemSize - Self.fixedBytes)
        try vm.setMemorySlot(UInt32(GUEST_SYSTEM_SLOT), guestAddress: GuestPhysicalAddress(UInt64(GUEST_SYSTEM_GPA)), region: system)
        try pageTables.identityMap(GuestPhysicalAddress(UInt64(GUEST_SYSTEM_GPA)), size: UInt64(systemSize), pageSize: .size4K)

        let code = program.bytes
        precondition(code.count <= GUEST_CODE_MAX_SIZE, "guest program larger than GUEST_CODE_MAX_SIZE")
        code.withUnsafeBytes { (system.base + Int(GUEST_CODE_GPA)).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    /// Registers `region` as slot `slot` at `address` and identity-maps it for CPL3 with `pageSize` leaves.
    public func addMemory(
        slot: UInt32, at address: GuestPhysicalAddress, region: MemoryRegion, pageSize: PageSize = .size4K,
        flags: MemorySlotFlags = []
    ) throws {
        try vm.setMemorySlot(slot, guestAddress: address, region: region, flags: flags)
        try identityMap(address, size: UInt64(Self.roundUp(region.size, to: Int(pageSize.rawValue))), pageSize: pageSize)
    }

    /// Identity-maps a guest-physical range in the guest's page tables (with or without a slot behind it).
    public func identityMap(_ address: GuestPhysicalAddress, size: UInt64, pageSize: PageSize = .size4K) throws {
        try pageTables.identityMap(address, size: size, pageSize: pageSize)
    }

    /// The host address of a guest-physical address in any registered slot.
    public func hostAddress(of address: GuestPhysicalAddress) -> UnsafeMutableRawPointer? {
        vm.hostAddress(of: address)
    }

    /// The status block of vCPU `index` (u64 words, `GUEST_STATUS_*`).
    public func statusBlock(vcpu index: Int) -> UnsafeMutablePointer<UInt64> {
        precondition(index >= 0 && index < GUEST_MAX_VCPUS, "vCPU index \(index) beyond GUEST_MAX_VCPUS")
        let offset = Int(GUEST_STATUS_GPA) + index * Int(GUEST_STATUS_BLOCK_SIZE)
        // SAFETY: the status area lies inside the system slot, which lives as long as the machine; 8-aligned.
        return (system.base + offset).assumingMemoryBound(to: UInt64.self)
    }

    /// Creates vCPU `id`, ready to enter the program at CPL3 with `arguments` in rdi, rsi, rdx, rcx, r8, r9;
    /// `kick` as ``VirtualMachine/createVCPU(id:kick:)``.
    public func createVCPU(id: Int, arguments: [UInt64] = [], kick: KickSignal? = nil) throws -> VCPU {
        let vcpu = try vm.createVCPU(id: id, kick: kick)
        try vcpu.enterUserMode(
            pageTableRoot: pageTables.root, entry: GuestPhysicalAddress(UInt64(GUEST_CODE_GPA)),
            stackTop: GuestPhysicalAddress(UInt64(GUEST_STACK_TOP_GPA)), arguments: arguments, cpuid: cpuid)
        return vcpu
    }

    static func roundUp(_ value: Int, to multiple: Int) -> Int { (value + multiple - 1) / multiple * multiple }
}
