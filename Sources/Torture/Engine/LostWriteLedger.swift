/// The lost-write half's rule, apart from the memory it reads (README, "The integrity contract"): each writer's
/// word in a page must be at least the sequence number the writer last published, from the page's floor on (a
/// content-replacing call legitimately zeroes the words written before it). The mutator feeds it the writers'
/// publications and the words it reads through the host mapping; a test feeds it numbers.
struct LostWriteLedger {
    let writers: Int
    /// Per page and writer: the published number from which the writer's word must have survived.
    private var floor: [UInt64]

    init(pages: Int, writers: Int) {
        self.writers = writers
        floor = Array(repeating: 0, count: pages * max(1, writers))
    }

    /// A word behind its writer's publication.
    struct LostWrite: Equatable {
        var page: Int
        var writer: Int
        var published: UInt64
        var observed: UInt64
    }

    /// After a content-replacing call on `pages`: a writer's word must hold its number again only once the sweep
    /// after the one under way (`sequence(writer)`) has written it. (Not from the publication: deferred writes hold
    /// it back, so sweeps begun before the call may publish after it.)
    mutating func raiseFloors(_ pages: Range<Int>, sequence: (Int) -> UInt64) {
        for writer in 0..<writers {
            let next = sequence(writer) + 1
            for page in pages { floor[page * writers + writer] = next }
        }
    }

    /// Reads each writer's publication, then its word in each page of `pages` not `skipped` and past its floor;
    /// `verified` counts each word compared. Returns the words behind their publication.
    func lostWrites(in pages: Range<Int>, skipping skipped: Range<Int> = 0..<0, published: (Int) -> UInt64,
                    word: (_ page: Int, _ writer: Int) -> UInt64, verified: () -> Void) -> [LostWrite] {
        var lost: [LostWrite] = []
        for writer in 0..<writers {
            let number = published(writer)
            for page in pages where number > 0 && number >= floor[page * writers + writer] && !skipped.contains(page) {
                let observed = word(page, writer)
                verified()
                if observed < number { lost.append(LostWrite(page: page, writer: writer, published: number, observed: observed)) }
            }
        }
        return lost
    }
}
