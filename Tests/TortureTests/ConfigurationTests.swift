import Testing
@testable import Torture

struct ConfigurationTests {
    /// KVM's own zaps flush under mmu_lock (DESIGN §7): the antagonists that zap through those paths (dirty-logging
    /// write protection, notifier invalidations of their own) leave the missing-flush oracle on; only the ones
    /// whose correct zaps move no flush request turn it off, and the run says why.
    @Test func theMissingFlushOracleJudgesBesideKVMsOwnZapsAndIsOffOnlyBesideTheOnesThatNeedNoRemoteFlush() {
        for kind in [AntagonistSpec.Kind.dirtyToggle, .clearDirty, .fork, .pageout, .collapse] {
            var configuration = TortureConfiguration()
            configuration.antagonists = [AntagonistSpec(kind: kind, periodMicroseconds: 200)]
            #expect(configuration.flushProbeJudgeable && configuration.flushProbeOffReason == nil, "\(kind.rawValue)")
        }
        for kind in [AntagonistSpec.Kind.memslotChurn, .mmuReset] {
            var configuration = TortureConfiguration()
            configuration.antagonists = [AntagonistSpec(kind: .dirtyToggle, periodMicroseconds: 200), AntagonistSpec(kind: kind, periodMicroseconds: 200)]
            #expect(!configuration.flushProbeJudgeable, "\(kind.rawValue)")
            #expect(configuration.flushProbeOffReason?.hasPrefix(kind.rawValue + ": ") == true, "\(kind.rawValue)")
        }
    }

    /// `--announce-to` a path the run cannot open ends it before KVM is touched (the lab would wait in vain for
    /// the line), naming the path and the fix; it is never ignored.
    @Test func anAnnouncementPathThatCannotBeOpenedEndsTheRunBeforeItStartsWithExit73() {
        var configuration = TortureConfiguration()
        configuration.devicePath = "/nonexistent/kvm"
        configuration.announcePath = "/nonexistent/dir/announce"
        let error = #expect(throws: TortureRun.SetupError.self) { try TortureRun(configuration: configuration).run() }
        #expect(error?.exitCode == 73)
        #expect(error?.description.contains("--announce-to /nonexistent/dir/announce") == true, "\(String(describing: error))")
        #expect(error?.description.contains("ENOENT") == true && error?.description.contains("/dev/kmsg") == true, "\(String(describing: error))")
    }

    @Test func punchOnPrivateAnonymousMemoryNamesTheOptionAndTheFix() {
        var configuration = TortureConfiguration()
        configuration.operation = .punch
        let error = #expect(throws: ConfigurationError.self) { try configuration.validate() }
        #expect(error?.option == "--op")
        #expect(error?.description.contains("--backing memfd|file|shared") == true)
    }

    @Test func outOfRangeNumbersAreRefused() {
        var configuration = TortureConfiguration()
        configuration.pages = 0
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
        configuration.pages = 16
        configuration.vcpus = 65
        #expect((try? configuration.validate()) == nil)
        configuration.vcpus = 1
        configuration.duration = -1
        #expect((try? configuration.validate()) == nil)
    }

    @Test func windowsNoReadCanLandInAreAUsageError() {
        var configuration = TortureConfiguration()
        configuration.windowMicroseconds = 0
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
        configuration.windowMicroseconds = 5
        configuration.faultWindowMicroseconds = 0
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
    }

    @Test func eachWindowKindsIndexIsItsPlaceAmongThemAll() {
        #expect(WindowKind.allCases.enumerated().allSatisfy { $0.offset == $0.element.index })
    }

    @Test func ptswapNeedsFourKilobyteGuestPages() {
        var configuration = TortureConfiguration()
        configuration.injection = .ptswap
        configuration.guestPageSize = .size2M
        let error = #expect(throws: ConfigurationError.self) { try configuration.validate() }
        #expect(error?.option == "--inject")
    }

    @Test func aScheduleIsAPureFunctionOfTheSeed() {
        var configuration = TortureConfiguration()
        configuration.operation = .mix
        configuration.backing = .file
        configuration.seed = 99
        var first = Schedule(configuration: configuration)
        var second = Schedule(configuration: configuration)
        let a = (0..<100).map { _ in first.next() }
        #expect(a == (0..<100).map { _ in second.next() })
        #expect(Set(a.map(\.operation)) == Set(Torture.Operation.mixable(on: .file)))
        #expect(a.allSatisfy { $0.page >= 0 && $0.page < configuration.pages })
    }

    @Test func everyOperationsIndexIsItsPlaceInAllCases() {
        for (place, operation) in Torture.Operation.allCases.enumerated() {
            #expect(operation.index == place, "\(operation)")
        }
    }

    /// The settings are written once: every scenario field but the scenario's name and description stands for a
    /// setting of the table and sits under that setting's key, and every setting with a key has its field.
    @Test func scenarioFieldsAreTheSettingsTableWithTheirKeys() {
        let fields = Scenario.fields
        #expect(Set(fields.keys.filter { fields[$0]?.setting == nil }) == ["name", "description"])
        for (key, field) in fields { if let setting = field.setting { #expect(setting.key == key) } }
        #expect(Set(fields.values.compactMap(\.setting)) == Set(Setting.all.filter { $0.key != nil }))
        #expect(Set(Setting.all.map(\.flag)).count == Setting.all.count, "no flag twice")
    }
}
