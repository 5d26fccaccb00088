#if canImport(Glibc)
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
    /// The operation of the step in progress (the must-fault windows count for it).
    private var stepOperation: Operation = .none
    /// The recycled-frame traps (nil with `--traps 0`).
    let frameTraps: FrameTraps?
    /// The poison the current step's trap holds, for `--inject poison`'s republication.
    private var stepPoison: UInt64?
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

    /// The mutator thread's body: steps until asked to stop.
    func run() {
        if configuration.baselineMutator { return runComparison() }
        let idle = configuration.operation == .none && configuration.injection == .none
        var step = schedule.next()
        while !stop.load(ordering: .relaxed) {
            do { try dirtyOracle?.harvestIfDue() } catch {
                observations.addHarnessError("dirty-log harvest: \(error)")
                stop.store(true, ordering: .relaxed)
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
                    step = schedule.next()
                } else {
                    let next = try perform(step)
                    if step.operation == .ksm { usleep(KSMTwins.pauseMicroseconds) }  // time for ksmd to merge
                    step = next
                }
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
                            for _ in 0..<Self.comparisonBatch { step = try perform(step) }
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

    /// Performs one step. Returns the schedule's next step, drawn during this step's window (below).
    private func perform(_ step: Step) throws -> Step {
        let (operation, page) = (step.operation, step.page)
        stepOperation = operation
        let pages = affectedPages(operation, page: page)
        // A due probe of the missing-flush oracle waits here, the page published, until the checkers mapped it.
        let probing = flushProbe?.arm(for: operation, requests: { try? countersBefore?.capture(); return countersBefore?[0] }) ?? false
        observations.beginOperation(operation, page: page)
        defer { observations.endOperation() }
        for p in pages { control.close(p) }
        let snapshot = configuration.injection == .losewrite ? PageSnapshot(backing.address(ofPage: page)) : nil
        let trapping = frameTraps != nil && Self.freesFrames.contains(operation)
        // The frames the call may free: the first trap must take one of them. (Aging reclaims whichever pages the
        // cgroup's LRU offers: nothing to measure.)
        let freedFrames = trapping && operation != .aging
            ? frameTraps?.framesBeforeCall(backing.address(ofPage: pages.lowerBound), count: pages.count) ?? [] : []
        try? countersBefore?.capture()
        let started = observations.clock.now()
        // The negative control of the missing-flush oracle: on a probe, the call is skipped (the content stays).
        let call = probing && configuration.injection == .noinval
            ? Call(window: .keep, failed: false, zeroed: page..<page, invalidates: true)
            : try invoke(operation, page: page, pages: pages)
        let (window, failed, zeroed) = (call.window, call.failed, call.zeroed)
        let ended = observations.clock.now()
        try? countersAfter?.capture()
        // Before anything faults the page back in: a trap takes the frame the call just freed.
        stepPoison = nil
        if trapping, let frameTraps, call.freedFrames > 0 {
            // One trap per freed page, up to a few (truncate frees a whole tail of the file, a collapse 512 pages).
            let freed = call.freedFrames
            let seconds = observations.seconds(at: observations.clock.monotonic(ended))
            for trap in 0..<min(freed, Self.trapsPerStep) {
                let poison = ControlWord.make(.poison, takeCounter())
                frameTraps.spring(poison: poison, call: "\(operation.rawValue) on page \(page)", seconds: seconds, freed: trap == 0 ? freedFrames : [])
                if trap == 0 { stepPoison = poison }
            }
        }
        let missingFlush = probing
            ? flushProbe?.judge(requestsBefore: countersBefore?[0] ?? 0, requestsAfter: countersAfter?[0] ?? 0, judgeable: call.invalidates)
            : nil
        if let snapshot, window == .keep { snapshot.restore() }
        /// The step's bookkeeping (the page's history, the lost-write check, the tallies, a random page's check, the
        /// next step's draw): done while its window is open, time the step waits anyway, so that only the counter
        /// read and the window's publication follow the operation, and only the republication and the next step's
        /// close and counter read precede the next one.
        /// (Each flush finds the vCPU either still out of the guest from the previous one or back in it, and then
        /// has to interrupt it: a longer gap between operations costs an extra interrupt of the running vCPU.)
        var next: Step?
        func account() {
            // The page's history first: the lost-write check below may report a violation on the page. (A guest
            // reporting one in the window before this finds the operation as the one in flight.)
            observations.noteOperation(operation, page: page, startedAt: started)
            if let missingFlush {
                observations.addViolation(Violation(
                    kind: "missing-flush", vcpu: -1, page: page, word: 0, controlBefore: 0, controlAfter: 0,
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
                operation,
                nanoseconds: observations.clock.nanoseconds(from: started, to: ended),
                flushRequests: counterMovement(0), flushes: counterMovement(1), failed: failed)
            verifyRandomPage(outside: pages)
            next = schedule.next()
        }
        if let window {
            let sampledKind: WindowKind = zeroed.contains(page) || window == .zero ? .zero : .kept
            let evidence = windows.evidence(sampledKind)
            for p in pages {
                let kind = zeroed.contains(p) ? .zero : window
                control.publish(p, kind == .keep ? ControlWord.make(.keep, currentGeneration[p]) : ControlWord.make(kind, takeCounter()))
            }
            let closes = MonotonicClock.deadline(microseconds: configuration.windowMicroseconds)
            account()
            MonotonicClock.spin(until: closes)
            for p in pages { control.close(p) }
            windows.closed(sampledKind, of: operation, evidenceBefore: evidence)
        }
        for p in pages { writeAndPublish(page: p, into: backing.address(ofPage: p)) }
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
        if window == nil { account() }
        return next ?? schedule.next()
    }

    /// The operations whose call may free data frames: where the content is replaced, and where it is kept but
    /// moves (a collapse's small pages, a page reclaimed by pageout or aging: swapped out, or a file page dropped).
    static let freesFrames: Set<Operation> = [.dontneed, .remap, .munmap, .punch, .truncate, .thp, .pageout, .aging]
    /// At most this many traps per step (or antagonist action).
    static let trapsPerStep = 8

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

    /// The operation's host calls (and its must-fault or read-only window, held between them).
    private func invoke(_ operation: Operation, page: Int, pages: Range<Int>) throws -> Call {
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
        case .munmap:
            try backing.unmap(page: page)
            holdFaultWindow(pages)
            try backing.mapBack(page: page)
            window = backing.remapZeroes ? .zero : .keep
        case .punch:
            try backing.punch(page: page)
            window = .zero
        case .mprotect:
            try backing.protect(page: page, PROT_NONE)
            holdFaultWindow(pages)
            try backing.protect(page: page, PROT_READ | PROT_WRITE)
            window = .keep
        case .mprotectReadOnly:
            try backing.protect(page: page, PROT_READ)
            holdReadOnlyWindow(page: page)
            try backing.protect(page: page, PROT_READ | PROT_WRITE)
            window = .keep
        case .mremap:
            try backing.moveAway(page: page)
            holdFaultWindow(pages)
            try backing.moveBack(page: page)
            window = .keep
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
                    lastCollapseError = (error as? KVMError)?.errnoName ?? "\(error)"
                }
            } else {
                // DONTNEED of one 4 KiB page inside a huge page splits it (the page itself comes back as zeros).
                try backing.dontneed(page: page)
                zeroed = page..<(page + 1)
            }
            window = .keep
        case .pageout:
            try backing.advise(page: page, CKVM_MADV_PAGEOUT, name: "madvise(MADV_PAGEOUT)")
            movedOut = 1 - backing.residentPages(first: page, count: 1)  // anonymous memory without swap stays
            window = .keep
        case .cold:
            try backing.advise(page: page, CKVM_MADV_COLD, name: "madvise(MADV_COLD)")
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
        case .truncate:
            try backing.truncate(to: page * 4096)
            holdFaultWindow(pages)
            try backing.truncate(to: backing.size)
            window = .zero
        case .mix, .all:
            preconditionFailure("the schedule resolves \(operation) to single operations")
        }
        let freedFrames = window == .zero || collapsed ? pages.count : max(zeroed.count, movedOut)
        return Call(window: window, failed: failed, zeroed: zeroed, invalidates: invalidates && !failed, freedFrames: freedFrames)
    }

    /// How far flush counter `slot` moved around the last operation.
    private func counterMovement(_ slot: Int) -> UInt64 {
        guard let before = countersBefore, let after = countersAfter else { return 0 }
        return after[slot] &- before[slot]
    }

    /// While the pages are unmapped, PROT_NONE or truncated: any guest read that succeeds now is a violation.
    private func holdFaultWindow(_ pages: Range<Int>) {
        let evidence = windows.evidence(.fault)
        for p in pages { control.publish(p, ControlWord.make(.fault, takeCounter())) }
        observations.faultWindowOpen(true)
        spin(microseconds: configuration.faultWindowMicroseconds)
        observations.faultWindowOpen(false)
        for p in pages { control.close(p) }
        windows.closed(.fault, of: stepOperation, evidenceBefore: evidence)
    }

    /// While the page is PROT_READ: reads must see the kept content, and no guest write may land.
    private func holdReadOnlyWindow(page: Int) {
        let before = writerWords(page: page)
        let evidence = windows.evidence(.readOnly)
        control.publish(page, ControlWord.make(.keep, currentGeneration[page]))
        observations.faultWindowOpen(true)  // the guests' writes must fault now
        spin(microseconds: configuration.faultWindowMicroseconds)
        observations.faultWindowOpen(false)
        control.close(page)
        windows.closed(.readOnly, of: .mprotectReadOnly, evidenceBefore: evidence)
        let after = writerWords(page: page)
        for (writer, (old, new)) in zip(before, after).enumerated() where old != new {
            observations.addViolation(Violation(
                kind: "write-while-read-only", vcpu: writer, page: page, word: Int(GUEST_READER_WORDS) + writer,
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
    /// touched lately too. A page among `busy` (the step's own, in its window) is left out: its floors were just
    /// raised or its words just verified, and reading it now could map it back under the operation.
    private func verifyRandomPage(outside busy: Range<Int> = 0..<0) {
        let page = Int(verifierPages.next() % UInt64(configuration.pages))
        if !busy.contains(page) { verifyWrites(page..<(page + 1)) }
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
                    let inFlight = observations.operationInFlightDescription
                    observations.addViolation(Violation(
                        kind: "lost-write", vcpu: writer, page: page, word: Int(GUEST_READER_WORDS) + writer, controlBefore: 0,
                        controlAfter: 0, window: "published", expected: number, observed: word, time: observations.elapsed,
                        operationInFlight: inFlight, recentOperations: observations.recentOperations(page: page)))
                }
            }
        }
    }

    // MARK: Publication

    /// Writes a new generation into the reader words of `frame` (the page's host view) and publishes it, or,
    /// under injection, does that wrong on purpose.
    private func writeAndPublish(page: Int, into frame: UnsafeMutableRawPointer) {
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
        case .poison where republication && stepPoison != nil:
            // A translation left on the frame the call freed, which a trap took: the page reads the trap's poison.
            words.update(repeating: stepPoison!, count: Int(GUEST_READER_WORDS))
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
            throw KVMError(operation: "ptswap", errno: 0, context: "page \(target) has no 4 KiB guest PTE")
        }
        observations.beginOperation(.none, page: target)
        observations.noteOperation(.none, page: target, startedAt: observations.clock.now())
        defer { observations.endOperation() }
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
