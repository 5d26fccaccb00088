/// The catalogue: every notifier caller the mutator performs, one row each. The order is the reports' and `mix`'s
/// (a seed's draws depend on it): a new operation goes at the end. Adding one is a new file and a row here.
enum OperationTable {
    static let rows: [any HostOperation.Type] = [
        NoOperation.self, DontNeed.self, Remap.self, Munmap.self, Punch.self, MProtect.self, MProtectReadOnly.self,
        MRemap.self, ForkCOW.self, THPCollapse.self, PageOut.self, Cold.self, MemslotFlip.self, Truncate.self,
        KSMMerge.self, Aging.self, GuardRegion.self, Free.self, UFFDWriteProtect.self,
        DontUnmap.self, Migrate.self,
    ]
}
