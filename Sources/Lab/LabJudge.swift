import Foundation
import Torture

/// Turns what came out of a boot (the console and the report channel) into a workload's row: the inner
/// report's verdict and violations, the console's kernel findings during the workload, and a verdict of its
/// own when the guest hung or died under it.
enum LabJudge {
    static func row(_ empty: LabReport.Row, cell: LabMatrix.Cell, outcome: QEMUBoot.Outcome) -> LabReport.Row {
        var row = empty
        let name = cell.runName
        let console = outcome.console
        if outcome.ended == "caught" && console.ended[name] == nil {
            row.verdict = .skipped
            row.reason = "skipped: the variant was caught earlier in this boot (\(console.firstCaughtWorkload ?? "?")); --keep-going runs every workload"
            return row
        }
        guard console.started.contains(name) else {
            row.reason = console.fatalMessages.first.map { "the guest could not run workloads: \($0)" }
                ?? (outcome.ended == "interrupted" ? "interrupted before it started" : "the guest ended (\(outcome.ended)) before this workload started"
                    + (outcome.emulatorError.map { ": \($0)" } ?? ""))
            return row
        }
        row.kernelFindings = console.findings(of: name).map(\.finding)
        readReport(into: &row, name: name, outcome: outcome)
        row.innerExitCode = console.ended[name]
        // Its whole output when it ended, else the last lines the init sent while it ran.
        let output = (outcome.channel.last("stdout", of: name) ?? outcome.channel.last("progress", of: name))
            .map { String(decoding: $0.data, as: UTF8.self) } ?? ""
        row.hungThreads = outcome.channel.last("threads", of: name).map { String(decoding: $0.data, as: UTF8.self).split(separator: "\n").map(String.init) }
        row.innerOutputTail = output.split(separator: "\n").suffix(120).map(String.init)
        var oracles: [String] = []
        if let report = row.report {
            // Every violation by kind where the report counts them all; older reports store the first 1000 only.
            if let kinds = report.violationsByKind {
                row.violationsByKind = kinds.mapValues { Int(clamping: $0) }
            } else {
                for violation in report.violations { row.violationsByKind[violation.kind.rawValue, default: 0] += 1 }
            }
            row.secondsToFirstViolation = report.violations.map(\.time).min()
            row.conclusiveChecks = report.checks.conclusive
            oracles = row.violationsByKind.keys.sorted()
        }
        // The flush sanitizer's console report names the oracle even where no report came out.
        if !oracles.contains(Violation.Kind.lateFlush.rawValue),
           row.kernelFindings.contains(where: { $0.title.contains(ConsoleLog.lateFlushMarker) }) {
            oracles.append(Violation.Kind.lateFlush.rawValue)
        }
        let kernelSaidSo = !row.kernelFindings.isEmpty || !(row.report?.kernelFindings.isEmpty ?? true)
        if kernelSaidSo { oracles.append("kernel-finding") }
        row.caughtBy = oracles
        decide(&row, name: name, outcome: outcome, kernelSaidSo: kernelSaidSo)
        return row
    }

    /// The row's verdict and reason from what was gathered: the report's verdict where it came out whole, else
    /// what the console, the run's output and the guest's end say.
    private static func decide(_ row: inout LabReport.Row, name: String, outcome: QEMUBoot.Outcome, kernelSaidSo: Bool) {
        let console = outcome.console
        let finished = console.ended[name] != nil
        // The first violation as the run announced it: on the console (through /dev/kmsg), or on its stderr.
        let announcedOnConsole = console.announcements[name].flatMap(announcement)
        let announcedInOutput = firstViolation(row.innerOutputTail)
        switch (row.report?.verdict, finished) {
        case (_, false) where outcome.ended == "interrupted":
            row.reason = "interrupted while it ran; report from its \(row.reportSource)"
        case (.violation?, _):
            row.verdict = .violation
            row.reason = row.report!.verdictReason + (row.reportSource == "checkpoint" ? " (from its last checkpoint; the run ended with exit \(console.ended[name].map(String.init) ?? "none"))" : "")
        case (_, true) where row.reportSource == "checkpoint" && (row.report?.violationCount ?? 0) > 0:
            row.verdict = .violation
            row.reason = "\(row.report!.violationCount) violations by its last checkpoint; the run then ended with exit \(console.ended[name]!) and no readable report"
        case (_, _) where (row.report?.violationCount ?? 0) == 0 && announcedOnConsole != nil:
            // No report came out, but the run announced its first violation on the console before the guest died.
            let first = announcedOnConsole!
            judge(&row, byAnnounced: first, then: finished ? [] : ["guest-hang"],
                  reason: "the run announced its first violation on the console, then the guest \(finished ? "ran on" : "died (\(outcome.ended))")"
                    + (row.kernelFindings.first.map { ": \($0.title)" } ?? "") + ": \(first.line)")
        case (_, true) where console.overdue.contains(name):
            judgeHang(&row, kernelSaidSo: kernelSaidSo)
        case (_, false):
            row.verdict = .kernelBug
            row.reason = "the guest \(outcome.ended == "watchdog" ? "hung (stopped by the lab's watchdog)" : "died (\(outcome.ended))") during this workload"
                + (row.kernelFindings.first.map { ": \($0.title)" } ?? "")
                + (outcome.emulatorError.map { " (\($0))" } ?? "")
                + (row.reportSource == "none" ? "; no report came out" : "; report from its \(row.reportSource)")
            row.caughtBy.append("guest-hang")
        case (_, true) where kernelSaidSo:
            row.verdict = .kernelBug
            row.reason = "kernel: " + (row.kernelFindings.first?.title ?? row.report?.kernelFindings.first ?? "")
        case (nil, true) where reportedViolations(row.innerOutputTail) > 0:
            // A stale SPTE that lets the guest write a freed frame can corrupt whatever the host reuses it for,
            // the harness's own heap included: the run dies, but its progress lines had already counted violations.
            row.verdict = .violation
            row.reason = "the inner run died (exit \(console.ended[name]!)) after its progress lines counted \(reportedViolations(row.innerOutputTail)) violations"
            row.caughtBy.append("violations-before-crash")
        case (nil, true) where announcedInOutput != nil:
            // The run died before any checkpoint, but it had announced its first violation at once.
            let first = announcedInOutput!
            judge(&row, byAnnounced: first, then: ["violations-before-crash"],
                  reason: "the inner run died (exit \(console.ended[name]!)) after its first violation: \(first.line)")
        case (nil, true):
            row.verdict = .harnessError
            row.reason = "the inner run wrote no report (exit \(console.ended[name]!)); its last output: "
                + (row.innerOutputTail.last ?? "none")
        case (_, true) where row.reportSource == "checkpoint":
            // Died with no violation in its last checkpoint and no kernel finding: nothing to judge it by.
            row.verdict = .harnessError
            row.reason = "the inner run died (exit \(console.ended[name]!)) with no violation in its last checkpoint and no kernel finding"
        case (let verdict?, true):
            row.verdict = switch verdict {
            case .pass: .pass
            case .notExercised: .notExercised
            default: .harnessError
            }
            row.reason = row.report!.verdictReason
        }
    }

    /// The guest lived on, but the run did not end: a thread asleep in the kernel (D) or a kernel report says the
    /// kernel held it; otherwise nothing shows the kernel at fault, and the hang is the harness's.
    private static func judgeHang(_ row: inout LabReport.Row, kernelSaidSo: Bool) {
        let blocked = (row.hungThreads ?? []).filter { $0.hasPrefix("== thread") && $0.contains(" state D ") }
        row.verdict = blocked.isEmpty && !kernelSaidSo ? .harnessError : .kernelBug
        if row.verdict == .kernelBug { row.caughtBy.append("run-hang") }
        row.reason = "the inner run hung: still running long past its duration when the guest's watchdog dumped and killed it"
            + (blocked.isEmpty ? "" : "; blocked in the kernel: " + blocked.map { String($0.dropFirst("== thread ".count)) }.joined(separator: "; "))
            + (row.kernelFindings.first.map { "; kernel: \($0.title)" } ?? "")
            + (row.verdict == .harnessError ? "; no thread was blocked in the kernel (its threads' stacks are in the row)" : "")
    }

    /// The final report, else the newest checkpoint that decodes: a bug that lets the guest write freed frames can
    /// corrupt the inner run's own memory, and with it the report it writes last.
    private static func readReport(into row: inout LabReport.Row, name: String, outcome: QEMUBoot.Outcome) {
        let candidates = outcome.channel.blocks.filter { $0.name == name && $0.kind == "report" }.reversed()
            + outcome.channel.blocks.filter { $0.name == name && $0.kind == "checkpoint" }.reversed()
        for block in candidates {
            guard let report = decode(block.data) else { continue }
            row.report = report
            // The run writes its checkpoints and its final report to one path: after a crash (a signal's exit
            // code) what the init sent as the report is the last checkpoint.
            let crashed = (outcome.console.ended[name] ?? 0) >= 128
            row.reportSource = block.kind == "report" && !crashed ? "final" : "checkpoint"
            return
        }
    }

    /// The violation count of the last progress line ("  3.0/10 s  2890 ops/s  2.35e+04 checks/s  5862 violations").
    static func reportedViolations(_ output: [String]) -> Int {
        for line in output.reversed() where line.hasSuffix(" violations") {
            if let count = line.split(separator: " ").dropLast().last.flatMap({ Int($0) }) { return count }
        }
        return 0
    }

    /// A first violation as a run announces it: its kind, its time, and the line after the prefix.
    typealias Announcement = (kind: String, seconds: Double?, line: String)

    /// A row with no report to judge it by, judged by the first violation its run announced.
    private static func judge(_ row: inout LabReport.Row, byAnnounced first: Announcement, then evidence: [String], reason: String) {
        row.verdict = .violation
        row.reason = reason
        row.caughtBy = [first.kind] + row.caughtBy + evidence
        row.violationsByKind[first.kind, default: 0] += 1
        row.secondsToFirstViolation = first.seconds
    }

    /// The first violation the inner run announced on standard error ("mmutorture: first violation at 0.123 s:
    /// stale-frame: vCPU 0 page 7 ...").
    static func firstViolation(_ output: [String]) -> Announcement? {
        output.first { $0.hasPrefix(Violation.firstAnnouncementPrefix) }.flatMap(announcement)
    }

    /// One announcement line (it may start later in a console line); nil for any other line.
    static func announcement(_ line: String) -> Announcement? {
        guard let start = line.range(of: Violation.firstAnnouncementPrefix) else { return nil }
        let rest = line[start.upperBound...]
        let parts = rest.split(separator: ":", maxSplits: 2)
        guard parts.count >= 2 else { return nil }
        let seconds = Double(parts[0].split(separator: " ").first ?? "")
        return (String(parts[1].trimmingCharacters(in: .whitespaces)), seconds, String(rest))
    }

    private static func decode(_ data: Data) -> RunReport? { try? JSONDecoder().decode(RunReport.self, from: data) }
}

/// FNV-1a, 64 bits: the cache key of a module build (patch text and build script), not a security measure.
enum LabHash {
    static func hex(_ data: Data) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in data { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return String(hash, radix: 16)
    }
}
