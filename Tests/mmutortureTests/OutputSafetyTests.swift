import Foundation
import TestSupport
import Testing
@testable import Torture

/// Files the tool writes: never through a planted link, never over one of its own inputs, never torn, and a lock
/// that only its owner removes (README, "Security notes").
@Suite(.serialized, .requiresKVM)
struct OutputSafetyTests {
    let fixtures = RunFixtures.shared

    @Test func anOutputThatIsAlsoTheInputIsRefusedAndTheInputKept() throws {
        let input = fixtures.path("self.json")
        try FileManager.default.copyItem(atPath: fixtures.passing, toPath: input)
        let before = try Data(contentsOf: URL(fileURLWithPath: input))
        for command in ["html", "junit", "tap"] {
            let result = try invoke(["report", command, input, "-o", input])
            #expect(result.status == 73 && result.stderr.contains("is also an input"), "\(command): \(result.stderr)")
        }
        let merge = try invoke(["report", "merge", fixtures.passing, input, "-o", input])
        #expect(merge.status == 73 && merge.stderr.contains("is also an input"), "\(merge.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: input)) == before)
    }

    @Test func anOutputThatIsALinkOrADeviceIsRefusedAndItsTargetKept() throws {
        let victim = fixtures.path("victim.txt")
        try Data("precious\n".utf8).write(to: URL(fileURLWithPath: victim))
        let link = fixtures.path("link.html")
        try? FileManager.default.removeItem(atPath: link)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: victim)
        for output in [link, "/dev/null"] {
            let result = try invoke(["report", "html", fixtures.passing, "-o", output])
            #expect(result.status == 73 && result.stderr.contains("is not a regular file"), "\(output): \(result.stderr)")
        }
        let bench = try invoke(["bench", "--seconds", "0.1", "--only", "exits", "--json", link])
        #expect(bench.status == 73 && bench.stderr.contains("is not a regular file"), "\(bench.stderr)")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")
    }

    @Test func aReplacedOutputKeepsItsPermissions() throws {
        let output = fixtures.path("private.html")
        try Data("old".utf8).write(to: URL(fileURLWithPath: output))
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: output)
        #expect(try invoke(["report", "html", fixtures.passing, "-o", output]).status == 0)
        #expect(try FileManager.default.attributesOfItem(atPath: output)[.posixPermissions] as? Int == 0o600)
        #expect(try String(contentsOfFile: output, encoding: .utf8).contains("<html"))
    }

    @Test func aRunRefusedTheReportLockLeavesTheOwnersLockInPlace() throws {
        let report = fixtures.path("locked.json")
        let owner = try ReportLock(reportPath: report)
        let lockFile = fixtures.path(".locked.json.lock")
        #expect(throws: ReportError.self) { try ReportLock(reportPath: report) }
        #expect(FileManager.default.fileExists(atPath: lockFile), "the refused run removed the owner's lock")
        #expect(throws: ReportError.self, "a third run is refused too") { try ReportLock(reportPath: report) }
        withExtendedLifetime(owner) {}
    }

    @Test func aLockFilePlantedAsALinkIsNeverFollowed() throws {
        let victim = fixtures.path("shadow-victim")
        try Data("root:x:0:0\n".utf8).write(to: URL(fileURLWithPath: victim))
        let report = fixtures.path("planted.json")
        try? FileManager.default.removeItem(atPath: fixtures.path(".planted.json.lock"))
        try FileManager.default.createSymbolicLink(atPath: fixtures.path(".planted.json.lock"), withDestinationPath: victim)
        #expect(throws: ReportError.self) { try ReportLock(reportPath: report) }
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "root:x:0:0\n")
    }
}
