// The run's plain choices: what backs the data slot, how dirty pages are harvested, what the checkers check.
import Guests
import KVM

/// What backs the data slot.
public enum BackingKind: String, CaseIterable, Codable, Sendable {
    /// `MAP_PRIVATE | MAP_ANONYMOUS`: DONTNEED replaces pages with zeros.
    case anonymous
    /// `MAP_SHARED | MAP_ANONYMOUS` (shmem): DONTNEED keeps the content; MADV_REMOVE punches.
    case sharedAnonymous = "shared"
    /// A `memfd_create` file mapped shared.
    case memfd
    /// A regular file in a temporary directory, mapped shared.
    case file
    /// Private anonymous memory, 2 MiB aligned, with `MADV_HUGEPAGE`.
    case thp
    /// `MAP_HUGETLB` memory from the host's reserved huge pages.
    case hugetlb
}

/// How the host harvests guest writes, the way a live migration does (the dirty-tracking oracle).
public enum DirtyTracking: String, CaseIterable, Codable, Sendable {
    case off
    /// `KVM_GET_DIRTY_LOG`, which reports and write-protects again in one call.
    case log
    /// `KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2`: `KVM_GET_DIRTY_LOG` reports, `KVM_CLEAR_DIRTY_LOG` write-protects.
    case clear
    /// Per-vCPU dirty rings (`KVM_CAP_DIRTY_LOG_RING`), harvested and reset with `KVM_RESET_DIRTY_RINGS`.
    case ring
}

/// Which halves of the contract the checker vCPUs exercise.
public enum CheckerMode: String, CaseIterable, Codable, Sendable {
    /// Stale reads only.
    case read
    /// Lost writes only.
    case write
    /// Both, on the same pages.
    case both
}
