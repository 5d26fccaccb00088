#if canImport(Glibc)
import CHost
import Glibc
#endif
import Atomics
import CKVM
import Guests
import KVM

// Publication: a new generation written into a page and promised in its control word, or, under an injected
// fault, promised wrong on purpose.
extension Mutator {

    /// Writes a new generation into the reader words of `frame` (the page's host view) and publishes it, or,
    /// under injection, does that wrong on purpose.
    func writeAndPublish(page: Int, into frame: UnsafeMutableRawPointer, poison: UInt64? = nil) {
        let counter = takeCounter()
        let generation = ControlWord.make(.generation, counter)
        // SAFETY: `frame` is one mapped, 8-aligned 4 KiB page of guest memory; writer words are not touched.
        let words = frame.assumingMemoryBound(to: UInt64.self)
        let republication = currentGeneration[page] != 0
        // The bookkeeping comes before the page write: only the publication may follow it (see `perform`).
        currentGeneration[page] = counter
        observations.publications.wrappingIncrement(ordering: .relaxed)
        if configuration.injection != .none { observations.notePublication(page: page, word: generation) }
        switch configuration.injection {
        case .nowrite where republication:
            control.publish(page, generation)  // promise content that was never written
        case .poison where republication && poison != nil:
            // A translation left on the frame the call freed, which a trap took: the page reads the trap's poison.
            words.update(repeating: poison!, count: Int(GUEST_READER_WORDS))
            control.publish(page, generation)
        case .early where republication:
            control.publish(page, generation)  // promise first, write after: a narrow race
            words.update(repeating: generation, count: Int(GUEST_READER_WORDS))
        default:
            words.update(repeating: generation, count: Int(GUEST_READER_WORDS))
            control.publish(page, generation)
        }
    }

    /// The poison control on a lazily freed page (free): while its old-or-zero window is open the page reads the
    /// poison of the trap the call sprang, as through a translation left on the freed frame. The old-or-zero check
    /// must flag it; the republication then writes the generation as usual.
    func poisonLazilyFreed(_ pages: Range<Int>, _ record: inout CallRecord) {
        guard configuration.injection == .poison, let poison = record.poison else { return }
        record.poison = nil
        for p in pages {
            backing.address(ofPage: p).assumingMemoryBound(to: UInt64.self).update(repeating: poison, count: Int(GUEST_READER_WORDS))
        }
    }

    /// The ptswap negative control: point the guest's own PTE for a page at the decoy frame (or back), write the
    /// new generation into the frame it now names, and publish, without the guest ever flushing its TLB. KVM's
    /// shadow MMU is not told of host writes to guest page tables, so a guest still using the old translation
    /// reads the old frame: a real stale translation, which the checker must report.
    func swapTranslation(page: Int) throws {
        let target = decoyOwner ?? page
        guard let entry = environment.leafEntry(target) else {
            throw HarnessFailure("ptswap: page \(target) has no 4 KiB guest PTE")
        }
        let slot = inFlight.nextSlot  // ptswap steps one at a time
        observations.beginOperation(.none, pages: target..<(target + 1), slot: slot)
        observations.noteOperation(.none, page: target, startedAt: observations.clock.now())
        defer { observations.endOperation(slot: slot) }
        control.close(target)
        let flags = entry.pointee & 0xfff
        let frame: UnsafeMutableRawPointer
        if decoyOwner == nil {
            entry.pointee = UInt64(GUEST_DECOY_GPA) | flags
            frame = environment.decoy
            decoyOwner = target
        } else {
            entry.pointee = UInt64(GUEST_DATA_GPA) + UInt64(target * GuestPage.size) | flags
            frame = backing.address(ofPage: target)
            decoyOwner = nil
        }
        writeAndPublish(page: target, into: frame)
        observations.record(.none, nanoseconds: 0, flushRequests: 0, flushes: 0, failed: false)
    }

    func spin(microseconds: Int) {
        guard microseconds > 0 else { return }
        MonotonicClock.spin(until: MonotonicClock.deadline(microseconds: microseconds))
    }
}

/// The losewrite negative control's copy of a page, taken before a content-preserving operation and written back
/// after it: every guest write in between is discarded.
struct PageSnapshot {
    let page: UnsafeMutableRawPointer
    let bytes: [UInt8]
    init(_ page: UnsafeMutableRawPointer) {
        self.page = page
        bytes = Array(UnsafeRawBufferPointer(start: page, count: GuestPage.size))
    }
    func restore() { bytes.withUnsafeBytes { page.copyMemory(from: $0.baseAddress!, byteCount: GuestPage.size) } }
}
