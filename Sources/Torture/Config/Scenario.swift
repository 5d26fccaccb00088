import Foundation

/// A declarative torture run (`run --scenario FILE`): the antagonists with their rates, the backing, the hot set,
/// the duration, the vCPUs. A JSON object whose fields are the ones in ``Scenario/fields``; any field left out
/// keeps the default, and command-line options given next to `--scenario` override the file. The shipped
/// scenarios are in `scenarios/`.
///
///     {
///       "name": "seed-2012",
///       "operation": "dontneed", "hot": 8,
///       "antagonists": [ { "kind": "dirty-toggle", "periodMicroseconds": 200 } ]
///     }
public struct Scenario: Sendable, Equatable {
    public var name: String
    public var description: String
    /// The file's settings applied to the defaults, and validated.
    public var configuration: TortureConfiguration
    /// Whether the file chose the seed (otherwise the run picks one and prints it).
    public var hasSeed: Bool { lines[Setting.seed.key!] != nil }
    /// Each field the file set, with its line, so that a problem found later can still name the line.
    public var lines: [String: Int]

    /// Reads and checks the scenario at `path`.
    public static func load(path: String) throws(ScenarioError) -> Scenario {
        let fix = "give the path of a scenario file, e.g. scenarios/seed-2012.json"
        let data: Data
        do { data = try ReadableFile.contents(path, document: "scenario file") } catch {
            throw ScenarioError(file: path, line: nil, field: nil, problem: error.problem, fix: fix, exitCode: ExitStatus.noInput.rawValue)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ScenarioError(file: path, line: nil, field: nil, problem: "is not UTF-8 text (a scenario is a JSON file)", fix: fix,
                                exitCode: ExitStatus.dataError.rawValue)
        }
        return try parse(text, file: path)
    }

    /// Parses and checks scenario text; `file` only names it in errors.
    public static func parse(_ text: String, file: String) throws(ScenarioError) -> Scenario {
        func fail(_ line: Int?, _ field: String?, _ problem: String, _ fix: String) -> ScenarioError {
            ScenarioError(file: file, line: line, field: field, problem: problem, fix: fix)
        }
        let document: LocatedJSON
        do { document = try LocatedJSON.parse(text) } catch {
            throw fail(error.line, nil, "column \(error.column): \(error.problem)", "write the scenario as one JSON object")
        }
        guard case .object(let members) = document.value else {
            throw fail(document.line, nil, "the scenario is \(document.kindName)", "write the scenario as one JSON object")
        }
        var scenario = Scenario(name: "", description: "", configuration: TortureConfiguration(), lines: [:])
        for member in members {
            if let first = scenario.lines[member.key] {
                throw fail(member.line, member.key, "appears twice (first on line \(first))", "keep one")
            }
            guard let field = fields[member.key] else {
                throw fail(member.line, member.key, "not a scenario field", "use one of: \(fields.keys.sorted().joined(separator: ", "))")
            }
            scenario.lines[member.key] = member.line
            do { try field.apply(member.value, &scenario) } catch {
                throw fail(error.line ?? member.line, member.key, error.problem, error.fix)
            }
        }
        guard !scenario.name.isEmpty else {
            throw fail(document.line, "name", "missing", "name the scenario, e.g. \"name\": \"seed-2012\"")
        }
        do { try scenario.configuration.validate() } catch {
            let key = fields.values.first { $0.setting == error.setting }?.key
            let line = key.flatMap { scenario.lines[$0] }
            throw fail(line, key ?? error.option, error.problem, line == nil ? error.fix + " (set it in the file)" : error.fix)
        }
        return scenario
    }

    /// A problem with one field's value, before the line is known.
    struct FieldError: Error {
        var line: Int?
        var problem: String
        var fix: String
    }

    /// A scenario field: its key, the run setting it stands for (nil: the scenario's own name or description),
    /// and how it sets the scenario.
    struct Field: Sendable {
        var key: String
        var setting: Setting?
        var apply: @Sendable (LocatedJSON, inout Scenario) throws(FieldError) -> Void

        /// The field of `setting`, under the setting's scenario key.
        init(_ setting: Setting, apply: @escaping @Sendable (LocatedJSON, inout Scenario) throws(FieldError) -> Void) {
            self.init(key: setting.key!, setting: setting, apply: apply)
        }

        init(key: String, setting: Setting? = nil, apply: @escaping @Sendable (LocatedJSON, inout Scenario) throws(FieldError) -> Void) {
            (self.key, self.setting, self.apply) = (key, setting, apply)
        }
    }

    static let fields: [String: Field] = Dictionary(uniqueKeysWithValues: fieldList.map { ($0.key, $0) })

    /// The scenario's own name and description, then every setting with a scenario key (``Setting/all``).
    private static let fieldList: [Field] = [
        Field(key: "name") { value, scenario throws(FieldError) in scenario.name = try value.text() },
        Field(key: "description") { value, scenario throws(FieldError) in scenario.description = try value.text() },
    ] + Setting.all.filter { $0.key != nil }.map { setting in
        Field(setting) { value, scenario throws(FieldError) in try setting.fromScenario(value, &scenario.configuration) }
    }
}

/// A scenario file that cannot run: where (file, line, field), what is wrong and how to fix it.
public struct ScenarioError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int?
    public var field: String?
    public var problem: String
    public var fix: String
    /// 65 (EX_DATAERR) for a bad file, 66 (EX_NOINPUT) for one that cannot be read.
    public var exitCode: Int32 = ExitStatus.dataError.rawValue

    public var description: String {
        "\(file)\(line.map { ":\($0)" } ?? ""): \(field.map { "field '\($0)': " } ?? "")\(problem); \(fix)"
    }
}

extension LocatedJSON {
    typealias FieldError = Scenario.FieldError

    func text() throws(FieldError) -> String {
        guard case .string(let text) = value else { throw FieldError(line: line, problem: "must be a string, found \(kindName)", fix: "quote it") }
        return text
    }

    func integer() throws(FieldError) -> Int {
        guard case .number(let text) = value, let number = Int(text) else {
            throw FieldError(line: line, problem: "must be a whole number, found \(kindName == "a number" ? "a fraction or exponent" : kindName)", fix: "write it without quotes, decimals or exponent")
        }
        return number
    }

    func real() throws(FieldError) -> Double {
        guard case .number(let text) = value, let number = Double(text) else {
            throw FieldError(line: line, problem: "must be a number, found \(kindName)", fix: "write it without quotes")
        }
        return number
    }

    /// One of an enumeration's raw values.
    func choice<Choice: RawRepresentable & CaseIterable>() throws(FieldError) -> Choice where Choice.RawValue == String {
        let word = try text()
        guard let choice = Choice(rawValue: word) else {
            throw FieldError(line: line, problem: "'\(word)' is not a choice", fix: "use one of: \(Choice.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return choice
    }

    /// `{ "kind": "dirty-toggle", "periodMicroseconds": 200 }`.
    func antagonist() throws(FieldError) -> AntagonistSpec {
        guard case .object(let members) = value else {
            throw FieldError(line: line, problem: "each antagonist must be an object, found \(kindName)", fix: "write { \"kind\": …, \"periodMicroseconds\": … }")
        }
        var kind: AntagonistSpec.Kind?
        var period: Int?
        for member in members {
            switch member.key {
            case "kind": kind = try member.value.choice()
            case "periodMicroseconds":
                period = try member.value.integer()
                guard period! >= 1 else { throw FieldError(line: member.line, problem: "a period of \(period!) µs", fix: "use a period of 1 µs or more") }
            default:
                throw FieldError(line: member.line, problem: "an antagonist has no field '\(member.key)'", fix: "use kind and periodMicroseconds")
            }
        }
        guard let kind, let period else {
            throw FieldError(line: line, problem: "an antagonist needs both kind and periodMicroseconds", fix: "add the missing one")
        }
        return AntagonistSpec(kind: kind, periodMicroseconds: period)
    }
}
