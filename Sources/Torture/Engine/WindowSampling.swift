import Atomics
import Guests

/// The kinds of window the mutator opens, as the report names them.
package enum WindowKind: String, CaseIterable, Sendable {
    case zero = "must-read-zero"
    case kept = "content-kept"
    case fault = "must-fault"
    case readOnly = "read-only"
    /// A lazily freed page (free): the content it was promised with, or zero once the kernel has dropped it.
    case oldOrZero = "old-or-zero"

    /// Its place in `allCases`, without a search (counted between two invalidations).
    var index: Int {
        switch self {
        case .zero: 0
        case .kept: 1
        case .fault: 2
        case .readOnly: 3
        case .oldOrZero: 4
        }
    }
}

/// Windows as evidence: a window tests the kernel only if a guest check landed inside it. Per operation and
/// window kind, the mutator counts windows opened and windows sampled: those during which the count that kind's
/// checks raise moved (conclusive zero-window or kept-window checks, which the checker counts in its status block
/// as it makes them; for must-fault windows, `KVM_RUN` EFAULTs and reads served as MMIO while the slot was away).
/// With several windows of one kind open at once (`--in-flight`), a check cannot be told apart by page: each
/// check the count moved by is credited to one window at most, the earliest to close among those open when it
/// landed, so that sampled windows never outnumber the checks that landed in windows.
final class WindowSampling: @unchecked Sendable {
    // @unchecked: the status blocks are read atomically; the counters are atomics (one writer, the mutator);
    // `credited` is the mutator's.
    private let statusBlocks: [CheckerStatus]
    private let observations: Observations
    /// Opened and sampled per (operation, kind): relaxed atomic counters, because a window closes between two
    /// invalidations, where a lock would delay the next flush (see `Mutator.begin`).
    private let counters: UnsafeMutablePointer<UnsafeAtomic<UInt64>.Storage>
    private static let slots = Operation.allCases.count * WindowKind.allCases.count * 2
    /// Per kind, the evidence count up to which checks have been credited to a window.
    private var credited = [UInt64](repeating: 0, count: WindowKind.allCases.count)

    init(statusBlocks: [CheckerStatus], observations: Observations) {
        self.statusBlocks = statusBlocks
        self.observations = observations
        counters = .allocate(capacity: Self.slots)
        for slot in 0..<Self.slots { (counters + slot).initialize(to: UnsafeAtomic<UInt64>.Storage(0)) }
    }

    deinit { counters.deallocate() }

    private func counter(_ operation: Operation, _ kind: WindowKind, sampled: Bool) -> UnsafeAtomic<UInt64> {
        UnsafeAtomic(at: counters + ((operation.index * WindowKind.allCases.count + kind.index) * 2 + (sampled ? 1 : 0)))
    }

    /// The count a window of `kind` is sampled by, now.
    func evidence(_ kind: WindowKind) -> UInt64 {
        switch kind {
        case .zero: statusBlocks.reduce(0) { $0 &+ $1.load(.conclusiveZero) }
        case .kept, .readOnly: statusBlocks.reduce(0) { $0 &+ $1.load(.conclusiveKeep) }
        case .oldOrZero: statusBlocks.reduce(0) { $0 &+ $1.load(.conclusiveZero) &+ $1.load(.conclusiveKeep) }
        case .fault: observations.efaults.load(ordering: .relaxed) &+ observations.mmioServedChecks.load(ordering: .relaxed)
        }
    }

    /// Counts one window of `kind` that `operation` opened; `before` is ``evidence(_:)`` read as it opened.
    func closed(_ kind: WindowKind, of operation: Operation, evidenceBefore before: UInt64) {
        counter(operation, kind, sampled: false).wrappingIncrement(ordering: .relaxed)
        // One window open at a time: `from` is `before`, and any movement samples it.
        let from = max(before, credited[kind.index])
        if evidence(kind) > from {
            credited[kind.index] = from + 1
            counter(operation, kind, sampled: true).wrappingIncrement(ordering: .relaxed)
        }
    }

    /// Windows of `operation`, by kind name (kinds it never opened left out).
    func counts(of operation: Operation) -> [String: RunReport.WindowCount] {
        var result: [String: RunReport.WindowCount] = [:]
        for kind in WindowKind.allCases {
            var count = RunReport.WindowCount()
            count.opened = counter(operation, kind, sampled: false).load(ordering: .relaxed)
            count.sampled = counter(operation, kind, sampled: true).load(ordering: .relaxed)
            if count.opened > 0 { result[kind.rawValue] = count }
        }
        return result
    }

    /// Windows of every operation, by kind name.
    func totals() -> [String: RunReport.WindowCount] {
        var sum: [String: RunReport.WindowCount] = [:]
        for operation in Operation.allCases {
            for (kind, count) in counts(of: operation) { sum[kind, default: .init()] = sum[kind, default: .init()].adding(count) }
        }
        return sum
    }
}

extension RunReport {
    /// Windows of one kind: opened, and sampled (at least one guest check landed inside).
    public struct WindowCount: Codable, Sendable, Equatable {
        public var opened: UInt64 = 0
        public var sampled: UInt64 = 0
        public init() {}
        public var sampledFraction: Double { opened > 0 ? Double(sampled) / Double(opened) : 0 }

        func adding(_ other: Self) -> Self {
            var sum = self
            sum.opened += other.opened
            sum.sampled += other.sampled
            return sum
        }
    }
}
