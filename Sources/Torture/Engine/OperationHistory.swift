/// Each page's last few operations, for a violation's report: a fixed ring per page in one flat array, appended to
/// by the mutator every step (so it allocates nothing once a page has been seen) and read only when a violation
/// is reported.
struct OperationHistory: Sendable {
    struct Entry: Sendable {
        /// When the operation started: an ``Observations/clock`` reading, converted only when a report asks.
        var ticks: UInt64
        var operation: Operation
    }

    static let depth = 6
    private var entries: [Entry] = []
    /// Per page: how many entries it has had in all (the ring's next slot is that modulo ``depth``).
    private var appended: [Int] = []

    mutating func append(_ operation: Operation, at ticks: UInt64, page: Int) {
        if page >= appended.count {
            let pages = max(page + 1, appended.count * 2)
            appended += Array(repeating: 0, count: pages - appended.count)
            entries += Array(repeating: Entry(ticks: 0, operation: .none), count: pages * Self.depth - entries.count)
        }
        entries[page * Self.depth + appended[page] % Self.depth] = Entry(ticks: ticks, operation: operation)
        appended[page] += 1
    }

    /// The page's recent operations, oldest first.
    func entries(page: Int) -> [Entry] {
        guard page < appended.count else { return [] }
        let count = min(appended[page], Self.depth)
        return (appended[page] - count..<appended[page]).map { entries[page * Self.depth + $0 % Self.depth] }
    }
}
