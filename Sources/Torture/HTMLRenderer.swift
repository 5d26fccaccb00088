import Foundation

/// One self-contained HTML page for a report: no scripts, no network, charts as inline SVG. Opens in any browser.
public enum HTMLRenderer {
    public static func render(_ runs: [RunReport], title: String) -> String {
        var html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
            <style>
            body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
            h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
            table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}
            th{background:#f3f3f3}.pass,.control-fired{color:#17692c}.violation,.control-missed,.harness-error{color:#b00020}
            .not-exercised{color:#9a6700}.verdict{font-size:1.3em;font-weight:bold}svg{background:#fafafa;border:1px solid #ddd;margin:.3em .6em .3em 0}
            code{background:#f3f3f3;padding:0 .2em}
            </style></head><body>
            <h1>\(escape(title))</h1>

            """
        for run in runs { html += section(run) }
        html += "</body></html>\n"
        return html
    }

    private static func section(_ run: RunReport) -> String {
        let c = run.configuration
        var html = "<h2>\(escape("\(c.operation.rawValue) on \(c.backing.rawValue), seed \(c.seed)"))</h2>\n"
        html += "<p class=\"verdict \(run.verdict.rawValue)\">\(escape("\(run.verdict.rawValue) (exit \(run.exitCode)): \(run.verdictReason)"))</p>\n"
        html += table(["host", "value"], [
            ["kernel", "Linux \(run.host.kernelRelease)"], ["MMU", run.host.mmuMode + (run.host.pvm ? " (PVM)" : "")],
            ["nested", run.host.nested ? "yes" : "no"], ["CPU", run.host.cpuModel ?? "unknown"], ["CPUs", "\(run.host.cpus)"],
            ["placement", run.placement.pinned ? "mutator on CPU \(run.placement.mutatorCPU ?? -1), vCPUs on \(run.placement.vcpuCPUs.map { "\($0 ?? -1)" }.joined(separator: ","))" : (run.placement.note ?? "not pinned")],
            ["run", String(format: "%.1f s, %d pages, %d vCPU(s), mode %@, started %@", run.durationSeconds, c.pages, c.vcpus, c.mode.rawValue, run.startedAt)],
            ["checks", "\(run.checks.conclusive) conclusive, \(run.checks.inconclusive) inconclusive"],
            ["coverage", "\(run.checks.sweeps) sweeps of all pages; \(run.checks.wordsReadPerPage) of 448 words read in every page"],
            ["THP, swap", "\(run.host.thpMode), \(run.host.swap ? "swap" : "no swap")"],
            ["writes", "\(run.writes.verifications) host verifications"],
        ])
        html += "<h3>Timeline</h3>\n"
        var previous = RunReport.TimelineSample(second: 0, operations: 0, conclusiveChecks: 0, remoteTLBFlushes: 0, efaults: 0)
        var ops: [Double] = [], checks: [Double] = [], flushes: [Double] = []
        for sample in run.timeline {
            let span = max(sample.second - previous.second, 1e-9)
            ops.append(Double(sample.operations - previous.operations) / span)
            checks.append(Double(sample.conclusiveChecks &- previous.conclusiveChecks) / span)
            flushes.append(Double(sample.remoteTLBFlushes &- previous.remoteTLBFlushes) / span)
            previous = sample
        }
        html += lineChart(title: "operations/s", values: ops, color: "#1f77b4")
        html += lineChart(title: "conclusive checks/s", values: checks, color: "#2ca02c")
        html += lineChart(title: "remote TLB flushes/s", values: flushes, color: "#d62728")
        html += "<h3>Operations</h3>\n"
        html += barChart(title: "remote_tlb_flush_requests during the calls", bars: run.operations.map { ($0.name, Double($0.flushRequests)) }, color: "#d62728")
        html += barChart(title: "guest faults (EFAULT or MMIO) while running", bars: run.operations.map { ($0.name, Double($0.faults)) }, color: "#9467bd")
        for percentile in ["50", "99", "99.9"] {
            html += barChart(title: "call latency p\(percentile), µs", bars: run.operations.map { ($0.name, $0.latencyPercentilesMicroseconds[percentile] ?? 0) }, color: "#1f77b4")
        }
        html += barChart(title: "call latency max, µs", bars: run.operations.map { ($0.name, $0.maxMicroseconds) }, color: "#17becf")
        html += table(["operation", "count", "ops/s", "mean µs", "p99 µs", "max µs", "exercised", "evidence"], run.operations.map {
            [$0.name, "\($0.count)", String(format: "%.0f", $0.perSecond), String(format: "%.1f", $0.meanMicroseconds),
             String(format: "%.1f", $0.latencyPercentilesMicroseconds["99"] ?? 0),
             String(format: "%.1f", $0.maxMicroseconds), $0.exercised ? "yes" : "NO", $0.evidence]
        })
        html += "<h3>Violations (\(run.violationCount))</h3>\n"
        if run.violations.isEmpty {
            html += "<p>None.</p>\n"
        } else {
            html += table(["kind", "vCPU", "page", "word", "window", "expected", "observed", "survived exit", "in flight"], run.violations.prefix(200).map {
                [$0.kind, "\($0.vcpu)", "\($0.page)", "\($0.word)", $0.window, hex($0.expected), hex($0.observed),
                 $0.survivedExit.map { $0 ? "yes" : "no" } ?? "-", $0.operationInFlight ?? "-"]
            })
        }
        if !run.notes.isEmpty || !run.harnessErrors.isEmpty {
            html += "<h3>Notes</h3><ul>" + (run.notes + run.harnessErrors.map { "harness error: \($0)" }).map { "<li>\(escape($0))</li>" }.joined() + "</ul>\n"
        }
        return html
    }

    static func lineChart(title: String, values: [Double], color: String) -> String {
        let (width, height, pad) = (340.0, 160.0, 30.0)
        let top = max(values.max() ?? 0, 1)
        let step = values.count > 1 ? (width - 2 * pad) / Double(values.count - 1) : 0
        let points = values.enumerated().map { index, value in
            String(format: "%.1f,%.1f", pad + Double(index) * step, height - pad - value / top * (height - 2 * pad))
        }.joined(separator: " ")
        return """
            <svg width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" role="img"><title>\(escape(title))</title>
            <text x="\(pad)" y="18" font-size="12">\(escape(title)) (max \(String(format: "%.3g", top)))</text>
            <line x1="\(pad)" y1="\(height - pad)" x2="\(width - pad)" y2="\(height - pad)" stroke="#999"/>
            <line x1="\(pad)" y1="\(pad)" x2="\(pad)" y2="\(height - pad)" stroke="#999"/>
            <polyline fill="none" stroke="\(color)" stroke-width="2" points="\(points)"/>
            <text x="\(pad)" y="\(height - 10)" font-size="10">0 s</text><text x="\(width - pad - 30)" y="\(height - 10)" font-size="10">\(values.count) s</text>
            </svg>

            """
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
            svg += String(format: "<text x=\"%.1f\" y=\"%.0f\" font-size=\"10\">%.3g</text>", label + length + 4, y + 12, value)
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
