import Guests
import GuestRuntime
import KVM
import TestSupport
import Testing

@Suite(.requiresKVM)
struct HelloGuestTests {
    @Test func helloGuestPortAndDataArriveIntact() throws {
        let machine = try GuestMachine(kvm: try openKVM(), program: .hello)
        let vcpu = try machine.createVCPU(id: 0)
        let exits = try runUntilDone(vcpu)
        let hello = withUnsafeBytes(of: UInt32(GUEST_HELLO_DATA).littleEndian) { ExitData($0) }
        #expect(exits == [.ioOut(port: UInt16(GUEST_PORT_HELLO), size: 4, data: hello)])
    }

    @Test func guestRunsAtCPL3InLongMode() throws {
        let machine = try GuestMachine(kvm: try openKVM(), program: .hello)
        let vcpu = try machine.createVCPU(id: 0)
        _ = try runUntilDone(vcpu)
        let sregs = try vcpu.specialRegisters()
        #expect(sregs.cs.dpl == 3 && sregs.cs.l == 1)
        #expect(sregs.efer & 0x400 != 0, "EFER.LMA set: the vCPU is in long mode")
    }

    @Test func registersRoundTrip() throws {
        let machine = try GuestMachine(kvm: try openKVM(), program: .hello)
        let vcpu = try machine.createVCPU(id: 0)
        var regs = try vcpu.registers()
        regs.rax = 0x1122_3344_5566_7788
        regs.r15 = 0xdead_beef_cafe_f00d
        regs.rbx = 42
        try vcpu.setRegisters(regs)
        let back = try vcpu.registers()
        #expect(back.rax == regs.rax && back.r15 == regs.r15 && back.rbx == 42 && back.rip == UInt64(GUEST_CODE_GPA))
    }

    @Test func specialRegistersRoundTrip() throws {
        let machine = try GuestMachine(kvm: try openKVM(), program: .hello)
        let vcpu = try machine.createVCPU(id: 0)
        let sregs = try vcpu.specialRegisters()
        #expect(sregs.cr3 == machine.pageTables.root.rawValue)
        #expect(sregs.cr0 == LongMode.cr0)
        #expect(sregs.cs.selector == LongMode.codeSelector && sregs.ss.selector == LongMode.dataSelector)
    }

    @Test func pageFaultWithoutIDTIsATripleFault() throws {
        // An address no page table maps: #PF at CPL3, no IDT, so shutdown.
        let machine = try GuestMachine(kvm: try openKVM(), program: .peek)
        let vcpu = try machine.createVCPU(id: 0, arguments: [0x7000_0000_0000, 1])
        #expect(try vcpu.run() == .shutdown)
    }
}
