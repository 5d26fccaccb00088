import Testing
@testable import Torture

struct ConfigurationTests {
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
