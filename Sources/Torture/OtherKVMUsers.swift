import Foundation

/// Other processes running KVM VMs on this host (they hold an `anon_inode:kvm-vm` descriptor): they share the CPUs
/// the run pins its threads to, so a flush has fewer chances to find a vCPU in guest mode, and the run proves less.
/// Read from /proc/PID/fd, which shows other users' processes to root only: elsewhere the list may be short.
enum OtherKVMUsers {
    struct User: Equatable {
        var pid: Int32
        var command: String
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
            users.append(User(pid: pid, command: command))
        }
        return users.sorted { $0.pid < $1.pid }
    }

    /// The note a report carries when there are any.
    static func note(_ users: [User]) -> String? {
        guard !users.isEmpty else { return nil }
        let list = users.prefix(5).map { "\($0.command) (pid \($0.pid))" }.joined(separator: ", ")
        return "other KVM VMs were running on this host (\(list)\(users.count > 5 ? ", …" : "")): they share the CPUs this run pinned its threads to, so fewer flushes had to reach a running vCPU and the run proves less"
    }
}
