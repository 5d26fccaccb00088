/// The run settings given on a command line (`--pages 512`, `--pages=512`, `--antagonist A --antagonist B`): each
/// setting's values in the order given, read against the ``Setting`` table, so that a new setting needs no option of
/// its own in `run`.
public struct SettingArguments: Sendable {
    /// The values given, by setting.
    public private(set) var values: [Setting: [String]] = [:]

    public init() {}

    /// Reads `arguments`, every one of which must be a setting's flag with its value.
    public init(_ arguments: [String]) throws(SettingArgumentError) {
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("--") else { throw .unexpected(argument) }
            let parts = argument.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let (flag, attached) = (parts[0], parts.count > 1 ? parts[1] : nil)
            guard let setting = Setting.named(flag) else { throw .unknown(flag) }
            let value: String
            if let attached {
                guard !attached.isEmpty else { throw .missingValue(setting) }
                value = attached
            } else {
                // A value may begin with a dash (`--pages -1` is out of range, not a missing value).
                guard index < arguments.count, !arguments[index].hasPrefix("--") else { throw .missingValue(setting) }
                value = arguments[index]
                index += 1
            }
            if let earlier = values[setting]?.last, !setting.repeatable { throw .givenTwice(setting, earlier, value) }
            values[setting, default: []].append(value)
        }
    }

    public func contains(_ setting: Setting) -> Bool { values[setting] != nil }

    /// Sets every setting given, in the table's order, on `configuration`.
    public func apply(to configuration: inout TortureConfiguration) throws(ConfigurationError) {
        for setting in Setting.all {
            guard let given = values[setting] else { continue }
            do { try setting.fromArguments(given, &configuration) } catch {
                throw ConfigurationError(setting, problem: error.problem, fix: error.fix)
            }
        }
    }

    /// The settings as `run --help` lists them: flag, value name, help, one per paragraph.
    public static var help: String {
        Setting.all.map { setting in "\(setting.flag) <\(setting.valueName.lowercased())>\(setting.repeatable ? " ..." : "")\n  \(setting.help)" }
            .joined(separator: "\n")
    }
}

/// A command-line argument that is not a setting given right.
public enum SettingArgumentError: Error, CustomStringConvertible, Equatable {
    case unknown(String)
    case unexpected(String)
    case missingValue(Setting)
    case givenTwice(Setting, String, String)

    public var description: String {
        switch self {
        case .unknown(let flag):
            "unknown option '\(flag)'; `mmutorture run --help` lists the options"
        case .unexpected(let argument):
            "unexpected argument '\(argument)'; every setting is --FLAG VALUE (`mmutorture run --help` lists them)"
        case .missingValue(let setting):
            "\(setting.flag): missing value; give it as \(setting.flag) <\(setting.valueName.lowercased())>"
        case .givenTwice(let setting, let first, let second):
            "\(setting.flag): given twice (\(first), then \(second)); give it once"
        }
    }
}
