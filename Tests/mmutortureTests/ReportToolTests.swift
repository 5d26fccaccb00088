import Foundation
import FoundationXML
import TestSupport
import Testing
@testable import Torture

nonisolated(unsafe) private var fixturesToRemove: String?

/// Reports from real short runs, made once for the report tools' tests.
final class RunFixtures: @unchecked Sendable {
    let directory: URL
    let passing: String
    let caught: String

    static let shared = RunFixtures()

    init() {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("mmutorture-reports-\(getpid())")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // The fixtures go when the test process ends: nothing is left in the temporary directory.
        fixturesToRemove = directory.path
        atexit { if let path = fixturesToRemove { try? FileManager.default.removeItem(atPath: path) } }
        passing = directory.appendingPathComponent("pass.json").path
        caught = directory.appendingPathComponent("nowrite.json").path
        _ = try? invoke(["run", "--duration", "2", "--seed", "11", "--quiet", "--report", passing, "--device", kvmDevicePath])
        _ = try? invoke(["run", "--duration", "2", "--seed", "12", "--inject", "nowrite", "--quiet", "--report", caught, "--device", kvmDevicePath])
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
}

@Suite(.serialized, .requiresKVM)
struct ReportToolTests {
    let fixtures = RunFixtures.shared

    @Test func aReportRoundTripsThroughJSON() throws {
        let report = try RunReport.read(from: fixtures.passing)
        let copy = fixtures.path("copy.json")
        try report.write(to: copy)
        let again = try RunReport.read(from: copy)
        #expect(again.configuration == report.configuration && again.checks == report.checks && again.verdict == report.verdict)
        #expect(again.counters == report.counters && again.timeline == report.timeline && again.host == report.host)
    }

    @Test func aFileThatIsNotAReportIsRefusedInPlainWordsNamingIt() throws {
        let array = fixtures.path("array.json"), partial = fixtures.path("partial.json"), edited = fixtures.path("edited.json")
        try Data("[1, 2]".utf8).write(to: URL(fileURLWithPath: array))
        try Data(#"{"tool": "mmutorture", "schemaVersion": \#(RunReport.currentSchemaVersion)}"#.utf8).write(to: URL(fileURLWithPath: partial))
        // A real report whose verdict was edited to pass while it still counts violations.
        var text = try String(contentsOfFile: fixtures.caught, encoding: .utf8)
        text = text.replacingOccurrences(of: #""verdict" : "control-fired""#, with: #""verdict" : "pass""#)
        try text.write(toFile: edited, atomically: true, encoding: .utf8)
        let cases: [(String, String)] = [
            (array, "is JSON but not an mmutorture report"), (partial, "field 'toolVersion' is missing"),
            (edited, "is inconsistent: "), ("/proc/version", "is not JSON"), (fixtures.directory.path, "is a directory"),
            (fixtures.path("absent.json"), "does not exist"),
        ]
        for (file, words) in cases {
            let result = try invoke(["report", "show", file])
            #expect(result.status == 65 && result.stderr.contains(file) && result.stderr.contains(words), "\(file): \(result.stderr)")
            #expect(!result.stderr.contains("NSCocoaErrorDomain") && !result.stderr.contains("DecodingError") && !result.stderr.contains("Debug description"))
        }
    }

    @Test func showGroupsLargeCountsAndExplainsItsTerms() throws {
        let report = try RunReport.read(from: fixtures.passing)
        #expect(report.checks.conclusive >= 1000, "the fixture must have a count worth grouping")
        let shown = try invoke(["report", "show", fixtures.passing])
        #expect(shown.stdout.contains("checks: \(report.checks.conclusive.grouped) conclusive"), "\(shown.stdout)")
        #expect(shown.stdout.contains("legend:") && shown.stdout.contains("heartbeats ") && shown.stdout.contains("kept-window"))
        let bare = try invoke(["report", "show", "--no-legend", fixtures.passing])
        #expect(bare.status == 0 && !bare.stdout.contains("legend:"))
    }

    @Test func tapIsKTAPWithAPointPerOperationAndRunThatKernelCICanCount() throws {
        let passing = try invoke(["report", "tap", fixtures.passing])
        #expect(passing.status == 0 && passing.stdout.hasPrefix("KTAP version 1\n1..2\n"), "\(passing.stdout)")
        #expect(passing.stdout.contains("ok 1 dontneed on anonymous\n") && !passing.stdout.contains("not ok"))
        // A run that failed: the same report with its violations judged as a real kernel's (no injection).
        var text = try String(contentsOfFile: fixtures.caught, encoding: .utf8)
        text = text.replacingOccurrences(of: #""verdict" : "control-fired""#, with: #""verdict" : "violation""#)
        let failed = fixtures.path("failed.json")
        try text.write(toFile: failed, atomically: true, encoding: .utf8)
        let failing = try invoke(["report", "tap", failed])
        let points = failing.stdout.split(separator: "\n").filter { $0.hasPrefix("ok ") || $0.hasPrefix("not ok ") }
        #expect(failing.stdout.contains("not ok 2 integrity: dontneed on anonymous, seed 12\n") && points.count == 2, "\(failing.stdout)")
        #expect(failing.stdout.contains("# stale-read: vCPU 0 page"), "diagnostics carry the violations")
    }

    @Test func diffAndShowSayWhatARunWasMadeOf() throws {
        var scenario = try RunReport.read(from: fixtures.passing)
        scenario.configuration.scenarioName = "seed-2012"
        scenario.configuration.hotPages = 8
        scenario.configuration.antagonists = [AntagonistSpec(kind: .dirtyToggle, periodMicroseconds: 200)]
        let path = fixtures.path("scenario.json")
        try scenario.write(to: path)
        let diff = try invoke(["report", "diff", fixtures.passing, path])
        for name in ["scenario", "hot set", "antagonists"] {
            #expect(diff.stdout.split(separator: "\n").contains { $0.hasPrefix(name) && $0.hasSuffix("<- changed") }, "\(name): \(diff.stdout)")
        }
        let shown = try invoke(["report", "show", path])
        #expect(shown.stdout.contains("scenario seed-2012") && shown.stdout.contains("antagonists dirty-toggle:200"), "\(shown.stdout)")
    }

    @Test func diffShowsWhatChangedBetweenTwoRealRuns() throws {
        let result = try invoke(["report", "diff", fixtures.passing, fixtures.caught])
        #expect(result.status == 0)
        let verdictLine = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("verdict") })
        #expect(verdictLine.contains("pass") && verdictLine.contains("control-fired") && verdictLine.hasSuffix("<- changed"))
        #expect(result.stdout.contains("remote_tlb_flush/s"))
        let same = try invoke(["report", "diff", fixtures.passing, fixtures.passing])
        #expect(!same.stdout.contains("<- changed"))
    }

    @Test func mergeMakesOneReportWithARowPerRunAndTheWorstVerdict() throws {
        let output = fixtures.path("merged.json")
        let result = try invoke(["report", "merge", fixtures.passing, fixtures.caught, "-o", output])
        #expect(result.status == 0)
        guard case .merged(let merged) = try ReportFile.read(from: output) else { Issue.record("not a merged report"); return }
        #expect(merged.rows.count == 2 && merged.runs.count == 2)
        #expect(merged.verdict == .controlFired)
        #expect(merged.rows.map(\.seed) == [11, 12])
        let shown = try invoke(["report", "show", output])
        #expect(shown.status == 0 && shown.stdout.contains("2 runs merged"))
        // Merging a merged report flattens it.
        let again = try invoke(["report", "merge", output, fixtures.passing, "-o", fixtures.path("merged2.json")])
        #expect(again.stdout.contains("3 runs merged"))
    }

    @Test func junitHasTheCommonShapeAndAFailingRunFails() throws {
        let passing = try XMLDocument(xmlString: try invoke(["report", "junit", fixtures.passing]).stdout)
        let root = try #require(passing.rootElement())
        #expect(root.name == "testsuites")
        let suite = try #require(root.elements(forName: "testsuite").first)
        #expect(suite.elements(forName: "testcase").count == 2)
        #expect(try passing.nodes(forXPath: "//failure").isEmpty)
        // The nowrite run's report, read as if nothing had been injected: a real violation.
        var failing = try RunReport.read(from: fixtures.caught)
        failing.configuration.injection = .none
        failing.verdict = .violation
        let xml = try XMLDocument(xmlString: JUnitRenderer.render([failing]))
        let failure = try #require(try xml.nodes(forXPath: "//testsuite/testcase/failure").first as? XMLElement)
        #expect(failure.attribute(forName: "type")?.stringValue == "violation")
        #expect(failure.stringValue?.contains("stale-read: vCPU 0 page") == true)
    }

    @Test func anAllRunsTimelineStaysCumulativeAcrossItsParts() throws {
        // `--op all` runs its operations one after another, each counting from zero; the combined timeline must
        // not step back (the charts showed negative and 1e19 rates where it did).
        let part = try RunReport.read(from: fixtures.passing)
        let whole = RunReport.combining([part, part], as: part.configuration)
        #expect(whole.timeline.count == 2 * part.timeline.count && part.timeline.count > 0)
        for (earlier, later) in zip(whole.timeline, whole.timeline.dropFirst()) {
            #expect(later.second > earlier.second && later.operations >= earlier.operations
                    && later.conclusiveChecks >= earlier.conclusiveChecks && later.remoteTLBFlushes >= earlier.remoteTLBFlushes)
        }
        #expect(whole.timeline.last?.conclusiveChecks == 2 * part.timeline.last!.conclusiveChecks)
    }

    @Test func barChartsAppearOnlyWhereTheyCompareOperations() throws {
        var report = try RunReport.read(from: fixtures.passing)
        #expect(report.operations.count == 1)
        #expect(!HTMLRenderer.render([report], title: "one").contains("call latency p50"), "one operation: its table, no bars")
        var second = report.operations[0]
        second.name = "remap"
        report.operations.append(second)
        let html = HTMLRenderer.render([report], title: "two")
        #expect(html.contains("call latency p50") && html.contains(">remap<"))
        // The y axis starts at zero and ends on a round tick at or above the peak.
        #expect(HTMLRenderer.niceStep(0.3) == 0.5 && HTMLRenderer.niceStep(2_100) == 5_000 && HTMLRenderer.niceStep(1_000) == 1_000)
        #expect(HTMLRenderer.short(2_500_000) == "2.5M" && HTMLRenderer.short(40_000) == "40k" && HTMLRenderer.short(0.5) == "0.5")
    }

    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first(where: FileManager.default.isExecutableFile)
    /// Skipped, and said so, without Chromium; with MMUTORTURE_REQUIRE_CHROMIUM=1 (CI) it runs, and fails.
    static let chromiumGate = chromium != nil || ProcessInfo.processInfo.environment["MMUTORTURE_REQUIRE_CHROMIUM"] == "1"

    @Test(.enabled(if: chromiumGate, "headless Chromium is not installed (apt-get install chromium); MMUTORTURE_REQUIRE_CHROMIUM=1 makes that a failure"))
    func htmlRendersInHeadlessChromiumWithoutErrorsAndIsNotBlank() throws {
        let chromium = try #require(Self.chromium, "chromium is required here (MMUTORTURE_REQUIRE_CHROMIUM=1) but not installed")
        let html = fixtures.path("report.html")
        #expect(try invoke(["report", "html", fixtures.caught, "-o", html]).status == 0)
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(!page.contains("<script") && !page.contains("http://") && !page.contains("https://"), "self-contained: no scripts, no network")
        let dom = try run(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0", "--dump-dom", "file://\(html)"])
        #expect(dom.stdout.contains("<svg") && dom.stdout.contains("Violations"))
        // Timelines carry ticks on both axes and say their unit.
        #expect(dom.stdout.contains("class=\"tick y\"") && dom.stdout.contains("class=\"tick x\"") && dom.stdout.contains("seconds into the run"))
        #expect(!dom.stderr.contains("CONSOLE") && !dom.stderr.contains("Uncaught"), "\(dom.stderr)")
        let shot = fixtures.path("report.png"), blankShot = fixtures.path("blank.png")
        let blank = fixtures.path("blank.html")
        try Data("<!DOCTYPE html><html><body></body></html>".utf8).write(to: URL(fileURLWithPath: blank))
        _ = try run(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,1600", "--screenshot=\(shot)", "file://\(html)"])
        _ = try run(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,1600", "--screenshot=\(blankShot)", "file://\(blank)"])
        let size = { (path: String) in (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0 }
        #expect(size(blankShot) > 0)
        #expect(size(shot) > 5 * size(blankShot), "the screenshot (\(size(shot)) bytes) must carry far more than a blank page (\(size(blankShot)) bytes)")
    }

    @Test func doctorJSONDescribesThisHostAndForecastsWhatRunMeasures() throws {
        let result = try invoke(["doctor", "--json", "--device", kvmDevicePath])
        #expect(result.status == 0)
        let doctor = try JSONDecoder().decode(DoctorReport.self, from: Data(result.stdout.utf8))
        #expect(doctor.canRun && doctor.findings.contains { $0.check == "device" && $0.status == .ok })
        let host = try #require(doctor.host)
        #expect(["shadow", "tdp", "tdp-legacy"].contains(host.mmuMode))
        if FileManager.default.fileExists(atPath: "/sys/module/kvm_pvm") { #expect(host.pvm && host.mmuMode == "shadow") }
        // The forecast against the judge: a pair doctor says will not be exercised, and one it says will.
        let cold = try #require(doctor.operations.first { $0.operation == "cold" && $0.backing == "anonymous" })
        #expect(!cold.exercisable)
        let report = fixtures.path("cold.json")
        let run = try invoke(["run", "--op", "cold", "--duration", "1", "--quiet", "--report", report, "--device", kvmDevicePath])
        #expect(run.status == 2)
        let judged = try RunReport.read(from: report)
        #expect(judged.verdict == .notExercised)
        #expect(doctor.operations.first { $0.operation == "dontneed" && $0.backing == "anonymous" }?.exercisable == true)
        let passing = try RunReport.read(from: fixtures.passing)
        #expect(passing.verdict == .pass)
    }

    @Test func doctorWithoutAUsableDeviceFailsWithTheEnvironmentCode() throws {
        let result = try invoke(["doctor", "--device", "/nonexistent/kvm"])
        #expect(result.status == 69)
        #expect(result.stdout.contains("KVM not available") && result.stdout.contains("cannot proceed"))
    }

    @Test func aSoakRunWritesCheckpointsThatCanBeReadWhileItRuns() throws {
        let report = fixtures.path("soak.json")
        let process = Process()
        process.executableURL = binary
        process.arguments = ["run", "--profile", "soak", "--duration", "6", "--checkpoint-interval", "1", "--quiet", "--report", report, "--device", kvmDevicePath]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // The first checkpoint, however late a busy host writes it: kept aside at once, before the run ends
        // and its final report replaces it.
        let snapshot = fixtures.path("soak-checkpoint.json")
        var checkpoint: RunReport?
        let deadline = Date().addingTimeInterval(60)
        while checkpoint == nil && process.isRunning && Date() < deadline {
            usleep(50_000)
            guard let data = FileManager.default.contents(atPath: report),
                  let read = try? JSONDecoder().decode(RunReport.self, from: data), read.complete == false else { continue }
            try data.write(to: URL(fileURLWithPath: snapshot))
            checkpoint = read
        }
        let found = try #require(checkpoint, "a checkpoint was written while the run went on")
        #expect(found.durationSeconds > 0.5 && found.durationSeconds < 6)
        #expect(found.plannedSeconds == 6 && found.standing != .pass)
        let shown = try invoke(["report", "show", snapshot])
        #expect(shown.status == 0 && shown.stdout.contains("mix on anonymous"), "\(shown.stderr)")
        #expect(shown.stdout.contains("INCOMPLETE") && !shown.stdout.contains("verdict: pass"), "a checkpoint never reads as a pass: \(shown.stdout)")
        let html = try invoke(["report", "html", snapshot])
        #expect(html.stdout.contains("INCOMPLETE") && !html.stdout.contains("verdict pass\""), "nor does its HTML")
        process.waitUntilExit()
        let final = try RunReport.read(from: report)
        #expect(final.durationSeconds >= 6 && final.complete == true)
    }
}

/// Runs any program to completion.
func run(_ path: String, _ arguments: [String]) throws -> Invocation {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Invocation(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
}
