/// A type a setting's value has: read from the command line's text or a scenario's JSON value, and shown as the
/// help's default.
protocol SettingValue: Sendable {
    init?(argument: String)
    init(json: LocatedJSON) throws(Scenario.FieldError)
    /// "a whole number", for an error.
    static var kindName: String { get }
    /// How to write one, for an error.
    static var fix: String { get }
    static func describe(_ value: Self) -> String?
}

extension SettingValue {
    static func describe(_ value: Self) -> String? { "\(value)" }
}

extension Int: SettingValue {
    init?(argument: String) { self.init(argument) }
    init(json: LocatedJSON) throws(Scenario.FieldError) { self = try json.integer() }
    static var kindName: String { "a whole number" }
    static var fix: String { "write it in digits, without decimals or exponent" }
}

extension UInt64: SettingValue {
    init?(argument: String) { self.init(argument) }
    init(json: LocatedJSON) throws(Scenario.FieldError) {
        let number = try json.integer()
        guard number >= 0 else { throw Scenario.FieldError(line: json.line, problem: "\(number) is negative", fix: "use 0 or more") }
        self = UInt64(number)
    }
    static var kindName: String { "a whole number of 0 or more" }
    static var fix: String { "write it in digits, from 0 to 18446744073709551615" }
}

extension Double: SettingValue {
    init?(argument: String) {
        guard let value = Double(argument) else { return nil }
        self = value
    }
    init(json: LocatedJSON) throws(Scenario.FieldError) { self = try json.real() }
    static var kindName: String { "a number" }
    static var fix: String { "write a number such as 10 or 0.5" }
    static func describe(_ value: Double) -> String? { value == value.rounded() ? "\(Int(value))" : "\(value)" }
}

/// A setting whose value is one of a fixed set of names (the operation, the backing, …).
protocol SettingChoice: SettingValue, RawRepresentable, CaseIterable where RawValue == String {}

extension SettingChoice {
    init?(argument: String) { self.init(rawValue: argument) }
    init(json: LocatedJSON) throws(Scenario.FieldError) { self = try json.choice() }
    static var kindName: String { "a choice" }
    static var fix: String { "use one of: \(allCases.map(\.rawValue).joined(separator: ", "))" }
    static func describe(_ value: Self) -> String? { value.rawValue }
}

extension Operation: SettingChoice {}
extension BackingKind: SettingChoice {}
extension CheckerMode: SettingChoice {}
extension Injection: SettingChoice {}
extension DirtyTracking: SettingChoice {}
extension TortureConfiguration.GuestPageSize: SettingChoice {}
