#if canImport(Glibc)
import Glibc
#endif

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
    /// A signal stopped the run before its duration, and nothing it saw was wrong: what it proved is partial,
    /// and never reads as a pass (the process exits 128 + the signal's number).
    case interrupted

    public var exitCode: Int32 {
        switch self {
        case .pass, .controlFired: ExitStatus.success.rawValue
        case .violation: ExitStatus.violation.rawValue
        case .notExercised: ExitStatus.notExercised.rawValue
        case .controlMissed: ExitStatus.controlMissed.rawValue
        case .harnessError: ExitStatus.software.rawValue
        case .interrupted: ExitStatus.interrupted(by: SIGINT)  // the report's exitCode says 128 + the signal that came
        }
    }

    /// Which verdict wins when several runs are combined.
    var severity: Int {
        switch self {
        case .pass: 0
        case .controlFired: 1
        case .notExercised: 2
        case .interrupted: 3
        case .controlMissed: 4
        case .violation: 5
        case .harnessError: 6
        }
    }
}

/// Everything a run's verdict is decided from, so that each rule can be read, and tested, on its own.
struct VerdictEvidence {
    var injection: Injection = .none
    /// Every violation counted, by kind.
    var violationsByKind: [Violation.Kind: UInt64] = [:]
    var kernelFindings: [String] = []
    var harnessErrors: [String] = []
    var conclusiveChecks: UInt64 = 0
    var writeVerifications: UInt64 = 0
    /// Dirty-log rounds that judged every page (nil: no dirty tracking).
    var dirtyJudgedRounds: Int? = nil
    /// Operations and antagonists whose kernel counters never moved.
    var idle: [String] = []
    /// False when an operation was asked for and none was performed.
    var operationPerformed = true
    /// The signal that stopped the run early ("SIGINT"), if one did.
    var interruptedBy: String? = nil

    /// The detector each must-catch negative control proves.
    static let detector: [Injection: String] = [
        .nowrite: "detector", .ptswap: "detector", .losewrite: "lost-write detector", .dropdirty: "dirty-log oracle",
        .noinval: "missing-flush oracle", .slotearly: "memslot must-fault window", .poison: "recycled-frame trap",
        .faultearly: "must-fault window", .slotback: "stray-MMIO check",
    ]

    func judge() -> (Verdict, String) {
        if !harnessErrors.isEmpty { return (.harnessError, "the harness failed: \(harnessErrors[0])") }
        let describe = { (kinds: [Violation.Kind: UInt64]) in kinds.keys.sorted().map { "\($0.rawValue) \(kinds[$0]!)" }.joined(separator: ", ") }
        // The kernel's warnings are never hidden by an injection, and a control fires only through its own kind:
        // anything else seen meanwhile is a real violation.
        if let first = kernelFindings.first { return (.violation, "the kernel logged \(kernelFindings.count) warnings during the run: \(first)") }
        let foreign = violationsByKind.filter { $0.value > 0 && !injection.violationKinds.contains($0.key) }
        if !foreign.isEmpty {
            let total = foreign.values.reduce(0, &+)
            let during = injection == .none ? "" : " during the \(injection.rawValue) control run, of kinds it does not produce"
            return (.violation, "\(total) violations\(during) (\(describe(foreign))): the kernel broke its promise")
        }
        if let interruptedBy {
            return (.interrupted, "stopped by \(interruptedBy) before its duration; no violation seen in what ran (a partial run proves nothing by itself)")
        }
        let caught = violationsByKind.values.reduce(0, &+)
        switch injection {
        case .nowrite, .ptswap, .losewrite, .dropdirty, .noinval, .slotearly, .faultearly, .poison, .slotback:
            return caught == 0
                ? (.controlMissed, "injected \(injection.rawValue) was not caught: the \(Self.detector[injection]!) is broken")
                : (.controlFired, "injected \(injection.rawValue) caught \(caught) times (\(describe(violationsByKind)))")
        case .early:
            // A narrow race, caught only sometimes: not caught proves nothing either way, and is never a pass.
            return caught == 0
                ? (.notExercised, "injected early (a narrow race) was not caught this run; it is caught only sometimes")
                : (.controlFired, "injected early caught \(caught) times")
        case .none:
            break
        }
        if conclusiveChecks == 0 && writeVerifications == 0 {
            return (.notExercised, "no conclusive check and no verified write: the run judged nothing")
        }
        if dirtyJudgedRounds == 0 {
            return (.notExercised, "the dirty oracle judged no round: no writer finished a sweep between two harvests "
                + "(a sweep dirtied more pages than the ring holds, or rounds are too short); use fewer --pages, more --ring-entries or a longer --dirty-round-ms")
        }
        if !idle.isEmpty { return (.notExercised, "not exercised: \(idle.joined(separator: ", ")) (no kernel counter moved)") }
        if !operationPerformed { return (.notExercised, "no operation was performed") }
        return (.pass, "\(conclusiveChecks.grouped) conclusive checks, no violation, every operation exercised")
    }
}
