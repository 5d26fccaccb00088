import Foundation

/// The kernel bug lab's report: one row per (variant, MMU, workload, seed) run inside a QEMU guest on a
/// distribution kernel with rebuilt KVM modules, each with its verdict, what caught it, the kernel's console
/// findings and the inner run's report whole. Written by `mmutorture lab`, read by `report show/html/junit/merge`.
public struct LabReport: Codable, Sendable {
    public static let currentSchemaVersion = 1
    public var schemaVersion = LabReport.currentSchemaVersion
    public var tool = "mmutorture-lab"
    public var toolVersion = RunReport.toolVersion
    /// The distribution kernel the guest booted (package version and ABI, e.g. 6.1.192-3, 6.1.0-57-amd64).
    public var kernelVersion: String
    public var kernelABI: String
    /// `tcg` (QEMU emulates the CPU: TLB-level bugs cannot show as stale data) or `kvm` (nested hardware).
    public var accel: String
    public var secondsPerWorkload: Double
    public var startedAt: String
    public var variants: [VariantInfo]
    public var rows: [Row]
    public var boots: [Boot]
    /// The signal that stopped the lab before its matrix was done ("SIGINT"); absent when it ran to the end.
    public var interruptedBy: String?
    /// Whether the flush sanitizer was built into every variant (nil in older reports: it was not).
    public var flushSanitizer: Bool?
    /// Whether the guest kernel balanced memory between its NUMA nodes (`--numa-balancing`; nil in older reports:
    /// their guests had one node).
    public var numaBalancing: Bool?

    public init(kernelVersion: String, kernelABI: String, accel: String, secondsPerWorkload: Double, startedAt: String,
                variants: [VariantInfo], rows: [Row] = [], boots: [Boot] = []) {
        self.kernelVersion = kernelVersion
        self.kernelABI = kernelABI
        self.accel = accel
        self.secondsPerWorkload = secondsPerWorkload
        self.startedAt = startedAt
        self.variants = variants
        self.rows = rows
        self.boots = boots
    }

    /// A module variant: stock, a shipped mutant, or a user's patch.
    public struct VariantInfo: Codable, Sendable, Equatable {
        public var name: String
        /// What the variant must show: `clean` (stock, a user's patch) or `caught` (a mutant).
        public var expectation: Expectation
        /// The mutant's header: what it breaks, on which path and MMU, and the history it re-creates.
        public var description: String
        public var patch: String?
        public init(name: String, expectation: Expectation, description: String, patch: String?) {
            self.name = name
            self.expectation = expectation
            self.description = description
            self.patch = patch
        }
    }

    public enum Expectation: String, Codable, Sendable { case clean, caught }

    /// How a row ended.
    public enum RowVerdict: String, Codable, Sendable {
        case pass
        case violation
        case notExercised = "not-exercised"
        /// The kernel reported a bug (BUG, Oops, panic, soft lockup, RCU stall, WARNING) during the workload, or
        /// the guest hung or died under it.
        case kernelBug = "kernel-bug"
        case harnessError = "harness-error"
        /// The workload never started (an earlier boot problem), or its report never came out.
        case notRun = "not-run"
        /// Not run because its variant was already caught on this MMU earlier in the boot (`--keep-going` runs it).
        case skipped

        /// Whether the row is evidence of a broken kernel.
        public var isCatch: Bool { self == .violation || self == .kernelBug }
    }

    public struct Row: Codable, Sendable {
        public var variant: String
        public var mmu: String
        public var workload: String
        public var seed: UInt64
        /// The inner `mmutorture run` arguments.
        public var arguments: [String]
        public var verdict: RowVerdict
        public var reason: String
        /// The oracles that fired: the inner report's violation kinds, and `kernel-finding`.
        public var caughtBy: [String]
        public var violationsByKind: [String: Int]
        public var secondsToFirstViolation: Double?
        public var conclusiveChecks: UInt64
        /// Console findings during this workload: the first line of each, with the first lines of its trace.
        public var kernelFindings: [KernelFinding]
        /// `final`, `checkpoint` (the run died or hung; the last checkpoint came out) or `none`.
        public var reportSource: String
        public var innerExitCode: Int32?
        /// The last lines the inner run printed (its summary, or the crash it died of).
        public var innerOutputTail: [String] = []
        /// For a run the guest's watchdog found hung: each of its threads' state, wait channel and kernel stack.
        public var hungThreads: [String]?
        public var report: RunReport?

        public init(variant: String, mmu: String, workload: String, seed: UInt64, arguments: [String]) {
            self.variant = variant
            self.mmu = mmu
            self.workload = workload
            self.seed = seed
            self.arguments = arguments
            verdict = .notRun
            reason = "not run"
            caughtBy = []
            violationsByKind = [:]
            conclusiveChecks = 0
            kernelFindings = []
            reportSource = "none"
        }
    }

    public struct KernelFinding: Codable, Sendable, Equatable {
        public var title: String
        public var trace: [String]
        public init(title: String, trace: [String]) {
            self.title = title
            self.trace = trace
        }
    }

    /// One QEMU boot: which rows it ran and how it ended.
    public struct Boot: Codable, Sendable, Equatable {
        public var variant: String
        public var mmu: String
        public var workloads: [String]
        public var seconds: Double
        /// `poweroff`, `watchdog` (stopped by the lab: hung), `exited` (QEMU ended without the guest's poweroff).
        public var ended: String
        /// The guest's last console lines when it did not power off cleanly.
        public var consoleTail: [String]
        /// The console lines that name mmutorture: the init's markers (the MMU and module variant the guest
        /// loaded, each workload's start and end) and any marker a patch prints.
        public var markers: [String]
        /// For a hung guest: where each CPU was and the kernel's backtraces when asked (absent in older reports).
        public var hangState: [String]?
        /// True when this boot hung before its first workload started and the lab booted the same workloads
        /// again (absent otherwise, and in older reports).
        public var bootedAgain: Bool?
        public init(variant: String, mmu: String, workloads: [String], seconds: Double, ended: String, consoleTail: [String], markers: [String],
                    hangState: [String]? = nil) {
            self.variant = variant
            self.mmu = mmu
            self.workloads = workloads
            self.seconds = seconds
            self.ended = ended
            self.consoleTail = consoleTail
            self.markers = markers
            self.hangState = hangState
        }
    }
}

extension LabReport {
    /// Per (variant, MMU): whether the variant met its expectation. A mutant is caught when any of its rows on
    /// that MMU caught it; a clean variant is clean when no row shows a violation, kernel finding or harness error.
    public struct Outcome: Sendable, Equatable {
        public var variant: String
        public var mmu: String
        public var expectation: Expectation
        public var rows: Int
        public var catches: Int
        /// Rows with no verdict on the kernel: a harness error, or a workload that did not run.
        public var unjudged: Int
        public var met: Bool
        public var caughtBy: [String]
    }

    public var outcomes: [Outcome] {
        var seen: [String] = []
        var outcomes: [Outcome] = []
        for row in rows where !seen.contains(row.variant + "/" + row.mmu) {
            seen.append(row.variant + "/" + row.mmu)
            let group = rows.filter { $0.variant == row.variant && $0.mmu == row.mmu && $0.verdict != .skipped }
            let expectation = variants.first { $0.name == row.variant }?.expectation ?? .clean
            let catches = group.filter(\.verdict.isCatch).count
            let unjudged = group.filter { $0.verdict == .harnessError || $0.verdict == .notRun }.count
            let broken = catches > 0 || unjudged > 0
            let oracles = Array(Set(group.flatMap(\.caughtBy))).sorted()
            outcomes.append(Outcome(
                variant: row.variant, mmu: row.mmu, expectation: expectation, rows: group.count, catches: catches, unjudged: unjudged,
                met: expectation == .caught ? catches > 0 : !broken, caughtBy: oracles))
        }
        return outcomes
    }

    /// 0 when every variant met its expectation; 1 when a clean variant (stock, a user's patch) showed a
    /// violation or kernel finding; 3 when a mutant went uncaught (the harness missed a real bug); 70 when a
    /// row could not be judged (harness error, or a workload that never ran).
    public var exitCode: Int32 {
        if let interruptedBy { return StopRequest.exitCode(stoppedBy: interruptedBy) }
        if rows.contains(where: { row in
            variants.first { $0.name == row.variant }?.expectation != .caught && row.verdict.isCatch
        }) { return ExitStatus.violation.rawValue }
        if outcomes.contains(where: { $0.expectation == .caught && !$0.met }) { return ExitStatus.controlMissed.rawValue }
        if rows.contains(where: { $0.verdict == .harnessError || $0.verdict == .notRun }) { return ExitStatus.software.rawValue }
        return ExitStatus.success.rawValue
    }

    /// A row of the summary's table.
    private static func tableLine(_ row: Row) -> String {
        let cell = row.variant.padded(24) + " " + row.mmu.padded(6) + " " + row.workload.padded(14) + " " + String(row.seed).padded(6)
        let caught = row.caughtBy.isEmpty ? "-" : row.caughtBy.joined(separator: ",")
        let first = row.secondsToFirstViolation.map { String(format: "%7.2f", $0) } ?? "      -"
        return cell + " " + row.verdict.rawValue.padded(14) + " " + caught.padded(22) + " " + first + "   " + row.judged
    }

    public var summary: String {
        var lines = [
            "mmutorture lab: Debian kernel \(kernelVersion) (\(kernelABI)), QEMU \(accel), \(rows.count) runs in \(boots.count) boots",
            "",
            "variant".padded(24) + " " + "mmu".padded(6) + " " + "workload".padded(14) + " " + "seed".padded(6) + " "
                + "verdict".padded(14) + " " + "caught by".padded(22) + " first s   judged",
        ]
        for row in rows {
            lines.append(Self.tableLine(row))
            if row.verdict != .pass { lines.append("    \(row.reason)") }
            for finding in row.kernelFindings.prefix(3) { lines.append("    KERNEL: \(finding.title)") }
        }
        for boot in boots where !(boot.hangState ?? []).isEmpty {
            lines.append("")
            lines.append("a boot of \(boot.variant) on \(boot.mmu) hung"
                + (boot.bootedAgain == true ? " before its first workload started, and was booted again" : "") + "; when the lab's watchdog stopped it:")
            lines += boot.hangState!.prefix(6).map { "    " + $0 }
        }
        lines.append("")
        let skipped = rows.filter { $0.verdict == .skipped }.count
        if skipped > 0 { lines += ["\(skipped) runs skipped: their variant was already caught on that MMU (--keep-going runs them)", ""] }
        for outcome in outcomes {
            let what = outcome.expectation == .caught
                ? "caught in \(outcome.catches) of \(outcome.rows) runs\(outcome.caughtBy.isEmpty ? "" : " (\(outcome.caughtBy.joined(separator: ", ")))")"
                : outcome.met ? "clean in \(outcome.rows) runs"
                : outcome.catches > 0 ? "NOT clean: \(outcome.catches) of \(outcome.rows) runs show a bug"
                : "not judged: \(outcome.unjudged) of \(outcome.rows) runs ended in a harness error or did not run"
            lines.append("\(outcome.met ? "ok  " : "FAIL") \(outcome.variant) on \(outcome.mmu): \(what)")
        }
        lines.append("")
        if let interruptedBy {
            let unrun = rows.filter { $0.verdict == .notRun }.count
            lines.append("lab interrupted by \(interruptedBy): \(unrun) of \(rows.count) runs did not run; what ran is above, and proves nothing of what did not (exit \(exitCode))")
        } else {
            lines.append("lab exit \(exitCode)")
        }
        return lines.joined(separator: "\n")
    }

    public func write(to path: String) throws { try AtomicFile.write(self, to: path) }

    /// Joins lab reports (the shards of one matrix): rows, boots and variants together.
    public static func merging(_ reports: [LabReport]) -> LabReport? {
        guard var total = reports.first else { return nil }
        for report in reports.dropFirst() {
            total.rows += report.rows
            total.boots += report.boots
            total.interruptedBy = total.interruptedBy ?? report.interruptedBy
            for variant in report.variants where !total.variants.contains(where: { $0.name == variant.name }) {
                total.variants.append(variant)
            }
        }
        return total
    }
}
