#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Whether what the tool runs, sources or builds as root could have been written by another user: every file must
/// be owned by root or the caller and writable by neither group nor others, and so must every directory from it up
/// to `/` (a directory others may write could have the file swapped), but for a sticky one such as /tmp, where
/// others cannot replace what is not theirs. Git's `safe.directory` and OpenSSH's StrictModes are the models.
public enum TrustedPath {
    /// Why `path` (resolved through symbolic links), and the directories above it, cannot be trusted; nil if they can.
    public static func problem(_ path: String, owner: uid_t = geteuid()) -> String? {
        guard let resolved = realpath(path, nil) else { return "\(path): \(String(cString: strerror(errno)))" }
        defer { free(resolved) }
        var current = String(cString: resolved)
        var first = true
        while true {
            if let problem = problem(ofEntry: current, owner: owner, stickyParentAllowed: !first) { return problem }
            if current == "/" { return nil }
            current = (current as NSString).deletingLastPathComponent
            if current.isEmpty { current = "/" }
            first = false
        }
    }

    /// Why some entry of the tree under `directory` (the directory itself and the path above it included) cannot be
    /// trusted; nil if none.
    public static func problemInTree(_ directory: String, owner: uid_t = geteuid()) -> String? {
        if let problem = problem(directory, owner: owner) { return problem }
        guard let entries = FileManager.default.enumerator(atPath: directory) else { return nil }
        for case let entry as String in entries {
            if let problem = problem(ofEntry: "\(directory)/\(entry)", owner: owner, stickyParentAllowed: false) { return problem }
        }
        return nil
    }

    /// One entry, not followed if it is a symbolic link (the link itself must be the owner's; what it points at is
    /// checked where it is used).
    static func problem(ofEntry path: String, owner: uid_t, stickyParentAllowed: Bool) -> String? {
        var status = stat()
        guard lstat(path, &status) == 0 else { return "\(path): \(String(cString: strerror(errno)))" }
        if status.st_uid != 0 && status.st_uid != owner {
            return "\(path) is owned by uid \(status.st_uid), neither root nor you (uid \(owner))"
        }
        let kind = status.st_mode & S_IFMT
        if kind == S_IFLNK { return nil }
        let writableByOthers = status.st_mode & (S_IWGRP | S_IWOTH) != 0
        let sticky = status.st_mode & S_ISVTX != 0
        if writableByOthers && !(kind == S_IFDIR && sticky && stickyParentAllowed) {
            return "\(path) is writable by \(status.st_mode & S_IWOTH != 0 ? "every user" : "its group") (mode \(String(status.st_mode & 0o7777, radix: 8)))"
        }
        return nil
    }
}
