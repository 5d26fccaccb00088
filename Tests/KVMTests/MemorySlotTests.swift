import Glibc
import Guests
import GuestRuntime
import KVM
import TestSupport
import Testing

@Suite(.requiresKVM)
struct MemorySlotTests {
    let vm: VirtualMachine
    let memory: MemoryRegion

    init() throws {
        vm = try openKVM().createVirtualMachine()
        memory = try MemoryRegion.anonymous(size: 8 * 4096)
        try vm.setMemorySlot(0, guestAddress: GuestPhysicalAddress(0x10_0000), region: memory)
    }

    @Test func overlappingSlotIsRefusedNamingTheIoctl() throws {
        let other = try MemoryRegion.anonymous(size: 4096)
        let error = #expect(throws: KVMError.self) {
            try vm.setMemorySlot(1, guestAddress: GuestPhysicalAddress(0x10_2000), region: other)
        }
        #expect(error?.operation == "KVM_SET_USER_MEMORY_REGION")
        #expect(error?.errnoName == "EEXIST")
        #expect(error?.context.contains("slot 1") == true)
    }

    @Test func unalignedGuestAddressIsRefused() throws {
        let other = try MemoryRegion.anonymous(size: 4096)
        let error = #expect(throws: KVMError.self) {
            try vm.setMemorySlot(1, guestAddress: GuestPhysicalAddress(0x20_0800), region: other)
        }
        #expect(error?.operation == "KVM_SET_USER_MEMORY_REGION" && error?.errnoName == "EINVAL")
    }

    @Test func unalignedSizeIsRefused() throws {
        let other = try MemoryRegion.anonymous(size: 8192)
        let error = #expect(throws: KVMError.self) {
            try vm.setMemorySlot(1, guestAddress: GuestPhysicalAddress(0x20_0000), region: other, size: 6000)
        }
        #expect(error?.operation == "KVM_SET_USER_MEMORY_REGION" && error?.errnoName == "EINVAL")
    }

    @Test func slotIdBeyondTheLimitIsRefused() throws {
        let other = try MemoryRegion.anonymous(size: 4096)
        let error = #expect(throws: KVMError.self) {
            try vm.setMemorySlot(0x7fff, guestAddress: GuestPhysicalAddress(0x20_0000), region: other)
        }
        #expect(error?.operation == "KVM_SET_USER_MEMORY_REGION" && error?.errnoName == "EINVAL")
        #expect(error?.context.contains("slot 32767") == true)
    }

    @Test func deletingAnUnknownSlotNamesIt() {
        let error = #expect(throws: KVMError.self) { try vm.deleteMemorySlot(9) }
        #expect(error?.description.contains("slot 9 is not registered") == true)
    }

    @Test func slotsMoveChangeFlagsAndDelete() throws {
        try vm.moveMemorySlot(0, to: GuestPhysicalAddress(0x40_0000))
        #expect(vm.memorySlot(0)?.guestAddress == GuestPhysicalAddress(0x40_0000))
        #expect(vm.hostAddress(of: GuestPhysicalAddress(0x40_1000)) == memory.base + 4096)
        try vm.setMemorySlotFlags(0, .logDirtyPages)
        #expect(vm.memorySlot(0)?.flags == .logDirtyPages)
        try vm.deleteMemorySlot(0)
        #expect(vm.memorySlot(0) == nil)
        #expect(vm.hostAddress(of: GuestPhysicalAddress(0x40_1000)) == nil)
    }
}

@Suite(.requiresKVM)
struct GuestMemoryTests {
    @Test func guestReadsTheValuesTheHostWrote() throws {
        let (machine, data) = try machineWithData(try openKVM(), program: .peek, dataPages: 2)
        let values: [UInt64] = [0x0123_4567_89ab_cdef, 7, 0, .max]
        for (index, value) in values.enumerated() { data.base.storeBytes(of: value, toByteOffset: 4096 + index * 8, as: UInt64.self) }
        let collected = try collectValues(machine: machine, count: values.count, address: dataAddress.rawValue + 4096)
        #expect(collected == values)
    }

    @Test func aGuestWriteIsVisibleToTheHost() throws {
        let (machine, data) = try machineWithData(try openKVM(), program: .poke, dataPages: 4)
        // Write 100, 101, 102, 103 to the first word of each page.
        let vcpu = try machine.createVCPU(id: 0, arguments: [dataAddress.rawValue, 4, 100, 4096])
        #expect(try runUntilDone(vcpu).isEmpty)
        #expect((0..<4).map { data.base.load(fromByteOffset: $0 * 4096, as: UInt64.self) } == [100, 101, 102, 103])
    }

    @Test func dirtyLogMarksExactlyThePagesTheGuestWrote() throws {
        let (machine, _) = try machineWithData(try openKVM(), program: .poke, dataPages: 64, flags: .logDirtyPages)
        _ = try machine.vm.dirtyLog(slot: UInt32(GUEST_DATA_SLOT))
        // Pages 3, 10, 17, ... 59 (every seventh page from 3).
        let vcpu = try machine.createVCPU(id: 0, arguments: [dataAddress.rawValue + 3 * 4096, 9, 1, 7 * 4096])
        _ = try runUntilDone(vcpu)
        let log = try machine.vm.dirtyLog(slot: UInt32(GUEST_DATA_SLOT))
        #expect(log.dirtyPages == Array(stride(from: 3, to: 64, by: 7)))
        #expect(try machine.vm.dirtyLog(slot: UInt32(GUEST_DATA_SLOT)).dirtyPages.isEmpty, "a harvest clears the log")
    }

    @Test func unmappedBackingMakesKVMRunFailWithEFAULT() throws {
        let (machine, data) = try machineWithData(try openKVM(), program: .peek, dataPages: 2)
        #expect(mprotect(data.base, 4096, PROT_NONE) == 0)
        let vcpu = try machine.createVCPU(id: 0, arguments: [dataAddress.rawValue, 1])
        guard case .memoryFault = try vcpu.run() else { Issue.record("expected EFAULT"); return }
        // Lift the protection: re-entering completes the same load.
        #expect(mprotect(data.base, 4096, PROT_READ | PROT_WRITE) == 0)
        #expect(try vcpu.run() == .ioOut(port: UInt16(GUEST_PORT_VALUE), size: 1, data: [0]))
    }

    @Test func addressWithNoSlotExitsAsMMIO() throws {
        let machine = try GuestMachine(kvm: try openKVM(), program: .poke)
        // Map 0x80000000 in the page tables, but register no slot there.
        try machine.identityMap(GuestPhysicalAddress(0x8000_0000), size: 4096, pageSize: .size4K)
        let vcpu = try machine.createVCPU(id: 0, arguments: [0x8000_0010, 1, 0x55, 8])
        #expect(try vcpu.run() == .mmioWrite(address: GuestPhysicalAddress(0x8000_0010), data: [0x55, 0, 0, 0, 0, 0, 0, 0]))
    }
}

/// Runs a fresh peek vCPU over `count` words at `address` and returns the values it reported, in order.
func collectValues(machine: GuestMachine, count: Int, address: UInt64) throws -> [UInt64] {
    let vcpu = try machine.createVCPU(id: 1, arguments: [address, UInt64(count)])
    var values: [UInt64] = []
    while true {
        let exit = try vcpu.run()
        guard case .ioOut(let port, _, _) = exit else { Issue.record("unexpected \(exit)"); return values }
        if port == UInt16(GUEST_PORT_DONE) { return values }
        values.append(try vcpu.registers().rax)
    }
}

extension VCPUExit {
    var outData: [UInt8] { if case .ioOut(_, _, let data) = self { Array(data) } else { [] } }
}

@Suite(.requiresKVM)
struct ReadOnlyMappingTests {
    @Test func aGuestWriteToAReadOnlyHostMappingFaultsUntilItIsWritableAgain() throws {
        let (machine, data) = try machineWithData(try openKVM(), program: .poke, dataPages: 1)
        let vcpu = try machine.createVCPU(id: 0, arguments: [dataAddress.rawValue, 1, 77, 8])
        #expect(mprotect(data.base, 4096, PROT_READ) == 0)
        for _ in 0..<3 {
            guard case .memoryFault = try vcpu.run() else { Issue.record("the write must fault while PROT_READ"); return }
        }
        #expect(data.base.load(as: UInt64.self) == 0, "no write landed")
        #expect(mprotect(data.base, 4096, PROT_READ | PROT_WRITE) == 0)
        #expect(try runUntilDone(vcpu).isEmpty, "re-entered, the same store completes")
        #expect(data.base.load(as: UInt64.self) == 77)
    }
}

@Suite(.requiresKVM)
struct ManualDirtyLogTests {
    @Test func withManualProtectAHarvestReportsUntilClearedAndClearingReprotects() throws {
        let kvm = try openKVM()
        let machine = try GuestMachine(kvm: kvm, program: .poke)
        try machine.vm.enableCapability(.manualDirtyLogProtect, arguments: [1])
        let data = try MemoryRegion.anonymous(size: 16 * 4096)
        try machine.addMemory(slot: UInt32(GUEST_DATA_SLOT), at: dataAddress, region: data, flags: .logDirtyPages)
        let slot = UInt32(GUEST_DATA_SLOT)
        try machine.vm.clearDirtyLog(slot: slot, try machine.vm.dirtyLog(slot: slot))
        // Pages 1, 5, 9, 13.
        _ = try runUntilDone(try machine.createVCPU(id: 0, arguments: [dataAddress.rawValue + 4096, 4, 1, 4 * 4096]))
        let first = try machine.vm.dirtyLog(slot: slot)
        #expect(first.dirtyPages == [1, 5, 9, 13])
        #expect(try machine.vm.dirtyLog(slot: slot).dirtyPages == [1, 5, 9, 13], "without a clear, a harvest reports again")
        try machine.vm.clearDirtyLog(slot: slot, first)
        #expect(try machine.vm.dirtyLog(slot: slot).dirtyPages.isEmpty)
        // Written again after the clear: write-protected again, so reported again.
        _ = try runUntilDone(try machine.createVCPU(id: 1, arguments: [dataAddress.rawValue + 5 * 4096, 1, 9, 8]))
        #expect(try machine.vm.dirtyLog(slot: slot).dirtyPages == [5])
    }
}
