/// A run setting, named once: its key in scenario files and its flag on the command line. Validation names the
/// setting (``ConfigurationError/setting``), and each front end spells it its own way: the CLI by its flag,
/// a scenario file by its key (with the line it is on).
public struct Setting: Sendable, Hashable {
    /// The key in a scenario file (`"faultWindowUs"`), or nil where no scenario field sets it.
    public let key: String?
    /// The command-line flag (`--fault-window-us`).
    public let flag: String

    /// The flag without its dashes, for ArgumentParser's `.customLong`.
    public var long: String { String(flag.dropFirst(2)) }

    public static let operation = Setting(key: "operation", flag: "--op")
    public static let backing = Setting(key: "backing", flag: "--backing")
    public static let mode = Setting(key: "mode", flag: "--mode")
    public static let pages = Setting(key: "pages", flag: "--pages")
    public static let vcpus = Setting(key: "vcpus", flag: "--vcpus")
    public static let duration = Setting(key: "duration", flag: "--duration")
    public static let seed = Setting(key: "seed", flag: "--seed")
    public static let guestPageSize = Setting(key: "guestPageSize", flag: "--guest-page-size")
    public static let injection = Setting(key: "inject", flag: "--inject")
    public static let dirty = Setting(key: "dirty", flag: "--dirty")
    public static let dirtyRound = Setting(key: "dirtyRoundMs", flag: "--dirty-round-ms")
    public static let ringEntries = Setting(key: "ringEntries", flag: "--ring-entries")
    public static let hot = Setting(key: "hot", flag: "--hot")
    public static let hotRepeat = Setting(key: "hotRepeat", flag: "--hot-repeat")
    public static let antagonists = Setting(key: "antagonists", flag: "--antagonist")
    public static let faultWindow = Setting(key: "faultWindowUs", flag: "--fault-window-us")
    public static let window = Setting(key: "windowUs", flag: "--window-us")
    public static let inFlight = Setting(key: "inFlight", flag: "--in-flight")
    public static let flushProbe = Setting(key: nil, flag: "--flush-probe-ms")
    public static let traps = Setting(key: nil, flag: "--traps")
    public static let stopAfterViolation = Setting(key: nil, flag: "--stop-after-violation")

    /// Every setting, in the order `run --help` lists them.
    public static let all: [Setting] = [
        .operation, .backing, .mode, .pages, .vcpus, .duration, .seed, .guestPageSize, .dirty, .dirtyRound, .ringEntries, .hot,
        .hotRepeat, .antagonists, .injection, .faultWindow, .window, .flushProbe, .traps, .inFlight, .stopAfterViolation,
    ]
}
