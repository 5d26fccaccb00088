/// What a run judged, in a few words: the lab's per-row column, in its text table and its HTML matrix.
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

extension LabReport.Row {
    /// What the row's run judged (``RunReport/judgedEvidence``), or, where its report did not survive, its
    /// conclusive checks.
    public var judged: String { report?.judgedEvidence ?? "\(conclusiveChecks.compact) checks" }
}
