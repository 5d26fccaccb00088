#if canImport(Glibc)
import CHost
import Glibc
#endif
import Atomics
import CKVM
import Guests
import KVM

// Windows the mutator holds inside a step: must-fault and read-only windows between two calls, and inside the
// memslot operation's flip of the whole data slot (MemslotFlip).
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

    /// After a read-only window: no guest write may have landed on the page while it was protected (PROT_READ,
    /// or userfaultfd write-protection).
    func checkNoWriteLanded(page: Int, before: [UInt64], of operation: Operation) {
        let after = writerWords(page: page)
        for (writer, (old, new)) in zip(before, after).enumerated() where old != new {
            observations.addViolation(Violation(
                kind: .writeWhileReadOnly, vcpu: writer, page: page, word: Int(GUEST_READER_WORDS) + writer,
                controlBefore: 0, controlAfter: 0, window: "read-only", expected: old, observed: new, time: observations.elapsed,
                operationInFlight: "\(operation.rawValue) on page \(page)", recentOperations: observations.recentOperations(page: page)))
        }
    }
}
