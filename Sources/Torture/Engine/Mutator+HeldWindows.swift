#if canImport(Glibc)
import CHost
import Glibc
#endif
import Atomics
import CKVM
import Guests
import KVM

// Windows the mutator holds inside a step: must-fault and read-only windows between two calls, and the memslot
// operation's flip of the whole data slot.
extension Mutator {
    /// While the pages are away (memslot: the slot deleted or moved): any guest read that succeeds now is a
    /// violation. Held inside the step's call: a memslot step runs alone. (Also the faultearly control's early
    /// window, held before the call.)
    func holdFaultWindow(_ pages: Range<Int>, of operation: Operation = .memslot) {
        let evidence = windows.evidence(.fault)
        publishHeldWindow(.fault, on: pages)
        observations.faultWindowOpen(true, slot: currentSlot)
        spin(microseconds: configuration.faultWindowMicroseconds)
        observations.faultWindowOpen(false, slot: currentSlot)
        for p in pages { control.close(p) }
        windows.closed(.fault, of: operation, evidenceBefore: evidence)
    }

    /// Publishes the window held while pages are away (must-fault: any read that succeeds is a violation) or
    /// read-only (reads must see the kept content). Every such window is published here, the faultearly
    /// control's too, so the control fires through the code it stands for.
    func publishHeldWindow(_ kind: WindowKind, on pages: Range<Int>) {
        for p in pages { control.publish(p, kind == .readOnly ? ControlWord.make(.keep, currentGeneration[p]) : ControlWord.make(.fault, takeCounter())) }
    }

    /// After a read-only window: no guest write may have landed on the page while it was PROT_READ.
    func checkNoWriteLanded(page: Int, before: [UInt64]) {
        let after = writerWords(page: page)
        for (writer, (old, new)) in zip(before, after).enumerated() where old != new {
            observations.addViolation(Violation(
                kind: .writeWhileReadOnly, vcpu: writer, page: page, word: Int(GUEST_READER_WORDS) + writer,
                controlBefore: 0, controlAfter: 0, window: "read-only", expected: old, observed: new, time: observations.elapsed,
                operationInFlight: "mprotect-ro on page \(page)", recentOperations: observations.recentOperations(page: page)))
        }
    }

    /// Deletes and re-adds the data slot, or moves it away and back, while the vCPUs run. Once the delete or move
    /// has returned, no guest access to the data may be translated any more: each must exit as MMIO, which the
    /// vCPU workers serve from the same host memory (VCPUWorker). So while the slot is away every page holds a
    /// must-fault window: a read the guest made without an MMIO exit went through an SPTE the slot change should
    /// have zapped, and is a violation; a read served by MMIO is counted apart, not as a check.
    func flipDataSlot(_ pages: Range<Int>) throws {
        alternate.toggle()
        let slot = UInt32(GUEST_DATA_SLOT)
        let home = GuestPhysicalAddress(UInt64(GUEST_DATA_GPA))
        // The negative control: the window opens while the slot is still there and reads are still translated.
        if configuration.injection == .slotearly { holdFaultWindow(pages) }
        // The slot's change is in flight from before it goes until its return has completed: a vCPU run wholly
        // outside that may not exit as MMIO on the data (VCPUWorker). The slotback control ends it early.
        let slotState = observations.dataSlot
        slotState.beginChange()
        var ended = false
        defer { if !ended { slotState.endChange() } }
        let comeBack = { (back: () throws -> Void) in
            if self.configuration.injection == .slotback {
                slotState.endChange()
                ended = true
                self.spin(microseconds: self.configuration.faultWindowMicroseconds)
            }
            try back()
        }
        if alternate {
            try environment.vm.deleteMemorySlot(slot)
            holdFaultWindow(pages)
            try comeBack { try environment.vm.setMemorySlot(slot, guestAddress: home, region: backing.region, flags: environment.dataSlotFlags) }
        } else {
            // Just above the data: no page table maps it, and nothing else lives there.
            let away = home + UInt64(configuration.dataBytes)
            try environment.vm.moveMemorySlot(slot, to: away)
            holdFaultWindow(pages)
            try comeBack { try environment.vm.moveMemorySlot(slot, to: home) }
        }
    }
}
