import Testing
@testable import Torture

/// The lost-write half's rule (``LostWriteLedger``), with scripted publications and words: no `/dev/kvm`.
struct LostWriteLedgerTests {
    /// Two writers over four pages; `words[page][writer]` is what the host mapping shows.
    func lost(_ ledger: LostWriteLedger, published: [UInt64], words: [[UInt64]], pages: Range<Int> = 0..<4,
              skipping: Range<Int> = 0..<0) -> (lost: [LostWriteLedger.LostWrite], verified: Int) {
        var verified = 0
        let lost = ledger.lostWrites(in: pages, skipping: skipping, published: { published[$0] }, word: { words[$0][$1] },
                                     verified: { verified += 1 })
        return (lost, verified)
    }

    @Test func aWordBehindItsWritersPublicationIsALostWrite() {
        let ledger = LostWriteLedger(pages: 4, writers: 2)
        let words: [[UInt64]] = [[7, 9], [7, 9], [6, 9], [7, 9]]
        let result = lost(ledger, published: [7, 9], words: words)
        #expect(result.lost == [.init(page: 2, writer: 0, published: 7, observed: 6)])
        #expect(result.verified == 8)
    }

    @Test func aWordAheadOfItsPublicationIsNoLoss() {
        // The writer wrote its next sweep's number and has not published it yet.
        let ledger = LostWriteLedger(pages: 4, writers: 2)
        #expect(lost(ledger, published: [7, 9], words: Array(repeating: [8, 10], count: 4)).lost.isEmpty)
    }

    /// After a content-replacing call the page's words are judged again only once the sweep after the one under
    /// way has written them: until its writer publishes that sweep, a zeroed word is no loss.
    @Test func aRaisedFloorWaitsForTheSweepAfterTheOneUnderWay() {
        var ledger = LostWriteLedger(pages: 4, writers: 2)
        ledger.raiseFloors(1..<2) { [8, 10][$0] }  // sweeps 8 and 10 under way
        var words: [[UInt64]] = Array(repeating: [9, 11], count: 4)
        words[1] = [0, 0]
        #expect(lost(ledger, published: [7, 9], words: words).lost.isEmpty, "published 7 and 9 are below the floors 9 and 11")
        #expect(lost(ledger, published: [8, 10], words: words).lost.isEmpty, "the sweeps under way may not have reached it")
        let after = lost(ledger, published: [9, 11], words: words)
        #expect(after.lost.map(\.page) == [1, 1], "the sweeps after them have: the words must be there")
    }

    @Test func skippedPagesAndUnpublishedWritersAreNotVerified() {
        let ledger = LostWriteLedger(pages: 4, writers: 2)
        let zero: [[UInt64]] = Array(repeating: [0, 0], count: 4)
        let result = lost(ledger, published: [0, 5], words: zero, skipping: 2..<3)
        #expect(result.verified == 3, "writer 0 has published nothing; page 2 is skipped")
        #expect(result.lost.map(\.page) == [0, 1, 3])
    }
}
