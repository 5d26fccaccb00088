#if canImport(Glibc)
import Glibc
#endif
import Atomics
import Guests
import KVM
import Testing
@testable import Torture

/// The dirty-log oracle's two rules, judged on made-up rounds (no `/dev/kvm`): four pages, two writers.
struct DirtyRoundTests {
    /// A round in which nothing was written since the previous harvest and no sweep completed.
    func quietRound() -> DirtyRound {
        DirtyRound(pages: 4, writers: 2, before: Array(repeating: 7, count: 8), now: Array(repeating: 7, count: 8),
                   sweepAfterPreviousHarvest: [8, 8], completed: [7, 7])
    }

    func harvest(_ dirty: [Int]) -> DirtyBitmap {
        var bitmap = DirtyBitmap(pageCount: 4)
        for page in dirty { bitmap.mark(page) }
        return bitmap
    }

    @Test func aWordWrittenSinceTheHarvestMustBeInTheNextOne() {
        var round = quietRound()
        round.now[2 * 2 + 1] = 9  // writer 1 wrote page 2
        let (misses, judged) = round.misses(in: harvest([]))
        #expect(misses == [DirtyRound.Miss(page: 2, writer: 1, expected: 9, observed: 7, rule: .writtenSinceHarvest)])
        #expect(!judged, "no whole sweep: the whole-sweep rule judged nothing")
        #expect(round.misses(in: harvest([2])).misses.isEmpty, "reported: nothing missed")
    }

    @Test func aWordTheHostZeroedIsNoWrite() {
        var round = quietRound()
        round.now[0] = 0  // an invalidation replaced page 0's content
        #expect(round.written.isEmpty)
        #expect(round.misses(in: harvest([])).misses.isEmpty)
    }

    @Test func afterAWholeSweepEveryPageFromTheFirstToTheLastMustBeReported() {
        var round = quietRound()
        round.completed = [8, 7]  // writer 0 completed sweep 8, which began after the previous harvest (Q = 7)
        round.sweepAfterPreviousHarvest = [7, 8]
        let (misses, judged) = round.misses(in: harvest([1, 2]))
        #expect(judged)
        #expect(misses.map(\.page) == [0, 3], "page 0 and the last page are judged like every other")
        #expect(misses.allSatisfy { $0.rule == .wholeSweep && $0.writer == 0 && $0.expected == 8 })
        #expect(round.misses(in: harvest([0, 1, 2, 3])).misses.isEmpty)
    }

    @Test func aSweepThatBeganBeforeTheHarvestJudgesNothing() {
        var round = quietRound()
        round.sweepAfterPreviousHarvest = [8, 8]
        round.completed = [8, 8]  // sweep 8 was under way at the previous harvest: it may have written pages before it
        let (misses, judged) = round.misses(in: harvest([]))
        #expect(!judged && misses.isEmpty)
    }

    @Test func aPageBothRulesFindIsReportedOnceByTheFirst() {
        var round = quietRound()
        round.now[3 * 2] = 9
        round.sweepAfterPreviousHarvest = [7, 7]
        round.completed = [8, 8]
        let misses = round.misses(in: harvest([0, 1, 2])).misses
        #expect(misses == [DirtyRound.Miss(page: 3, writer: 0, expected: 9, observed: 7, rule: .writtenSinceHarvest)])
    }

    @Test func withMemslotChurnAChangedWordProvesNothing() {
        var round = quietRound()
        round.judgesWrites = false  // a re-created slot starts a new, empty log
        round.now[0] = 9
        #expect(round.misses(in: harvest([])).misses.isEmpty)
    }
}

/// The oracle around the rules, on host memory and a scripted dirty log (no `/dev/kvm`): a writer's status block
/// in plain memory, and a harvest that reports every page.
struct DirtyOracleTests {
    /// A harvest that reports every page dirty (so no rule finds a miss): what is judged is whether rounds are.
    struct EveryPageDirty: DirtyLogSource {
        let pages: Int
        func harvest() -> DirtyBitmap {
            var bitmap = DirtyBitmap(pageCount: pages)
            for page in 0..<pages { bitmap.mark(page) }
            return bitmap
        }
    }

    /// A harvest waits (briefly) for a writer to complete a sweep begun after the previous harvest, so that the
    /// whole-sweep rule judges every round, not only those a pause of the mutator happened to cover. The scripted
    /// writer completes its sweep only a millisecond after the harvest was asked for.
    @Test func aHarvestWaitsForAWholeSweepSoThatTheRoundIsJudged() throws {
        var configuration = TortureConfiguration()
        (configuration.pages, configuration.dirty, configuration.dirtyRoundMilliseconds) = (8, .log, 1)
        let block = UnsafeMutablePointer<UInt64>.allocate(capacity: Int(GUEST_STATUS_BLOCK_SIZE) / 8)
        block.initialize(repeating: 0, count: Int(GUEST_STATUS_BLOCK_SIZE) / 8)
        defer { block.deallocate() }
        let status = CheckerStatus(block: block)
        status.configure(mode: .both, writer: 0, hotPages: 0, hotRepeat: 1)  // SEQUENCE 1: sweep 1 under way
        let backing = try Backing(kind: .anonymous, size: configuration.dataBytes)
        let oracle = DirtyOracle(configuration: configuration, log: EveryPageDirty(pages: configuration.mappedPages), backing: backing,
                                 observations: Observations(), writerStatus: [status])
        try oracle.start()
        let asked = ManagedAtomic<Int>(0)
        var judged = false
        for round in 1...5 where !judged {
            // A quiet round first, so that the snapshot this round is judged against is taken with no writer acting.
            usleep(2_000)
            try oracle.harvestIfDue()
            // The writer: once the harvest is asked for, a millisecond later, completes the sweep after the one
            // under way at the previous harvest (a whole sweep since), and begins the next.
            let writer = try OSThread(name: "scripted-writer", cpu: nil) {
                while asked.load(ordering: .acquiring) < round { sched_yield() }
                usleep(1_000)
                let underWay = status.load(.sequence)
                status.block[Int(GUEST_STATUS_COMPLETE)] = underWay + 1
                status.block[Int(GUEST_STATUS_SEQUENCE)] = underWay + 2
            }
            usleep(2_000)  // the round's length (1 ms) has passed
            let before = oracle.judgedRounds
            asked.store(round, ordering: .releasing)
            try oracle.harvestIfDue()
            judged = oracle.judgedRounds > before
            #expect(writer.join(timeout: 10))
        }
        #expect(judged, "no round with a writer's whole sweep was judged: \(oracle.judgedRounds) of \(oracle.rounds)")
    }
}
