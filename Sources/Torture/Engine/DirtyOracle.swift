#if canImport(Glibc)
import Glibc
#endif
import Guests
import KVM

/// The dirty-tracking oracle: harvests the data slot's dirty log in rounds, as a live migration does, and checks
/// that no guest write escaped it.
///
/// Every writer sweep writes its sequence number into every page (unless the page faulted and the write was
/// deferred), and the checker notes the last sweep that wrote every page (COMPLETE). At round N the oracle reads
/// each writer's COMPLETE P, then harvests B (`KVM_GET_DIRTY_LOG`, plus `KVM_CLEAR_DIRTY_LOG` in clear mode, or
/// the vCPUs' rings and `KVM_RESET_DIRTY_RINGS`), then reads the number Q of the sweep under way once the harvest
/// is done. Sweep Q + 1 can only have started after that, so if P_N >= Q_{N-1} + 1, a whole sweep wrote every page
/// between round N-1's harvest and round N's: every page must be in B_N. A page
/// that is not is a *missed dirty page*. (A rule from the words' values against the publications would be unsound:
/// the host's own invalidations zero pages, so a word can be older than the page's last guest write.)
///
/// A sharper rule judges every round, not only those after a whole sweep: right after each harvest the oracle
/// snapshots every writer word; right before the next harvest it reads them again. A word that changed to a value
/// other than zero was written by its guest after the snapshot (the host only ever zeroes writer words, through
/// invalidations), that is after the previous harvest returned, so its page must be in this harvest. This is what
/// catches a `KVM_GET_DIRTY_LOG` that write-protects without flushing: the vCPU writes on through its stale
/// writable translation, every round, and those pages go missing from the next harvest. (Off with `--op memslot`,
/// whose slot re-creation starts a new, empty log.)
final class DirtyOracle: @unchecked Sendable {
    // @unchecked: used by the mutator thread only.
    let configuration: TortureConfiguration
    /// Where the harvests come from (KVM's dirty log or rings).
    let log: any DirtyLogSource
    let backing: Backing
    let observations: Observations
    /// The writers' status blocks: COMPLETE and SEQUENCE.
    let writerStatus: [CheckerStatus]
    var writers: Int { writerStatus.count }
    private var snapshot: [UInt64]
    /// Each writer's sweep under way just after the previous harvest (Q).
    private var sweepAfterHarvest: [UInt64]
    private var lastRound: ContinuousClock.Instant = .now
    private var dropper = SeededGenerator(seed: 0xd1e7)
    private(set) var rounds = 0
    private(set) var pagesReported = 0
    /// Rounds in which some writer completed a whole sweep between harvests, so that every page was judged.
    private(set) var judgedRounds = 0
    /// Pages judged by the sharper rule: written (a writer word changed) between a harvest and the next.
    private(set) var writtenPagesJudged = 0

    init(configuration: TortureConfiguration, log: any DirtyLogSource, backing: Backing, observations: Observations,
         writerStatus: [CheckerStatus]) {
        self.configuration = configuration
        self.log = log
        self.backing = backing
        self.observations = observations
        self.writerStatus = writerStatus
        self.snapshot = Array(repeating: 0, count: configuration.pages * writerStatus.count)
        self.sweepAfterHarvest = Array(repeating: 0, count: writerStatus.count)
    }

    /// The first harvest, before any guest runs: empties the log and takes the first snapshot.
    func start() throws {
        _ = try harvest()
        takeSnapshot()
        rounds = 0
        pagesReported = 0
        judgedRounds = 0
    }

    /// Whether a round has lasted its length (the mutator then closes its windows and harvests).
    var isDue: Bool { ContinuousClock.now - lastRound >= .milliseconds(configuration.dirtyRoundMilliseconds) }

    func harvestIfDue() throws {
        guard isDue else { return }
        awaitWholeSweep()
        // Read right before the harvest: P, and the words the guests wrote since the snapshot.
        let round = DirtyRound(
            pages: configuration.pages, writers: writers, before: snapshot, now: writerWords(), sweepAfterPreviousHarvest: sweepAfterHarvest,
            completed: writerStatus.map { $0.load(.complete) }, judgesWrites: configuration.operation != .memslot)
        var bitmap = try harvest()
        if configuration.injection == .dropdirty, let dropped = bitmap.dirtyPages.randomElement(using: &dropper) {
            bitmap.clear(dropped)
        }
        rounds += 1
        pagesReported += bitmap.dirtyPages.count
        let written = round.written
        writtenPagesJudged += written.count
        let (misses, judged) = round.misses(in: bitmap, written: written)
        if judged { judgedRounds += 1 }
        for miss in misses {
            observations.addViolation(Violation(
                kind: .missedDirty, vcpu: miss.writer, page: miss.page, word: Int(GUEST_READER_WORDS) + miss.writer,
                controlBefore: 0, controlAfter: 0,
                window: miss.rule == .writtenSinceHarvest ? "dirty round \(rounds): written after the previous harvest" : "dirty round \(rounds)",
                expected: miss.expected, observed: miss.observed, time: observations.elapsed,
                operationInFlight: nil, recentOperations: observations.recentOperations(page: miss.page)))
        }
        takeSnapshot()
        lastRound = .now
    }

    /// Called with no window open (the mutator closed them): waits, at most ``wholeSweepWaitNanoseconds``, until
    /// some writer completed a sweep begun after the previous harvest, so that the whole-sweep rule judges every
    /// page this round. Without the wait, a round judged only when the mutator happened to pause long enough for a
    /// whole sweep (a missing-flush probe's wait): under mprotect with the dirty log, about a quarter of the rounds
    /// once probes took a fortieth of the mutator's time instead of a tenth. A vCPU whose dirty ring is full
    /// cannot sweep on until the harvest: the wait ends at its first ring-full exit.
    private func awaitWholeSweep() {
        let deadline = MonotonicClock.now() + Self.wholeSweepWaitNanoseconds
        let ringFull = observations.ringFullExits.load(ordering: .relaxed)
        while !writerStatus.indices.contains(where: {
                  DirtyRound.sweptWhole(completed: writerStatus[$0].load(.complete), sweepAfterPreviousHarvest: sweepAfterHarvest[$0])
              }),
              MonotonicClock.now() < deadline, observations.ringFullExits.load(ordering: .relaxed) == ringFull {
            sched_yield()
        }
    }

    static let wholeSweepWaitNanoseconds: UInt64 = 10_000_000

    private func harvest() throws -> DirtyBitmap { try log.harvest() }

    /// Every writer word now, page-major (``DirtyRound``'s layout).
    private func writerWords() -> [UInt64] {
        var words = [UInt64](repeating: 0, count: configuration.pages * writers)
        for page in 0..<configuration.pages {
            for writer in 0..<writers { words[page * writers + writer] = backing.writerWord(page: page, writer: writer) }
        }
        return words
    }

    private func takeSnapshot() {
        sweepAfterHarvest = writerStatus.map { $0.load(.sequence) }
        snapshot = writerWords()
    }
}
