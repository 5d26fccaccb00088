import Guests

/// Where the checker resumes after one of its data accesses faulted (`guest_abi.h`, "Faulting pages"): the read
/// is skipped and the write deferred, so the checker moves on instead of waiting out a must-fault window.
enum CheckerFaultPoints {
    /// The guest address to resume at after an EFAULT at `rip`, or nil to re-enter at `rip` (an access the
    /// checker cannot move past, such as a recheck, or another program than the checker).
    static func resumption(after rip: UInt64) -> UInt64? {
        switch rip {
        case read: readFaulted
        case writeLoad, writeStore: writeFaulted
        default: nil
        }
    }

    private static let points = guest_checker_fault_points()
    private static func address(_ offset: UInt64) -> UInt64 { UInt64(GUEST_CODE_GPA) + offset }
    private static var read: UInt64 { address(points.read) }
    private static var writeLoad: UInt64 { address(points.write_load) }
    private static var writeStore: UInt64 { address(points.write_store) }
    private static var readFaulted: UInt64 { address(points.read_faulted) }
    private static var writeFaulted: UInt64 { address(points.write_faulted) }
}
