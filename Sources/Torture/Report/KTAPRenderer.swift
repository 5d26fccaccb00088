/// KTAP (the kernel's test output format, Documentation/dev-tools/ktap.rst) for kernel CI systems: kselftest
/// runners, KernelCI and LKFT parse it. One test point per operation of each run (`# SKIP` when not exercised),
/// one integrity point per run (not ok on a violation, a missed control, a harness error or an interrupted or
/// incomplete run), and for a lab report one point per variant and MMU. Diagnostics are `#` lines.
public enum KTAPRenderer {
    public static func render(_ runs: [RunReport]) -> String {
        var lines = ["KTAP version 1"]
        var points: [String] = []
        for run in runs {
            let c = run.configuration
            let suite = "\(c.operation.rawValue) on \(c.backing.rawValue), seed \(c.seed)"
            for operation in run.operations {
                let name = sanitize("\(operation.name) on \(c.backing.rawValue)")
                points.append(operation.exercised
                    ? "ok \(points.count + 1) \(name)"
                    : "ok \(points.count + 1) \(name) # SKIP not exercised: \(sanitize(operation.evidence))")
            }
            let failed = JUnitRenderer.isFailure(run)
            var point = "\(failed ? "not ok" : "ok") \(points.count + 1) \(sanitize("integrity: \(suite)"))"
            if run.standing == .notExercised { point += " # SKIP \(sanitize(run.verdictReason))" }
            points.append(point)
            if failed || run.standing == .controlFired {
                points.append("# \(run.standing.rawValue): \(sanitize(run.verdictReason))")
                points += run.violations.prefix(10).map { "# \(sanitize($0.summary))" }
                points += run.harnessErrors.prefix(5).map { "# harness: \(sanitize($0))" }
            }
        }
        lines.append("1..\(points.filter { !$0.hasPrefix("#") }.count)")
        return (lines + points).joined(separator: "\n") + "\n"
    }

    public static func render(_ lab: LabReport) -> String {
        var lines = ["KTAP version 1", "# " + sanitize("mmutorture lab: Debian kernel \(lab.kernelVersion) (\(lab.kernelABI)), QEMU \(lab.accel)")]
        let outcomes = lab.outcomes
        lines.append("1..\(outcomes.count)")
        for (index, outcome) in outcomes.enumerated() {
            let name = sanitize("\(outcome.variant) on \(outcome.mmu) (expected \(outcome.expectation.rawValue))")
            lines.append("\(outcome.met ? "ok" : "not ok") \(index + 1) \(name)")
            for row in lab.rows where row.variant == outcome.variant && row.mmu == outcome.mmu {
                lines.append("# \(sanitize("\(row.workload) seed \(row.seed): \(row.verdict.rawValue): \(row.reason)"))")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A test name or diagnostic on one line, without the `#` that would start a directive.
    static func sanitize(_ text: String) -> String {
        TextSafety.oneLine(text).replacingOccurrences(of: "#", with: "no.")
    }
}
