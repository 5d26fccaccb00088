import KVM

/// One round of the dirty-log oracle judged apart from KVM and the guests (the rules are ``DirtyOracle``'s): what
/// the writers' words and status blocks said around a harvest goes in, the pages the harvest should have reported
/// and did not come out. ``DirtyOracle`` reads those from the guest memory and the kernel; a test makes them up.
struct DirtyRound {
    let pages: Int
    let writers: Int
    /// Every writer word at the previous harvest's snapshot, and right before this harvest (page-major: page p's
    /// word of writer w at `p * writers + w`).
    var before: [UInt64]
    var now: [UInt64]
    /// Each writer's sweep under way right after the previous harvest (Q), and the last sweep that wrote every page,
    /// read right before this harvest (P).
    var sweepAfterPreviousHarvest: [UInt64]
    var completed: [UInt64]
    /// Whether a changed word proves a write since the previous harvest (not with `--op memslot`, whose slot
    /// re-creation starts a new, empty log).
    var judgesWrites = true

    /// A page the harvest should have reported, by the rule that says so.
    struct Miss: Equatable {
        enum Rule: Equatable {
            /// A writer word changed to a value other than zero after the previous harvest: the guest wrote it then.
            case writtenSinceHarvest
            /// A whole sweep of the writer wrote every page between the two harvests.
            case wholeSweep
        }
        var page: Int
        var writer: Int
        /// What the writer wrote (its word now, or its last complete sweep), and what the word held before.
        var expected: UInt64
        var observed: UInt64
        var rule: Rule
    }

    /// The words that changed to a value other than zero since the previous harvest (the host only ever zeroes
    /// writer words, through invalidations): guest writes made after it.
    var written: [Miss] {
        guard judgesWrites else { return [] }
        var writes: [Miss] = []
        for page in 0..<pages {
            for writer in 0..<writers {
                let (old, new) = (before[page * writers + writer], now[page * writers + writer])
                if new != old && new != 0 { writes.append(Miss(page: page, writer: writer, expected: new, observed: old, rule: .writtenSinceHarvest)) }
            }
        }
        return writes
    }

    /// Whether a writer whose last complete sweep is `completed` (P) completed a whole sweep that began after the
    /// previous harvest, where `sweepAfterPreviousHarvest` (Q) was under way: P >= Q + 1. (The oracle also waits on
    /// this before harvesting.)
    static func sweptWhole(completed: UInt64, sweepAfterPreviousHarvest: UInt64) -> Bool { completed >= sweepAfterPreviousHarvest + 1 }

    func sweptWhole(_ writer: Int) -> Bool { Self.sweptWhole(completed: completed[writer], sweepAfterPreviousHarvest: sweepAfterPreviousHarvest[writer]) }

    /// The pages missing from `bitmap`, each once (the first rule that finds it names it), and whether the
    /// whole-sweep rule judged this round.
    func misses(in bitmap: DirtyBitmap) -> (misses: [Miss], judgedWholeSweep: Bool) { misses(in: bitmap, written: written) }

    /// The same, with ``written`` already read (the oracle counts it too).
    func misses(in bitmap: DirtyBitmap, written: [Miss]) -> (misses: [Miss], judgedWholeSweep: Bool) {
        var misses: [Miss] = []
        var reported = Set<Int>()
        for write in written where !bitmap.isDirty(write.page) && reported.insert(write.page).inserted {
            misses.append(write)
        }
        let whole = (0..<writers).filter(sweptWhole)
        for writer in whole {
            for page in 0..<pages where !bitmap.isDirty(page) && reported.insert(page).inserted {
                misses.append(Miss(page: page, writer: writer, expected: completed[writer], observed: before[page * writers + writer], rule: .wholeSweep))
            }
        }
        return (misses, !whole.isEmpty)
    }
}
