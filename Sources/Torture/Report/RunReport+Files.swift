import Foundation

// Reports as files: written atomically, read back with errors that name the problem, checked for what no run
// can have produced.

extension RunReport {
    /// Writes the report as JSON, atomically (``AtomicFile``): a reader never sees a torn file.
    public func write(to path: String) throws { try AtomicFile.write(self, to: path) }

    /// Reads a run report, with an error that names the problem for a file that is not one.
    public static func read(from path: String) throws -> RunReport {
        guard case .run(let report) = try ReportFile.read(from: path) else {
            throw ReportError(path: path, problem: "is a merged report, not the report of one run")
        }
        return report
    }
}

/// A report file as found on disk: one run's report, or a merge of many.
public enum ReportFile: Sendable {
    case run(RunReport)
    case merged(MergedReport)
    case lab(LabReport)

    /// Reads and checks a report file: readable, JSON, an mmutorture report, of a schema version this tool reads.
    public static func read(from path: String) throws -> ReportFile {
        let data: Data
        do { data = try ReadableFile.contents(path, document: "report file") } catch { throw ReportError(path: path, problem: error.problem) }
        guard let parsed = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
            throw ReportError(path: path, problem: "is not JSON (or is truncated)")
        }
        guard let object = parsed as? [String: Any] else {
            throw ReportError(path: path, problem: "is JSON but not an mmutorture report (a report is a JSON object)")
        }
        let tool = object["tool"] as? String
        let versions = ["mmutorture": RunReport.currentSchemaVersion, "mmutorture-merged": MergedReport.currentSchemaVersion,
                        "mmutorture-lab": LabReport.currentSchemaVersion]
        guard let tool, let expected = versions[tool] else {
            throw ReportError(path: path, problem: "is JSON but not an mmutorture report")
        }
        guard let version = object["schemaVersion"] as? Int, version == expected else {
            throw ReportError(path: path, problem: "has schema version \(object["schemaVersion"] ?? "none"); this tool reads version \(expected)")
        }
        do {
            switch tool {
            case "mmutorture":
                let report = try JSONDecoder().decode(RunReport.self, from: data)
                if let problem = report.inconsistency { throw ReportError(path: path, problem: "is inconsistent: \(problem)") }
                return .run(report)
            case "mmutorture-merged":
                // The runs inside are reports too, checked as a run's report is.
                let merged = try JSONDecoder().decode(MergedReport.self, from: data)
                for (index, run) in merged.runs.enumerated() {
                    if let problem = run.inconsistency { throw ReportError(path: path, problem: "is inconsistent: run \(index + 1): \(problem)") }
                }
                return .merged(merged)
            default:
                let lab = try JSONDecoder().decode(LabReport.self, from: data)
                for row in lab.rows {
                    if let problem = row.report?.inconsistency { throw ReportError(path: path, problem: "is inconsistent: \(row.variant) \(row.mmu) \(row.workload): \(problem)") }
                    if let seconds = row.secondsToFirstViolation, !(seconds >= 0 && seconds <= RunReport.largestPlausible) {
                        throw ReportError(path: path, problem: "is inconsistent: \(row.variant) \(row.mmu) \(row.workload): a first violation at \(seconds) s")
                    }
                }
                return .lab(lab)
            }
        } catch let error as ReportError {
            throw error
        } catch let error as DecodingError {
            throw ReportError(path: path, problem: "does not match report schema \(expected): \(Self.describe(error))")
        } catch {
            throw ReportError(path: path, problem: "does not match report schema \(expected)")
        }
    }

    /// A decoding error in plain words: which field, and what was wrong with it.
    static func describe(_ error: DecodingError) -> String {
        let field = { (path: [CodingKey]) in path.isEmpty ? "the top level" : "'" + path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".") + "'" }
        switch error {
        case .keyNotFound(let key, let context): return "field \(field(context.codingPath + [key])) is missing"
        case .typeMismatch(_, let context): return "field \(field(context.codingPath)) has the wrong type"
        case .valueNotFound(_, let context): return "field \(field(context.codingPath)) is null"
        case .dataCorrupted(let context): return "field \(field(context.codingPath)) has an impossible value"
        @unknown default: return "its fields do not match"
        }
    }

    /// The runs in the file.
    public var runs: [RunReport] {
        switch self {
        case .run(let report): [report]
        case .merged(let merged): merged.runs
        case .lab(let lab): lab.rows.compactMap(\.report)
        }
    }

    public var summary: String {
        switch self {
        case .run(let report): report.summary
        case .merged(let merged): merged.summary
        case .lab(let lab): lab.summary
        }
    }
}

public struct ReportError: Error, CustomStringConvertible {
    public var path: String
    public var problem: String
    public var description: String { "\(path) \(problem)" }
}

extension RunReport {
    /// No run lasts, or counts per second, more than this (about 30 years in seconds; 1e12 per second): a larger
    /// number in a report was made by hand or by a broken tool, and a renderer must not be asked to scale it.
    static let largestPlausible = 1e12

    /// What no run can have produced, if anything: a report edited by hand or by a broken tool.
    var inconsistency: String? {
        if !(durationSeconds >= 0 && durationSeconds <= Self.largestPlausible) { return "a duration of \(durationSeconds) s" }
        // Rates and times a renderer turns into integers or scales: finite, and within what a run can reach.
        for operation in operations {
            for (field, value) in [("perSecond", operation.perSecond), ("meanMicroseconds", operation.meanMicroseconds)]
            where !(value.isNaN || (value >= 0 && value <= Self.largestPlausible)) {
                return "operation \(operation.name)'s \(field) of \(value)"
            }
        }
        if !(checks.conclusivePerSecond.isNaN || (checks.conclusivePerSecond >= 0 && checks.conclusivePerSecond <= Self.largestPlausible)) {
            return "a conclusivePerSecond of \(checks.conclusivePerSecond)"
        }
        for sample in timeline where !(sample.second >= 0 && sample.second <= Self.largestPlausible) {
            return "a timeline sample at second \(sample.second)"
        }
        for violation in violations where !(violation.time.isNaN || (violation.time >= 0 && violation.time <= Self.largestPlausible)) {
            return "a violation at time \(violation.time)"
        }
        if violationCount < UInt64(violations.count) { return "\(violations.count) violations listed but \(violationCount) counted" }
        if violationCount > 0 && [.pass, .notExercised].contains(verdict) { return "\(violationCount) violations with verdict \(verdict.rawValue)" }
        return nil
    }
}
