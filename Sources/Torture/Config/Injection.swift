import Guests
import KVM

/// A fault the harness injects into its own side of the contract, to prove the checker catches it.
public enum Injection: String, CaseIterable, Codable, Sendable {
    /// The violation kinds this control produces through its mechanism: a control fires only with one of them;
    /// any other kind seen during a control run is a real violation. (ptswap's decoy and losewrite's restored
    /// snapshot also take the writers' words back, which the readback and lost-write checks rightly see.)
    public var violationKinds: Set<Violation.Kind> {
        switch self {
        case .none: []
        case .nowrite, .early, .slotearly, .faultearly: [.staleRead]
        case .ptswap: [.staleRead, .readback, .lostWrite]
        case .losewrite: [.lostWrite, .readback]
        case .dropdirty: [.missedDirty]
        case .noinval: [.missingFlush]
        case .poison: [.staleFrame]
        case .slotback: [.strayMMIO]
        }
    }

    case none
    /// Publish a generation without writing it into the page.
    case nowrite
    /// Rewrite the guest's own page-table entry to another frame, without the guest flushing its TLB: a real
    /// stale translation (KVM is not told of host writes to guest page tables).
    case ptswap
    /// Publish the generation before writing the page: a narrow race, caught only sometimes.
    case early
    /// Discard one random page from every dirty-log harvest: the dirty oracle must report it missed.
    case dropdirty
    /// Snapshot a page before a content-preserving operation and restore the snapshot after it, discarding the
    /// guests' writes in between: the lost-write detector must notice.
    case losewrite
    /// On every probe of the missing-flush oracle, skip the invalidating call (the content stays, so a
    /// content-kept window is published): a mapped page "invalidated" with no flush request, which the oracle
    /// must report as `missing-flush`.
    case noinval
    /// memslot: open the must-fault window on every page before the data slot is deleted or moved, while the
    /// guests still translate their reads: the memslot window must flag them.
    case slotearly
    /// munmap, mprotect, mremap, truncate: open the must-fault window before the call that takes the page away,
    /// while the guests still translate their reads: the must-fault window must flag them.
    case faultearly
    /// On every republication after a content-replacing call, write the poison of the trap that call sprang into
    /// the page instead of the generation (the page then reads as a stale translation into a recycled frame): the
    /// checker must flag it, and the host must name it `stale-frame` with the step that freed the frame. (free:
    /// the poison is written while the old-or-zero window is open, so that window's check is the one to flag it.)
    case poison
    /// memslot: say the data slot is back (as its re-add's end does) before re-adding it, so the vCPUs' MMIO exits
    /// while it is still away look like exits with the slot present: the stray-MMIO check must flag them.
    case slotback
}
