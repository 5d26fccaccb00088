/// A torture run the lab performs inside its guest: a name and the `mmutorture run` arguments (the lab adds
/// `--duration` and `--seed`). The default set covers the catalogue that applies inside the guest: every
/// operation on the private, shared-file and THP backings with 4 KiB and 2 MiB guest mappings, lost writes
/// (mode both), the three dirty-tracking modes, and the shipped scenarios with their antagonists.
public struct Workload: Sendable, Equatable {
    public var name: String
    public var arguments: [String]

    /// In the order that reaches a verdict soonest: the workloads that catch the most mutants (LAB.md) first, since
    /// a boot stops at its first catch (`--keep-going` runs the rest).
    public static let catalogue: [Workload] = [
        Workload(name: "mix", arguments: ["--op", "mix"]),
        // The seed's race where its KVM-internal zap has work: turning dirty logging off zaps the SPTEs that could
        // map huge pages (kvm_mmu_zap_collapsible_sptes), which needs huge pages in the backing (and, for the
        // shadow MMU, in the guest's own page tables); the thp operation collapses the hot pages' huge page again
        // after each split, its notifier racing those zaps.
        Workload(name: "seed-2012-thp", arguments: ["--scenario", "/scenarios/seed-2012.json", "--op", "thp", "--backing", "thp", "--pages", "512", "--guest-page-size", "2m"]),
        // Narrow races: one hot page invalidated back to back while the checker refaults it, one window in flight
        // and held for a microsecond, so that whole invalidations keep landing inside a fault's pfn lookup (the
        // report's "faults retried" is KVM's own count of such overlaps).
        Workload(name: "narrow-race", arguments: ["--op", "dontneed", "--pages", "16", "--hot", "1", "--in-flight", "1", "--window-us", "1"]),
        // Multi-page invalidations: truncating a memfd frees a whole tail of it in one notifier range.
        Workload(name: "truncate", arguments: ["--op", "truncate", "--backing", "memfd"]),
        // The data slot deleted, re-added, moved away and back under the running checkers.
        Workload(name: "memslot", arguments: ["--op", "memslot"]),
        // One hot page written without pause: a translation left writable by a harvest is used at once, before
        // any exit (each of which flushes QEMU's TLB) could refresh it.
        Workload(name: "dirty-hot", arguments: ["--op", "none", "--dirty", "log", "--pages", "1", "--dirty-round-ms", "2"]),
        Workload(name: "all-anon", arguments: ["--op", "all", "--backing", "anonymous"]),
        // Page migration between the guest's two NUMA nodes (QEMUBoot): unmap, copy, free the old frame.
        Workload(name: "migrate", arguments: ["--op", "migrate"]),
        Workload(name: "all-memfd", arguments: ["--op", "all", "--backing", "memfd"]),
        Workload(name: "thp-2m", arguments: ["--op", "all", "--backing", "thp", "--guest-page-size", "2m", "--pages", "512"]),
        // Dirty tracking alone: no invalidation kicks the vCPU out between harvests, so a harvest that leaves a
        // writable translation behind is seen (every flush an invalidation causes would hide it).
        Workload(name: "dirty-log", arguments: ["--op", "none", "--dirty", "log", "--dirty-round-ms", "5"]),
        Workload(name: "dirty-clear", arguments: ["--op", "none", "--dirty", "clear", "--dirty-round-ms", "5"]),
        Workload(name: "dirty-ring", arguments: ["--op", "none", "--dirty", "ring", "--dirty-round-ms", "5"]),
        // Dirty tracking under invalidations: the write-protection and the notifiers' zaps interleaved.
        Workload(name: "dirty-mix", arguments: ["--op", "mix", "--dirty", "log"]),
        Workload(name: "seed-2012", arguments: ["--scenario", "/scenarios/seed-2012.json"]),
        Workload(name: "shadow-recycling", arguments: ["--scenario", "/scenarios/shadow-recycling.json"]),
        Workload(name: "cow-storm", arguments: ["--scenario", "/scenarios/cow-storm.json"]),
    ]

    /// Workloads by name, or every one for `all`; an unknown name is a usage error listing the known ones.
    public static func named(_ names: [String]) throws -> [Workload] {
        if names == ["all"] { return catalogue }
        return try names.map { name in
            guard let workload = catalogue.first(where: { $0.name == name }) else {
                throw LabError.usage("--workloads: unknown workload '\(name)'; known: all, \(catalogue.map(\.name).joined(separator: ", "))")
            }
            return workload
        }
    }
}
