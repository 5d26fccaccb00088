import Atomics
import Foundation
import Histogram
import Synchronization

/// What the threads of a run observe, shared between them: per-operation counts and kernel-counter attribution,
/// vCPU exit counts, violations, harness errors, and each page's recent history.
final class Observations: Sendable {
    struct OperationTally: Sendable {
        var count = 0
        var failed = 0
        /// `remote_tlb_flush_requests` and `remote_tlb_flush` movement measured around this operation's calls.
        var flushRequests: UInt64 = 0
        var flushes: UInt64 = 0
        /// EFAULT returns of KVM_RUN while this operation's must-fault window was open.
        var faults: UInt64 = 0
        var nanoseconds: UInt64 = 0
        var maxNanoseconds: UInt64 = 0
        /// Call latencies in nanoseconds (HdrHistogram, 3 significant digits).
        var latency = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
    }

    /// Times the mutator's calls; its origin is the run's start.
    let clock = TickClock()
    /// When the run started (``MonotonicClock`` nanoseconds): times in the report count from here.
    var start: UInt64 { clock.originNanoseconds }
    let tallies = Mutex(OperationTallies())
    let violations = Mutex<[Violation]>([])
    /// The data slot's changes, as the threads that make them say: the stray-MMIO check reads it.
    let dataSlot = DataSlotState()
    let harnessErrors = Mutex<[String]>([])
    /// Kernel log lines reporting a problem (WARNING:, BUG:, Call Trace) logged during the run.
    let kernelFindings = Mutex<[String]>([])
    let publications = ManagedAtomic<UInt64>(0)
    let efaults = ManagedAtomic<UInt64>(0)
    let heartbeats = ManagedAtomic<UInt64>(0)
    /// Host reads of a writer's word against its publication (the lost-write verifier).
    let writeVerifications = ManagedAtomic<UInt64>(0)
    /// Guest accesses served as MMIO while the data slot was deleted or moved.
    let mmioExits = ManagedAtomic<UInt64>(0)
    /// Reads of a data page in a must-fault window that exited as MMIO (the slot away) and were served by the
    /// host: correct behaviour, counted apart from the translated checks.
    let mmioServedChecks = ManagedAtomic<UInt64>(0)
    /// `KVM_EXIT_DIRTY_RING_FULL` exits: the vCPU waited for the harvester.
    let ringFullExits = ManagedAtomic<UInt64>(0)
    /// The steps in flight, one slot each (the mutator keeps up to ``maxInFlight`` windows open): `Operation`
    /// index + 1 in bits 56-63, bit 55 while a must-fault (or read-only) window of the step is open, its first
    /// page in bits 28-54 and its page count in bits 0-27; 0 = a free slot. `UnsafeAtomic`s (deallocated in
    /// deinit), not `ManagedAtomic`s: the mutator stores them between two invalidations, where a managed atomic's
    /// retain, release and dynamic dispatch add time that decides whether the next flush must interrupt the
    /// running vCPU (see `Mutator.begin`).
    nonisolated(unsafe) private let inFlight: UnsafeMutablePointer<UnsafeAtomic<UInt64>.Storage>
    static let maxInFlight = 64
    private let history = Mutex(OperationHistory())

    /// Where this run's first violation is also written (`--announce-to`), open for the run.
    let announcement: Announcement?

    init(announcingTo announcement: Announcement? = nil) {
        self.announcement = announcement
        inFlight = .allocate(capacity: Self.maxInFlight)
        for slot in 0..<Self.maxInFlight { (inFlight + slot).initialize(to: UnsafeAtomic<UInt64>.Storage(0)) }
    }

    deinit { inFlight.deallocate() }

    private func slot(_ index: Int) -> UnsafeAtomic<UInt64> { UnsafeAtomic(at: inFlight + index) }

    /// Seconds from the run's start to `nanoseconds` (a ``MonotonicClock`` reading).
    func seconds(at nanoseconds: UInt64) -> Double { Double(nanoseconds &- start) / 1e9 }

    var elapsed: Double {
        seconds(at: MonotonicClock.now())
    }

    /// Marks `operation` on `pages` as in flight in `slot` (one atomic store: it precedes the operation's calls).
    func beginOperation(_ operation: Operation, pages: Range<Int>, slot index: Int) {
        slot(index).store(UInt64(operation.index + 1) << 56 | UInt64(pages.lowerBound) << 28 | UInt64(pages.count), ordering: .releasing)
    }

    /// Adds an operation that started at `ticks` (a ``clock`` reading) to its page's history. The mutator does
    /// this in the step's window, before its lost-write check of the page; a guest reporting a violation earlier
    /// finds the operation in flight (``operationInFlightDescription(page:)``).
    func noteOperation(_ operation: Operation, page: Int, startedAt ticks: UInt64) {
        history.withLock { $0.append(operation, at: ticks, page: page) }
    }

    func endOperation(slot index: Int) { slot(index).store(0, ordering: .releasing) }

    /// Opens or closes the must-fault (or read-only) window of the step in `slot`: accesses to its pages that
    /// fault meanwhile are its evidence (``recordFault(mmio:page:)``).
    func faultWindowOpen(_ open: Bool, slot index: Int) {
        let value = slot(index).load(ordering: .relaxed)
        slot(index).store(open ? value | 1 << 55 : value & ~(1 << 55), ordering: .releasing)
    }

    /// A step in flight: its operation, its pages, and whether its must-fault window is open.
    struct InFlight: Equatable {
        var operation: Operation
        var pages: Range<Int>
        var faultWindowOpen: Bool
    }

    /// The steps in flight now.
    var operationsInFlight: [InFlight] {
        (0..<Self.maxInFlight).compactMap { index in
            let value = slot(index).load(ordering: .acquiring)
            return value == 0 ? nil : Self.decode(value)
        }
    }

    /// A slot's value (not 0), as ``beginOperation(_:pages:slot:)`` and ``faultWindowOpen(_:slot:)`` packed it.
    private static func decode(_ value: UInt64) -> InFlight {
        let first = Int(value >> 28 & (1 << 27 - 1))
        return InFlight(operation: Operation.allCases[Int(value >> 56) - 1], pages: first..<(first + Int(value & (1 << 28 - 1))),
                        faultWindowOpen: value & 1 << 55 != 0)
    }

    /// The step in flight on `page` as a violation reports it ("dontneed on page 7"); with no step on that page,
    /// the steps in flight elsewhere ("none on this page; in flight: munmap on page 3"), or nil.
    func operationInFlightDescription(page: Int) -> String? {
        let steps = operationsInFlight
        let describe = { (step: InFlight) in
            "\(step.operation.rawValue) on page" + (step.pages.count == 1 ? " \(step.pages.lowerBound)" : "s \(step.pages.lowerBound)..<\(step.pages.upperBound)")
        }
        if let own = steps.first(where: { $0.pages.contains(page) }) { return describe(own) }
        return steps.isEmpty ? nil : "none on this page; in flight: " + steps.map(describe).joined(separator: ", ")
    }

    /// Tallies `calls` calls of `operation` that took `nanoseconds` each.
    func record(_ operation: Operation, calls: Int = 1, nanoseconds: UInt64, flushRequests: UInt64, flushes: UInt64, failed: Bool) {
        tallies.withLock { table in
            table.update(operation) { tally in
                Self.add(to: &tally, calls: calls, nanoseconds: nanoseconds, flushRequests: flushRequests, flushes: flushes, failed: failed)
            }
        }
    }

    private static func add(
        to tally: inout OperationTally, calls: Int, nanoseconds: UInt64, flushRequests: UInt64, flushes: UInt64, failed: Bool
    ) {
        tally.count += calls
            if failed { tally.failed += 1 }
        tally.flushRequests += flushRequests
        tally.flushes += flushes
        tally.nanoseconds += nanoseconds * UInt64(calls)
        tally.maxNanoseconds = max(tally.maxNanoseconds, nanoseconds)
        _ = tally.latency.record(nanoseconds, count: UInt64(calls))
    }

    /// A `KVM_RUN` EFAULT, or (`mmio`) an access served as MMIO, at `page` (nil: unknown): evidence for the step
    /// in flight on that page (on any page, when unknown) only while its must-fault (or read-only) window is open,
    /// where the access had to fault; counted either way. `page` is asked for only while such a window is open
    /// (for an EFAULT it costs the vCPU thread a KVM_GET_REGS).
    func recordFault(mmio: Bool = false, page: () -> Int?) {
        (mmio ? mmioExits : efaults).wrappingIncrement(ordering: .relaxed)
        var open: [InFlight] = []
        for index in 0..<Self.maxInFlight {
            let value = slot(index).load(ordering: .acquiring)
            if value & 1 << 55 != 0 { open.append(Self.decode(value)) }
        }
        guard !open.isEmpty else { return }
        let faulted = page()
        if let step = open.first(where: { faulted.map($0.pages.contains) ?? true }) {
            tallies.withLock { $0.update(step.operation) { $0.faults += 1 } }
        }
    }

    func recentOperations(page: Int) -> [String] {
        history.withLock { $0.entries(page: page) }.map {
            String(format: "%.6fs %@", seconds(at: clock.monotonic($0.ticks)), $0.operation.rawValue)
        }
    }

    /// Every violation counts; the first `storedViolations` keep their detail, so a broken host (or an injected
    /// fault) cannot make the harness grow without bound.
    func addViolation(_ violation: Violation) {
        // By kind first: a checkpoint that sees the count must also see the kind.
        violationsByKind.withLock { $0[violation.kind, default: 0] += 1 }
        if violationCount.loadThenWrappingIncrement(ordering: .relaxed) == 0 { announceFirst(violation) }
        if violation.kind == .staleRead { caughtPublications.withLock { _ = $0.insert(violation.controlBefore) } }
        violations.withLock { if $0.count < Self.storedViolations { $0.append(violation) } }
    }

    let violationCount = ManagedAtomic<UInt64>(0)

    /// The first violation goes to standard error at once, in one unbuffered write: a kernel bug that lets the
    /// guest write freed frames can kill this process before any report or checkpoint is written, and the lab
    /// reads the captured output (``Violation/firstAnnouncementPrefix``). It also goes to the run's
    /// ``announcement``, if it has one.
    private func announceFirst(_ violation: Violation) {
        let line = "\(Violation.firstAnnouncementPrefix)\(String(format: "%.6f", violation.time)) s: \(violation.summary)\n"
        line.withCString { _ = write(2, $0, strlen($0)) }
        announcement?.write(line)
    }

    /// The run ended early, `--stop-after-violation` seconds after its first violation.
    let stoppedAfterViolation = ManagedAtomic<Bool>(false)
    /// Every violation counted by kind, beyond the stored ones: a control's verdict needs to know all the kinds.
    let violationsByKind = Mutex<[Violation.Kind: UInt64]>([:])
    /// The publications (control words) under which a stale read was seen.
    let caughtPublications = Mutex<Set<UInt64>>([])
    static let storedViolations = 1000

    func completeRecheck(vcpu: Int, page: Int, survived: Bool, observed: UInt64) {
        violations.withLock { list in
            if let index = list.lastIndex(where: { $0.vcpu == vcpu && $0.page == page && $0.survivedExit == nil }) {
                list[index].survivedExit = survived
                list[index].recheckObserved = observed
            }
        }
    }

    // MARK: Detection latency (injected runs): from a faulty publication to the violation the host records.

    /// Each page's latest publication under injection: the word and when (``MonotonicClock`` nanoseconds).
    private let lastPublication = Mutex<[Int: (word: UInt64, at: UInt64)]>([:])
    let detectionLatency = Mutex(Histogram<UInt64>(numberOfSignificantValueDigits: .three))

    func notePublication(page: Int, word: UInt64) {
        let now = MonotonicClock.now()
        lastPublication.withLock { $0[page] = (word, now) }
    }

    /// Records how long after its publication a violation under `word` on `page` was first seen, if that
    /// publication is still the page's latest (otherwise the time would belong to another one). Only the first:
    /// every later read of the same bad page is a violation too, and counting those would measure how long the
    /// page waited for its next publication, not how soon the checker saw it.
    func noteDetection(page: Int, word: UInt64) {
        let now = MonotonicClock.now()
        let first = lastPublication.withLock { latest -> (word: UInt64, at: UInt64)? in
            guard let publication = latest[page], publication.word == word else { return nil }
            latest[page] = nil
            return publication
        }
        guard let publication = first else { return }
        // The mutator notes the time just before it publishes, so a detection can come right after: never negative.
        let nanoseconds = now > publication.at ? now - publication.at : 0
        detectionLatency.withLock { _ = $0.record(nanoseconds) }
    }

    func addHarnessError(_ message: String) { harnessErrors.withLock { $0.append(message) } }
}
