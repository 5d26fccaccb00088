import Torture

/// The guest's serial console as the lab reads it: the init's markers (`mmutorture-lab: workload NAME start`,
/// `... end exit=N`, `all workloads done`, `FATAL ...`) and the kernel's reports of its own bugs, each attributed
/// to the workload during which it was logged.
struct ConsoleLog {
    struct Finding {
        var workload: String?
        var finding: LabReport.KernelFinding
        /// BUG, Oops, panic, soft lockup, RCU stall, general protection fault: the guest may not recover.
        var fatal: Bool
        /// The console line it starts on.
        var line: Int
    }

    var started: [String] = []
    var ended: [String: Int32] = [:]
    var allDone = false
    /// Workloads the guest's own watchdog found still running long past their duration (then dumped and killed).
    var overdue: Set<String> = []
    var fatalMessages: [String] = []
    var findings: [Finding] = []
    var lines: [String] = []
    /// Each workload's first violation as its run announced it on the console (through /dev/kmsg, so it is out
    /// before a kernel BUG the same bug may cause a moment later can stop the guest).
    var announcements: [String: String] = [:]

    /// Problems the kernel reports about itself; the first group may leave the guest hung.
    static let fatalPatterns = ["BUG:", "kernel BUG at", "Oops", "Kernel panic", "soft lockup", "rcu_preempt detected stall",
                                "rcu_sched detected stall", "detected stalls on CPUs", "general protection fault", "hung_task", "blocked for more than"]
    /// The flush sanitizer's report comes before its WARNING line (and stands for it: one finding).
    static let warningPatterns = [ConsoleLog.lateFlushMarker, "WARNING:"]
    /// How the kernel's flush sanitizer (`lab/flush-sanitizer.patch`) starts its report of a late flush.
    static let lateFlushMarker = "kvm-flush-sanitizer: late-flush:"
    /// The lines after a finding's first that the report keeps as its trace.
    static let traceLines = 15

    init(_ text: String) {
        // Serial lines end in "\r\n", which Swift reads as one Character: drop the "\r"s before splitting.
        lines = text.replacingOccurrences(of: "\r", with: "").split(separator: "\n", omittingEmptySubsequences: false)
            .map { ConsoleLog.withoutTimestamp(String($0)) }
        var current: String?
        for (index, line) in lines.enumerated() {
            if let marker = line.range(of: "mmutorture-lab: ") {
                let words = line[marker.upperBound...].split(separator: " ").map(String.init)
                if words.count >= 3, words[0] == "workload", words[2] == "start" {
                    current = words[1]
                    started.append(words[1])
                } else if words.count >= 4, words[0] == "workload", words[2] == "end" {
                    ended[words[1]] = Int32(words[3].dropFirst("exit=".count)) ?? -1
                    current = nil
                } else if words.count >= 3, words[0] == "workload", words[2] == "overdue" {
                    overdue.insert(words[1])
                } else if words.first == "all" {
                    allDone = true
                } else if words.first == "FATAL" {
                    fatalMessages.append(words.dropFirst().joined(separator: " "))
                }
                continue
            }
            if let announced = line.range(of: Violation.firstAnnouncementPrefix), let workload = current ?? started.last {
                if announcements[workload] == nil { announcements[workload] = String(line[announced.lowerBound...]) }
                continue
            }
            let fatal = ConsoleLog.fatalPatterns.contains { line.contains($0) }
            guard fatal || ConsoleLog.warningPatterns.contains(where: { line.contains($0) }) else { continue }
            // One finding per report: a match among the trace lines that follow one belongs to it.
            if let last = findings.last, index - last.line <= ConsoleLog.traceLines { continue }
            let trace = lines[(index + 1)..<min(lines.count, index + 1 + ConsoleLog.traceLines)].filter { !$0.isEmpty }
            findings.append(Finding(workload: current ?? started.last, finding: .init(title: line.trimmingCharacters(in: .whitespaces), trace: trace), fatal: fatal, line: index))
        }
    }

    func findings(of workload: String) -> [Finding] { findings.filter { $0.workload == workload } }

    /// The first workload that ended caught: its run exited 1 (a violation; its report is out by then, the init sends
    /// it before the end marker), or the kernel reported a problem while it ran.
    var firstCaughtWorkload: String? {
        started.first { name in ended[name].map { $0 == 1 || !findings(of: name).isEmpty } ?? false }
    }

    /// The last lines of the console, for a boot that did not end cleanly.
    func tail(_ count: Int) -> [String] { Array(lines.filter { !$0.isEmpty }.suffix(count)) }

    /// "[   13.670005] text" without the bracketed timestamp.
    static func withoutTimestamp(_ line: String) -> String {
        guard line.hasPrefix("["), let close = line.firstIndex(of: "]") else { return line }
        return String(line[line.index(after: close)...].drop { $0 == " " })
    }
}

