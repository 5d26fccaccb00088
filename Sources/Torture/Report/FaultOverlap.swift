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

extension RunReport {
    /// What the run judged, in a few words (the lab's per-row column): conclusive checks, windows sampled, dirty
    /// rounds judged, missing-flush probes judged, faults retried (the narrow race happening), and the releases
    /// of mmu_lock the kernel's flush sanitizer judged; each only where its part ran.
    public var judgedEvidence: String {
        var parts = ["\(checks.conclusive.compact) checks"]
        let sampled = (windows ?? [:]).values.reduce(UInt64(0)) { $0 &+ $1.sampled }
        if sampled > 0 { parts.append("\(sampled.compact) windows") }
        if let dirty { parts.append("\(dirty.judgedRounds.compact) dirty rounds") }
        if let flushProbes, flushProbes.probes > 0 { parts.append("\(flushProbes.judged.compact) flush probes") }
        if let faultOverlap, faultOverlap.retried > 0 { parts.append("\(faultOverlap.retried.compact) faults retried") }
        if let flushSanitizer { parts.append("\(flushSanitizer.judgedReleases.compact) unlocks") }
        return parts.joined(separator: ", ")
    }
}

extension BinaryInteger {
    /// "412k", "3.2M": a count for a narrow column.
    public var compact: String {
        let value = Double(Int64(clamping: self))
        switch abs(value) {
        case ..<1_000: return String(Int64(clamping: self))
        case ..<10_000: return String(format: "%.1fk", value / 1_000)
        case ..<1_000_000: return String(format: "%.0fk", value / 1_000)
        case ..<10_000_000: return String(format: "%.1fM", value / 1_000_000)
        default: return String(format: "%.0fM", value / 1_000_000)
        }
    }
}
