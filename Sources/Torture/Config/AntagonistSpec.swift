import Guests
import KVM

/// An antagonist beside the mutator: what it does and how often.
public struct AntagonistSpec: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// Toggle `KVM_MEM_LOG_DIRTY_PAGES` on the data slot: enabling it write-protects the whole slot and flushes,
        /// a KVM-internal zap racing the notifier invalidations (the seed's interleaving).
        case dirtyToggle = "dirty-toggle"
        /// `KVM_CLEAR_DIRTY_LOG` on random 64-page-aligned ranges of the target pages (the manual-protect dirty
        /// log): write-protects again whatever the guests dirtied there, then flushes.
        case clearDirty = "clear-dirty"
        /// Add, move, re-flag and delete a spare memslot: every deletion or move makes KVM drop all the VM's
        /// shadow pages (or TDP roots) while the vCPUs run, the shadow-page recycling of the seed.
        case memslotChurn = "memslot-churn"
        /// Toggle CR0.WP of a random vCPU through `KVM_SET_SREGS` on the vCPU's own thread: an MMU context reset
        /// (new shadow roots), as the kernel's mmu_stress_test does.
        case mmuReset = "cr0-wp"
        /// `fork()` with a child that exits at once: every private page of the harness becomes copy-on-write (a
        /// notifier invalidation of the whole data range), racing the mutator. Private backings.
        case fork
        /// `MADV_PAGEOUT` of up to 256 target pages: reclaim unmaps them where it can (file backing; anonymous
        /// memory only with swap).
        case pageout
        /// `MADV_COLLAPSE` of the 2 MiB range of a random target page (thp backing).
        case collapse

        /// Whether it changes the data slot's dirty-logging state, which `--dirty` and the memslot operation own.
        var ownsDataSlotLog: Bool { self == .dirtyToggle || self == .clearDirty }
    }
    public var kind: Kind
    public var periodMicroseconds: Int

    public init(kind: Kind, periodMicroseconds: Int) {
        self.kind = kind
        self.periodMicroseconds = periodMicroseconds
    }

    /// Parses `KIND:MICROSECONDS`, e.g. `dirty-toggle:500`.
    public init?(argument: String) {
        let parts = argument.split(separator: ":")
        guard parts.count == 2, let kind = Kind(rawValue: String(parts[0])), let period = Int(parts[1]) else { return nil }
        self.init(kind: kind, periodMicroseconds: period)
    }
}
