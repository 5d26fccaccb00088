import Foundation

/// One self-contained HTML page for a report: no scripts, no network, charts as inline SVG. Opens in any browser.
public enum HTMLRenderer {
    public static func render(_ runs: [RunReport], title: String) -> String {
        page(title: title, body: runs.map { section($0) }.joined())
    }

    /// A lab report opens with what its reader came for: the matrix (variant × MMU × workload × seed: verdict, the
    /// oracle that caught it, seconds to the first violation, what it judged), each cell linking to its run.
    public static func render(lab: LabReport, title: String) -> String {
        var body = "<p>" + escape("Debian kernel \(lab.kernelVersion) (\(lab.kernelABI)), QEMU \(lab.accel), \(lab.secondsPerWorkload) s per workload"
            + (lab.flushSanitizer == true ? ", flush sanitizer built in" : "") + (lab.numaBalancing == true ? ", NUMA balancing on" : "") + (lab.interruptedBy.map { "; interrupted by \($0)" } ?? "")) + "</p>\n"
        body += table(["variant", "expected", "outcome"], lab.outcomes.map { outcome in
            [outcome.variant + " on " + outcome.mmu, outcome.expectation.rawValue,
             (outcome.met ? "as expected" : "NOT as expected") + (outcome.caughtBy.isEmpty ? "" : ": " + outcome.caughtBy.joined(separator: ", "))]
        })
        var matrix = "<table><tr><th>variant</th><th>MMU</th><th>workload</th><th>seed</th><th>verdict</th><th>caught by</th><th>first violation</th><th>judged</th></tr>\n"
        for (index, row) in lab.rows.enumerated() {
            let first = row.secondsToFirstViolation.map { String(format: "%.2f s", $0) } ?? "-"
            let cells: String = "<tr><td>\(escape(row.variant))</td><td>\(escape(row.mmu))</td><td><a href=\"#row-\(index + 1)\">\(escape(row.workload))</a></td>"
                + "<td>\(row.seed)</td><td class=\"\(escape(row.verdict.rawValue))\">\(escape(row.verdict.rawValue))</td>"
                + "<td>\(escape(row.caughtBy.isEmpty ? "-" : row.caughtBy.joined(separator: ", ")))</td><td>\(first)</td><td>\(escape(row.judged))</td></tr>\n"
            matrix += cells
        }
        body += "<h2>Matrix</h2>\n" + matrix + "</table>\n"
        for (index, row) in lab.rows.enumerated() {
            let heading = "\(row.variant) on \(row.mmu): \(row.workload), seed \(row.seed)"
            body += "<h2 id=\"row-\(index + 1)\">\(escape(heading))</h2>\n<p class=\"verdict \(escape(row.verdict.rawValue))\">\(escape("\(row.verdict.rawValue): \(row.reason)"))</p>\n"
            for finding in row.kernelFindings.prefix(3) { body += "<pre>\(escape(([finding.title] + finding.trace).joined(separator: "\n")))</pre>\n" }
            if let report = row.report { body += section(report, heading: false) }
        }
        return page(title: title, body: body)
    }

    private static func page(title: String, body: String) -> String {
        var html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
            <style>
            body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
            h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
            table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}
            th{background:#f3f3f3}.pass,.control-fired{color:#17692c}.violation,.control-missed,.harness-error{color:#b00020}
            .not-exercised,.interrupted{color:#9a6700}.verdict{font-size:1.3em;font-weight:bold}svg{background:#fafafa;border:1px solid #ddd;margin:.3em .6em .3em 0}
            code{background:#f3f3f3;padding:0 .2em}
            </style></head><body>
            <h1>\(escape(title))</h1>

            """
        html += body
        html += "</body></html>\n"
        return html
    }

    private static func section(_ run: RunReport, heading: Bool = true) -> String {
        let c = run.configuration
        var html = heading ? "<h2>\(escape("\(c.operation.rawValue) on \(c.backing.rawValue), seed \(c.seed)"))</h2>\n" : ""
        if run.complete == false {
            // A checkpoint: the run was still going, or was killed. What it saw so far is never a pass.
            html += "<p class=\"verdict \(run.standing.rawValue)\">\(escape(String(format: "INCOMPLETE: a checkpoint at %.1f s of a planned %.1f s run; verdict so far: ", run.durationSeconds, run.plannedSeconds ?? c.duration) + "\(run.standing.rawValue): \(run.verdictReason)"))</p>\n"
        } else {
            html += "<p class=\"verdict \(run.verdict.rawValue)\">\(escape("\(run.verdict.rawValue) (exit \(run.exitCode)): \(run.verdictReason)"))</p>\n"
        }
        html += table(["host", "value"], [
            ["kernel", "Linux \(run.host.kernelRelease)"], ["MMU", run.host.mmuMode + (run.host.pvm ? " (PVM)" : "")],
            ["nested", run.host.nested ? "yes" : "no"], ["CPU", run.host.cpuModel ?? "unknown"], ["CPUs", "\(run.host.cpus)"],
            ["placement", run.placement.pinned ? "mutator on CPU \(run.placement.mutatorCPU ?? -1), vCPUs on \(run.placement.vcpuCPUs.map { "\($0 ?? -1)" }.joined(separator: ","))" : (run.placement.note ?? "not pinned")],
            ["run", String(format: "%.1f s, %d pages, %d vCPU(s), mode %@, started %@", run.durationSeconds, c.pages, c.vcpus, c.mode.rawValue, run.startedAt)],
            ["checks", "\(run.checks.conclusive.grouped) conclusive, \(run.checks.inconclusive.grouped) inconclusive"],
            ["coverage", "\(run.checks.sweeps.grouped) sweeps of all pages; \(run.checks.wordsReadPerPage) of 448 words read in every page"],
            ["THP, swap", "\(run.host.thpMode), \(run.host.swap ? "swap" : "no swap")"],
            ["writes", "\(run.writes.verifications.grouped) host verifications"],
        ])
        html += "<h3>Timeline</h3>\n"
        var previous = RunReport.TimelineSample(second: 0, operations: 0, conclusiveChecks: 0, remoteTLBFlushes: 0, efaults: 0)
        var ops: [Double] = [], checks: [Double] = [], flushes: [Double] = []
        for sample in run.timeline {
            let span = max(sample.second - previous.second, 1e-9)
            ops.append(Double(sample.operations &- previous.operations) / span)
            checks.append(Double(sample.conclusiveChecks &- previous.conclusiveChecks) / span)
            flushes.append(Double(sample.remoteTLBFlushes &- previous.remoteTLBFlushes) / span)
            previous = sample
        }
        let seconds = run.timeline.map(\.second)
        html += lineChart(title: "operations per second", seconds: seconds, values: ops, color: "#1f77b4")
        html += lineChart(title: "conclusive checks per second", seconds: seconds, values: checks, color: "#2ca02c")
        html += lineChart(title: "remote TLB flushes per second", seconds: seconds, values: flushes, color: "#d62728")
        html += "<h3>Operations</h3>\n"
        // Bars compare operations: with one operation they would only fill the width; its table says it all.
        if run.operations.count > 1 { html += operationCharts(run) }
        html += table(["operation", "count", "ops/s", "mean µs", "p99 µs", "max µs", "exercised", "evidence"], run.operations.map {
            [$0.name, $0.count.grouped, $0.perSecond.isFinite ? Int($0.perSecond.rounded()).grouped : "-", String(format: "%.1f", $0.meanMicroseconds),
             String(format: "%.1f", $0.latencyPercentilesMicroseconds["99"] ?? 0),
             String(format: "%.1f", $0.maxMicroseconds), $0.exercised ? "yes" : "NO", $0.evidence]
        })
        html += "<h3>Violations (\(run.violationCount))</h3>\n"
        if run.violations.isEmpty {
            html += "<p>None.</p>\n"
        } else {
            html += table(["kind", "vCPU", "page", "word", "window", "expected", "observed", "survived exit", "in flight"], run.violations.prefix(200).map {
                [$0.kind.rawValue, "\($0.vcpu)", "\($0.page)", "\($0.word)", $0.window, hex($0.expected), hex($0.observed),
                 $0.survivedExit.map { $0 ? "yes" : "no" } ?? "-", $0.operationInFlight ?? "-"]
            })
        }
        if !run.notes.isEmpty || !run.harnessErrors.isEmpty {
            html += "<h3>Notes</h3><ul>" + (run.notes + run.harnessErrors.map { "harness error: \($0)" }).map { "<li>\(escape($0))</li>" }.joined() + "</ul>\n"
        }
        return html
    }

    /// Bar charts comparing the operations of a run: the flushes and faults each caused, and its call latency.
    private static func operationCharts(_ run: RunReport) -> String {
        var html = barChart(title: "remote_tlb_flush_requests during the calls", bars: run.operations.map { ($0.name, Double($0.flushRequests)) }, color: "#d62728")
        html += barChart(title: "guest faults (EFAULT or MMIO) while running", bars: run.operations.map { ($0.name, Double($0.faults)) }, color: "#9467bd")
        for percentile in ["50", "99", "99.9"] {
            html += barChart(title: "call latency p\(percentile), µs", bars: run.operations.map { ($0.name, $0.latencyPercentilesMicroseconds[percentile] ?? 0) }, color: "#1f77b4")
        }
        return html + barChart(title: "call latency max, µs", bars: run.operations.map { ($0.name, $0.maxMicroseconds) }, color: "#17becf")
    }

    /// A rate over the run: y axis with round ticks from zero, x axis in seconds of the run.
    static func lineChart(title: String, seconds: [Double], values: [Double], color: String) -> String {
        let (width, height, left, right, top, bottom) = (380.0, 180.0, 48.0, 14.0, 28.0, 34.0)
        let yStep = niceStep(max(values.max() ?? 0, 1) / 4)
        let yMax = yStep * max(1, (max(values.max() ?? 0, 1) / yStep).rounded(.up))
        let xEnd = max(seconds.last ?? 0, 1)
        let xStep = niceStep(xEnd / 5)
        let x = { (second: Double) in left + second / xEnd * (width - left - right) }
        let y = { (value: Double) in height - bottom - value / yMax * (height - top - bottom) }
        let points = zip(seconds, values).map { String(format: "%.1f,%.1f", x($0), y($1)) }.joined(separator: " ")
        var svg = """
            <svg width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" role="img"><title>\(escape(title))</title>
            <text x="\(left)" y="16" font-size="12">\(escape(title))</text>

            """
        for tick in stride(from: 0.0, through: yMax + yStep / 2, by: yStep) {
            svg += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>", left, y(tick), width - right, y(tick))
            svg += String(format: "<text class=\"tick y\" x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">", left - 4, y(tick) + 3) + short(tick) + "</text>\n"
        }
        for tick in stride(from: 0.0, through: xEnd + xStep / 100, by: xStep) {
            svg += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\"/>", x(tick), height - bottom, x(tick), height - bottom + 4)
            svg += String(format: "<text class=\"tick x\" x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"middle\">", x(tick), height - bottom + 15) + short(tick) + "</text>\n"
        }
        return svg + """
            <line x1="\(left)" y1="\(height - bottom)" x2="\(width - right)" y2="\(height - bottom)" stroke="#999"/>
            <line x1="\(left)" y1="\(top)" x2="\(left)" y2="\(height - bottom)" stroke="#999"/>
            <polyline fill="none" stroke="\(color)" stroke-width="2" points="\(points)"/>
            <text x="\((width + left) / 2)" y="\(height - 4)" font-size="10" text-anchor="middle">seconds into the run</text>
            </svg>

            """
    }

    /// 1, 2 or 5 times a power of ten, at least `raw`: ticks a reader can count in.
    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        let residual = raw / magnitude
        return (residual <= 1 ? 1 : residual <= 2 ? 2 : residual <= 5 ? 5 : 10) * magnitude
    }

    /// "2.5M", "40k", "750", "0.5": a tick label.
    static func short(_ value: Double) -> String {
        for (scale, suffix) in [(1e9, "G"), (1e6, "M"), (1e3, "k")] where abs(value) >= scale {
            return trimmed(value / scale) + suffix
        }
        return trimmed(value)
    }

    private static func trimmed(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.3g", value)
    }

    static func barChart(title: String, bars: [(String, Double)], color: String) -> String {
        let (width, row, label) = (340.0, 18.0, 100.0)
        let height = 30 + Double(bars.count) * row
        let top = max(bars.map(\.1).max() ?? 0, 1)
        var svg = "<svg width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\"><title>\(escape(title))</title>"
            + "<text x=\"4\" y=\"16\" font-size=\"12\">\(escape(title))</text>"
        for (index, (name, value)) in bars.enumerated() {
            let y = 26 + Double(index) * row
            let length = value / top * (width - label - 70)
            svg += "<text x=\"4\" y=\"\(y + 12)\" font-size=\"11\">\(escape(name))</text>"
            svg += String(format: "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.1f\" height=\"%.0f\" fill=\"%@\"/>", label, y + 2, length, row - 5, color)
            svg += String(format: "<text x=\"%.1f\" y=\"%.0f\" font-size=\"10\">", label + length + 4, y + 12) + short(value) + "</text>"
        }
        return svg + "</svg>\n"
    }

    private static func table(_ header: [String], _ rows: [[String]]) -> String {
        "<table><tr>" + header.map { "<th>\(escape($0))</th>" }.joined() + "</tr>"
            + rows.map { "<tr>" + $0.map { "<td>\(escape($0))</td>" }.joined() + "</tr>" }.joined() + "</table>\n"
    }

    private static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

    static func escape(_ text: String) -> String { JUnitRenderer.escape(text) }
}
