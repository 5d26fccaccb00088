import Guests
import KVM

/// An invalidation the mutator performs on one data page per step (README, "Operations").
public enum Operation: String, CaseIterable, Codable, Sendable {
    /// No invalidation: the mutator only republishes pages. The baseline for check throughput.
    case none
    /// `madvise(MADV_DONTNEED)`.
    case dontneed
    /// `mmap(MAP_FIXED)` of the same backing over the page.
    case remap
    /// `munmap`, a must-fault window, then `mmap(MAP_FIXED_NOREPLACE)` back.
    case munmap
    /// `fallocate(PUNCH_HOLE)` on a memfd or file, `MADV_REMOVE` on shared anonymous memory.
    case punch
    /// `mprotect(PROT_NONE)`, a must-fault window, then back to read-write.
    case mprotect
    /// `mprotect(PROT_READ)`: reads go on, guest writes must fault (and none may land), then back.
    case mprotectReadOnly = "mprotect-ro"
    /// `mremap` the page away (a must-fault hole) and back.
    case mremap
    /// `fork()` with a child that exits at once: every private page becomes copy-on-write.
    case forkCOW = "fork-cow"
    /// `MADV_COLLAPSE` of the page's 2 MiB range into a huge page, or a split by a partial `mprotect`.
    case thp
    /// `madvise(MADV_PAGEOUT)`.
    case pageout
    /// `madvise(MADV_COLD)`.
    case cold
    /// Delete and re-add, or move away and back, the data memslot under the running vCPUs.
    case memslot
    /// `ftruncate` the file down to the page (a must-fault window for the cut pages) and back up (zeros).
    case truncate
    /// Opt-in (`--allow-system-changes`, root): starts ksmd, keeps an identical twin of every republished page so
    /// that ksmd merges the guest's page with it (replace_page: a notifier invalidation), and counts the host's
    /// next write to a merged page (a copy-on-write break: another one). Private anonymous memory, `--mode read`.
    case ksm
    /// Opt-in (`--allow-system-changes`, root): memory-cgroup reclaim of about 64 pages per step (cgroup v2
    /// `memory.reclaim`, or a v1 child cgroup's limit lowered below its usage), so that the kernel ages the data's
    /// page cache: `clear_flush_young` on the pages KVM maps, eviction of the cold ones. File backing (without swap
    /// nothing else is reclaimable).
    case aging
    /// `madvise(MADV_GUARD_INSTALL)` (Linux 6.13): the page is zapped (an mmu-notifier invalidation) and guarded,
    /// so any access faults (a must-fault window); then `MADV_GUARD_REMOVE`: readable again, and zero. Private
    /// anonymous memory.
    case guardRegion = "guard"
    /// Each step picks one of the operations that replace or protect a page on this backing.
    case mix
    /// Every operation that applies to the backing, one after the other, summarised in one table.
    case all

    /// The single operations (not `none`, `mix`, `all`).
    public static let catalogue: [Operation] = [
        .dontneed, .remap, .munmap, .punch, .mprotect, .mprotectReadOnly, .mremap, .forkCOW, .thp, .pageout, .cold,
        .memslot, .truncate, .guardRegion,
    ]

    /// The operations `mix` draws from on `backing`: the per-page ones of the stale-read catalogue.
    public static func mixable(on backing: BackingKind) -> [Operation] {
        [.dontneed, .remap, .munmap, .punch, .mprotect].filter { $0.applies(to: backing) }
    }

    /// Whether what tests the operation is its windows (the stale-read half). Not for those whose invariant is
    /// the lost-write half (the catalogue: fork-cow, pageout, cold, aging): their content-kept window is a formality
    /// (a fork stalls the vCPUs for milliseconds; a 5 µs window is rarely sampled), the writes' verification is
    /// what they are judged by.
    public var isJudgedByItsWindows: Bool { ![.forkCOW, .pageout, .cold, .aging].contains(self) }

    /// The operations that take the page away between two calls, holding a must-fault window meanwhile.
    public static let holdsAMustFaultWindow: Set<Operation> = [.munmap, .mprotect, .mremap, .truncate, .guardRegion]

    /// Whether the operation means anything on `backing`.
    public func applies(to backing: BackingKind) -> Bool {
        switch (self, backing) {
        case (.none, _), (.memslot, _): true
        case (_, .hugetlb): false
        case (.punch, .anonymous), (.punch, .thp): false
        case (.forkCOW, _): backing == .anonymous || backing == .thp
        case (.thp, _): backing == .thp
        case (.truncate, _): backing == .memfd || backing == .file
        case (.ksm, _): backing == .anonymous
        case (.aging, _): backing == .file
        case (.guardRegion, _): backing == .anonymous
        case (.mix, _): !Operation.mixable(on: backing).isEmpty
        default: true
        }
    }

    /// For the opt-in operations: the system-wide change they make, and how the run undoes it.
    var systemChange: (what: String, undo: String)? {
        switch self {
        case .ksm: ("starts the kernel's same-page merging daemon for the whole host (/sys/kernel/mm/ksm/run)", "the settings are restored when the run ends")
        case .aging: ("reclaims memory through a memory cgroup (v1: moves the harness into a child cgroup it creates)", "the harness moves back and removes the child when the run ends")
        default: nil
        }
    }

    /// Why an opt-in operation cannot run on this host, or nil.
    var hostProblem: String? {
        switch self {
        case .ksm: KSMDaemon.problem()
        case .aging: if case .failure(let problem) = ReclaimCgroup.locate() { problem.description } else { nil }
        case .guardRegion: HostMemory.guardRegionsProblem
        default: nil
        }
    }

    /// What to tell a user who asks for the operation on a backing it does not apply to.
    func fixFor(backing: BackingKind) -> String {
        switch self {
        case .punch: "punch a hole in a memfd, file or shared backing (--backing memfd|file|shared)"
        case .forkCOW: "copy-on-write needs private memory (--backing anonymous|thp)"
        case .thp: "collapse needs the THP backing (--backing thp)"
        case .truncate: "truncate needs a file (--backing memfd|file)"
        case .ksm: "KSM merges private anonymous pages (--backing anonymous)"
        case .aging: "reclaim ages page cache (--backing file)"
        case .guardRegion: "guard regions are tortured on private anonymous memory (--backing anonymous)"
        default: "the hugetlb backing supports --op none and memslot"
        }
    }
}
