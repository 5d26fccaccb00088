import Foundation
import TestSupport
import Testing
@testable import Torture

/// The scenarios shipped in `scenarios/`.
let shippedScenarios: [String] = {
    let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scenarios")
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    return names.filter { $0.hasSuffix(".json") }.sorted().map { directory.appendingPathComponent($0).path }
}()

/// Scenario files: good ones set exactly what they say; bad ones are refused naming the line and the field.
struct ScenarioParsingTests {
    func parse(_ text: String) throws(ScenarioError) -> Scenario { try Scenario.parse(text, file: "s.json") }

    /// The error a bad scenario text gets.
    func refusal(_ text: String) -> ScenarioError? {
        do { _ = try parse(text); return nil } catch { return error }
    }

    @Test func theRepositoryShipsScenariosIncludingOneModelledOnTheSeed() {
        #expect(shippedScenarios.count >= 3)
        #expect(shippedScenarios.contains { $0.hasSuffix("/seed-2012.json") })
    }

    @Test(arguments: shippedScenarios)
    func eachShippedScenarioParsesAndNamesItsAntagonists(path: String) throws {
        let scenario = try Scenario.load(path: path)
        #expect(URL(fileURLWithPath: path).lastPathComponent == scenario.name + ".json")
        #expect(!scenario.description.isEmpty && !scenario.configuration.antagonists.isEmpty && scenario.configuration.hotPages > 0)
    }

    @Test func theSeedScenarioRacesInvalidationsWithDirtyLogWriteProtection() throws {
        let seed = try Scenario.load(path: try #require(shippedScenarios.first { $0.hasSuffix("/seed-2012.json") }))
        #expect(seed.configuration.operation == .dontneed)
        #expect(Set(seed.configuration.antagonists.map(\.kind)) == [.dirtyToggle, .clearDirty])
    }

    @Test func aGoodFileSetsEveryFieldItNamesAndLeavesTheRestAtTheDefaults() throws {
        let scenario = try parse("""
            {
              "name": "t", "description": "a test",
              "operation": "mix", "backing": "memfd", "mode": "write", "pages": 128, "vcpus": 2,
              "duration": 2.5, "seed": 9, "hot": 4, "hotRepeat": 3,
              "antagonists": [ { "kind": "cr0-wp", "periodMicroseconds": 50 },
                               { "periodMicroseconds": 70, "kind": "memslot-churn" } ]
            }
            """)
        var expected = TortureConfiguration()
        expected.operation = .mix
        expected.backing = .memfd
        expected.mode = .write
        expected.pages = 128
        expected.vcpus = 2
        expected.duration = 2.5
        expected.seed = 9
        expected.hotPages = 4
        expected.hotRepeat = 3
        expected.antagonists = [AntagonistSpec(kind: .mmuReset, periodMicroseconds: 50), AntagonistSpec(kind: .memslotChurn, periodMicroseconds: 70)]
        #expect(scenario.configuration == expected)
        #expect(scenario.hasSeed && scenario.name == "t" && scenario.lines["antagonists"] == 5)
        #expect(try parse(#"{"name": "bare"}"#).configuration == TortureConfiguration())
    }

    /// Bad files: (text, line, field, words the problem or fix must contain).
    static let badFiles: [(String, Int?, String?, String)] = [
        ("{\n  \"name\": \"x\",\n  \"pages\": 12,\n}", 4, nil, "quoted field name"),
        ("{\n  \"name\": \"x\",\n  \"hott\": 8\n}", 3, "hott", "hotRepeat"),
        ("{\n  \"name\": \"x\",\n  \"pages\": \"256\"\n}", 3, "pages", "whole number"),
        ("{\n  \"name\": \"x\",\n  \"pages\": 2.5\n}", 3, "pages", "whole number"),
        ("{\n  \"name\": \"x\",\n  \"backing\": \"anon\"\n}", 3, "backing", "anonymous, shared, memfd"),
        ("{\n  \"name\": \"x\",\n  \"hot\": 1,\n  \"hot\": 2\n}", 4, "hot", "line 3"),
        ("{\n  \"name\": \"x\",\n  \"antagonists\": [\n    { \"kind\": \"dirty-toggle\" }\n  ]\n}", 4, "antagonists", "periodMicroseconds"),
        ("{\n  \"name\": \"x\",\n  \"antagonists\": [\n    { \"kind\": \"shred\", \"periodMicroseconds\": 5 }\n  ]\n}", 4, "antagonists", "cr0-wp"),
        ("{\n  \"name\": \"x\",\n  \"antagonists\": [ { \"kind\": \"cr0-wp\",\n    \"periodMicroseconds\": 0 } ]\n}", 4, "antagonists", "1 µs"),
        ("{\n  \"name\": \"x\",\n  \"pages\": 16,\n  \"hot\": 300\n}", 4, "hot", "hot pages of 16"),
        ("{\n  \"name\": \"x\",\n  \"dirty\": \"log\",\n  \"antagonists\": [ { \"kind\": \"clear-dirty\", \"periodMicroseconds\": 9 } ]\n}", 4, "antagonists", "dirty log"),
        ("{\n  \"name\": \"x\",\n  \"vcpus\": 99\n}", 3, "vcpus", "1 to 64"),
        ("{\n  \"description\": \"no name\"\n}", 1, "name", "missing"),
        ("[1, 2]", 1, nil, "one JSON object"),
        ("{\"name\": \"x\"} trailing", 1, nil, "after the document"),
        ("{\n  \"name\": \"x\n}", 2, nil, "past the end of its line"),
    ]

    @Test(arguments: badFiles.indices)
    func aBadFileIsRefusedNamingTheLineAndTheField(index: Int) throws {
        let (text, line, field, words) = Self.badFiles[index]
        let error = try #require(refusal(text), "accepted: \(text)")
        #expect(error.line == line && error.field == field, "\(error)")
        #expect(error.description.contains(words), "\(error)")
        #expect(error.description.hasPrefix("s.json:"), "the file is named: \(error)")
        #expect(error.exitCode == 65)
    }

    @Test func aDirectoryOrAFIFOIsNamedForWhatItIsAndNeverOpened() throws {
        let fifo = FileManager.default.temporaryDirectory.appendingPathComponent("scenario-fifo-\(getpid())").path
        #expect(mkfifo(fifo, 0o600) == 0)
        defer { unlink(fifo) }
        for (path, words) in [("/", "cannot be read: it is a directory, not a scenario file"),
                              (fifo, "cannot be read: it is not a regular file (a device, FIFO or socket), not a scenario file")] {
            do {
                _ = try Scenario.load(path: path)
                Issue.record("\(path) loaded")
            } catch {
                #expect(error.exitCode == 66 && error.description.contains(words), "\(error)")
                #expect(!error.description.contains("NSCocoaErrorDomain") && !error.description.contains("permission"), "\(error)")
            }
        }
    }

    @Test func aMissingFileSaysSoWithItsOwnExitCode() {
        #expect(throws: ScenarioError.self) { try Scenario.load(path: "/nonexistent/scenario.json") }
        do { _ = try Scenario.load(path: "/nonexistent/scenario.json") } catch {
            #expect(error.exitCode == 66 && error.description.contains("/nonexistent/scenario.json") && error.description.contains("cannot be read"))
        }
    }
}

/// Each shipped scenario, shortened, runs clean on this host with every antagonist exercised.
@Suite(.requiresKVM, .serialized)
struct ShippedScenarioRunTests {
    @Test(arguments: shippedScenarios)
    func theScenarioRunsCleanWithEveryAntagonistExercised(path: String) throws {
        var configuration = try Scenario.load(path: path).configuration
        configuration.seed = 2012
        configuration.devicePath = kvmDevicePath
        // Two seconds, or longer where a busy host needs it to exercise every operation and antagonist.
        let (report, all) = try runUntil({ $0.verdict != .notExercised && $0.antagonists.allSatisfy(\.exercised) }, seconds: 2) {
            configuration.duration = $0
            return try TortureRun(configuration: configuration).run()
        }
        #expect(all.allSatisfy { $0.violationCount == 0 }, "\(all.map(\.verdictReason))")
        #expect(report.verdict == .pass, "\(report.summary)")
        #expect(report.antagonists.count == configuration.antagonists.count)
        for antagonist in report.antagonists {
            #expect(antagonist.exercised, "\(antagonist.kind): \(antagonist.evidence ?? "")")
        }
    }
}
