/// The lab's matrix of runs, (variant × MMU × workload × seed), in a fixed order, and the deterministic slice of
/// it that one shard (`--shard K/N`) runs: cell i belongs to shard (i mod N) + 1.
public struct LabMatrix: Sendable {
    public struct Cell: Sendable, Equatable {
        public var variant: Variant
        public var mmu: String
        public var workload: Workload
        public var seed: UInt64
        /// The name the guest's plan and channel use: unique within a boot.
        public var runName: String { "\(workload.name)-s\(seed)" }
    }

    public var cells: [Cell]

    /// Each variant's workloads are the ones given, or, when none were given, the mutant's targeted ones
    /// (its header), else the whole catalogue. A mutant runs only on the MMUs its header names.
    public init(variants: [Variant], mmus: [String], workloads: [Workload]?, seeds: [UInt64]) {
        cells = []
        for variant in variants {
            let chosen = workloads ?? (variant.targetedWorkloads.flatMap { try? Workload.named($0) } ?? Workload.catalogue)
            for mmu in mmus where variant.mmus?.contains(mmu) ?? true {
                for workload in chosen {
                    for seed in seeds { cells.append(Cell(variant: variant, mmu: mmu, workload: workload, seed: seed)) }
                }
            }
        }
    }

    /// Shard `index` (1-based) of `count`.
    public func shard(_ index: Int, of count: Int) -> LabMatrix {
        var slice = self
        slice.cells = cells.enumerated().filter { $0.offset % count == index - 1 }.map(\.element)
        return slice
    }

    /// The cells grouped by (variant, MMU), in order: one group boots one guest (more if a workload kills it).
    public var groups: [[Cell]] {
        var groups: [[Cell]] = []
        for cell in cells {
            if let last = groups.last?.last, last.variant == cell.variant, last.mmu == cell.mmu {
                groups[groups.count - 1].append(cell)
            } else {
                groups.append([cell])
            }
        }
        return groups
    }
}
