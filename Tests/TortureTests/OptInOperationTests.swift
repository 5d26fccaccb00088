import Foundation
import TestSupport
import Testing
@testable import Torture

/// The opt-in operations (ksm, aging): refused without consent; with it, they really reach KVM through their own
/// kernel paths, the controls still fire, and every system change is undone afterwards.
struct OptInConsentTests {
    func refusal(_ configure: (inout TortureConfiguration) -> Void) -> ConfigurationError? {
        var configuration = TortureConfiguration()
        configuration.operation = .ksm
        configuration.mode = .read
        configuration.allowSystemChanges = true
        configure(&configuration)
        do { try configuration.validate(); return nil } catch { return error }
    }

    @Test func ksmNeedsExplicitConsentReadModeAndPrivateAnonymousMemory() {
        #expect(refusal { _ in } == nil)
        #expect(refusal { $0.allowSystemChanges = nil }?.fix.contains("--allow-system-changes") == true)
        #expect(refusal { $0.mode = .both }?.option == "--mode")
        #expect(refusal { $0.backing = .memfd }?.option == "--op")
        #expect(!Torture.Operation.catalogue.contains(.ksm) && !Torture.Operation.mixable(on: .anonymous).contains(.ksm),
                "opt-in: never part of --op all or mix")
    }

    @Test func agingNeedsExplicitConsentAndAFileBacking() {
        #expect(refusal { $0.operation = .aging; $0.backing = .file; $0.mode = .both } == nil)
        #expect(refusal { $0.operation = .aging; $0.backing = .file; $0.allowSystemChanges = false }?.fix.contains("--allow-system-changes") == true)
        #expect(refusal { $0.operation = .aging; $0.backing = .anonymous }?.fix.contains("--backing file") == true)
        #expect(!Torture.Operation.catalogue.contains(.aging))
    }
}

/// Runs only where ksmd can be started (root, CONFIG_KSM); otherwise skipped with the reason.
@Suite(.requiresKVM, .serialized, .enabled(if: Torture.Operation.ksm.hostProblem == nil, Comment(rawValue: Torture.Operation.ksm.hostProblem ?? "")))
struct KSMRunTests {
    static let settingNames = KSMDaemon.settings.map(\.name)

    func ksmRun(inject: Injection = .none, seconds: Double = 3) throws -> RunReport {
        try shortRun(.ksm, inject: inject, seconds: seconds, seed: 11) { configuration in
            configuration.mode = .read
            configuration.allowSystemChanges = true
        }
    }

    /// The merges ksmd made during the run, from its note ("ksm: N republications found their page merged…").
    static func merges(_ report: RunReport) -> Int {
        Int(report.notes.first { $0.hasPrefix("ksm: ") }?.dropFirst(5).split(separator: " ").first ?? "") ?? 0
    }

    @Test func ksmdMergesGuestPagesUnderTheVCPUsAndEverySettingIsRestored() throws {
        let before = Self.settingNames.map { KSMDaemon.value($0) }
        // ksmd scans at its own pace: on a busy host it merges later, so the run lasts until it has.
        let (report, all) = try runUntil({ Self.merges($0) > 0 && $0.operations.first { $0.name == "ksm" }?.exercised == true }, seconds: 3) {
            try ksmRun(seconds: $0)
        }
        #expect(all.allSatisfy { $0.violationCount == 0 }, "\(all.map(\.verdictReason))")
        #expect(Self.settingNames.map { KSMDaemon.value($0) } == before, "ksmd's settings are back as they were")
        #expect(report.verdict == .pass, "\(report.summary)")
        #expect(Self.merges(report) > 0, "some republications found their page merged: \(report.notes)")
        #expect(report.operations.first { $0.name == "ksm" }?.exercised == true, "breaking a merge flushed the vCPU's mapping")
    }

    @Test func theStaleReadControlStillFiresOnMergedPages() throws {
        let report = try ksmRun(inject: .nowrite)
        #expect(report.verdict == .controlFired, "\(report.summary)")
        #expect(report.violationCount > 0)
    }
}

/// Runs only where the harness can reclaim through a memory cgroup (root; cgroup v1, or v2 with memory.reclaim).
@Suite(.requiresKVM, .serialized, .enabled(if: Torture.Operation.aging.hostProblem == nil, Comment(rawValue: Torture.Operation.aging.hostProblem ?? "")))
struct AgingRunTests {
    func agingRun(inject: Injection = .none) throws -> RunReport {
        try shortRun(.aging, on: .file, inject: inject, seconds: 3, seed: 12) { $0.allowSystemChanges = true }
    }

    @Test func reclaimAgesTheGuestsPagesAndTheHarnessGoesBackToItsCgroup() throws {
        let before = ProcFile.read("/proc/self/cgroup")
        let report = try agingRun()
        #expect(ProcFile.read("/proc/self/cgroup") == before, "back in the cgroup it started in")
        #expect(report.verdict == .pass, "\(report.summary)")
        let aging = try #require(report.operations.first { $0.name == "aging" })
        #expect(aging.exercised && aging.flushRequests > 0, "clear_flush_young or eviction reached KVM: \(aging.evidence)")
        // Whether reclaim also frees pages depends on how hot the guest keeps them; the note says how much it did.
        let note = try #require(report.notes.first { $0.hasPrefix("aging through ") })
        #expect(aging.count > 0 && !note.contains(" \(aging.count) found nothing to reclaim"), "not every step was refused: \(note)")
        if let directory = note.split(separator: "(").dropFirst().first?.split(separator: ")").first, directory.contains("mmutorture-") {
            #expect(!FileManager.default.fileExists(atPath: String(directory)), "the child cgroup is removed")
        }
    }

    @Test(arguments: [Injection.nowrite, .losewrite])
    func theControlsStillFireUnderReclaim(inject: Injection) throws {
        let report = try agingRun(inject: inject)
        #expect(report.verdict == .controlFired, "\(report.summary)")
    }
}
