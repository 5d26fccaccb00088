#if canImport(Glibc)
import CHost
import Glibc
#endif
import Atomics
import Baseline
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
final class Mutator: @unchecked Sendable {
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
        var writerStatus: [UnsafeMutablePointer<UInt64>]
        /// The status blocks of every checker vCPU (their sweep counts, for the missing-flush oracle).
        var checkerStatus: [UnsafeMutablePointer<UInt64>]
        var vm: VirtualMachine
        var dataSlotFlags: MemorySlotFlags
        /// The ksm operation's twins of the data pages.
        var ksmTwins: KSMTwins?
        /// The aging operation's memory cgroup.
        var reclaim: ReclaimCgroup?
    }

    let configuration: TortureConfiguration
    let environment: Environment
    private var backing: Backing { environment.backing }
    private var control: ControlWords { environment.control }
    private var observations: Observations { environment.observations }
    let stop = ManagedAtomic<Bool>(false)
    private var schedule: Schedule
    private var verifierPages: SeededGenerator
    private var nextCounter: UInt64 = 1
    /// The counter of the generation each page holds now: a content-kept window promises exactly that value.
    private var currentGeneration: [UInt64]
    /// Per page and writer: the published sequence number from which the writer's word must have survived (a
    /// content-replacing operation legitimately zeroes the words written before it).
    private var floor: [UInt64]
    /// `remote_tlb_flush_requests` and `remote_tlb_flush`, read right before and right after every operation.
    private let countersBefore: StatisticSample?
    private let countersAfter: StatisticSample?
    private var decoyOwner: Int?
    private var alternate = false
    /// The errno of the last failed MADV_COLLAPSE, for the report.
    private(set) var lastCollapseError: String?
    /// The dirty-log oracle, harvesting between steps when `--dirty` is on.
    var dirtyOracle: DirtyOracle?
    /// The missing-flush oracle (nil when `--flush-probe-ms 0`, antagonists run, or the VM has no statistics).
    let flushProbe: FlushProbe?
    /// Windows opened and sampled, per operation and kind.
    let windows: WindowSampling
    /// The recycled-frame traps (nil with `--traps 0`).
    let frameTraps: FrameTraps?
    /// fork-cow: the child holding the pages shared until the step's republication, and the page's frame before.
    private var heldChild: HeldChild?
    private var frameBeforeFork: UInt64 = 0
    /// Opened on fork-cow's first step only.
    private lazy var pageMap = PageMap()
    /// The first steps of the schedule, kept to show that a seed replays.
    private(set) var firstSteps: [Step] = []
    static let recordedSteps = 64

    init(configuration: TortureConfiguration, environment: Environment, frameTraps: FrameTraps?) {
        self.configuration = configuration
        self.frameTraps = frameTraps
        self.windows = WindowSampling(statusBlocks: environment.checkerStatus, observations: environment.observations)
        self.environment = environment
        self.schedule = Schedule(configuration: configuration)
        self.verifierPages = SeededGenerator(seed: configuration.seed ^ 0x5eed_0f_7e41f1e5)
        self.currentGeneration = Array(repeating: 0, count: configuration.pages)
        self.floor = Array(repeating: 0, count: configuration.pages * max(1, environment.writerStatus.count))
        let flushCounters = environment.vmStatistics?.counters(["remote_tlb_flush_requests", "remote_tlb_flush"])
        self.countersBefore = flushCounters.map(StatisticSample.init)
        self.countersAfter = flushCounters.map(StatisticSample.init)
        self.flushProbe = flushCounters != nil && configuration.antagonists.isEmpty && configuration.flushProbeInterval > 0
            ? FlushProbe(statusBlocks: environment.checkerStatus, intervalMilliseconds: configuration.flushProbeInterval) : nil
    }

    /// Writes and publishes a first generation on every page, before any guest runs.
    func publishInitialGenerations() {
        for page in 0..<configuration.pages { writeAndPublish(page: page, into: backing.address(ofPage: page)) }
    }

    /// The mutator thread's body: steps until asked to stop, keeping up to `--in-flight` windows open at once.
    func run() {
        if configuration.baselineMutator { return runComparison() }
        defer {
            // Every page in flight is mapped back and republished before the run ends, whatever stopped it.
            do { try closeAll() } catch { observations.addHarnessError("mutator: closing the windows in flight: \(error)") }
        }
        let idle = configuration.operation == .none && configuration.injection == .none
        var step = schedule.next()
        while !stop.load(ordering: .relaxed) {
            if let dirtyOracle, dirtyOracle.isDue {
                // The harvest reads every page's writer words: none may be unmapped under it.
                do { try closeAll(); try dirtyOracle.harvestIfDue() } catch {
                    observations.addHarnessError("dirty-log harvest: \(error)")
                    stop.store(true, ordering: .relaxed)
                }
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
                    try closeImminent()
                    try begin(step)
                    if step.operation == .ksm { usleep(KSMTwins.pauseMicroseconds) }  // time for ksmd to merge
                }
                step = schedule.next()
                try closeDue()
            } catch {
                observations.addHarnessError("mutator: \(step.operation.rawValue) on page \(step.page): \(error)")
                stop.store(true, ordering: .relaxed)
            }
        }
    }

    /// The benchmark's comparison: slices of engine steps and of the same steps done by the plain-C loop
    /// (`Sources/Baseline`: pages from the same kind of seeded schedule, the same calls, the same publication
    /// protocol and counter reads), alternating on the same VM, memory and guest until asked to stop. Each pair of
    /// slices is one ``ComparisonRound``; the bench takes the median of the pairs' ratios, so that the drifts of a
    /// nested host cancel within a pair. With `baselineAgainstItself` both slices run the C loop: the method's own
    /// noise floor.
    private func runComparison() {
        let operation: baseline_operation
        switch configuration.operation {
        case .dontneed: operation = BASELINE_DONTNEED
        case .mprotect: operation = BASELINE_MPROTECT
        case .punch: operation = BASELINE_PUNCH
        default:
            observations.addHarnessError("the C baseline implements dontneed, mprotect and punch, not \(configuration.operation.rawValue)")
            return
        }
        guard let span = countersBefore?.counters.span else {
            observations.addHarnessError("the C baseline needs the VM's statistics")
            return
        }
        var state = baseline_mutator(
            control: control.base, data: backing.region.base.assumingMemoryBound(to: UInt8.self), pages: UInt64(configuration.pages),
            memfd: backing.fd, stats_fd: span.fileDescriptor, stats_offset: Int64(span.offset), stats_length: Int64(span.length),
            seed: configuration.seed ^ 0xc0de, window_us: UInt64(configuration.windowMicroseconds),
            fault_window_us: UInt64(configuration.faultWindowMicroseconds), operation: operation, first_counter: 1 << 40)
        let slice = Duration.milliseconds(Self.comparisonSliceMilliseconds)
        var step = schedule.next()
        var pairs = 0
        while !stop.load(ordering: .relaxed) {
            var round = RunReport.ComparisonRound()
            for engineTurn in pairs % 2 == 0 ? [true, false] : [false, true] {
                let started = ContinuousClock.now
                var steps = 0
                // Both sides step in batches of the same size and read the clock only between batches.
                while ContinuousClock.now - started < slice && !stop.load(ordering: .relaxed) {
                    if engineTurn && configuration.baselineAgainstItself != true {
                        do {
                            for _ in 0..<Self.comparisonBatch {
                                try perform(step)
                                step = schedule.next()
                            }
                        } catch {
                            observations.addHarnessError("mutator: \(configuration.operation.rawValue): \(error)")
                            return
                        }
                    } else {
                        let nanoseconds = baseline_mutator_run(&state, UInt64(Self.comparisonBatch))
                        guard nanoseconds >= 0 else {
                            observations.addHarnessError("C baseline: errno \(-nanoseconds)")
                            return
                        }
                    }
                    steps += Self.comparisonBatch
                }
                let elapsed = (ContinuousClock.now - started).seconds
                if engineTurn {
                    round.engineSteps = steps
                    round.engineSeconds = elapsed
                } else {
                    round.cSteps = steps
                    round.cSeconds = elapsed
                    // The C loop published its own generations: the engine's content-kept windows promise those.
                    for page in 0..<configuration.pages { currentGeneration[page] = ControlWord.counter(control.load(page)) }
                }
            }
            if !stop.load(ordering: .relaxed) { observations.comparisonRounds.withLock { $0.append(round) } }
            pairs += 1
        }
    }

    /// What one aging step asks the cgroup to reclaim: 64 pages.
    static let agingBytes = 64 * 4096

    /// How many steps each side of a comparison takes between two reads of the clock.
    static let comparisonBatch = 16

    /// How long each side of a comparison pair runs.
    static let comparisonSliceMilliseconds = 10

    private func takeCounter() -> UInt64 {
        defer { nextCounter += 1 }
        return nextCounter
    }

    /// The pages an operation on `page` touches.
    private func affectedPages(_ operation: Operation, page: Int) -> Range<Int> {
        switch operation {
        case .thp: (page / 512 * 512)..<(page / 512 * 512 + 512)
        case .truncate: page..<configuration.pages
        // The whole data slot goes away: every page is closed, watched for stray native reads, and republished.
        case .memslot: 0..<configuration.pages
        default: page..<(page + 1)
        }
    }

    // MARK: Steps and their windows

    /// A step whose window is open: the rest of it (``resume``) runs once the window has lasted its length. The
    /// loop meanwhile begins steps on other pages (`--in-flight`), so that a window's wait costs the run nothing.
    private struct OpenStep {
        var pages: Range<Int>
        var slot: Int
        /// When the window has lasted its length (``MonotonicClock`` nanoseconds).
        var deadline: UInt64
        /// Closes the window and runs the rest of the step; returns the step's next window, if it has one.
        var resume: () throws -> OpenStep?
    }

    private var openSteps: [OpenStep] = [] {
        didSet { peakInFlight = max(peakInFlight, openSteps.count) }
    }
    /// The most windows open at once, for the report.
    private(set) var peakInFlight = 0
    private var freeSlots = Array((0..<Observations.maxInFlight).reversed())
    /// A call's mean time (moving over the last few calls), to tell a window that would fall due during the next.
    private var meanCallNanoseconds: UInt64 = 0
    /// The slot of the step running now, for windows held inside one call (memslot's).
    private var currentSlot = 0

    /// The operations that begin only with no other window open: each acts on a range, or on state the mutator
    /// keeps one of (thp's alternation, the fork-cow child, ksm's pause, the cgroup's reclaim).
    static let runsAlone: Set<Operation> = [.thp, .truncate, .memslot, .ksm, .aging, .forkCOW]

    /// Performs one step whole, its windows held to their length (the benchmark's comparison steps this way).
    private func perform(_ step: Step) throws {
        try begin(step)
        try closeAll()
    }

    /// Closes windows until a step on `pages` may begin: none of its pages in flight, fewer than `--in-flight`
    /// windows open, and none at all when the step must run `alone`. Windows close in deadline order.
    private func makeRoom(for pages: Range<Int>, alone: Bool) throws {
        while !openSteps.isEmpty
            && (alone || openSteps.count >= configuration.inFlightWindows || openSteps.contains(where: { $0.pages.overlaps(pages) })) {
            try closeEarliest()
        }
    }

    /// Closes, waiting for it, every window that would fall due during the next call (its deadline nearer than a
    /// call's mean time): a window lasts its length, not a whole call longer. The guest that faulted a page back
    /// in right after its call is then still near it when the page is republished, as it is at `--in-flight 1`.
    private func closeImminent() throws {
        while let earliest, openSteps[earliest].deadline <= MonotonicClock.now() &+ meanCallNanoseconds {
            try closeEarliest()
        }
    }

    /// Closes every window whose deadline has passed, without waiting.
    private func closeDue() throws {
        while let earliest, openSteps[earliest].deadline <= MonotonicClock.now() {
            try close(at: earliest)
        }
    }

    /// The index of the open window with the earliest deadline.
    private var earliest: Int? {
        openSteps.indices.min { openSteps[$0].deadline < openSteps[$1].deadline }
    }

    /// Closes every window, waiting for each deadline.
    private func closeAll() throws {
        while !openSteps.isEmpty { try closeEarliest() }
    }

    private func closeEarliest() throws {
        guard let earliest else { return }
        MonotonicClock.spin(until: openSteps[earliest].deadline)
        try close(at: earliest)
    }

    private func close(at index: Int) throws {
        let open = openSteps.remove(at: index)
        currentSlot = open.slot
        keep(try open.resume(), slot: open.slot)
    }

    /// The step in `slot` goes on with its `next` window open, or, with none, is done and frees its slot.
    private func keep(_ next: OpenStep?, slot: Int) {
        if let next {
            openSteps.append(next)
        } else {
            observations.endOperation(slot: slot)
            freeSlots.append(slot)
        }
    }

    /// Begins one step: closes the pages, makes the call, and leaves its window open for the loop to close (a
    /// must-fault or read-only window first where the call has two halves; then the must-read-zero or
    /// content-kept window, after which the page is republished).
    private func begin(_ step: Step) throws {
        let (operation, page) = (step.operation, step.page)
        let pages = affectedPages(operation, page: page)
        // A due probe of the missing-flush oracle runs alone, and waits here, the page published, until the
        // checkers mapped it.
        let probeDue = flushProbe?.isDue(for: operation) ?? false
        try makeRoom(for: pages, alone: probeDue || Self.runsAlone.contains(operation))
        let probing = probeDue && flushProbe?.arm(requests: { try? countersBefore?.capture(); return countersBefore?[0] }) == true
        let slot = freeSlots.removeLast()
        currentSlot = slot
        observations.beginOperation(operation, pages: pages, slot: slot)
        for p in pages { control.close(p) }
        let snapshot = configuration.injection == .losewrite ? PageSnapshot(backing.address(ofPage: page)) : nil
        let trapping = frameTraps != nil && Self.freesFrames.contains(operation)
        // The frames the call may free: the first trap must take one of them. (Aging reclaims whichever pages the
        // cgroup's LRU offers: nothing to measure.)
        let freedFrames = trapping && operation != .aging
            ? frameTraps?.framesBeforeCall(backing.address(ofPage: pages.lowerBound), count: pages.count) ?? [] : []
        let started = observations.clock.now()
        // The negative control of the missing-flush oracle: on a probe, the call is skipped (the content stays).
        let skipped = probing && configuration.injection == .noinval
        // The negative control of the must-fault window: it opens while the page is still mapped.
        if configuration.injection == .faultearly && Operation.holdsAMustFaultWindow.contains(operation) { holdFaultWindow(pages, of: operation) }
        let (invocation, measurement) = try measured { skipped ? .done(Call(window: .keep, zeroed: page..<page)) : try invoke(operation, page: page, pages: pages) }
        // Judged on the call that invalidates (the first half): nothing else ran between the probe and it.
        let missingFlush = probing
            ? flushProbe?.judge(requestsBefore: measurement.requestsBefore, requestsAfter: measurement.requestsAfter, judgeable: invocation.invalidates)
            : nil
        // Before anything faults the page back in: a trap takes the frame the call just freed.
        let poison = trapping ? springTraps(after: step, freed: invocation.freedFrames, measuring: freedFrames) : nil
        let calls = CallRecord(step: step, pages: pages, started: started, calls: measurement, missingFlush: missingFlush,
                               snapshot: snapshot, poison: poison)
        switch invocation {
        case .done(let call):
            keep(try finish(calls, call, slot: slot), slot: slot)
        case .holding(let kind, _, _, let rest):
            let before = kind == .readOnly ? writerWords(page: page) : []
            let evidence = windows.evidence(kind)
            publishHeldWindow(kind, on: pages)
            observations.faultWindowOpen(true, slot: slot)  // the guests' accesses (writes, for read-only) must fault now
            openSteps.append(OpenStep(pages: pages, slot: slot, deadline: MonotonicClock.deadline(microseconds: configuration.faultWindowMicroseconds)) { [self] in
                observations.faultWindowOpen(false, slot: slot)
                for p in pages { control.close(p) }
                windows.closed(kind, of: operation, evidenceBefore: evidence)
                if kind == .readOnly { checkNoWriteLanded(page: page, before: before) }
                var record = calls
                let (call, second) = try measured { try rest() }
                record.calls.add(second)
                return try finish(record, call, slot: slot)
            })
        }
    }

    /// What a step's calls did, carried from its first half to its window.
    private struct CallRecord {
        var step: Step
        var pages: Range<Int>
        var started: UInt64
        var calls: CallMeasurement
        var missingFlush: (before: UInt64, after: UInt64)?
        var snapshot: PageSnapshot?
        /// The poison of the step's first trap (``Injection/poison`` republishes it).
        var poison: UInt64?
    }

    /// Right after a call that freed `freed` frames: the traps (``FrameTraps/spring(after:freedPages:measuring:seconds:poison:)``).
    /// Returns the first trap's poison.
    private func springTraps(after step: Step, freed: Int, measuring frames: Set<UInt64>) -> UInt64? {
        frameTraps?.spring(after: "\(step.operation.rawValue) on page \(step.page)", freedPages: freed, measuring: frames,
                           seconds: observations.elapsed) { ControlWord.make(.poison, takeCounter()) }
    }

    /// `remote_tlb_flush_requests` and `remote_tlb_flush` read right around a call, and its time: every step's
    /// calls are measured on their own, so that with several windows in flight no call's flushes (or time) count
    /// for another step, and a window's wait is not a call's latency.
    private struct CallMeasurement {
        var requestsBefore: UInt64 = 0
        var requestsAfter: UInt64 = 0
        var requests: UInt64 = 0
        var flushes: UInt64 = 0
        var nanoseconds: UInt64 = 0
        mutating func add(_ other: CallMeasurement) {
            requests &+= other.requests
            flushes &+= other.flushes
            nanoseconds &+= other.nanoseconds
        }
    }

    private func measured<Result>(_ call: () throws -> Result) throws -> (Result, CallMeasurement) {
        try? countersBefore?.capture()
        let started = observations.clock.now()
        let result = try call()
        let ended = observations.clock.now()
        try? countersAfter?.capture()
        var measurement = CallMeasurement(nanoseconds: observations.clock.nanoseconds(from: started, to: ended))
        meanCallNanoseconds = (meanCallNanoseconds * 7 + measurement.nanoseconds) / 8
        if let before = countersBefore, let after = countersAfter {
            (measurement.requestsBefore, measurement.requestsAfter) = (before[0], after[0])
            (measurement.requests, measurement.flushes) = (after[0] &- before[0], after[1] &- before[1])
        }
        return (result, measurement)
    }

    /// After the step's calls: the traps, the missing-flush verdict, the bookkeeping, and the step's
    /// must-read-zero or content-kept window, published and returned open (nil: the step has none, and is done).
    private func finish(_ record: CallRecord, _ call: Call, slot: Int) throws -> OpenStep? {
        let (operation, page, pages) = (record.step.operation, record.step.page, record.pages)
        let (window, failed, zeroed) = (call.window, call.failed, call.zeroed)
        if let snapshot = record.snapshot, window == .keep { snapshot.restore() }
        /// The step's bookkeeping (the page's history, the lost-write check, the tallies, a random page's check):
        /// done while its window is open, time the step waits anyway.
        func account() {
            // The page's history first: the lost-write check below may report a violation on the page. (A guest
            // reporting one in the window before this finds the operation as the one in flight.)
            observations.noteOperation(operation, page: page, startedAt: record.started)
            if let missingFlush = record.missingFlush {
                observations.addViolation(Violation(
                    kind: .missingFlush, vcpu: -1, page: page, word: 0, controlBefore: 0, controlAfter: 0,
                    window: "flush probe: mapped since the checkers' last sweep", expected: missingFlush.before + 1,
                    observed: missingFlush.after, time: observations.elapsed,
                    operationInFlight: "\(operation.rawValue) on page \(page): remote_tlb_flush_requests \(missingFlush.before) before the call, \(missingFlush.after) after",
                    recentOperations: observations.recentOperations(page: page)))
            }
            // Nothing verifies these pages between the operation and here: the floors may rise this late.
            if window == .keep {
                raiseFloors(zeroed)
                verifyWrites(pages, excluding: zeroed)
            } else if window == .zero {
                raiseFloors(pages)
            }
            observations.record(
                operation, nanoseconds: record.calls.nanoseconds,
                flushRequests: record.calls.requests, flushes: record.calls.flushes, failed: failed)
            verifyRandomPage(outside: pages)
        }
        let republish = { [self] in
            for p in pages { writeAndPublish(page: p, into: backing.address(ofPage: p), poison: record.poison) }
            if let child = heldChild {
                heldChild = nil
                let after = pageMap.frame(backing.address(ofPage: page))
                if frameBeforeFork != 0 && after != 0 {
                    observations.cowMeasured.wrappingIncrement(ordering: .relaxed)
                    if after != frameBeforeFork { observations.cowBreaks.wrappingIncrement(ordering: .relaxed) }
                }
                child.release()
            }
            if operation == .ksm, let twins = environment.ksmTwins {
                twins.copy(page: page)
            }
        }
        guard let window else {
            republish()
            account()
            return nil
        }
        let sampledKind: WindowKind = zeroed.contains(page) || window == .zero ? .zero : .kept
        let evidence = windows.evidence(sampledKind)
        for p in pages {
            let kind = zeroed.contains(p) ? .zero : window
            control.publish(p, kind == .keep ? ControlWord.make(.keep, currentGeneration[p]) : ControlWord.make(kind, takeCounter()))
        }
        let closes = MonotonicClock.deadline(microseconds: configuration.windowMicroseconds)
        account()
        return OpenStep(pages: pages, slot: slot, deadline: closes) { [self] in
            for p in pages { control.close(p) }
            windows.closed(sampledKind, of: operation, evidenceBefore: evidence)
            republish()
            return nil
        }
    }

    /// The operations whose call may free data frames: where the content is replaced, and where it is kept but
    /// moves (a collapse's small pages, a page reclaimed by pageout or aging: swapped out, or a file page dropped).
    static let freesFrames: Set<Operation> = [.dontneed, .remap, .munmap, .punch, .truncate, .thp, .pageout, .aging]

    /// What one call did: the window it opens, whether it failed (counted, not fatal), the pages of a
    /// content-kept operation that were replaced nonetheless (the thp split), and whether it was an mmu-notifier
    /// invalidation of the page's range (the missing-flush oracle judges only those).
    private struct Call {
        var window: ControlWord.Kind?
        var failed = false
        var zeroed: Range<Int>
        var invalidates = true
        /// How many of the data's frames the call may have freed (the recycled-frame traps take the last ones).
        var freedFrames = 0
    }

    /// A step's calls: done in one go, or a first half whose window (must-fault, or read-only) is held before
    /// `rest` makes the second half.
    private enum Invocation {
        case done(Call)
        /// `freedFrames`: how many frames the first half may have freed (the traps take them at once).
        case holding(WindowKind, invalidates: Bool, freedFrames: Int, rest: () throws -> Call)

        var invalidates: Bool {
            switch self {
            case .done(let call): call.invalidates
            case .holding(_, let invalidates, _, _): invalidates
            }
        }

        var freedFrames: Int {
            switch self {
            case .done(let call): call.freedFrames
            case .holding(_, _, let freedFrames, _): freedFrames
            }
        }
    }

    /// The operation's host calls: all of them, or the first half and the rest (the window between them is the
    /// caller's to hold).
    private func invoke(_ operation: Operation, page: Int, pages: Range<Int>) throws -> Invocation {
        switch operation {
        case .munmap:
            try backing.unmap(page: page)
            return .holding(.fault, invalidates: true, freedFrames: backing.remapZeroes ? 1 : 0) { [self] in
                try backing.mapBack(page: page)
                return Call(window: backing.remapZeroes ? .zero : .keep, zeroed: page..<page)
            }
        case .mprotect:
            try backing.protect(page: page, PROT_NONE)
            return .holding(.fault, invalidates: true, freedFrames: 0) { [self] in
                try backing.protect(page: page, PROT_READ | PROT_WRITE)
                return Call(window: .keep, zeroed: page..<page)
            }
        case .mprotectReadOnly:
            try backing.protect(page: page, PROT_READ)
            return .holding(.readOnly, invalidates: true, freedFrames: 0) { [self] in
                try backing.protect(page: page, PROT_READ | PROT_WRITE)
                return Call(window: .keep, zeroed: page..<page)
            }
        case .mremap:
            let parking = currentSlot  // the step's own slot: no other page in flight parks there
            try backing.moveAway(page: page, parking: parking)
            return .holding(.fault, invalidates: true, freedFrames: 0) { [self] in
                try backing.moveBack(page: page, parking: parking)
                return Call(window: .keep, zeroed: page..<page)
            }
        case .truncate:
            try backing.truncate(to: page * 4096)
            return .holding(.fault, invalidates: true, freedFrames: pages.count) { [self] in
                try backing.truncate(to: backing.size)
                return Call(window: .zero, zeroed: page..<page)
            }
        default:
            return .done(try call(operation, page: page, pages: pages))
        }
    }

    /// The calls of an operation made in one go.
    private func call(_ operation: Operation, page: Int, pages: Range<Int>) throws -> Call {
        var failed = false
        var zeroed = page..<page
        var invalidates = true
        var collapsed = false
        /// Frames a content-kept call may have freed (pageout, aging).
        var movedOut = 0
        let window: ControlWord.Kind?
        switch operation {
        case .none:
            window = nil
        case .dontneed:
            try backing.dontneed(page: page)
            window = backing.dontneedZeroes ? .zero : .keep
        case .remap:
            try backing.remap(page: page)
            window = backing.remapZeroes ? .zero : .keep
        case .punch:
            try backing.punch(page: page)
            window = .zero
        case .forkCOW:
            // The child lives until the page has been republished: the host's write must break COW.
            heldChild = try HeldChild.fork()
            frameBeforeFork = pageMap.frame(backing.address(ofPage: page))
            window = .keep
        case .thp:
            alternate.toggle()
            if alternate {
                invalidates = false  // a range already huge collapses without an invalidation
                // A collapse copies the small pages into a huge one and frees them: a translation left on one of them
                // would read the same content, unless a trap took its frame.
                do { try backing.collapse(page: page); collapsed = true } catch {  // EINVAL/EAGAIN: counted and reported, not fatal
                    failed = true
                    lastCollapseError = (error as? HostCallError)?.errnoName ?? "\(error)"
                }
            } else {
                // DONTNEED of one 4 KiB page inside a huge page splits it (the page itself comes back as zeros).
                try backing.dontneed(page: page)
                zeroed = page..<(page + 1)
            }
            window = .keep
        case .pageout:
            try backing.advise(page: page, CHOST_MADV_PAGEOUT, name: "madvise(MADV_PAGEOUT)")
            movedOut = 1 - backing.residentPages(first: page, count: 1)  // anonymous memory without swap stays
            window = .keep
        case .cold:
            try backing.advise(page: page, CHOST_MADV_COLD, name: "madvise(MADV_COLD)")
            window = .keep
        case .memslot:
            try flipDataSlot(pages)
            window = .keep
        case .ksm:
            // The page is closed: a write to it now breaks a KSM merge (copy-on-write) before anything is promised.
            if environment.ksmTwins?.isMerged(page: page) == true { observations.ksmMergedRepublications.wrappingIncrement(ordering: .relaxed) }
            backing.address(ofPage: page).storeBytes(of: 0, as: UInt64.self)
            window = nil
        case .aging:
            if let reclaimed = environment.reclaim?.reclaim(bytes: Self.agingBytes) {
                observations.reclaimedBytes.wrappingIncrement(by: UInt64(reclaimed), ordering: .relaxed)
                movedOut = reclaimed / Int(GUEST_PAGE_SIZE)
            } else {
                failed = true  // nothing reclaimable this time (EAGAIN/EBUSY): counted, not fatal
            }
            window = .keep
        case .munmap, .mprotect, .mprotectReadOnly, .mremap, .truncate:
            preconditionFailure("\(operation) holds a window between its two halves (invoke)")
        case .mix, .all:
            preconditionFailure("the schedule resolves \(operation) to single operations")
        }
        let freedFrames = window == .zero || collapsed ? pages.count : max(zeroed.count, movedOut)
        return Call(window: window, failed: failed, zeroed: zeroed, invalidates: invalidates && !failed, freedFrames: freedFrames)
    }

    /// While the pages are away (memslot: the slot deleted or moved): any guest read that succeeds now is a
    /// violation. Held inside the step's call: a memslot step runs alone. (Also the faultearly control's early
    /// window, held before the call.)
    private func holdFaultWindow(_ pages: Range<Int>, of operation: Operation = .memslot) {
        let evidence = windows.evidence(.fault)
        publishHeldWindow(.fault, on: pages)
        observations.faultWindowOpen(true, slot: currentSlot)
        spin(microseconds: configuration.faultWindowMicroseconds)
        observations.faultWindowOpen(false, slot: currentSlot)
        for p in pages { control.close(p) }
        windows.closed(.fault, of: operation, evidenceBefore: evidence)
    }

    /// Publishes the window held while pages are away (must-fault: any read that succeeds is a violation) or
    /// read-only (reads must see the kept content). Every such window is published here, the faultearly
    /// control's too, so the control fires through the code it stands for.
    private func publishHeldWindow(_ kind: WindowKind, on pages: Range<Int>) {
        for p in pages { control.publish(p, kind == .readOnly ? ControlWord.make(.keep, currentGeneration[p]) : ControlWord.make(.fault, takeCounter())) }
    }

    /// After a read-only window: no guest write may have landed on the page while it was PROT_READ.
    private func checkNoWriteLanded(page: Int, before: [UInt64]) {
        let after = writerWords(page: page)
        for (writer, (old, new)) in zip(before, after).enumerated() where old != new {
            observations.addViolation(Violation(
                kind: .writeWhileReadOnly, vcpu: writer, page: page, word: Int(GUEST_READER_WORDS) + writer,
                controlBefore: 0, controlAfter: 0, window: "read-only", expected: old, observed: new, time: observations.elapsed,
                operationInFlight: "mprotect-ro on page \(page)", recentOperations: observations.recentOperations(page: page)))
        }
    }

    /// Deletes and re-adds the data slot, or moves it away and back, while the vCPUs run. Once the delete or move
    /// has returned, no guest access to the data may be translated any more: each must exit as MMIO, which the
    /// vCPU workers serve from the same host memory (VCPUWorker). So while the slot is away every page holds a
    /// must-fault window: a read the guest made without an MMIO exit went through an SPTE the slot change should
    /// have zapped, and is a violation; a read served by MMIO is counted apart, not as a check.
    private func flipDataSlot(_ pages: Range<Int>) throws {
        alternate.toggle()
        let slot = UInt32(GUEST_DATA_SLOT)
        let home = GuestPhysicalAddress(UInt64(GUEST_DATA_GPA))
        // The negative control: the window opens while the slot is still there and reads are still translated.
        if configuration.injection == .slotearly { holdFaultWindow(pages) }
        if alternate {
            try environment.vm.deleteMemorySlot(slot)
            holdFaultWindow(pages)
            try environment.vm.setMemorySlot(slot, guestAddress: home, region: backing.region, flags: environment.dataSlotFlags)
        } else {
            // Just above the data: no page table maps it, and nothing else lives there.
            let away = home + UInt64(configuration.dataBytes)
            try environment.vm.moveMemorySlot(slot, to: away)
            holdFaultWindow(pages)
            try environment.vm.moveMemorySlot(slot, to: home)
        }
    }

    // MARK: The lost-write half

    func published(writer: Int) -> UInt64 {
        // SAFETY: the status block is 8-aligned guest memory that lives as long as the run; the guest stores the
        // published number after its page writes, and x86 keeps stores in order.
        UnsafeAtomic<UInt64>(at: UnsafeMutableRawPointer(environment.writerStatus[writer] + Int(GUEST_STATUS_PUBLISHED))
            .assumingMemoryBound(to: UnsafeAtomic<UInt64>.Storage.self)).load(ordering: .acquiring)
    }

    private func writerWords(page: Int) -> [UInt64] {
        (0..<environment.writerStatus.count).map { backing.writerWord(page: page, writer: $0) }
    }

    /// After a content-replacing operation, the words written before it are legitimately gone: a writer's word
    /// must hold its number again only from the sweep after the next one (a sweep may have been under way).
    private func raiseFloors(_ pages: Range<Int>) {
        let writers = environment.writerStatus.count
        guard writers > 0 else { return }
        for writer in 0..<writers {
            let next = published(writer: writer) + 2
            for p in pages { floor[p * writers + writer] = next }
        }
    }

    /// The lost-write check of one random page, every step, so that writes are verified on pages no operation
    /// touched lately too. A page in flight is left out: its floors were just raised or its words just verified,
    /// and reading it now could map it back under the operation (or fault: it may be unmapped).
    private func verifyRandomPage(outside busy: Range<Int> = 0..<0) {
        let page = Int(verifierPages.next() % UInt64(configuration.pages))
        if !busy.contains(page) && !openSteps.contains(where: { $0.pages.contains(page) }) { verifyWrites(page..<(page + 1)) }
    }

    /// Reads each writer's publication, then its word in each page through the host mapping: the word must be
    /// at least the published number, or a guest write was lost.
    private func verifyWrites(_ pages: Range<Int>, excluding skipped: Range<Int> = 0..<0) {
        let writers = environment.writerStatus.count
        guard writers > 0, configuration.injection != .ptswap else { return }
        for writer in 0..<writers {
            let number = published(writer: writer)
            for page in pages where number > 0 && number >= floor[page * writers + writer] && !skipped.contains(page) {
                let word = backing.writerWord(page: page, writer: writer)
                observations.writeVerifications.wrappingIncrement(ordering: .relaxed)
                if word < number {
                    let inFlight = observations.operationInFlightDescription(page: page)
                    observations.addViolation(Violation(
                        kind: .lostWrite, vcpu: writer, page: page, word: Int(GUEST_READER_WORDS) + writer, controlBefore: 0,
                        controlAfter: 0, window: "published", expected: number, observed: word, time: observations.elapsed,
                        operationInFlight: inFlight, recentOperations: observations.recentOperations(page: page)))
                }
            }
        }
    }

    // MARK: Publication

    /// Writes a new generation into the reader words of `frame` (the page's host view) and publishes it, or,
    /// under injection, does that wrong on purpose.
    private func writeAndPublish(page: Int, into frame: UnsafeMutableRawPointer, poison: UInt64? = nil) {
        let counter = takeCounter()
        let generation = ControlWord.make(.generation, counter)
        // SAFETY: `frame` is one mapped, 8-aligned 4 KiB page of guest memory; writer words are not touched.
        let words = frame.assumingMemoryBound(to: UInt64.self)
        let republication = currentGeneration[page] != 0
        // The bookkeeping comes before the page write: only the publication may follow it (see `perform`).
        currentGeneration[page] = counter
        observations.publications.wrappingIncrement(ordering: .relaxed)
        if configuration.injection != .none { observations.notePublication(page: page, word: generation) }
        switch configuration.injection {
        case .nowrite where republication:
            control.publish(page, generation)  // promise content that was never written
        case .poison where republication && poison != nil:
            // A translation left on the frame the call freed, which a trap took: the page reads the trap's poison.
            words.update(repeating: poison!, count: Int(GUEST_READER_WORDS))
            control.publish(page, generation)
        case .early where republication:
            control.publish(page, generation)  // promise first, write after: a narrow race
            words.update(repeating: generation, count: Int(GUEST_READER_WORDS))
        default:
            words.update(repeating: generation, count: Int(GUEST_READER_WORDS))
            control.publish(page, generation)
        }
    }

    /// The ptswap negative control: point the guest's own PTE for a page at the decoy frame (or back), write the
    /// new generation into the frame it now names, and publish, without the guest ever flushing its TLB. KVM's
    /// shadow MMU is not told of host writes to guest page tables, so a guest still using the old translation
    /// reads the old frame: a real stale translation, which the checker must report.
    private func swapTranslation(page: Int) throws {
        let target = decoyOwner ?? page
        guard let entry = environment.leafEntry(target) else {
            throw HarnessFailure("ptswap: page \(target) has no 4 KiB guest PTE")
        }
        let slot = freeSlots[freeSlots.count - 1]  // ptswap steps one at a time
        observations.beginOperation(.none, pages: target..<(target + 1), slot: slot)
        observations.noteOperation(.none, page: target, startedAt: observations.clock.now())
        defer { observations.endOperation(slot: slot) }
        control.close(target)
        let flags = entry.pointee & 0xfff
        let frame: UnsafeMutableRawPointer
        if decoyOwner == nil {
            entry.pointee = UInt64(GUEST_DECOY_GPA) | flags
            frame = environment.decoy
            decoyOwner = target
        } else {
            entry.pointee = UInt64(GUEST_DATA_GPA) + UInt64(target) * 4096 | flags
            frame = backing.address(ofPage: target)
            decoyOwner = nil
        }
        writeAndPublish(page: target, into: frame)
        observations.record(.none, nanoseconds: 0, flushRequests: 0, flushes: 0, failed: false)
    }

    private func spin(microseconds: Int) {
        guard microseconds > 0 else { return }
        MonotonicClock.spin(until: MonotonicClock.deadline(microseconds: microseconds))
    }
}

/// The losewrite negative control's copy of a page, taken before a content-preserving operation and written back
/// after it: every guest write in between is discarded.
private struct PageSnapshot {
    let page: UnsafeMutableRawPointer
    let bytes: [UInt8]
    init(_ page: UnsafeMutableRawPointer) {
        self.page = page
        bytes = Array(UnsafeRawBufferPointer(start: page, count: 4096))
    }
    func restore() { bytes.withUnsafeBytes { page.copyMemory(from: $0.baseAddress!, byteCount: 4096) } }
}
