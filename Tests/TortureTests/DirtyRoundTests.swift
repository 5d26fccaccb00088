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
