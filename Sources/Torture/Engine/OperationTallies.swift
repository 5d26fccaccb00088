/// The per-operation tallies of a run, in a slot per operation (its place in `Operation.allCases`): the mutator
/// records into one every step, and an array slot touches less memory than a hashed lookup.
struct OperationTallies: Sendable {
    private var slots: [Observations.OperationTally?] = Array(repeating: nil, count: Operation.allCases.count)

    subscript(_ operation: Operation) -> Observations.OperationTally? { slots[operation.index] }

    /// Changes the operation's tally in place (a copy out and back would copy its histogram's buckets).
    mutating func update(_ operation: Operation, _ change: (inout Observations.OperationTally) -> Void) {
        let index = operation.index
        if slots[index] == nil { slots[index] = Observations.OperationTally() }
        change(&slots[index]!)
    }

    /// The tallies of the operations that ran.
    var values: [Observations.OperationTally] { slots.compactMap { $0 } }
}

extension Operation {
    /// The operation's place in `allCases`: a dense index for per-operation slots and the in-flight word.
    /// Spelled out rather than searched for: the mutator needs it between two invalidations, where a search of
    /// `allCases` (and the lookups of its metadata) costs measurable time (`Mutator.begin`). A test checks that
    /// it agrees with `allCases`.
    var index: Int {
        switch self {
        case .none: 0
        case .dontneed: 1
        case .remap: 2
        case .munmap: 3
        case .punch: 4
        case .mprotect: 5
        case .mprotectReadOnly: 6
        case .mremap: 7
        case .forkCOW: 8
        case .thp: 9
        case .pageout: 10
        case .cold: 11
        case .memslot: 12
        case .truncate: 13
        case .ksm: 14
        case .aging: 15
        case .guardRegion: 16
        case .mix: 17
        case .all: 18
        }
    }
}
