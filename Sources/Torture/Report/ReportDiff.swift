import Foundation

/// What changed between two runs (two kernels, two hosts, before and after a patch): verdict, exercised
/// operations, rates and kernel counters.
public enum ReportDiff {
    public static func render(_ a: RunReport, _ b: RunReport) -> String {
        var lines: [String] = []
        func row(_ name: String, _ left: String, _ right: String) {
            lines.append(name.padded(34) + " " + left.padded(26) + " " + right + (left == right || name.isEmpty ? "" : "   <- changed"))
        }
        row("", "A", "B")
        row("host", "Linux \(a.host.kernelRelease)", "Linux \(b.host.kernelRelease)")
        row("mmu", a.host.mmuMode, b.host.mmuMode)
        row("configuration", "\(a.configuration.operation.rawValue)/\(a.configuration.backing.rawValue)", "\(b.configuration.operation.rawValue)/\(b.configuration.backing.rawValue)")
        // What a run was made of, beyond the operation: a scenario differs from a plain run here.
        let setup: [(String, (TortureConfiguration) -> String)] = [
            ("scenario", { $0.scenarioName ?? "-" }),
            ("pages, vCPUs, mode", { "\($0.pages), \($0.vcpus), \($0.mode.rawValue)" }),
            ("guest pages", { $0.guestPageSize.rawValue }),
            ("hot set", { $0.hotPages > 0 ? "\($0.hotPages) pages x\($0.hotRepeat)" : "-" }),
            ("dirty tracking", { $0.dirty.rawValue }),
            ("antagonists", { $0.antagonists.isEmpty ? "-" : $0.antagonists.map { "\($0.kind.rawValue):\($0.periodMicroseconds)" }.joined(separator: ",") }),
            ("inject", { $0.injection.rawValue }),
        ]
        for (name, value) in setup { row(name, value(a.configuration), value(b.configuration)) }
        row("verdict", a.verdict.rawValue, b.verdict.rawValue)
        row("violations", "\(a.violationCount)", "\(b.violationCount)")
        row("conclusive checks/s", rate(a.checks.conclusivePerSecond), rate(b.checks.conclusivePerSecond))
        for name in Set(a.operations.map(\.name) + b.operations.map(\.name)).sorted() {
            let left = a.operations.first { $0.name == name }, right = b.operations.first { $0.name == name }
            row("\(name) ops/s", left.map { rate($0.perSecond) } ?? "-", right.map { rate($0.perSecond) } ?? "-")
            row("\(name) exercised", left.map { $0.exercised ? "yes" : "no" } ?? "-", right.map { $0.exercised ? "yes" : "no" } ?? "-")
        }
        let counters = ["remote_tlb_flush", "remote_tlb_flush_requests", "mmu_shadow_zapped"]
        for name in counters {
            row("\(name)/s", perSecond(a.counters.vm.delta[name], a.durationSeconds), perSecond(b.counters.vm.delta[name], b.durationSeconds))
        }
        for name in ["pf_taken", "exits", "tlb_flush"] {
            let left = a.counters.vcpus.reduce(Int64(0)) { $0 &+ ($1.delta[name] ?? 0) }
            let right = b.counters.vcpus.reduce(Int64(0)) { $0 &+ ($1.delta[name] ?? 0) }
            row("vCPU \(name)/s", perSecond(left, a.durationSeconds), perSecond(right, b.durationSeconds))
        }
        return lines.joined(separator: "\n")
    }

    private static func rate(_ value: Double) -> String { String(format: "%.3g", value) }
    private static func perSecond(_ value: Int64?, _ seconds: Double) -> String {
        value.map { rate(Double($0) / max(seconds, 1e-9)) } ?? "-"
    }
}
