#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The kernel's same-page merging daemon (ksmd), switched on for a `ksm` run and set back afterwards.
///
/// ksmd is system-wide: `/sys/kernel/mm/ksm/run` starts it for every process that marked memory
/// `MADV_MERGEABLE`. So mmutorture touches it only under `--allow-system-changes`, as root, and restores every value
/// it changed when the run ends (also on Ctrl-C or SIGTERM; not on SIGKILL, which nothing survives).
final class KSMDaemon {
    static let directory = "/sys/kernel/mm/ksm"
    /// What the run sets: ksmd on, scanning fast enough that a page left alone for a few tens of milliseconds is
    /// merged with its identical twin (the data and the twins are a few hundred pages).
    static let settings: [(name: String, value: String)] = [("sleep_millisecs", "10"), ("pages_to_scan", "1000"), ("run", "1")]

    /// The values found before the run, restored by ``restore()``.
    private var saved: [(name: String, value: String)] = []
    /// Where the values to put back are journaled before they change (a SIGKILL cannot lose them).
    private let changes: SystemChanges

    /// Why ksm cannot run on this host, or nil if it can.
    static func problem() -> String? {
        guard FileManager.default.fileExists(atPath: directory + "/run") else {
            return "this kernel has no KSM (\(directory) is missing; CONFIG_KSM)"
        }
        guard geteuid() == 0 else { return "starting ksmd needs root (it writes \(directory)/run)" }
        return nil
    }

    /// Starts ksmd with ``settings``, remembering what was there, in `changes`'s journal too.
    init(changes: SystemChanges) throws {
        self.changes = changes
        for (name, _) in Self.settings {
            let path = "\(Self.directory)/\(name)"
            guard let old = ProcFile.value(path) else { throw KSMError(path: path, problem: "cannot be read") }
            saved.append((name, old))
        }
        changes.journal("ksm", settings: saved.map { ("\(Self.directory)/\($0.name)", $0.value) })
        for (name, value) in Self.settings {
            let path = "\(Self.directory)/\(name)"
            guard ProcFile.write(value, to: path) else {
                restore()
                throw KSMError(path: path, problem: "cannot be written (errno \(errno))")
            }
        }
    }

    /// Puts back every value changed, in reverse order (ksmd's `run` first). Safe to call twice.
    func restore() {
        guard !saved.isEmpty else { return }
        for (name, value) in saved.reversed() { _ = ProcFile.write(value, to: "\(Self.directory)/\(name)") }
        saved = []
        changes.forget("ksm")
    }

    deinit { restore() }

    /// The current value of a ksm setting or counter (`run`, `full_scans`, `pages_sharing`, …).
    static func value(_ name: String) -> String? {
        ProcFile.value("\(directory)/\(name)")
    }

    /// `ksm_merging_pages` of this process (/proc/self/ksm_stat, Linux 6.1+), or nil.
    static func mergingPages() -> Int? {
        guard let stat = ProcFile.read("/proc/self/ksm_stat") else { return nil }
        for line in stat.split(separator: "\n") where line.hasPrefix("ksm_merging_pages ") {
            return Int(line.split(separator: " ").last ?? "")
        }
        return nil
    }
}

/// ksmd could not be set up.
struct KSMError: Error, CustomStringConvertible {
    var path: String
    var problem: String
    var description: String { "\(path) \(problem)" }
}
