import Foundation

/// Other processes running KVM VMs on this host (they hold an `anon_inode:kvm-vm` descriptor): they share the CPUs
/// the run pins its threads to, so a flush has fewer chances to find a vCPU in guest mode, and the run proves less.
/// Read from /proc/PID/fd, which shows other users' processes to root only: elsewhere the list may be short.
enum OtherKVMUsers {
    struct User: Equatable {
        var pid: Int32
        var command: String
        /// User and system CPU time so far (clock ticks), to tell a VM that runs from one merely held open.
        var cpuTicks: UInt64?
    }

    static func find(excluding ownPID: Int32 = getpid()) -> [User] {
        let fileManager = FileManager.default
        guard let entries = try? fileManager.contentsOfDirectory(atPath: "/proc") else { return [] }
        var users: [User] = []
        for entry in entries {
            guard let pid = Int32(entry), pid != ownPID,
                  let descriptors = try? fileManager.contentsOfDirectory(atPath: "/proc/\(entry)/fd") else { continue }
            let holdsVM = descriptors.contains { descriptor in
                (try? fileManager.destinationOfSymbolicLink(atPath: "/proc/\(entry)/fd/\(descriptor)")) == "anon_inode:kvm-vm"
            }
            guard holdsVM else { continue }
            let command = (try? String(contentsOfFile: "/proc/\(entry)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            users.append(User(pid: pid, command: command, cpuTicks: cpuTicks(pid)))
        }
        return users.sorted { $0.pid < $1.pid }
    }

    /// utime + stime of /proc/PID/stat (fields 14 and 15; counted after the command's closing parenthesis,
    /// since the command may hold spaces).
    static func cpuTicks(_ pid: Int32) -> UInt64? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = UInt64(fields[11]), let system = UInt64(fields[12]) else { return nil }
        return user + system
    }

    private static func list(_ users: [User]) -> String {
        users.prefix(5).map { "\($0.command) (pid \($0.pid))" }.joined(separator: ", ") + (users.count > 5 ? ", …" : "")
    }

    /// The warning when a run starts beside other VMs: whether they compete is known only at its end.
    static func warning(_ users: [User]) -> String? {
        guard !users.isEmpty else { return nil }
        return "other KVM VMs are open on this host (\(list(users))): if they run, they share the CPUs this run pins its threads to (the report says whether they took CPU time)"
    }

    /// The note a report carries: VMs whose processes took CPU time during the run competed with it; ones that
    /// took none (held open, idle) did not.
    static func note(atStart: [User], atEnd: [User]) -> String? {
        guard !atStart.isEmpty else { return nil }
        let busy = atStart.filter { user in
            guard let before = user.cpuTicks, let after = atEnd.first(where: { $0.pid == user.pid })?.cpuTicks else { return true }
            return after != before
        }
        let idle = atStart.filter { user in !busy.contains(user) }
        guard !busy.isEmpty else {
            return "other KVM VMs were open on this host (\(list(idle))), idle: their processes took no CPU time during the run, so they did not compete with it"
        }
        return "other KVM VMs were running on this host (\(list(busy))): they share the CPUs this run pinned its threads to, so fewer flushes had to reach a running vCPU and the run proves less"
            + (idle.isEmpty ? "" : "; idle (no CPU time during the run): \(list(idle))")
    }
}
