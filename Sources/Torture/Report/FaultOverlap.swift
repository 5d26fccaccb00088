import Foundation

/// How often a guest fault and an invalidation overlapped, as KVM itself counts it: a fault it neither fixed,
/// emulated, found spurious, reflected to the guest nor failed to userspace (EFAULT: a must-fault window) was
/// retried, which (with async page faults off, as here) means an invalidation ran inside its pfn lookup
/// (`is_page_fault_stale`), its root went obsolete, or another vCPU's fault on the same page won a race. It is the
/// narrow-race workload's evidence that the race it aims at happened.
public struct FaultOverlap: Sendable, Equatable {
    /// `pf_taken`, summed over the checker vCPUs.
    public var taken: Int64
    /// The faults retried (taken minus fixed, emulated, spurious, guest-reflected and failed with EFAULT).
    public var retried: Int64

    public init(taken: Int64, retried: Int64) {
        self.taken = taken
        self.retried = retried
    }

    /// Nil where the vCPUs have no statistics (`pf_taken` never read).
    init?(vcpus: [RunReport.CounterSet], efaults: UInt64) {
        guard vcpus.contains(where: { $0.after["pf_taken"] != nil }) else { return nil }
        func sum(_ name: String) -> Int64 { vcpus.reduce(0) { $0 &+ ($1.delta[name] ?? 0) } }
        taken = sum("pf_taken")
        retried = max(0, taken - sum("pf_fixed") - sum("pf_emulate") - sum("pf_spurious") - sum("pf_guest") - Int64(clamping: efaults))
    }

    func summary(seconds: Double) -> String {
        let rate = seconds > 0 ? Int64(Double(retried) / seconds) : 0
        return "faults: \(taken.grouped) taken, \(retried.grouped) retried by KVM (\(rate.grouped)/s: an invalidation inside the fault's pfn lookup, or a race with another fault)"
    }
}

extension RunReport {
    /// KVM's count of faults an invalidation overlapped (``FaultOverlap``).
    public var faultOverlap: FaultOverlap? { FaultOverlap(vcpus: counters.vcpus, efaults: efaults) }
}
