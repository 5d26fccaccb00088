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

        /// Why a correct kernel may remove the data page's SPTE for this antagonist without a remote flush request
        /// (the missing-flush oracle cannot judge beside it), or nil: every zap it causes moves
        /// `remote_tlb_flush_requests` before mmu_lock is released (Linux 6.1), so a notifier that finds no SPTE after
        /// it finds the counter moved, and a probe sees the seed's bug when the mutator's call lands between a zap and
        /// its late flush:
        /// - dirty-toggle: turning logging on write-protects (the SPTE stays present: not a zap) and splits huge pages
        ///   into tables of the same pages; turning it off zaps the collapsible SPTEs, flushed under the lock
        ///   (`kvm_mmu_zap_collapsible_sptes`: `kvm_arch_flush_remote_tlbs_memslot` before `write_unlock` on the shadow
        ///   MMU, `tdp_mmu_zap_spte_atomic` per zap on the TDP MMU). A flags-only change installs no invalid slot.
        /// - clear-dirty: write-protects (`kvm_arch_mmu_enable_log_dirty_pt_masked`): no SPTE leaves.
        /// - fork, pageout, collapse: notifier invalidations of their own, which flush before `KVM_MMU_UNLOCK`
        ///   (`__kvm_handle_hva_range`).
        var zapsWithoutFlushRequest: String? {
            switch self {
            case .dirtyToggle, .clearDirty, .fork, .pageout, .collapse: nil
            case .memslotChurn:
                "a slot deletion or move zaps every root fast (kvm_mmu_zap_all_fast): invalid TDP roots are zapped with no flush "
                    + "(kvm_tdp_mmu_zap_invalidated_roots: 'A TLB flush is not necessary as KVM performs a local TLB flush when allocating a new root'), "
                    + "and obsolete shadow pages are freed with a remote flush only when some were zapped (kvm_mmu_commit_zap_page returns early on an empty list)"
            case .mmuReset:
                "a CR0.WP flip resets the vCPU's MMU context: it unloads its roots and loads others, flushing only its own TLB "
                    + "(kvm_mmu_load: kvm_x86_flush_tlb_current), so the page's mapping can change with no remote flush request"
            }
        }
    }
    public var kind: Kind
    public var periodMicroseconds: Int

    public init(kind: Kind, periodMicroseconds: Int) {
        self.kind = kind
        self.periodMicroseconds = periodMicroseconds
    }

    /// What is wrong with an `argument` that does not parse, for an error: which part.
    static func problem(_ argument: String) -> String {
        let parts = argument.split(separator: ":", omittingEmptySubsequences: false)
        return parts.count != 2 ? "is not of the form KIND:MICROSECONDS (e.g. dirty-toggle:200)"
            : Kind(rawValue: String(parts[0])) == nil ? "names no antagonist kind"
            : "needs a period in microseconds after the colon (a positive whole number)"
    }

    static var fix: String { "use KIND:MICROSECONDS with KIND one of: \(Kind.allCases.map(\.rawValue).joined(separator: ", "))" }

    /// Parses `KIND:MICROSECONDS`, e.g. `dirty-toggle:500`.
    public init?(argument: String) {
        let parts = argument.split(separator: ":")
        guard parts.count == 2, let kind = Kind(rawValue: String(parts[0])), let period = Int(parts[1]) else { return nil }
        self.init(kind: kind, periodMicroseconds: period)
    }
}
