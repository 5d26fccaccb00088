import Foundation
import TestSupport
import Testing

/// `mmutorture lab`'s refusals, which come before any package is fetched or QEMU started.
@Suite struct LabCommandTests {
    let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../LabTests/Fixtures").standardized

    @Test func aMalformedPatchIsRefusedWithExit65AndTheReason() throws {
        let bad = FileManager.default.temporaryDirectory.appendingPathComponent("not-a-diff-\(UUID().uuidString).patch")
        try Data("just words\n".utf8).write(to: bad)
        defer { try? FileManager.default.removeItem(at: bad) }
        let report = FileManager.default.temporaryDirectory.appendingPathComponent("lab-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: report) }
        let result = try invoke(["lab", "--variants", "none", "--patch", bad.path, "--report", report])
        #expect(result.status == 65)
        #expect(result.stderr.contains("is not a unified diff"))
        let missing = try invoke(["lab", "--variants", "none", "--patch", "/nonexistent/x.patch"])
        #expect(missing.status == 65)
        #expect(missing.stderr.contains("cannot be read"))
    }

    @Test func badLabOptionsAreUsageErrorsNamingTheOption() throws {
        for (arguments, words) in [
            (["--seconds", "0"], "--seconds"), (["--mmu", "ept"], "--mmu"), (["--seeds", "3-1"], "--seeds"),
            (["--shard", "5/4"], "--shard"), (["--workloads", "nope"], "unknown workload 'nope'"), (["--accel", "hvf"], "--accel"),
        ] {
            let result = try invoke(["lab"] + arguments)
            #expect(result.status == 64, "\(arguments)")
            #expect(result.stderr.contains(words), "\(arguments): \(result.stderr)")
        }
        let unknown = try invoke(["lab", "--variants", "no-such-mutant"])
        #expect(unknown.status == 64)
        #expect(unknown.stderr.contains("known: all, mutants, stock, none, dirty-log-no-flush"))
    }

    @Test func aCacheDirectoryThatCannotBeMadeIsRefusedWithExit73NamingWhy() throws {
        let notADirectory = FileManager.default.temporaryDirectory.appendingPathComponent("lab-cache-file-\(UUID().uuidString)")
        try Data("x".utf8).write(to: notADirectory)
        defer { try? FileManager.default.removeItem(at: notADirectory) }
        for (cache, why) in [("/proc/no-such/cache", "/proc/no-such: No such file or directory"),
                             (notADirectory.path + "/cache", notADirectory.path + ": it is there and is not a directory")] {
            let result = try invoke(["lab", "--variants", "stock", "--cache", cache])
            #expect(result.status == 73, "\(cache): \(result.stderr)")
            #expect(result.stderr.contains("the lab's cache directory \(cache) cannot be created: \(why); give one you can write with --cache DIR"), "\(result.stderr)")
            #expect(!result.stderr.contains("Error Domain"), "no raw Foundation error")
        }
    }

    @Test func theMarkerFixtureIsAUnifiedDiffOfKVM() throws {
        let text = try String(contentsOf: fixtures.appendingPathComponent("marker.patch"), encoding: .utf8)
        #expect(text.contains("+++ b/virt/kvm/kvm_main.c"))
    }
}
