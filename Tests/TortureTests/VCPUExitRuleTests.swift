import Guests
import KVM
import Testing
@testable import Torture

/// The vCPU workers' exit rules, apart from a vCPU: where the checker resumes after a fault, and when an MMIO exit
/// on the data is a stale MMIO decision. No `/dev/kvm`.
struct VCPUExitRuleTests {
    /// A fault at the checker's data read resumes it past the read; at its writer's load or store, past the write;
    /// anywhere else it re-enters where it faulted.
    @Test func aFaultAtTheCheckersDataAccessResumesPastIt() throws {
        let entry = UInt64(GUEST_CODE_GPA)
        let points = guest_checker_fault_points()
        var registers = Registers()
        registers.rip = entry + points.read
        registers.r10 = 7
        let read = try #require(CheckerFaultPoints.resumed(registers))
        #expect(read.rip == entry + points.read_faulted && read.r10 == 7, "the rest of the registers kept")
        for access in [points.write_load, points.write_store] {
            registers.rip = entry + access
            #expect(CheckerFaultPoints.resumed(registers)?.rip == entry + points.write_faulted)
        }
        registers.rip = entry + points.read + 1
        #expect(CheckerFaultPoints.resumed(registers) == nil, "not one of the checker's data accesses")
    }

    /// Stray MMIO: the data, a run that began with the slot present and saw no change. A change in flight when it
    /// began, or one that began or ended during it, excuses the exit.
    @Test func anMMIOExitOnTheDataIsStrayOnlyFromARunWithTheSlotUntouched() {
        let slot = DataSlotState()
        let data: Range<UInt64> = 0x1000_0000..<0x1010_0000
        let quiet = slot.snapshot
        #expect(slot.isStrayMMIO(at: 0x1000_2000, in: data, runBeganAt: quiet))
        #expect(!slot.isStrayMMIO(at: 0x2000_0000, in: data, runBeganAt: quiet), "not the data")
        slot.beginChange()
        #expect(!slot.isStrayMMIO(at: 0x1000_2000, in: data, runBeganAt: quiet), "a change began during the run")
        let during = slot.snapshot
        #expect(!slot.isStrayMMIO(at: 0x1000_2000, in: data, runBeganAt: during), "the run began with a change in flight")
        slot.endChange()
        #expect(!slot.isStrayMMIO(at: 0x1000_2000, in: data, runBeganAt: during), "the change ended during the run")
        #expect(slot.isStrayMMIO(at: 0x1000_2000, in: data, runBeganAt: slot.snapshot), "a run wholly after it")
    }
}
