/// A check that failed: what the guest read, what the host had promised, and what the host was doing.
public struct Violation: Codable, Sendable, Equatable {
    /// What failed; its raw value is the name reports and summaries use.
    public enum Kind: String, Codable, Sendable, CaseIterable, Comparable {
        /// The checker read what the host had not published.
        case staleRead = "stale-read"
        /// It read a recycled-frame trap's poison: its translation led to a frame a content-replacing call freed.
        case staleFrame = "stale-frame"
        /// A writer's own word changed under it.
        case readback
        /// A published guest write missing from the host's view of the page.
        case lostWrite = "lost-write"
        /// A guest write landed while the host mapping was read-only.
        case writeWhileReadOnly = "write-while-read-only"
        /// A mapped page invalidated with no flush request.
        case missingFlush = "missing-flush"
        /// A guest write the dirty log never reported.
        case missedDirty = "missed-dirty"
        /// The kernel's flush sanitizer saw mmu_lock released with a zapped SPTE no remote TLB flush covered.
        case lateFlush = "late-flush"
        /// A data access exited as MMIO in a `KVM_RUN` that ran entirely with the data slot present and no slot
        /// change in flight: a stale MMIO decision (the access never reached memory).
        case strayMMIO = "stray-mmio"

        public static func < (a: Kind, b: Kind) -> Bool { a.rawValue < b.rawValue }
    }

    public var kind: Kind = .staleRead
    public var vcpu: Int
    public var page: Int
    /// The word's index within the page (0 to 511).
    public var word: Int
    /// The control word before and after the read (equal, or the check would have been inconclusive).
    public var controlBefore: UInt64
    public var controlAfter: UInt64
    /// The kind of publication in force: generation, must-read-zero, content-kept or must-fault.
    public var window: String
    public var expected: UInt64
    public var observed: UInt64
    /// Seconds since the run started.
    public var time: Double
    /// The operation the mutator was performing when the guest reported, and on which page.
    public var operationInFlight: String?
    /// The page's last operations, oldest first.
    public var recentOperations: [String]
    /// After one VM exit, the guest read the same word again: did it still see the bad value under the same
    /// publication? Staleness that survives an exit is the strongest evidence. Nil until the recheck arrives.
    public var survivedExit: Bool?
    public var recheckObserved: UInt64?

    /// How a run announces its first violation on standard error, the moment it is seen.
    public static let firstAnnouncementPrefix = "mmutorture: first violation at "

    public var summary: String {
        let hex = { (value: UInt64) in "0x" + String(value, radix: 16) }
        var text = "\(kind.rawValue): vCPU \(vcpu) page \(page) word \(word) [\(window)]: expected \(hex(expected)), observed \(hex(observed))"
        if let operationInFlight { text += "; in flight: \(operationInFlight)" }
        if !recentOperations.isEmpty { text += "; page history: \(recentOperations.joined(separator: ", "))" }
        if let survivedExit { text += survivedExit ? "; survived a VM exit" : "; gone after a VM exit" }
        return text
    }
}
