/// A torture run the lab performs inside its guest: a name and the `mmutorture run` arguments (the lab adds
/// `--duration` and `--seed`). The default set covers the catalogue that applies inside the guest: every
/// operation on the private, shared-file and THP backings with 4 KiB and 2 MiB guest mappings, lost writes
/// (mode both), the three dirty-tracking modes, and the shipped scenarios with their antagonists.
public struct Workload: Sendable, Equatable {
    public var name: String
    public var arguments: [String]

    public static let catalogue: [Workload] = [
        Workload(name: "mix", arguments: ["--op", "mix"]),
        Workload(name: "all-anon", arguments: ["--op", "all", "--backing", "anonymous"]),
        Workload(name: "all-memfd", arguments: ["--op", "all", "--backing", "memfd"]),
        Workload(name: "thp-2m", arguments: ["--op", "all", "--backing", "thp", "--guest-page-size", "2m", "--pages", "512"]),
        Workload(name: "dirty-log", arguments: ["--op", "dontneed", "--dirty", "log"]),
        Workload(name: "dirty-clear", arguments: ["--op", "dontneed", "--dirty", "clear"]),
        Workload(name: "dirty-ring", arguments: ["--op", "dontneed", "--dirty", "ring"]),
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
