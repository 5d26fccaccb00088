import Guests
import GuestRuntime
import KVM
import Testing

/// Runs `vcpu` until the guest reports done, collecting the other exits; fails the test on anything unexpected.
func runUntilDone(_ vcpu: VCPU, maxExits: Int = 10_000) throws -> [VCPUExit] {
    var exits: [VCPUExit] = []
    for _ in 0..<maxExits {
        let exit = try vcpu.run()
        if case .ioOut(let port, _, _) = exit, port == UInt16(GUEST_PORT_DONE) { return exits }
        switch exit {
        case .ioOut: exits.append(exit)
        default:
            Issue.record("unexpected exit \(exit) at rip 0x\(String((try? vcpu.registers().rip) ?? 0, radix: 16))")
            return exits + [exit]
        }
    }
    Issue.record("guest did not finish within \(maxExits) exits")
    return exits
}

/// A machine running `program` with a 4 KiB-mapped data slot of `dataPages` pages at GUEST_DATA_GPA.
func machineWithData(
    _ kvm: KVMSystem, program: GuestProgram, dataPages: Int, flags: MemorySlotFlags = []
) throws -> (GuestMachine, MemoryRegion) {
    let machine = try GuestMachine(kvm: kvm, program: program)
    let data = try MemoryRegion.anonymous(size: dataPages * 4096)
    try machine.addMemory(slot: UInt32(GUEST_DATA_SLOT), at: dataAddress, region: data, flags: flags)
    return (machine, data)
}

let dataAddress = GuestPhysicalAddress(UInt64(GUEST_DATA_GPA))
