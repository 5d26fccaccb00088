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

    /// After a content-replacing operation, the words written before it are legitimately gone: a writer's word
    /// must hold its number again only once the sweep after the one under way has written it. (Not from the
    /// publication: deferred writes hold it back, so sweeps begun before the operation may publish after it.)
    func raiseFloors(_ pages: Range<Int>) {
        let writers = environment.writerStatus.count
        guard writers > 0 else { return }
        for writer in 0..<writers {
            let next = sequence(writer: writer) + 1
            for p in pages { floor[p * writers + writer] = next }
        }
    }

    /// The lost-write check of one random page, every step, so that writes are verified on pages no operation
    /// touched lately too. A page in flight is left out: its floors were just raised or its words just verified,
    /// and reading it now could map it back under the operation (or fault: it may be unmapped).
    func verifyRandomPage(outside busy: Range<Int> = 0..<0) {
        let page = Int(verifierPages.next() % UInt64(configuration.pages))
        if !busy.contains(page) && !openSteps.contains(where: { $0.pages.contains(page) }) { verifyWrites(page..<(page + 1)) }
    }

    /// Reads each writer's publication, then its word in each page through the host mapping: the word must be
    /// at least the published number, or a guest write was lost.
    func verifyWrites(_ pages: Range<Int>, excluding skipped: Range<Int> = 0..<0) {
        let writers = environment.writerStatus.count
        guard writers > 0, configuration.injection != .ptswap else { return }
        for writer in 0..<writers {
            let number = published(writer: writer)
            for page in pages where number > 0 && number >= floor[page * writers + writer] && !skipped.contains(page) {
                let word = backing.writerWord(page: page, writer: writer)
                observations.writeVerifications.wrappingIncrement(ordering: .relaxed)
                if word < number {
                    let inFlight = observations.operationInFlightDescription(page: page)
                    observations.addViolation(Violation(
                        kind: .lostWrite, vcpu: writer, page: page, word: Int(GUEST_READER_WORDS) + writer, controlBefore: 0,
                        controlAfter: 0, window: "published", expected: number, observed: word, time: observations.elapsed,
                        operationInFlight: inFlight, recentOperations: observations.recentOperations(page: page)))
                }
            }
        }
    }
}
