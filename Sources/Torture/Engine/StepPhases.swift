#if canImport(Glibc)
import Glibc
#endif

/// Where the mutator's steps spend their time, phase by phase (`bench --only stepcost`). The mutator reads the clock
/// at each phase's end only when a run is given one (``TortureRun/stepPhases``): a run pays nothing for it otherwise.
/// Read once the run has ended (the mutator's thread is the only writer).
public final class StepPhases: @unchecked Sendable {
    public enum Phase: String, CaseIterable, Sendable {
        /// The host calls themselves (madvise, munmap and mmap, …), from just after the counters' read before them.
        case call
        /// `remote_tlb_flush_requests` and `remote_tlb_flush` read right before and right after the calls.
        case counters
        /// The missing-flush oracle's probe: waiting, the mutator still, for the checkers' two sweeps.
        case probeWait = "probe-wait"
        /// The recycled-frame traps: the pagemap read before a measured call, the poison writes (each faults in a
        /// frame), the ring's releases.
        case traps
        /// The window's publication: the control words and the checkers' counts read to know if it was sampled.
        case publication
        /// Waiting out the window's length (for the short windows, what the traps and bookkeeping leave of it).
        case windowWait = "window-wait"
        /// Closing the window and writing and publishing the page's next generation (its first write faults a
        /// frame in after a content-replacing call).
        case republication
        /// Everything else: the schedule, room for the step, the history, tallies, violations and the lost-write
        /// verification of a random page.
        case bookkeeping
    }

    private var nanoseconds = [UInt64](repeating: 0, count: Phase.allCases.count)
    private var last: UInt64 = 0
    /// Steps begun.
    public private(set) var steps = 0

    public init() {}

    /// The time since the last mark goes to `phase`.
    func mark(_ phase: Phase) {
        let now = MonotonicClock.now()
        if last != 0 { nanoseconds[Phase.allCases.firstIndex(of: phase)!] &+= now &- last }
        last = now
    }

    func beginStep() { steps += 1 }

    /// Nanoseconds per step in each phase.
    public var perStep: [Phase: Double] {
        guard steps > 0 else { return [:] }
        return Dictionary(uniqueKeysWithValues: Phase.allCases.enumerated().map { ($1, Double(nanoseconds[$0]) / Double(steps)) })
    }
}
