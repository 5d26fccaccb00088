/// Named presets for `run --profile`. Explicit options override whatever a profile sets.
public enum Profile: String, CaseIterable, Codable, Sendable {
    /// Seconds, for a laptop or a pull-request check: the stale-read mix, 5 s.
    case quick
    /// Sized for a 2-vCPU nested CI runner: every applicable operation in turn, 60 s in all (plus setup, about
    /// 1 s per operation).
    case ci
    /// Long: the mix for 30 minutes, with a report checkpoint every 60 s.
    case soak

    /// The profile's settings on top of the defaults.
    public func apply(to configuration: inout TortureConfiguration) {
        switch self {
        case .quick:
            configuration.operation = .mix
            configuration.duration = 5
        case .ci:
            configuration.operation = .all
            configuration.duration = 60
        case .soak:
            configuration.operation = .mix
            configuration.duration = 1800
        }
    }

    /// Seconds between report checkpoints, for profiles that write them.
    public var checkpointInterval: Double? { self == .soak ? 60 : nil }
}
