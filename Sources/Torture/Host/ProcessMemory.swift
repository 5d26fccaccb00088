#if canImport(Glibc)
import Glibc
#endif

/// The harness's own memory, from /proc/self/statm.
package enum ProcessMemory {
    /// Resident set size in KiB, or nil where /proc is unreadable.
    package static func residentKB() -> Int? {
        guard let statm = ProcFile.read("/proc/self/statm") else { return nil }
        let fields = statm.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE))) / 1024
    }
}
