import Foundation
import TestSupport
import Testing

/// The lab runs scripts, builds and kernel patches as its caller, root often: nothing it runs may come from where
/// another user could have put it (README, "Security notes"). Each test plants what such a user would.
@Suite(.serialized) struct LabSafetyTests {
    static let sourceTree = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A fresh directory only the caller can write.
    func privateDirectory(_ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return url
    }

    @Test func assetsPlantedInTheWorkingDirectoryAreNeverUsed() throws {
        // An installed binary (no lab/ near it) run where another user planted a lab/: a mutant only the planted
        // assets have names the assets the lab picked.
        let installed = try privateDirectory("installed")
        defer { try? FileManager.default.removeItem(at: installed) }
        try FileManager.default.createDirectory(at: installed.appendingPathComponent("bin"), withIntermediateDirectories: true)
        let copy = installed.appendingPathComponent("bin/mmutorture")
        try FileManager.default.copyItem(at: binary, to: copy)
        let planted = try privateDirectory("planted")
        defer { try? FileManager.default.removeItem(at: planted) }
        try FileManager.default.createDirectory(at: planted.appendingPathComponent("lab/mutants"), withIntermediateDirectories: true)
        try Data("#!/bin/sh\ntouch \(planted.path)/ran\n".utf8).write(to: planted.appendingPathComponent("lab/fetch.sh"))
        try Data("Mutant: planted\n--- a/virt/kvm/kvm_main.c\n+++ b/virt/kvm/kvm_main.c\n@@ -1 +1 @@\n-a\n+b\n".utf8)
            .write(to: planted.appendingPathComponent("lab/mutants/planted.patch"))
        let result = try invoke(["lab", "--variants", "planted", "--cache", "/proc/no-such"], in: planted.appendingPathComponent("lab"), executable: copy)
        #expect(result.status == 64 && result.stderr.contains("unknown variant 'planted'"), "\(result.status): \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: planted.appendingPathComponent("ran").path))
    }

    @Test func assetsAnotherUserCouldHaveWrittenAreRefusedWithExit77() throws {
        let copy = try privateDirectory("assets")
        defer { try? FileManager.default.removeItem(at: copy) }
        let lab = copy.appendingPathComponent("lab")
        try FileManager.default.copyItem(at: Self.sourceTree.appendingPathComponent("lab"), to: lab)
        #expect(try invoke(["lab", "--assets", lab.path, "--variants", "nope"]).status == 64, "a copy only the caller can write is used")
        for (path, mode) in [(lab.appendingPathComponent("build-variant.sh"), 0o775), (lab.appendingPathComponent("mutants"), 0o777), (lab, 0o757)] {
            let before = try FileManager.default.attributesOfItem(atPath: path.path)[.posixPermissions] as! Int
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path.path)
            let result = try invoke(["lab", "--assets", lab.path, "--variants", "stock", "--cache", "/proc/no-such"])
            try FileManager.default.setAttributes([.posixPermissions: before], ofItemAtPath: path.path)
            #expect(result.status == 77, "\(path.lastPathComponent) mode \(String(mode, radix: 8)): \(result.stderr)")
            #expect(result.stderr.contains("not safe to run: \(path.path) is writable by"), "\(result.stderr)")
        }
    }

    @Test func aCacheOthersCanWriteIsRefusedAndNoHomeMeansNoGuessedCache() throws {
        let shared = try privateDirectory("shared-cache")
        defer { try? FileManager.default.removeItem(at: shared) }
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: shared.path)
        let result = try invoke(["lab", "--variants", "stock", "--cache", shared.path])
        #expect(result.status == 77 && result.stderr.contains("the lab's cache \(shared.path) is not safe to use"), "\(result.stderr)")
        // A cache inside a sticky, world-writable directory (/tmp) that only the caller can write is fine: the
        // refusal above is the cache's own mode. Without HOME the lab names --cache instead of using /tmp.
        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = nil
        environment["XDG_CACHE_HOME"] = nil
        let homeless = try invoke(["lab", "--variants", "stock"], environment: environment)
        #expect(homeless.status == 64 && homeless.stderr.contains("--cache DIR"), "\(homeless.stderr)")
    }

    @Test func aPatchNameThatIsNotAPlainWordIsRefused() throws {
        let directory = try privateDirectory("names")
        defer { try? FileManager.default.removeItem(at: directory) }
        for name in ["a$(touch pwned).patch", "two words.patch", "quote\".patch"] {
            let patch = directory.appendingPathComponent(name)
            try Data("--- a/virt/kvm/kvm_main.c\n+++ b/virt/kvm/kvm_main.c\n@@ -1 +1 @@\n-a\n+b\n".utf8).write(to: patch)
            let result = try invoke(["lab", "--variants", "none", "--patch", patch.path, "--cache", "/proc/no-such"])
            #expect(result.status == 64 && result.stderr.contains("may use only letters, digits"), "\(name): \(result.stderr)")
        }
    }

    /// build-variant.sh on its own, with a KVM tree of empty files: it refuses before it builds anything.
    func buildVariant(patch: String, in existing: URL? = nil) throws -> (status: Int32, stderr: String, out: URL) {
        let root = try existing ?? privateDirectory("variant")
        for directory in ["src/arch/x86/kvm", "src/virt/kvm", "headers", "modules"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(directory), withIntermediateDirectories: true)
        }
        let patchFile = root.appendingPathComponent("p.patch")
        try Data(patch.utf8).write(to: patchFile)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        let out = root.appendingPathComponent("modules/p")
        process.arguments = [Self.sourceTree.appendingPathComponent("lab/build-variant.sh").path, root.appendingPathComponent("src").path,
                             root.appendingPathComponent("headers").path, "p", patchFile.path, out.path]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, stderr, out)
    }

    @Test func aPatchThatChangesTheBuildOrClimbsOutOfKVMIsRefused() throws {
        let makefile = "diff --git a/arch/x86/kvm/Makefile b/arch/x86/kvm/Makefile\n--- a/arch/x86/kvm/Makefile\n+++ b/arch/x86/kvm/Makefile\n@@ -1 +1 @@\n-a\n+b\n"
        let refused = try buildVariant(patch: makefile)
        defer { try? FileManager.default.removeItem(at: refused.out.deletingLastPathComponent().deletingLastPathComponent()) }
        #expect(refused.status == 65 && refused.stderr.contains("changes the build (arch/x86/kvm/Makefile)") && refused.stderr.contains("--allow-build-changes"), "\(refused.stderr)")
        let renamed = "diff --git a/arch/x86/kvm/x.c b/arch/x86/kvm/x.c\nrename from arch/x86/kvm/x.c\nrename to arch/x86/kvm/../../../etc/cron.d/x\n"
        let climbing = try buildVariant(patch: renamed)
        defer { try? FileManager.default.removeItem(at: climbing.out.deletingLastPathComponent().deletingLastPathComponent()) }
        #expect(climbing.status == 65 && climbing.stderr.contains("outside arch/x86/kvm and virt/kvm"), "\(climbing.stderr)")
        let oldName = "--- a/arch/x86/kvm/x.c\n+++ b/Makefile\n@@ -1 +1 @@\n-a\n+b\n"
        let outside = try buildVariant(patch: oldName)
        defer { try? FileManager.default.removeItem(at: outside.out.deletingLastPathComponent().deletingLastPathComponent()) }
        #expect(outside.status == 65 && outside.stderr.contains("outside arch/x86/kvm and virt/kvm: Makefile"), "\(outside.stderr)")
    }

    @Test func theBuildLockIsNeverOpenedThroughAPlantedLink() throws {
        // A link planted where the old lock file was: opening it for writing truncated its target as root.
        let root = try privateDirectory("lock")
        defer { try? FileManager.default.removeItem(at: root) }
        let victim = root.appendingPathComponent("victim")
        try Data("precious\n".utf8).write(to: victim)
        let makefile = "--- a/arch/x86/kvm/Makefile\n+++ b/arch/x86/kvm/Makefile\n@@ -1 +1 @@\n-a\n+b\n"
        let first = try buildVariant(patch: makefile)
        defer { try? FileManager.default.removeItem(at: first.out.deletingLastPathComponent().deletingLastPathComponent()) }
        try FileManager.default.createSymbolicLink(atPath: first.out.path + ".lock", withDestinationPath: victim.path)
        _ = try buildVariant(patch: makefile, in: first.out.deletingLastPathComponent().deletingLastPathComponent())
        #expect(try String(contentsOf: victim, encoding: .utf8) == "precious\n")
    }
}
