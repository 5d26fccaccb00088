import Foundation
import Torture

/// A build of KVM's modules: the stock source, a shipped mutant (`lab/mutants/NAME.patch`), or a user's patch.
/// A mutant's header (the lines before the diff) says what it breaks, on which path and MMU, and the history it
/// re-creates; its `Workloads:` line names the workloads aimed at it.
public struct Variant: Sendable, Equatable {
    public var name: String
    public var patch: String?
    public var expectation: LabReport.Expectation
    public var header: [String]

    public static let stock = Variant(name: "stock", patch: nil, expectation: .clean, header: ["the distribution's KVM, unchanged (a marker in kvm_init only)"])

    /// The workloads the header names, if it names any.
    public var targetedWorkloads: [String]? {
        guard let line = header.first(where: { $0.hasPrefix("Workloads:") }) else { return nil }
        return line.dropFirst("Workloads:".count).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    }

    /// The MMUs the header says the broken path exists on (`MMU: tdp, shadow`), if it says.
    public var mmus: [String]? {
        guard let line = header.first(where: { $0.hasPrefix("MMU:") }) else { return nil }
        return line.dropFirst("MMU:".count).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    }

    public var info: LabReport.VariantInfo {
        LabReport.VariantInfo(name: name, expectation: expectation, description: header.joined(separator: "\n"), patch: patch)
    }

    /// Reads a patch file: its header is every line before the first `diff `/`--- ` line.
    public static func load(patch path: String, name: String, expectation: LabReport.Expectation) throws -> Variant {
        let data: Data
        do { data = try ReadableFile.contents(path, document: "patch file") } catch { throw LabError.badInput("patch \(path) \(error.problem)") }
        let text = String(decoding: data, as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.contains(where: { $0.hasPrefix("+++ ") }), lines.contains(where: { $0.hasPrefix("@@ ") }) else {
            throw LabError.badInput("patch \(path) is not a unified diff (no '+++' file line or '@@' hunk); make it with 'diff -u' or 'git diff'")
        }
        let header = lines.prefix { !$0.hasPrefix("diff ") && !$0.hasPrefix("--- ") }
            .filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        return Variant(name: name, patch: path, expectation: expectation, header: Array(header))
    }

    /// The shipped mutants, by name (the file name without `.patch`).
    public static func mutants(in assets: LabAssets) throws -> [Variant] {
        let directory = assets.path("mutants")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return try names.filter { $0.hasSuffix(".patch") }.sorted().map { file in
            try load(patch: directory + "/" + file, name: String(file.dropLast(".patch".count)), expectation: .caught)
        }
    }
}
