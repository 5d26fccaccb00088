/// The per-operation tallies of a run, in a slot per operation (``Operation/index``): the mutator
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
