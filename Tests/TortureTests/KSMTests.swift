import Foundation
import Testing
@testable import Torture

/// The opt-in ksm operation: refused without consent, and with it, ksmd really merges guest pages under the running
/// vCPUs, the stale-read control still fires, and every ksm setting is back as it was afterwards.
struct KSMConsentTests {
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
}

/// Runs only where ksmd can be started (root, CONFIG_KSM); otherwise skipped with the reason.
@Suite(.requiresKVM, .serialized, .enabled(if: KSMDaemon.problem() == nil, Comment(rawValue: KSMDaemon.problem() ?? "")))
struct KSMRunTests {
    static let settingNames = KSMDaemon.settings.map(\.name)

    func ksmRun(inject: Injection = .none) throws -> RunReport {
        try shortRun(.ksm, inject: inject, seconds: 3, seed: 11) { configuration in
            configuration.mode = .read
            configuration.allowSystemChanges = true
        }
    }

    @Test func ksmdMergesGuestPagesUnderTheVCPUsAndEverySettingIsRestored() throws {
        let before = Self.settingNames.map { KSMDaemon.value($0) }
        let report = try ksmRun()
        #expect(Self.settingNames.map { KSMDaemon.value($0) } == before, "ksmd's settings are back as they were")
        #expect(report.verdict == .pass, "\(report.summary)")
        let note = try #require(report.notes.first { $0.hasPrefix("ksm: ") })
        let merged = Int(note.dropFirst(5).split(separator: " ").first ?? "") ?? 0
        #expect(merged > 0, "some republications found their page merged: \(note)")
        #expect(report.operations.first { $0.name == "ksm" }?.exercised == true, "breaking a merge flushed the vCPU's mapping")
    }

    @Test func theStaleReadControlStillFiresOnMergedPages() throws {
        let report = try ksmRun(inject: .nowrite)
        #expect(report.verdict == .controlFired, "\(report.summary)")
        #expect(report.violationCount > 0)
    }
}
