/// A run setting, named once (a setting is one row here, plus its field in ``TortureConfiguration``): its flag on
/// the command line, its key in scenario files, the field it sets, its bounds and its help. `run`'s options
/// (``SettingArguments``), scenario files (``Scenario``), validation (``TortureConfiguration/validate()``) and
/// `run --help` all read the table; none spells a setting of its own.
public struct Setting: Sendable, Hashable, CustomStringConvertible {
    /// The key in a scenario file (`"faultWindowUs"`), or nil where no scenario field sets it.
    public let key: String?
    /// The command-line flag (`--fault-window-us`).
    public let flag: String
    /// What the value is called in the help (`MICROSECONDS`).
    public let valueName: String
    /// One sentence for `run --help`, with the default.
    public let help: String
    /// Whether the flag may be given more than once (each adds a value).
    public let repeatable: Bool
    /// Sets the field from the command line's values for it, in order (one unless repeatable).
    let fromArguments: @Sendable ([String], inout TortureConfiguration) throws(Problem) -> Void
    /// Sets the field from a scenario file's value.
    let fromScenario: @Sendable (LocatedJSON, inout TortureConfiguration) throws(Scenario.FieldError) -> Void
    /// The field's bounds in a whole configuration: nil, or what is wrong and how to fix it.
    let check: @Sendable (TortureConfiguration) -> Problem?
    /// Why giving the setting does nothing in a configuration (`--ring-entries` without `--dirty ring`), or nil;
    /// `run` refuses it then, rather than ignore it.
    public private(set) var inert: @Sendable (TortureConfiguration) -> String? = { _ in nil }

    /// The setting, refused where `rule` says it does nothing.
    func inert(when rule: @escaping @Sendable (TortureConfiguration) -> String?) -> Setting {
        var setting = self
        setting.inert = rule
        return setting
    }

    /// What is wrong with a value, and the fix.
    struct Problem: Error {
        var problem: String
        var fix: String
        init(_ problem: String, fix: String) { (self.problem, self.fix) = (problem, fix) }
    }

    public var description: String { flag }
    public static func == (a: Setting, b: Setting) -> Bool { a.flag == b.flag }
    public func hash(into hasher: inout Hasher) { hasher.combine(flag) }

    /// Every setting, in the order `run --help` lists them.
    public static let all: [Setting] = [
        .operation, .backing, .mode, .pages, .vcpus, .duration, .seed, .guestPageSize, .dirty, .dirtyRound, .ringEntries, .hot,
        .hotRepeat, .antagonists, .injection, .faultWindow, .window, .flushProbe, .traps, .inFlight, .stopAfterViolation,
    ]

    /// The setting `flag` names, if any.
    public static func named(_ flag: String) -> Setting? { all.first { $0.flag == flag } }

    public static let operation = Setting(
        \.operation, key: "operation", flag: "--op", valueName: "OPERATION",
        help: "Invalidation to perform: \(Operation.allCases.map(\.rawValue).joined(separator: ", ")).")
    public static let backing = Setting(
        \.backing, key: "backing", flag: "--backing", valueName: "BACKING",
        help: "Data backing: \(BackingKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    public static let mode = Setting(
        \.mode, key: "mode", flag: "--mode", valueName: "MODE",
        help: "What the checker vCPUs do: read (stale reads), write (lost writes), or both.")
    public static let pages = Setting(\.pages, key: "pages", flag: "--pages", valueName: "PAGES", help: "Data pages, 4 KiB each.") { pages, _ in
        (1...(1 << 22)).contains(pages) ? nil : Problem("\(pages) is out of range", fix: "use 1 to 4194304 pages")
    }
    public static let vcpus = Setting(\.vcpus, key: "vcpus", flag: "--vcpus", valueName: "N", help: "Checker vCPUs.") { vcpus, _ in
        (1...64).contains(vcpus) ? nil : Problem("\(vcpus) is out of range", fix: "use 1 to 64 vCPUs")
    }
    public static let duration = Setting(\.duration, key: "duration", flag: "--duration", valueName: "SECONDS", help: "Seconds to run.") { seconds, _ in
        seconds > 0 && seconds <= 7 * 24 * 3600 ? nil : Problem("\(seconds) s is out of range", fix: "use a positive number of seconds, at most a week")
    }
    public static let seed = Setting(
        \.seed, key: "seed", flag: "--seed", valueName: "SEED", help: "Seed for the host-side schedule (random when omitted; always printed).",
        defaultText: .some(nil))
    public static let guestPageSize = Setting(
        \.guestPageSize, key: "guestPageSize", flag: "--guest-page-size", valueName: "SIZE", help: "Guest mapping of the data: 4k or 2m.")
    public static let dirty = Setting(
        \.dirty, key: "dirty", flag: "--dirty", valueName: "MODE",
        help: "Harvest the data slot's dirty log in rounds and check no guest write escaped it: off, log, clear, ring.")
    public static let dirtyRound = Setting(
        \.dirtyRoundMilliseconds, key: "dirtyRoundMs", flag: "--dirty-round-ms", valueName: "MS", help: "Milliseconds between dirty-log harvests."
    ) { ms, _ in
        (1...600_000).contains(ms) ? nil : Problem("\(ms) ms is out of range", fix: "use 1 to 600000 milliseconds (ten minutes)")
    }.inert { $0.dirty == .off ? "paces dirty-log harvests, and --dirty is off; add --dirty log|clear|ring or drop it" : nil }
    public static let ringEntries = Setting(
        \.ringEntries, key: "ringEntries", flag: "--ring-entries", valueName: "ENTRIES",
        help: "Entries per vCPU dirty ring with --dirty ring (a power of two from 256 to 65536)."
    ) { entries, _ in
        (256...65536).contains(entries) && entries & (entries - 1) == 0 ? nil
            : Problem("\(entries) is not a power of two from 256 to 65536 (KVM's most)", fix: "use 256, 512, 1024, … 65536 (default 4096)")
    }.inert { $0.dirty != .ring ? "sizes the dirty ring, which only --dirty ring uses; add --dirty ring or drop it" : nil }
    public static let hot = Setting(
        \.hotPages, key: "hot", flag: "--hot", valueName: "PAGES",
        help: "Hot set: the mutator works on the first PAGES pages only, and the checkers pass over them --hot-repeat times between full sweeps (0: none)."
    ) { hot, configuration in
        (0...configuration.pages).contains(hot) ? nil : Problem("\(hot) hot pages of \(configuration.pages)", fix: "use 1 to --pages, or 0 for none")
    }
    public static let hotRepeat = Setting(
        \.hotRepeat, key: "hotRepeat", flag: "--hot-repeat", valueName: "N", help: "Checker passes over the hot set between full sweeps."
    ) { passes, _ in
        (1...1_000_000).contains(passes) ? nil : Problem("\(passes) passes is out of range", fix: "use 1 to 1000000 (default 8)")
    }.inert { $0.hotPages == 0 ? "repeats passes over the hot set, and there is none; add --hot PAGES or drop it" : nil }
    public static let antagonists = Setting(
        antagonistsAt: \.antagonists, key: "antagonists", flag: "--antagonist", valueName: "KIND:MICROSECONDS",
        help: "An antagonist beside the mutator (repeatable). Kinds: \(AntagonistSpec.Kind.allCases.map(\.rawValue).joined(separator: ", ")).")
    public static let injection = Setting(
        \.injection, key: "inject", flag: "--inject", valueName: "CONTROL",
        help: "Negative control to inject: \(Injection.allCases.map(\.rawValue).joined(separator: ", ")).")
    public static let faultWindow = Setting(
        \.faultWindowMicroseconds, key: "faultWindowUs", flag: "--fault-window-us", valueName: "MICROSECONDS",
        help: "Microseconds a must-fault window stays open."
    ) { us, _ in windowLength(us, default: TortureConfiguration.defaultFaultWindowMicroseconds) }
    public static let window = Setting(
        \.windowMicroseconds, key: "windowUs", flag: "--window-us", valueName: "MICROSECONDS",
        help: "Microseconds a must-read-zero or content-kept window stays open."
    ) { us, _ in windowLength(us, default: TortureConfiguration.defaultWindowMicroseconds) }
    public static let flushProbe = Setting(
        optional: \.flushProbeMilliseconds, key: nil, flag: "--flush-probe-ms", valueName: "MS",
        help: "Milliseconds between two probes of the missing-flush oracle (0: off).",
        defaultText: "\(TortureConfiguration.defaultFlushProbeMilliseconds)"
    ) { ms, _ in
        (0...60_000).contains(ms) ? nil : Problem("\(ms) is out of range", fix: "use 0 (off) to 60000 milliseconds")
    }
    public static let traps = Setting(
        optional: \.trapPages, key: nil, flag: "--traps", valueName: "PAGES",
        help: "Pages in the ring of recycled-frame traps (0: off; a multiple of 4).", defaultText: "\(FrameTraps.defaultPages)"
    ) { traps, _ in
        traps == 0 || (traps >= 4 && traps % 4 == 0 && traps <= 65536) ? nil
            : Problem("\(traps) trap pages is not 0 or a multiple of 4 from 4 to 65536", fix: "use 0 (off), or 64")
    }
    public static let inFlight = Setting(
        optional: \.inFlight, key: "inFlight", flag: "--in-flight", valueName: "N",
        help: "Windows the mutator keeps open at once, each on its own page (1 to \(Observations.maxInFlight)).",
        defaultText: "\(TortureConfiguration.defaultInFlight)"
    ) { windows, _ in
        (1...Observations.maxInFlight).contains(windows) ? nil
            : Problem("\(windows) windows in flight is out of range", fix: "use 1 to \(Observations.maxInFlight) (default \(TortureConfiguration.defaultInFlight))")
    }
    public static let stopAfterViolation = Setting(
        optional: \.stopAfterViolationSeconds, key: nil, flag: "--stop-after-violation", valueName: "SECONDS",
        help: "End the run this many seconds after its first violation.", defaultText: "run the whole duration"
    ) { seconds, _ in
        seconds >= 0 && seconds <= 3600 ? nil : Problem("\(seconds) seconds is out of range", fix: "use 0 to 3600 seconds")
    }
}

extension Setting {
    /// The bounds of a window's length, in microseconds: a window no check can land in tests nothing, and a run
    /// with one would still look exercised.
    static func windowLength(_ us: Int, default: Int) -> Problem? {
        (1...1_000_000).contains(us) ? nil
            : Problem("\(us) µs is out of range: a window no guest read can land in tests nothing", fix: "use 1 to 1000000 microseconds (default \(`default`))")
    }

    /// A setting of a plain field: one value, its default the configuration's own (`defaultText` overrides it;
    /// nil: none shown).
    init<Value: SettingValue>(
        _ field: WritableKeyPath<TortureConfiguration, Value> & Sendable, key: String?, flag: String, valueName: String, help: String,
        defaultText: String?? = .none, check: @escaping @Sendable (Value, TortureConfiguration) -> Problem? = { _, _ in nil }
    ) {
        let shown = defaultText ?? Value.describe(TortureConfiguration()[keyPath: field])
        self.init(key: key, flag: flag, valueName: valueName, help: help, defaultText: shown, repeatable: false,
                  set: { value, configuration in configuration[keyPath: field] = value },
                  check: { check($0[keyPath: field], $0) })
    }

    /// A setting of an optional field: nil (not given) means the default `defaultText` describes, and is not checked.
    init<Value: SettingValue>(
        optional field: WritableKeyPath<TortureConfiguration, Value?> & Sendable, key: String?, flag: String, valueName: String,
        help: String, defaultText: String, check: @escaping @Sendable (Value, TortureConfiguration) -> Problem?
    ) {
        self.init(key: key, flag: flag, valueName: valueName, help: help, defaultText: defaultText, repeatable: false,
                  set: { value, configuration in configuration[keyPath: field] = value },
                  check: { configuration in configuration[keyPath: field].flatMap { check($0, configuration) } })
    }

    /// The antagonists: `--antagonist KIND:MICROSECONDS`, repeatable; a scenario's array of objects.
    init(antagonistsAt field: WritableKeyPath<TortureConfiguration, [AntagonistSpec]> & Sendable, key: String, flag: String, valueName: String, help: String) {
        self.key = key
        (self.flag, self.valueName, self.help, self.repeatable) = (flag, valueName, help, true)
        fromArguments = { arguments, configuration throws(Problem) in
            var specs: [AntagonistSpec] = []
            for argument in arguments {
                guard let spec = AntagonistSpec(argument: argument) else {
                    throw Problem("'\(argument)' \(AntagonistSpec.problem(argument))", fix: AntagonistSpec.fix)
                }
                specs.append(spec)
            }
            configuration[keyPath: field] = specs
        }
        fromScenario = { value, configuration throws(Scenario.FieldError) in
            guard case .array(let elements) = value.value else {
                throw Scenario.FieldError(line: value.line, problem: "must be an array, found \(value.kindName)", fix: "write [ { \"kind\": …, \"periodMicroseconds\": … } ]")
            }
            var specs: [AntagonistSpec] = []
            for element in elements { specs.append(try element.antagonist()) }
            configuration[keyPath: field] = specs
        }
        check = { configuration in
            configuration[keyPath: field].first { !(1...60_000_000).contains($0.periodMicroseconds) }.map {
                Problem("\($0.kind.rawValue) every \($0.periodMicroseconds) µs is out of range", fix: "use a period of 1 µs to 60000000 µs (a minute)")
            }
        }
    }

    private init<Value: SettingValue>(
        key: String?, flag: String, valueName: String, help: String, defaultText: String?, repeatable: Bool,
        set: @escaping @Sendable (Value, inout TortureConfiguration) -> Void, check: @escaping @Sendable (TortureConfiguration) -> Problem?
    ) {
        self.key = key
        (self.flag, self.valueName, self.repeatable, self.check) = (flag, valueName, repeatable, check)
        self.help = help + (defaultText.map { " Default: \($0)." } ?? "")
        fromArguments = { arguments, configuration throws(Problem) in
            guard let text = arguments.last else { return }
            guard let value = Value(argument: text) else { throw Problem("'\(text)' is not \(Value.kindName)", fix: Value.fix) }
            set(value, &configuration)
        }
        fromScenario = { json, configuration throws(Scenario.FieldError) in set(try Value(json: json), &configuration) }
    }
}
