#if canImport(Glibc)
import CHost
import Glibc
#endif
import Atomics
import CKVM
import Guests
import KVM

/// The host thread that invalidates data pages under the running guests, following the publication protocol
/// (README, "The integrity contract"):
///
///     ctrl[i] = 0                         (sequentially consistent: in flux)
///     the operation                       (munmap/mprotect/mremap/truncate publish a must-fault window meanwhile)
///     ctrl[i] = window; hold; ctrl[i] = 0 (must-read-zero, or content-kept)
///     write generation g into the reader words of page i through the host mapping
///     ctrl[i] = g                         (release)
///
/// Up to `--in-flight` steps are under way at once, each on its own pages: while one step's window runs, the next
/// begins (README, "Windows in flight").
///
/// After every content-preserving operation (and on a random page every step) it also verifies the lost-write
/// half: each writer's word in the page must be at least the sequence number the writer last published.
/// Injected faults (`--inject`) break the host's side on purpose, to prove the detectors notice.
final class Mutator: StepContext, @unchecked Sendable {
    // @unchecked: all mutable state is touched by the mutator thread only; `stop` is atomic.
    struct Environment {
        var backing: Backing
        var control: ControlWords
        var observations: Observations
        var vmStatistics: StatisticsReader?
        /// The guest page-table entry mapping a data page (ptswap).
        var leafEntry: (Int) -> UnsafeMutablePointer<UInt64>?
        /// The decoy frame (ptswap).
        var decoy: UnsafeMutableRawPointer
        /// The status blocks of the writer vCPUs (their published sequence numbers).
        var writerStatus: [CheckerStatus]
        /// The status blocks of every checker vCPU (their sweep counts, for the missing-flush oracle).
        var checkerStatus: [CheckerStatus]
        /// The VM whose data slot memslot takes away; nil where no VM runs (the engine's tests with a scripted
        /// guest), and then memslot cannot run.
        var vm: VirtualMachine?
        var dataSlotFlags: MemorySlotFlags
        /// What the run's opt-in operation changed on the host for it (aging: the memory cgroup it reclaims through).
        var hostChange: (any HostChange)?
    }

    let configuration: TortureConfiguration
    let environment: Environment
    var backing: Backing { environment.backing }
    var control: ControlWords { environment.control }
    var observations: Observations { environment.observations }
    let stop = ManagedAtomic<Bool>(false)
    var schedule: Schedule
    var verifierPages: SeededGenerator
    var nextCounter: UInt64 = 1
    /// The counter of the generation each page holds now: a content-kept window promises exactly that value.
    var currentGeneration: [UInt64]
    /// The lost-write half's floors and rule (a content-replacing operation legitimately zeroes the words
    /// written before it).
    var ledger: LostWriteLedger
    /// `remote_tlb_flush_requests` and `remote_tlb_flush`, read right before and right after every operation.
    let countersBefore: StatisticSample?
    let countersAfter: StatisticSample?
    var decoyOwner: Int?
    /// The run's operations, made with the mutator, at their ``Operation/index`` (nil: not one the run steps
    /// through).
    private(set) var callers: [(any HostOperation)?] = []
    /// The dirty-log oracle, harvesting between steps when `--dirty` is on.
    var dirtyOracle: DirtyOracle?
    /// The missing-flush oracle (nil when `--flush-probe-ms 0`, an antagonist that may zap without a flush request
    /// runs (``AntagonistSpec/Kind/zapsWithoutFlushRequest``), or the VM has no statistics).
    let flushProbe: FlushProbe?
    /// Windows opened and sampled, per operation and kind.
    let windows: WindowSampling
    /// The recycled-frame traps (nil with `--traps 0`).
    let frameTraps: FrameTraps?
    /// Where the steps spend their time (nil: not measured, no clock read for it).
    var phases: StepPhases?
    /// The first steps of the schedule, kept to show that a seed replays.
    private(set) var firstSteps: [Step] = []
    static let recordedSteps = 64

    init(configuration: TortureConfiguration, environment: Environment, frameTraps: FrameTraps?) {
        self.configuration = configuration
        self.frameTraps = frameTraps
        self.windows = WindowSampling(statusBlocks: environment.checkerStatus, observations: environment.observations)
        self.environment = environment
        self.schedule = Schedule(configuration: configuration)
        self.inFlight = WindowsInFlight(limit: configuration.inFlightWindows)
        self.verifierPages = SeededGenerator(seed: configuration.seed ^ 0x5eed_0f_7e41f1e5)
        self.currentGeneration = Array(repeating: 0, count: configuration.pages)
        self.ledger = LostWriteLedger(pages: configuration.pages, writers: environment.writerStatus.count)
        let flushCounters = environment.vmStatistics?.counters(["remote_tlb_flush_requests", "remote_tlb_flush"])
        self.countersBefore = flushCounters.map(StatisticSample.init)
        self.countersAfter = flushCounters.map(StatisticSample.init)
        self.flushProbe = flushCounters != nil && configuration.flushProbeJudgeable && configuration.flushProbeInterval > 0
            ? FlushProbe(statusBlocks: environment.checkerStatus, intervalMilliseconds: configuration.flushProbeInterval) : nil
        // Last: each operation sees the whole mutator as its context.
        callers = Operation.allCases.map { operation in
            configuration.stepOperations.contains(operation) ? operation.row.map { $0.init(self) } : nil
        }
    }

    /// Writes and publishes a first generation on every page, before any guest runs.
    func publishInitialGenerations() {
        for page in 0..<configuration.pages { writeAndPublish(page: page, into: backing.address(ofPage: page)) }
    }

    /// The mutator thread's body: steps until asked to stop, keeping up to `--in-flight` windows open at once.
    func run() {
        defer {
            // Every page in flight is mapped back and republished before the run ends, whatever stopped it.
            do { try closeAll() } catch { observations.addHarnessError("mutator: closing the windows in flight: \(error)") }
        }
        let idle = configuration.operation == .none && configuration.injection == .none
        let firstSweepDeadline = MonotonicClock.deadline(microseconds: Self.firstSweepWaitSeconds * 1_000_000)
        var swept = false
        var step = schedule.next()
        while !stop.load(ordering: .relaxed) {
            if let dirtyOracle, dirtyOracle.isDue {
                // The harvest reads every page's writer words: none may be unmapped under it.
                do { try closeAll(); try dirtyOracle.harvestIfDue() } catch {
                    observations.addHarnessError("dirty-log harvest: \(error)")
                    stop.store(true, ordering: .relaxed)
                }
            }
            // Harvests go on meanwhile: a vCPU whose dirty ring is full cannot finish its sweep without one.
            if !swept {
                swept = MonotonicClock.now() >= firstSweepDeadline || !environment.checkerStatus.contains { $0.load(.sweeps) == 0 }
                if !swept { usleep(100); continue }
            }
            if idle {
                usleep(dirtyOracle == nil ? 10_000 : 1_000)
                verifyRandomPage()
                continue
            }
            if firstSteps.count < Self.recordedSteps { firstSteps.append(step) }
            do {
                if configuration.injection == .ptswap {
                    try swapTranslation(page: step.page)
                } else {
                    try take(step)
                }
                step = schedule.next()
            } catch {
                observations.addHarnessError("mutator: \(step.operation.rawValue) on page \(step.page): \(error)")
                stop.store(true, ordering: .relaxed)
            }
        }
    }

    /// The first step waits (at most this long) for every checker to have swept every page once, so that its
    /// invalidation finds the pages mapped in KVM: an operation that reaches KVM only once (cold or pageout
    /// splitting a huge page) would otherwise zap nothing, now and then, and prove nothing.
    static let firstSweepWaitSeconds = 5

    // MARK: Driven from outside (the bench)

    /// Performs the schedule's next step whole, its windows held to their length.
    func performNextStep() throws {
        try perform(schedule.next())
    }

    /// Takes the generations someone else published in the control words (the bench's C loop) as the pages'
    /// own, so that the next content-kept windows promise those.
    func adoptPublishedGenerations() {
        for page in 0..<configuration.pages { currentGeneration[page] = ControlWord.counter(control.load(page)) }
    }

    /// Where the VM's flush counters lie in its statistics file (the C loop reads them itself), if they exist.
    var flushCounterSpan: (fileDescriptor: Int32, offset: Int, length: Int)? { countersBefore?.counters.span }

    func takeCounter() -> UInt64 {
        defer { nextCounter += 1 }
        return nextCounter
    }

    /// The run's instance of `operation`.
    func caller(_ operation: Operation) -> any HostOperation { callers[operation.index]! }

    /// What the run's operations say of their steps, for the report.
    var operationNotes: [String] { callers.compactMap { $0 }.flatMap { $0.notes() } }

    // MARK: Windows in flight (Mutator+Windows.swift)

    var inFlight: WindowsInFlight
    /// A call's mean time (moving over the last few calls), to tell a window that would fall due during the next.
    var meanCallNanoseconds: UInt64 = 0
    /// The slot of the step running now, for windows held inside one call (memslot's).
    var currentSlot = 0
}
