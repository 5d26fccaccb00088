#if canImport(Glibc)
import Glibc
#endif
import Atomics
import Guests
import KVM

/// An antagonist: a thread beside the mutator that drives one more path through KVM's MMU at its own rate, so that
/// invalidations from different paths interleave on the same pages (DESIGN, "Bugs live in interleavings").
final class Antagonist: @unchecked Sendable {
    // @unchecked: its counters are atomic; everything else is used by its own thread only.
    let spec: AntagonistSpec
    let vm: VirtualMachine
    let stop = ManagedAtomic<Bool>(false)
    let actions = ManagedAtomic<UInt64>(0)
    let flushRequests = ManagedAtomic<UInt64>(0)
    private let counters: StatisticCounters?
    private let observations: Observations

    init(spec: AntagonistSpec, vm: VirtualMachine, statistics: StatisticsReader?, observations: Observations) {
        self.spec = spec
        self.vm = vm
        self.counters = statistics?.counters(["remote_tlb_flush_requests"])
        self.observations = observations
    }

    func run() {
        var logging = false
        while !stop.load(ordering: .relaxed) {
            let before = (try? counters?.read().first) ?? 0
            do {
                switch spec.kind {
                case .dirtyToggle:
                    logging.toggle()
                    try vm.setMemorySlotFlags(UInt32(GUEST_DATA_SLOT), logging ? .logDirtyPages : [])
                }
            } catch {
                observations.addHarnessError("antagonist \(spec.kind.rawValue): \(error)")
                return
            }
            let after = (try? counters?.read().first) ?? 0
            actions.wrappingIncrement(ordering: .relaxed)
            flushRequests.wrappingIncrement(by: after &- before, ordering: .relaxed)
            usleep(UInt32(spec.periodMicroseconds))
        }
    }

    var report: RunReport.AntagonistReport {
        let requests = flushRequests.load(ordering: .relaxed)
        return RunReport.AntagonistReport(
            kind: spec.kind.rawValue, periodMicroseconds: spec.periodMicroseconds, actions: actions.load(ordering: .relaxed),
            flushRequests: requests, exercised: requests > 0)
    }
}
