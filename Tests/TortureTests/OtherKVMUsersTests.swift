import Foundation
import Testing
@testable import Torture

/// A run beside other VMs says whether they competed for its CPUs: a process that took CPU time during the run
/// did; one that only held a VM open (the lab's static-key holder) did not.
@Suite struct OtherKVMUsersTests {
    let holder = OtherKVMUsers.User(pid: 105, command: "hold-static-key", cpuTicks: 3)
    let qemu = OtherKVMUsers.User(pid: 200, command: "qemu-system-x86", cpuTicks: 5000)

    @Test func aVMHeldOpenAndIdleDidNotCompete() throws {
        let note = try #require(OtherKVMUsers.note(atStart: [holder], atEnd: [holder]))
        #expect(note.contains("idle") && note.contains("hold-static-key (pid 105)") && !note.contains("proves less"), "\(note)")
    }

    @Test func aVMWhoseProcessTookCPUTimeCompetedAndTheIdleOneIsStillNamed() throws {
        var later = qemu
        later.cpuTicks = 5400
        let note = try #require(OtherKVMUsers.note(atStart: [holder, qemu], atEnd: [holder, later]))
        #expect(note.contains("qemu-system-x86 (pid 200)") && note.contains("proves less"), "\(note)")
        #expect(note.contains("idle (no CPU time during the run): hold-static-key (pid 105)"), "\(note)")
        // A process that is gone, or whose CPU time cannot be read, may have competed: it is not called idle.
        #expect(OtherKVMUsers.note(atStart: [qemu], atEnd: [])?.contains("proves less") == true)
        #expect(OtherKVMUsers.note(atStart: [], atEnd: [qemu]) == nil)
    }

    @Test func thisProcessesCPUTimeIsRead() throws {
        let ticks = try #require(OtherKVMUsers.cpuTicks(getpid()))
        let deadline = Date().addingTimeInterval(5)
        var spins = 0
        while OtherKVMUsers.cpuTicks(getpid()) == ticks && Date() < deadline { spins &+= 1 }
        #expect(OtherKVMUsers.cpuTicks(getpid())! > ticks, "spinning must move this process's CPU time (\(spins) spins)")
    }
}
