#if canImport(Glibc)
import CHost
import Glibc
#endif
import Atomics
import CKVM
import Guests
import KVM

// The lost-write half of the contract: each writer's word in a page must be at least the sequence number the
// writer last published; floors keep pages whose content was replaced from being judged too early.
extension Mutator {

    func published(writer: Int) -> UInt64 {
        // The guest stores the published number after its page writes, and x86 keeps stores in order.
        environment.writerStatus[writer].load(.published)
    }

    /// The number of the writer's sweep under way: every sweep numbered higher starts after this read.
    func sequence(writer: Int) -> UInt64 {
        environment.writerStatus[writer].load(.sequence)
    }

    func writerWords(page: Int) -> [UInt64] {
        (0..<environment.writerStatus.count).map { backing.writerWord(page: page, writer: $0) }
    }

    /// After a content-replacing operation, the words written before it are legitimately gone (the ledger's rule).
    func raiseFloors(_ pages: Range<Int>) {
        ledger.raiseFloors(pages) { sequence(writer: $0) }
    }

    /// The lost-write check of one random page, every step, so that writes are verified on pages no operation
    /// touched lately too. A page in flight is left out: its floors were just raised or its words just verified,
    /// and reading it now could map it back under the operation (or fault: it may be unmapped).
    func verifyRandomPage(outside busy: Range<Int> = 0..<0) {
        let page = Int(verifierPages.next() % UInt64(configuration.pages))
        if !busy.contains(page) && !inFlight.isOpen(page) { verifyWrites(page..<(page + 1)) }
    }

    /// Reads each writer's publication, then its word in each page through the host mapping: the word must be
    /// at least the published number, or a guest write was lost.
    func verifyWrites(_ pages: Range<Int>, excluding skipped: Range<Int> = 0..<0) {
        guard ledger.writers > 0, configuration.injection != .ptswap else { return }
        let lost = ledger.lostWrites(
            in: pages, skipping: skipped, published: { published(writer: $0) }, word: { backing.writerWord(page: $0, writer: $1) },
            verified: { observations.writeVerifications.wrappingIncrement(ordering: .relaxed) })
        for write in lost {
            observations.addViolation(Violation(
                kind: .lostWrite, vcpu: write.writer, page: write.page, word: Int(GUEST_READER_WORDS) + write.writer, controlBefore: 0,
                controlAfter: 0, window: "published", expected: write.published, observed: write.observed, time: observations.elapsed,
                operationInFlight: observations.operationInFlightDescription(page: write.page),
                recentOperations: observations.recentOperations(page: write.page)))
        }
    }
}
