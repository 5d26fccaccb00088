#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Memory-cgroup reclaim for the aging operation: reclaim scans the LRU and asks of every page whether it was
/// used lately (`folio_referenced`, which reaches KVM through `clear_flush_young` / `clear_young`: KVM must age
/// or drop its own mapping of the page), then evicts the cold ones (`try_to_unmap`: an invalidation).
///
/// cgroup v2: the harness's own cgroup's `memory.reclaim` (which also reclaims from any other process in that
/// cgroup). cgroup v1: the harness moves into a child memory cgroup of its own, made for the run, and each step
/// lowers that child's limit below its usage, then lifts it again. Either way only under `--allow-system-changes`
/// and as root; ``restore()`` moves the process back and removes the child.
final class ReclaimCgroup {
    enum Interface: String { case reclaimFile = "cgroup v2 memory.reclaim", childLimit = "cgroup v1 child limit" }
    let interface: Interface
    /// The cgroup directory the steps act on.
    let directory: String
    /// v1: the cgroup the process came from, to go back to.
    private var original: String?
    /// Where the child cgroup is journaled before it is made (a SIGKILL cannot leave it behind for good).
    private let changes: SystemChanges

    /// Where this process's memory cgroup lives, and which interface it offers; or why there is none.
    static func locate() -> Result<(Interface, String), ReclaimCgroupError> {
        guard geteuid() == 0 else { return .failure(ReclaimCgroupError("reclaim through a memory cgroup needs root")) }
        let lines = (ProcFile.read("/proc/self/cgroup") ?? "").split(separator: "\n")
        if let v1 = lines.first(where: { $0.split(separator: ":", maxSplits: 2).dropFirst().first?.split(separator: ",").contains("memory") == true }) {
            let path = "/sys/fs/cgroup/memory" + String(v1.split(separator: ":", maxSplits: 2)[2])
            guard FileManager.default.fileExists(atPath: path + "/memory.limit_in_bytes") else {
                return .failure(ReclaimCgroupError("\(path)/memory.limit_in_bytes is missing"))
            }
            return .success((.childLimit, path))
        }
        if let v2 = lines.first(where: { $0.hasPrefix("0::") }) {
            for root in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
                let path = root + String(v2.dropFirst(3))
                if FileManager.default.fileExists(atPath: path + "/memory.reclaim") { return .success((.reclaimFile, path)) }
            }
            return .failure(ReclaimCgroupError("this cgroup v2 has no memory.reclaim here (Linux 5.19+, memory controller enabled)"))
        }
        return .failure(ReclaimCgroupError("no memory cgroup in /proc/self/cgroup"))
    }

    /// Sets up reclaim; v1 moves the whole process into a new child cgroup (pages it touches from now on are
    /// charged there).
    init(changes: SystemChanges) throws {
        self.changes = changes
        let (interface, path) = try Self.locate().get()
        self.interface = interface
        switch interface {
        case .reclaimFile:
            directory = path
        case .childLimit:
            directory = path + "/mmutorture-\(getpid())"
            // A process killed in it leaves the child empty (the kernel moves nothing back): rmdir is the undo.
            changes.journal("cgroup", settings: [("rmdir", directory)])
            guard mkdir(directory, 0o755) == 0 || errno == EEXIST else {
                changes.forget("cgroup")
                throw ReclaimCgroupError("mkdir \(directory): errno \(errno)")
            }
            guard ProcFile.write("\(getpid())", to: directory + "/cgroup.procs") else {
                rmdir(directory)
                changes.forget("cgroup")
                throw ReclaimCgroupError("cannot move the harness into \(directory) (errno \(errno))")
            }
            original = path
        }
    }

    /// Asks the kernel to reclaim about `bytes` from the cgroup; the bytes it did reclaim (by usage), or nil if it
    /// refused (nothing reclaimable right now: EAGAIN / EBUSY, counted by the caller).
    func reclaim(bytes: Int) -> Int? {
        switch interface {
        case .reclaimFile:
            let before = usage()
            guard ProcFile.write("\(bytes)", to: directory + "/memory.reclaim") else { return nil }
            return max(0, (before ?? 0) - (usage() ?? 0))
        case .childLimit:
            guard let before = usage() else { return nil }
            let lowered = ProcFile.write("\(max(4096, before - bytes))", to: directory + "/memory.limit_in_bytes")
            _ = ProcFile.write("-1", to: directory + "/memory.limit_in_bytes")
            return lowered ? max(0, before - (usage() ?? before)) : nil
        }
    }

    private func usage() -> Int? {
        let file = interface == .childLimit ? "/memory.usage_in_bytes" : "/memory.current"
        return ProcFile.value(directory + file).flatMap { Int($0) }
    }

    /// Moves the process back and removes the child cgroup (v1). Safe to call twice.
    func restore() {
        guard let original else { return }
        _ = ProcFile.write("\(getpid())", to: original + "/cgroup.procs")
        rmdir(directory)
        self.original = nil
        changes.forget("cgroup")
    }

    deinit { restore() }
}

struct ReclaimCgroupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
