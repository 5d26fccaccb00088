import Foundation

/// JUnit XML for CI dashboards: a `<testsuite>` per run, a `<testcase>` per operation and backing (skipped when
/// not exercised), and one integrity case per run whose `<failure>` carries every violation.
public enum JUnitRenderer {
    /// A lab report: a test case per (variant, MMU), failed when the variant did not meet its expectation (stock
    /// not clean, a mutant not caught), with the rows in its output.
    public static func render(_ lab: LabReport) -> String {
        let outcomes = lab.outcomes
        var xml = #"<?xml version="1.0" encoding="UTF-8"?>"# + "\n"
        xml += #"<testsuites name="mmutorture-lab" tests="\#(outcomes.count)" failures="\#(outcomes.filter { !$0.met }.count)">"# + "\n"
        xml += #"  <testsuite name="\#(escape("lab.\(lab.kernelABI).\(lab.accel)"))" tests="\#(outcomes.count)" failures="\#(outcomes.filter { !$0.met }.count)">"# + "\n"
        for outcome in outcomes {
            let rows = lab.rows.filter { $0.variant == outcome.variant && $0.mmu == outcome.mmu }
            // A hung run's threads and a hung boot's CPUs, as the summary shows them: what a dashboard reader needs.
            var text: [String] = []
            for row in rows {
                text.append("\(row.workload) seed \(row.seed): \(row.verdict.rawValue): \(row.reason)")
                text += (row.hungThreads ?? []).prefix(12).map { "    " + $0 }
            }
            for boot in lab.boots where boot.variant == outcome.variant && boot.mmu == outcome.mmu {
                guard let hang = boot.hangState, !hang.isEmpty else { continue }
                text.append("a boot hung; when the lab's watchdog stopped it:")
                text += hang.prefix(6).map { "    " + $0 }
            }
            let lines = text.joined(separator: "\n")
            xml += #"    <testcase classname="lab.\#(escape(outcome.variant))" name="\#(escape("\(outcome.variant) on \(outcome.mmu) (expected \(outcome.expectation.rawValue))"))">"#
            if !outcome.met {
                xml += #"<failure message="\#(escape(outcome.expectation == .caught ? "mutant not caught" : "not clean"))">\#(escape(lines))</failure>"#
            }
            xml += "<system-out>\(escape(lines))</system-out></testcase>\n"
        }
        xml += "  </testsuite>\n</testsuites>\n"
        return xml
    }

    public static func render(_ runs: [RunReport]) -> String {
        var xml = #"<?xml version="1.0" encoding="UTF-8"?>"# + "\n"
        let cases = runs.reduce(0) { $0 + $1.operations.count + 1 }
        let failures = runs.filter(isFailure).count
        xml += #"<testsuites name="mmutorture" tests="\#(cases)" failures="\#(failures)">"# + "\n"
        for run in runs {
            let backing = run.configuration.backing.rawValue
            let suiteName = "mmutorture.\(backing).\(run.configuration.operation.rawValue)"
            let skipped = run.operations.filter { !$0.exercised }.count
            let failed = isFailure(run) ? 1 : 0
            xml += #"  <testsuite name="\#(escape(suiteName))" tests="\#(run.operations.count + 1)" failures="\#(failed)" skipped="\#(skipped)" time="\#(String(format: "%.3f", run.durationSeconds))" hostname="\#(escape("Linux \(run.host.kernelRelease) \(run.host.mmuMode)"))">"# + "\n"
            for operation in run.operations {
                let time = String(format: "%.3f", Double(operation.count) * operation.meanMicroseconds / 1e6)
                xml += #"    <testcase classname="\#(escape(suiteName))" name="\#(escape("\(operation.name) on \(backing)"))" time="\#(time)">"#
                if !operation.exercised { xml += #"<skipped message="\#(escape("not exercised: \(operation.evidence)"))"/>"# }
                xml += "</testcase>\n"
            }
            xml += #"    <testcase classname="\#(escape(suiteName))" name="integrity (seed \#(run.configuration.seed))" time="\#(String(format: "%.3f", run.durationSeconds))">"#
            if failed == 1 {
                let details = (run.violations.map(\.summary) + run.harnessErrors).joined(separator: "\n")
                xml += "\n" + #"      <failure message="\#(escape("\(run.verdict.rawValue): \(run.verdictReason)"))" type="\#(run.verdict.rawValue)">\#(escape(details))</failure>"# + "\n    "
            }
            if run.verdict == .controlFired {
                xml += "<system-out>\(escape("negative control: \(run.verdictReason)"))</system-out>"
            }
            xml += "</testcase>\n  </testsuite>\n"
        }
        xml += "</testsuites>\n"
        return xml
    }

    /// A violation fails the integrity case, unless it was injected on purpose and caught (the control fired).
    public static func isFailure(_ run: RunReport) -> Bool {
        [.violation, .controlMissed, .harnessError, .interrupted].contains(run.verdict) || run.complete == false
    }

    static func escape(_ text: String) -> String { TextSafety.xml(text) }
}
