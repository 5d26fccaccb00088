import Guests
import KVM

/// Where the checker resumes after one of its data accesses faulted (`guest_abi.h`, "Faulting pages"): the read
/// is skipped and the write deferred, so the checker moves on instead of waiting out a must-fault window.
enum CheckerFaultPoints {
    /// The guest address to resume at after an EFAULT at `rip`, or nil to re-enter at `rip` (an access the
    /// checker cannot move past, such as a recheck, or another program than the checker).
    static func resumption(after rip: UInt64) -> UInt64? {
        let entry = UInt64(GUEST_CODE_GPA)
        switch rip &- entry {
        case points.read: return entry + points.read_faulted
        case points.write_load, points.write_store: return entry + points.write_faulted
        default: return nil
        }
    }

    /// The checker's registers after an EFAULT at one of its data accesses, moved past it; nil to re-enter where
    /// it faulted. (The vCPU workers resume the checker with these.)
    static func resumed(_ registers: Registers) -> Registers? {
        guard let resume = resumption(after: registers.rip) else { return nil }
        var moved = registers
        moved.rip = resume
        return moved
    }

    /// Offsets from the checker's entry, as checker.S exports them.
    private static let points = guest_checker_fault_points()
}
