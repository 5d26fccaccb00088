import Foundation

/// Many runs (a CI matrix, several hosts or kernels) as one report: a row per run, the worst verdict overall.
public struct MergedReport: Codable, Sendable {
    public static let currentSchemaVersion = 1
    public var schemaVersion = MergedReport.currentSchemaVersion
    public var tool = "mmutorture-merged"
    public var toolVersion = RunReport.toolVersion
    public var rows: [Row]
    public var verdict: Verdict
    public var totalConclusiveChecks: UInt64
    public var totalViolations: UInt64
    /// The runs themselves, whole, so nothing is lost by merging.
    public var runs: [RunReport]

    public struct Row: Codable, Sendable, Equatable {
        public var source: String
        public var host: String
        public var mmu: String
        public var backing: String
        public var operation: String
        public var seed: UInt64
        public var durationSeconds: Double
        public var conclusiveChecks: UInt64
        public var violations: UInt64
        public var notExercised: [String]
        public var verdict: Verdict
    }

    public init(merging reports: [(source: String, report: RunReport)]) {
        runs = reports.map(\.report)
        rows = reports.map { source, report in
            Row(
                source: source, host: "Linux \(report.host.kernelRelease)\(report.host.cpuModel.map { ", \($0)" } ?? "")",
                mmu: report.host.mmuMode + (report.host.pvm ? " (PVM)" : "") + (report.host.nested ? ", nested" : ""),
                backing: report.configuration.backing.rawValue, operation: report.configuration.operation.rawValue,
                seed: report.configuration.seed, durationSeconds: report.durationSeconds,
                conclusiveChecks: report.checks.conclusive, violations: report.violationCount,
                notExercised: report.operations.filter { !$0.exercised }.map(\.name), verdict: report.standing)
        }
        verdict = reports.map(\.report.standing).max { $0.severity < $1.severity } ?? .notExercised
        totalConclusiveChecks = rows.reduce(0) { $0 &+ $1.conclusiveChecks }
        totalViolations = rows.reduce(0) { $0 &+ $1.violations }
    }

    public var summary: String {
        var lines = ["mmutorture: \(rows.count) runs merged; verdict \(verdict.rawValue) (exit \(verdict.exitCode))", ""]
        lines.append("verdict          violations  conclusive checks  backing    operation  mmu                     host / source")
        for row in rows {
            lines.append(row.verdict.rawValue.padded(16) + String(format: " %10llu  %17llu  ", row.violations, row.conclusiveChecks)
                + row.backing.padded(10) + " " + row.operation.padded(10) + " " + row.mmu.padded(23) + " \(row.host) / \(row.source)")
            if !row.notExercised.isEmpty { lines.append("    not exercised: \(row.notExercised.joined(separator: ", "))") }
        }
        lines.append("")
        lines.append("total: \(totalConclusiveChecks) conclusive checks, \(totalViolations) violations")
        return lines.joined(separator: "\n")
    }

    public func write(to path: String) throws { try AtomicFile.write(self, to: path) }
}

