#if canImport(Glibc)
import Glibc
#endif
import Guests
import GuestRuntime
import KVM
import TestSupport
import Testing
@testable import Torture

/// The checker moving past a faulting page (`guest_abi.h`, "Faulting pages"): the host resumes it past the access
/// that faulted, a write it could not make is deferred in the ring, and the publication waits for it.
@Suite(.requiresKVM)
struct CheckerFaultTests {
    let pages = 12
    let sweepsPerHeartbeat: UInt64 = 5
    let generation: UInt64 = 0x0100_0000_0000_0031

    /// A checker in mode both over `pages` pages, every page published and holding its generation, writer 0.
    struct Checker {
        let machine: GuestMachine
        let data: UnsafeMutableRawPointer
        let vcpu: VCPU
        var status: UnsafeMutablePointer<UInt64> { machine.statusBlock(vcpu: 0) }
        subscript(_ word: Int32) -> UInt64 { status[Int(word)] }

        func writerWord(page: Int) -> UInt64 {
            (data + page * 4096 + Int(GUEST_READER_WORDS) * 8).load(as: UInt64.self)
        }
        func setWriterWord(page: Int, _ value: UInt64) {
            (data + page * 4096 + Int(GUEST_READER_WORDS) * 8).storeBytes(of: value, as: UInt64.self)
        }
        func protect(_ pages: [Int], _ protection: Int32) throws {
            for page in pages { try HostMemory.mprotect(data + page * 4096, 4096, protection) }
        }

        /// Runs to the next `out`, resuming the checker past every EFAULT as the engine does (or, with `resume`
        /// false, re-entering at the access, as before the ring existed), at most `limit` faults.
        /// Returns the port and the pages that faulted, in order.
        func runToPort(resume: Bool = true, limit: Int = 10_000) throws -> (port: Int32?, faulted: [Int]) {
            var faulted: [Int] = []
            while faulted.count < limit {
                let exit = try vcpu.run()
                guard case .memoryFault = exit else { return (exit.outPort, faulted) }
                let registers = try vcpu.registers()
                faulted.append(Int(registers.r10))
                if resume, let next = CheckerFaultPoints.resumed(registers) { try vcpu.setRegisters(next) }
            }
            return (nil, faulted)
        }
    }

    func checker() throws -> Checker {
        let machine = try GuestMachine(kvm: try KVMSystem(devicePath: kvmDevicePath), program: .checker)
        let control = try MemoryRegion.anonymous(size: 4096)
        let data = try MemoryRegion.anonymous(size: pages * 4096)
        try machine.addMemory(slot: UInt32(GUEST_CONTROL_SLOT), at: GuestPhysicalAddress(UInt64(GUEST_CONTROL_GPA)), region: control)
        try machine.addMemory(slot: UInt32(GUEST_DATA_SLOT), at: GuestPhysicalAddress(UInt64(GUEST_DATA_GPA)), region: data)
        for page in 0..<pages {
            control.base.assumingMemoryBound(to: UInt64.self)[page] = generation
            (data.base + page * 4096).assumingMemoryBound(to: UInt64.self).update(repeating: generation, count: Int(GUEST_READER_WORDS))
        }
        let vcpu = try machine.createVCPU(id: 0, arguments: CheckerStatus.entryArguments(vcpu: 0, pages: pages, heartbeatSweeps: sweepsPerHeartbeat))
        CheckerStatus(block: machine.statusBlock(vcpu: 0)).configure(mode: .both, writer: 0, hotPages: 0, hotRepeat: 0)
        return Checker(machine: machine, data: data.base, vcpu: vcpu)
    }

    @Test func aFaultingPageIsSkippedItsWriteDeferredAndThePublicationWaitsForIt() throws {
        let checker = try checker()
        #expect(try checker.runToPort().port == GUEST_PORT_HEARTBEAT)
        #expect(checker[GUEST_STATUS_PUBLISHED] == 5 && checker[GUEST_STATUS_COMPLETE] == 5)

        // Page 3 unreadable for five sweeps: each sweep faults on it once and goes on.
        try checker.protect([3], PROT_NONE)
        let (port, faulted) = try checker.runToPort()
        #expect(port == GUEST_PORT_HEARTBEAT, "the checker moved past the page")
        #expect(faulted == Array(repeating: 3, count: 5))
        #expect(checker[GUEST_STATUS_SWEEPS] == 10 && checker[GUEST_STATUS_SKIPPED_READS] == 5)
        #expect(checker[GUEST_STATUS_DEFERRED_WRITES] == 1, "one entry, kept across the sweeps")
        #expect(checker[GUEST_STATUS_PUBLISHED] == 5, "held to what page 3 still holds (sweep 6 could not write it)")
        #expect(checker[GUEST_STATUS_COMPLETE] == 5)
        #expect((0..<pages).filter { $0 != 3 }.allSatisfy { checker.writerWord(page: $0) == 10 })
        #expect(checker[GUEST_STATUS_VIOLATIONS] == 0)

        // Back: the deferred write is made (its readback expects 5), and the publication catches up.
        try checker.protect([3], PROT_READ | PROT_WRITE)
        #expect(checker.writerWord(page: 3) == 5)
        let back = try checker.runToPort()
        #expect(back.port == GUEST_PORT_HEARTBEAT && back.faulted.isEmpty)
        #expect(checker[GUEST_STATUS_PUBLISHED] == 15 && checker[GUEST_STATUS_COMPLETE] == 15)
        #expect(checker[GUEST_STATUS_DEFERRED_COUNT] == 0 && checker[GUEST_STATUS_VIOLATIONS] == 0)
        #expect((0..<pages).allSatisfy { checker.writerWord(page: $0) == 15 })
    }

    @Test func aDeferredPageThatLostItsLastWriteIsFlaggedWhenItComesBack() throws {
        let checker = try checker()
        #expect(try checker.runToPort().port == GUEST_PORT_HEARTBEAT)
        try checker.protect([3], PROT_READ)  // readable, not writable: the store faults, the load does not
        #expect(try checker.runToPort().port == GUEST_PORT_HEARTBEAT)
        #expect(checker[GUEST_STATUS_SKIPPED_READS] == 0 && checker[GUEST_STATUS_DEFERRED_WRITES] == 1)
        #expect(checker[GUEST_STATUS_PUBLISHED] == 5)
        // While deferred, the word goes back to an older number: the write of sweep 5 is lost.
        try checker.protect([3], PROT_READ | PROT_WRITE)
        checker.setWriterWord(page: 3, 3)
        #expect(try checker.runToPort().port == GUEST_PORT_READBACK)
        let readback = CheckerReport.Readback(try checker.vcpu.registers())
        #expect(readback.page == 3 && readback.observed == 3 && readback.expected == 5)
    }

    @Test func withTheRingFullTheCheckerWaitsForThePageAsBefore() throws {
        let checker = try checker()
        let unmapped = Array(0..<(Int(GUEST_DEFERRED_SLOTS) + 2))
        try checker.protect(unmapped, PROT_NONE)
        // The ring takes the first eight pages; the ninth's write is tried again and again.
        let (port, faulted) = try checker.runToPort(limit: 200)
        #expect(port == nil)
        #expect(Array(faulted.prefix(8)) == Array(0..<8))
        #expect(faulted.dropFirst(8).allSatisfy { $0 == 8 })
        #expect(checker[GUEST_STATUS_DEFERRED_COUNT] == UInt64(GUEST_DEFERRED_SLOTS))
        try checker.protect(unmapped, PROT_READ | PROT_WRITE)
        #expect(try checker.runToPort().port == GUEST_PORT_HEARTBEAT)
        let back = try checker.runToPort()
        #expect(back.port == GUEST_PORT_HEARTBEAT && back.faulted.isEmpty)
        #expect(checker[GUEST_STATUS_DEFERRED_COUNT] == 0 && checker[GUEST_STATUS_VIOLATIONS] == 0)
        #expect(checker[GUEST_STATUS_PUBLISHED] == 10 && checker[GUEST_STATUS_COMPLETE] == 10)
    }

    /// The control: re-entered at the faulting access, as before, the checker never gets past page 3.
    @Test func reenteredAtTheAccessTheCheckerIsStuckOnTheFaultingPage() throws {
        let checker = try checker()
        try checker.protect([3], PROT_NONE)
        let (port, faulted) = try checker.runToPort(resume: false, limit: 200)
        #expect(port == nil && faulted.allSatisfy { $0 == 3 })
        #expect(checker[GUEST_STATUS_SWEEPS] == 0 && checker[GUEST_STATUS_SKIPPED_READS] == 0)
    }
}
