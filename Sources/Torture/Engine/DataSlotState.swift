import Atomics

/// Whether the data slot is in place, as the threads that change it say (the memslot operation, dirty-toggle's flag
/// changes): a sequence number, odd while a change is in flight, so a vCPU can tell that a whole `KVM_RUN` ran with
/// the slot present and untouched. An MMIO exit on a data page in such a run is a stale MMIO decision (KVM took the
/// page for emulated MMIO although its slot was there): the guest's access never reached memory.
final class DataSlotState: Sendable {
    private let sequence = ManagedAtomic<UInt64>(0)
    /// When the last change ended (monotonic nanoseconds), for the report.
    private let lastChangeEnded = ManagedAtomic<UInt64>(0)

    /// Before a change of the data slot (delete, move, flags).
    func beginChange() { sequence.wrappingIncrement(ordering: .sequentiallyConsistent) }
    /// After the change's ioctl returned: KVM's memslots are the new ones.
    func endChange() {
        lastChangeEnded.store(MonotonicClock.now(), ordering: .relaxed)
        sequence.wrappingIncrement(ordering: .sequentiallyConsistent)
    }

    /// Read before `KVM_RUN` and again after its exit.
    var snapshot: UInt64 { sequence.load(ordering: .sequentiallyConsistent) }

    /// Whether a run that began at `before` and exited now ran with the slot present and no change in flight.
    func wasStable(since before: UInt64) -> Bool { before % 2 == 0 && snapshot == before }

    /// The stray-MMIO rule: an MMIO exit at `address` in the data (`data`, guest-physical) from a run that began
    /// at `before` with the slot present, and saw no change of it, is a stale MMIO decision.
    func isStrayMMIO(at address: UInt64, in data: Range<UInt64>, runBeganAt before: UInt64) -> Bool {
        wasStable(since: before) && data.contains(address)
    }

    /// Completed changes so far (the slot's generation as the harness counts it).
    var generation: UInt64 { snapshot / 2 }

    /// Seconds since the last change ended, or nil if there was none.
    var secondsSinceLastChange: Double? {
        let ended = lastChangeEnded.load(ordering: .relaxed)
        return ended == 0 ? nil : Double(MonotonicClock.now() &- ended) / 1e9
    }
}
