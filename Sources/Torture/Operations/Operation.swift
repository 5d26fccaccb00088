/// An operation's name (README, "Operations"): a row of ``OperationTable``, or `mix` and `all`, which stand for
/// several. Each row's file declares its name as a static member (`Operation.dontneed`).
public struct Operation: Hashable, Sendable, CaseIterable, RawRepresentable, Codable, CustomStringConvertible {
    public let rawValue: String
    /// The operation's place in `allCases`: a dense index for per-operation slots and the in-flight word (the
    /// mutator needs it between two invalidations, where a search would cost measurable time).
    let index: Int

    public init?(rawValue: String) {
        guard let found = Self.allCases.first(where: { $0.rawValue == rawValue }) else { return nil }
        self = found
    }

    private init(name: String, index: Int) {
        (self.rawValue, self.index) = (name, index)
    }

    /// The table's rows, then `mix` and `all`.
    public static let allCases: [Operation] = (OperationTable.rows.map { $0.name } + ["mix", "all"])
        .enumerated().map { Operation(name: $1, index: $0) }

    /// The operation named by `row`'s type.
    init(_ row: any HostOperation.Type) {
        self = Self.allCases[OperationTable.rows.firstIndex { $0 == row }!]
    }

    /// Each step picks one of the operations that replace or protect a page on this backing.
    public static let mix = allCases[OperationTable.rows.count]
    /// Every operation that applies to the backing, one after the other, summarised in one table.
    public static let all = allCases[OperationTable.rows.count + 1]

    public static func == (a: Operation, b: Operation) -> Bool { a.index == b.index }
    public func hash(into hasher: inout Hasher) { hasher.combine(index) }
    public var description: String { rawValue }

    /// The row's type; nil for `mix` and `all`.
    var row: (any HostOperation.Type)? { index < OperationTable.rows.count ? OperationTable.rows[index] : nil }

    var traits: OperationTraits { row?.traits ?? [] }

    /// The single operations a run of `--op all` takes in turn (not `none`, nor the opt-in ones).
    public static let catalogue: [Operation] = allCases.filter { $0.row.map { $0 != NoOperation.self && !$0.traits.contains(.optIn) } ?? false }

    /// The operations `mix` draws from on `backing`, in the table's order.
    public static func mixable(on backing: BackingKind) -> [Operation] {
        allCases.filter { $0.traits.contains(.mixable) && $0.applies(to: backing) }
    }

    /// The names of the operations with `trait`, for an error's fix: "dontneed, remap, munmap".
    static func having(_ trait: OperationTraits) -> String {
        allCases.filter { $0.traits.contains(trait) }.map(\.rawValue).joined(separator: ", ")
    }

    /// Whether what tests the operation is its windows (the stale-read half), not only the lost-write half.
    public var isJudgedByItsWindows: Bool { !traits.contains(.judgedByWrites) }

    /// Whether the operation means anything on `backing` (`mix`: where something is mixable; `all`: anywhere).
    public func applies(to backing: BackingKind) -> Bool {
        if let row { return row.applies(to: backing) }
        return self == .all || !Operation.mixable(on: backing).isEmpty
    }

    var systemChange: (what: String, undo: String)? { row?.systemChange }

    /// Why the operation cannot run on this host, or nil.
    var hostProblem: String? { row?.hostProblem }

    /// The fix for asking the operation on a backing it does not apply to: the row's own, or else the operations
    /// the backing does support (the table says which; `mix` on hugetlb: nothing mixable applies).
    func fixFor(backing: BackingKind) -> String {
        if let fix = row?.backingFix { return fix }
        let supported = Operation.allCases.filter { $0 != .all && $0.applies(to: backing) }.map(\.rawValue)
        return "the \(backing.rawValue) backing supports --op \(supported.joined(separator: ", ")) (or all)"
    }
}
