/// The outcome of a run, and the exit code the CLI returns for it (README, "Exit codes").
public enum Verdict: String, Codable, Sendable {
    /// Conclusive checks, the operation exercised per the kernel's counters, no violation.
    case pass
    /// A guest read something the host had not published, or read a page that was gone: the kernel broke its
    /// promise (or, under `--inject`, see `controlFired`).
    case violation
    /// Nothing wrong was seen, but the kernel's counters show the operation never reached a vCPU, or no check
    /// was conclusive: the run proves nothing.
    case notExercised = "not-exercised"
    /// An injected fault was caught: the detector works.
    case controlFired = "control-fired"
    /// An injected fault that must be caught was not: the detector is broken.
    case controlMissed = "control-missed"
    /// The harness itself failed (a KVM call, an unexpected exit, a stalled vCPU).
    case harnessError = "harness-error"

    public var exitCode: Int32 {
        switch self {
        case .pass, .controlFired: 0
        case .violation: 1
        case .notExercised: 2
        case .controlMissed: 3
        case .harnessError: 70  // EX_SOFTWARE
        }
    }

    /// Which verdict wins when several runs are combined.
    var severity: Int {
        switch self {
        case .pass: 0
        case .controlFired: 1
        case .notExercised: 2
        case .controlMissed: 3
        case .violation: 4
        case .harnessError: 5
        }
    }

    /// Usage errors (bad options) exit with 64 (EX_USAGE); a missing or unusable KVM device with 69 (EX_UNAVAILABLE).
    public static let usageExitCode: Int32 = 64
    public static let environmentExitCode: Int32 = 69
}
