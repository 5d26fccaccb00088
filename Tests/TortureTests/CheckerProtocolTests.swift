import Guests
import GuestRuntime
import KVM
import TestSupport
import Testing

/// The checker guest on its own, with control words set by hand: the protocol's edges.
@Suite(.requiresKVM)
struct CheckerProtocolTests {
    let pages = 8

    /// A checker machine over `pages` pages whose control words are all 0 (every page in flux) and whose data is
    /// garbage, plus the first vCPU.
    /// `mapControl` false leaves the control page out of guest memory: each control word read then exits as an
    /// MMIO read the test answers.
    func checkerMachine(mapControl: Bool = true, sweepsPerHeartbeat: UInt64 = 1000) throws -> (GuestMachine, UnsafeMutablePointer<UInt64>, UnsafeMutableRawPointer, VCPU) {
        let machine = try GuestMachine(kvm: try KVMSystem(devicePath: kvmDevicePath), program: .checker)
        let control = try MemoryRegion.anonymous(size: 4096)
        let data = try MemoryRegion.anonymous(size: pages * 4096)
        if mapControl {
            try machine.addMemory(slot: UInt32(GUEST_CONTROL_SLOT), at: GuestPhysicalAddress(UInt64(GUEST_CONTROL_GPA)), region: control)
        } else {
            try machine.identityMap(GuestPhysicalAddress(UInt64(GUEST_CONTROL_GPA)), size: 4096)  // mapped, no slot behind
        }
        try machine.addMemory(slot: UInt32(GUEST_DATA_SLOT), at: GuestPhysicalAddress(UInt64(GUEST_DATA_GPA)), region: data)
        data.base.initializeMemory(as: UInt8.self, repeating: 0xa5, count: pages * 4096)
        let vcpu = try machine.createVCPU(id: 0, arguments: [
            0, UInt64(pages), UInt64(GUEST_DATA_GPA), UInt64(GUEST_CONTROL_GPA), UInt64(GUEST_STATUS_GPA), sweepsPerHeartbeat,
        ])
        machine.statusBlock(vcpu: 0)[Int(GUEST_STATUS_MODE)] = UInt64(GUEST_MODE_READ)
        return (machine, control.base.assumingMemoryBound(to: UInt64.self), data.base, vcpu)
    }

    @Test func aPageInFluxIsNeverJudged() throws {
        let (machine, _, _, vcpu) = try checkerMachine()
        // Every control word is 0 and the data is garbage: the checker must count inconclusive, never report.
        #expect(try vcpu.run().outPort == GUEST_PORT_HEARTBEAT)
        let status = machine.statusBlock(vcpu: 0)
        #expect(status[Int(GUEST_STATUS_SWEEPS)] == 1000)
        #expect(status[Int(GUEST_STATUS_INCONCLUSIVE)] == UInt64(1000 * pages))
        #expect(status[Int(GUEST_STATUS_CONCLUSIVE_GENERATION)] == 0)
        #expect(status[Int(GUEST_STATUS_VIOLATIONS)] == 0)
    }

    @Test func aPublicationTheDataContradictsIsReportedWithItsDetailAndRechecked() throws {
        let (_, control, data, vcpu) = try checkerMachine()
        let generation: UInt64 = 0x0100_0000_0000_0007
        for page in 0..<pages { control[page] = generation }
        for page in 0..<pages where page != 3 {  // page 3 keeps its garbage
            (data + page * 4096).assumingMemoryBound(to: UInt64.self).update(repeating: generation, count: Int(GUEST_READER_WORDS))
        }
        #expect(try vcpu.run().outPort == GUEST_PORT_VIOLATION)
        let regs = try vcpu.registers()
        #expect(regs.r10 == 3 && regs.r8 == generation && regs.rcx == 0xa5a5_a5a5_a5a5_a5a5)
        #expect(regs.rax == generation && regs.rdx == generation)
        #expect(try vcpu.run().outPort == GUEST_PORT_RECHECK)
        #expect(try vcpu.registers().rcx == 0xa5a5_a5a5_a5a5_a5a5, "the stale content survives the exit")
    }

    /// Each window kind with a value it must accept and one it must flag: (control word, data, flagged).
    static let windows: [(String, UInt64, UInt64, Bool)] = [
        ("generation", 0x0100_0000_0000_0011, 0x0100_0000_0000_0011, false),
        ("generation, an older one", 0x0100_0000_0000_0011, 0x0100_0000_0000_0010, true),
        ("generation, a trap's poison", 0x0100_0000_0000_0011, 0x5a00_0000_0000_0012, true),
        ("must-read-zero", 0x0200_0000_0000_0013, 0, false),
        ("must-read-zero, a stale generation", 0x0200_0000_0000_0013, 0x0100_0000_0000_0011, true),
        ("must-read-zero, a trap's poison", 0x0200_0000_0000_0013, 0x5a00_0000_0000_0012, true),
        ("content-kept", 0x0400_0000_0000_0011, 0x0100_0000_0000_0011, false),
        ("content-kept, another generation", 0x0400_0000_0000_0011, 0x0100_0000_0000_0014, true),
        ("content-kept, zero", 0x0400_0000_0000_0011, 0, true),
    ]

    @Test(arguments: windows)
    func eachWindowAcceptsItsContentAndFlagsAnyOther(name: String, control word: UInt64, data value: UInt64, flagged: Bool) throws {
        let (machine, control, data, vcpu) = try checkerMachine()
        for page in 0..<pages {
            control[page] = word
            (data + page * 4096).assumingMemoryBound(to: UInt64.self).update(repeating: value, count: Int(GUEST_READER_WORDS))
        }
        let exit = try vcpu.run().outPort
        let status = machine.statusBlock(vcpu: 0)
        if flagged {
            #expect(exit == GUEST_PORT_VIOLATION, "\(name)")
            let regs = try vcpu.registers()
            #expect(regs.r10 == 0 && regs.rax == word && regs.rdx == word && regs.rcx == value, "\(name)")
        } else {
            #expect(exit == GUEST_PORT_HEARTBEAT, "\(name)")
            #expect(status[Int(GUEST_STATUS_VIOLATIONS)] == 0, "\(name)")
            let counted = [GUEST_STATUS_CONCLUSIVE_GENERATION, GUEST_STATUS_CONCLUSIVE_ZERO, GUEST_STATUS_CONCLUSIVE_KEEP].map { status[Int($0)] }
            #expect(counted.reduce(0, +) == UInt64(1000 * pages), "\(name): every check conclusive, in its window's count")
        }
    }

    /// Runs the checker with its control words served as MMIO: each check's first read (before the data) gets
    /// `before`, its second (after) `after`; returns the port of the first `out`.
    func runWithControlWordsServed(before: UInt64, after: UInt64, vcpu: VCPU) throws -> Int32? {
        var reads = 0
        while true {
            let exit = try vcpu.run()
            guard case .mmioRead(let address, let length) = exit else { return exit.outPort }
            #expect(length == 8 && address.rawValue >= UInt64(GUEST_CONTROL_GPA) && address.rawValue < UInt64(GUEST_CONTROL_GPA) + UInt64(pages * 8))
            let word = reads % 2 == 0 ? before : after
            vcpu.completeMMIORead(with: withUnsafeBytes(of: word.littleEndian) { Array($0) })
            reads += 1
        }
    }

    @Test func aControlWordThatChangedAcrossTheReadIsNeverJudged() throws {
        // The data is garbage: judged against either publication it would be a violation. The control word read
        // after the data differs from the one before (c1 != c2: the host republished meanwhile), so no check is
        // judged: every one is inconclusive.
        let (machine, _, _, vcpu) = try checkerMachine(mapControl: false, sweepsPerHeartbeat: 10)
        #expect(try runWithControlWordsServed(before: 0x0100_0000_0000_0021, after: 0x0100_0000_0000_0022, vcpu: vcpu) == GUEST_PORT_HEARTBEAT)
        let status = machine.statusBlock(vcpu: 0)
        #expect(status[Int(GUEST_STATUS_INCONCLUSIVE)] == UInt64(10 * pages) && status[Int(GUEST_STATUS_VIOLATIONS)] == 0)
        // The same served word both times makes the very first check conclusive, and the garbage a violation.
        let (_, _, _, judged) = try checkerMachine(mapControl: false, sweepsPerHeartbeat: 10)
        #expect(try runWithControlWordsServed(before: 0x0100_0000_0000_0021, after: 0x0100_0000_0000_0021, vcpu: judged) == GUEST_PORT_VIOLATION)
        #expect(try judged.registers().rcx == 0xa5a5_a5a5_a5a5_a5a5)
    }

    @Test func aControlWordOfNoKnownKindAbortsTheProtocol() throws {
        let (_, control, _, vcpu) = try checkerMachine()
        control[2] = 0x0700_0000_0000_0001
        #expect(try vcpu.run().outPort == GUEST_PORT_ABORT)
        #expect(try vcpu.registers().rax == 0x0700_0000_0000_0001)
    }

    @Test func aReadInsideAMustFaultWindowIsAViolation() throws {
        let (_, control, _, vcpu) = try checkerMachine()
        control[5] = 0x0300_0000_0000_0009  // must-fault, but the page is readable: the host lied
        #expect(try vcpu.run().outPort == GUEST_PORT_VIOLATION)
        #expect(try vcpu.registers().r10 == 5)
    }
}

extension VCPUExit {
    /// The port of an `out`, whatever byte al held; nil for any other exit.
    var outPort: Int32? { if case .ioOut(let port, _, _) = self { Int32(port) } else { nil } }
}

@Suite(.requiresKVM)
struct WriterProtocolTests {
    @Test func aWriterWhoseOwnWordChangedUnderItReportsTheReadback() throws {
        let machine = try GuestMachine(kvm: try KVMSystem(devicePath: kvmDevicePath), program: .checker)
        let control = try MemoryRegion.anonymous(size: 4096)
        let data = try MemoryRegion.anonymous(size: 4 * 4096)
        try machine.addMemory(slot: UInt32(GUEST_CONTROL_SLOT), at: GuestPhysicalAddress(UInt64(GUEST_CONTROL_GPA)), region: control)
        try machine.addMemory(slot: UInt32(GUEST_DATA_SLOT), at: GuestPhysicalAddress(UInt64(GUEST_DATA_GPA)), region: data)
        let status = machine.statusBlock(vcpu: 0)
        status[Int(GUEST_STATUS_MODE)] = UInt64(GUEST_MODE_WRITE)
        status[Int(GUEST_STATUS_WRITER_OFFSET)] = UInt64(GUEST_READER_WORDS) * 8
        status[Int(GUEST_STATUS_SEQUENCE)] = 1
        // Page 2's writer word holds something the writer never wrote.
        data.base.storeBytes(of: UInt64(0xbad), toByteOffset: 2 * 4096 + Int(GUEST_READER_WORDS) * 8, as: UInt64.self)
        let vcpu = try machine.createVCPU(id: 0, arguments: [
            0, 4, UInt64(GUEST_DATA_GPA), UInt64(GUEST_CONTROL_GPA), UInt64(GUEST_STATUS_GPA), 1_000_000,
        ])
        #expect(try vcpu.run().outPort == GUEST_PORT_READBACK)
        let regs = try vcpu.registers()
        #expect(regs.r10 == 2 && regs.rax == 0xbad && regs.rcx == 0 && regs.r8 == 1)
        // Pages 0 and 1 already hold sequence 1: the writer got that far before the bad word.
        #expect(data.base.load(fromByteOffset: Int(GUEST_READER_WORDS) * 8, as: UInt64.self) == 1)
    }
}
