import Foundation
import Testing
@testable import Torture

/// The settings table (``Setting``): one row per setting, from which the command line, scenario files and
/// validation all read. Each test walks the whole table, so a new row is held to it with no edit here.
struct SettingTableTests {
    /// Upper bounds too: the largest number a field can hold is refused by validation naming the setting (a huge
    /// page count or period would crash or hang the run later), unless the whole range is meaningful (the seed).
    @Test(arguments: Setting.all)
    func everySettingRefusesAHugeValueNamingItselfOrTakesItWhole(_ setting: Setting) {
        let huge = setting == .antagonists ? "dirty-toggle:9223372036854775807" : "9223372036854775807"
        var configuration = TortureConfiguration()
        do {
            try SettingArguments([setting.flag, huge]).apply(to: &configuration)
            try configuration.validate()
            #expect(setting == .seed, "\(setting.flag) \(huge) was accepted")
        } catch let error as ConfigurationError {
            #expect(error.setting == setting, "\(setting.flag) \(huge): \(error)")
        } catch {
            Issue.record("\(setting.flag) \(huge): \(error)")
        }
    }

    /// A setting given on the command line and the same value in a scenario file make the same configuration.
    @Test(arguments: Setting.all.filter { $0.key != nil })
    func aSettingReadsTheSameFromTheCommandLineAndFromAScenario(_ setting: Setting) throws {
        let (argument, json) = Self.sample(setting)
        var fromArguments = TortureConfiguration()
        try SettingArguments([setting.flag, argument]).apply(to: &fromArguments)
        let scenario = try Scenario.parse("{ \"name\": \"s\", \"\(setting.key!)\": \(json) }", file: "s.json")
        #expect(scenario.configuration == fromArguments, "\(setting.flag)")
        #expect(fromArguments != TortureConfiguration(), "\(setting.flag) \(argument) changed nothing")
    }

    /// A value other than the default for each row, as an argument and as JSON: the table's own default, moved.
    static func sample(_ setting: Setting) -> (String, String) {
        switch setting {
        case .operation: ("mix", "\"mix\"")
        case .backing: ("memfd", "\"memfd\"")
        case .mode: ("read", "\"read\"")
        case .guestPageSize: ("2m", "\"2m\"")
        case .dirty: ("ring", "\"ring\"")
        case .injection: ("poison", "\"poison\"")
        case .antagonists: ("fork:300", "[ { \"kind\": \"fork\", \"periodMicroseconds\": 300 } ]")
        case .duration: ("2.5", "2.5")
        case .ringEntries: ("512", "512")
        default: ("16", "16")
        }
    }

    /// Options `run` keeps apart from the table, and the settings' flags, never collide; every flag is
    /// `--lowercase-words`.
    @Test func everyFlagIsLongLowercaseAndUnique() {
        #expect(Set(Setting.all.map(\.flag)).count == Setting.all.count)
        for setting in Setting.all {
            #expect(setting.flag.wholeMatch(of: /--[a-z0-9]+(-[a-z0-9]+)*/) != nil, "\(setting.flag)")
        }
    }

    /// `--flag=value` and `--flag value` are one; a value may begin with a single dash; what is not a setting is named.
    @Test func theCommandLineReadsBothSpellingsAndNamesWhatItCannotRead() throws {
        var a = TortureConfiguration(), b = TortureConfiguration()
        try SettingArguments(["--pages=300", "--antagonist", "fork:5", "--antagonist=pageout:7"]).apply(to: &a)
        try SettingArguments(["--pages", "300", "--antagonist", "fork:5", "--antagonist", "pageout:7"]).apply(to: &b)
        #expect(a == b && a.pages == 300 && a.antagonists.map(\.periodMicroseconds) == [5, 7])
        #expect(throws: SettingArgumentError.unknown("--page")) { try SettingArguments(["--page", "3"]) }
        #expect(throws: SettingArgumentError.missingValue(.pages)) { try SettingArguments(["--pages", "--vcpus", "2"]) }
        #expect(throws: SettingArgumentError.missingValue(.pages)) { try SettingArguments(["--pages="]) }
        #expect(throws: SettingArgumentError.givenTwice(.vcpus, "1", "2")) { try SettingArguments(["--vcpus", "1", "--vcpus", "2"]) }
        #expect(throws: SettingArgumentError.unexpected("3")) { try SettingArguments(["3"]) }
        var c = TortureConfiguration()
        try SettingArguments(["--pages", "-1"]).apply(to: &c)
        #expect(c.pages == -1, "out of range for validation to say, not a missing value")
    }

    /// README's table of `run`'s options names every setting of the table in its first column.
    @Test func everySettingIsInREADMEsTableOfOptions() throws {
        let readme = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("README.md"), encoding: .utf8)
        let options = readme.split(separator: "\n").filter { $0.hasPrefix("| `--") }.map { $0.split(separator: "|").first ?? "" }
        for setting in Setting.all {
            #expect(options.contains { $0.contains("`\(setting.flag)`") }, "README's options table lacks \(setting.flag)")
        }
    }
}
