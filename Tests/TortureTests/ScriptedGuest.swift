#if canImport(Glibc)
import CHost
import Glibc
#endif
import Atomics
import Foundation
import Guests
import Synchronization
@testable import Torture

/// The checker's read half (`guests/checker.S`) on a host thread: it sweeps the data pages through the host
/// mapping the way a guest sweeps them through KVM's, judging each page by its control word read before and after
/// (`guest_abi.h`, "Control words"), and counts into a status block as the checker does. Reads go through
/// process_vm_readv, so a page the mutator took away fails (EFAULT) where a guest's read would fault.
///
/// It stands in for the guest, not for KVM: what it can catch is the host's side of the protocol (what the mutator
/// publishes, and when), never a kernel's. It lets the engine's publication be tested without /dev/kvm.
final class ScriptedGuest: @unchecked Sendable {
    // @unchecked: `block` is written by the guest thread with atomic stores and read atomically by the mutator;
    // `tally` is a Mutex; the rest is immutable.
    /// A check that failed: the page, the control word around the read, and the word read.
    struct Violation: CustomStringConvertible {
        var page: Int
        var control: UInt64
        var observed: UInt64
        var description: String {
            "page \(page) [\(ControlWord.Kind.of(control)?.name ?? "unknown")]: control \(hex(control)), observed \(hex(observed))"
        }
    }

    /// What the guest saw so far.
    struct Tally {
        /// Conclusive checks by the kind of the control word they were judged by.
        var conclusive: [ControlWord.Kind: Int] = [:]
        /// Reads refused (EFAULT) in a must-fault window.
        var refused = 0
        var inconclusive = 0
        var sweeps = 0
        var violations: [Violation] = []
    }

    let status: CheckerStatus
    private let block: UnsafeMutablePointer<UInt64>
    private let control: ControlWords
    private let data: UnsafeMutableRawPointer
    private let pages: Int
    private let observations: Observations
    private let stopping = ManagedAtomic<Bool>(false)
    private let tally = Mutex(Tally())
    private var thread: OSThread?

    init(control: ControlWords, data: UnsafeMutableRawPointer, pages: Int, observations: Observations) {
        block = .allocate(capacity: Int(GUEST_STATUS_BLOCK_SIZE) / 8)
        block.initialize(repeating: 0, count: Int(GUEST_STATUS_BLOCK_SIZE) / 8)
        status = CheckerStatus(block: block)
        (self.control, self.data, self.pages, self.observations) = (control, data, pages, observations)
    }

    deinit { block.deallocate() }

    var seen: Tally { tally.withLock { $0 } }

    func start() throws {
        thread = try OSThread(name: "scripted-guest", cpu: nil) { [self] in
            while !stopping.load(ordering: .relaxed) { sweep() }
        }
    }

    func stop() {
        stopping.store(true, ordering: .relaxed)
        _ = thread?.join(timeout: 30)
    }

    /// One pass over every page, its counts published at its end (as the checker publishes its sweeps).
    private func sweep() {
        var pass = Tally()
        var words = [UInt64](repeating: 0, count: Int(GUEST_READER_WORDS))
        for page in 0..<pages { check(page, into: &pass, words: &words) }
        pass.sweeps = 1
        let total = tally.withLock { total in
            total.conclusive.merge(pass.conclusive, uniquingKeysWith: +)
            total.refused += pass.refused
            total.inconclusive += pass.inconclusive
            total.sweeps += 1
            total.violations += pass.violations
            return total
        }
        store(GUEST_STATUS_CONCLUSIVE_GENERATION, total.conclusive[.generation, default: 0])
        store(GUEST_STATUS_CONCLUSIVE_ZERO, total.conclusive[.zero, default: 0])
        store(GUEST_STATUS_CONCLUSIVE_KEEP, total.conclusive[.keep, default: 0] + total.conclusive[.oldOrZero, default: 0])
        store(GUEST_STATUS_INCONCLUSIVE, total.inconclusive)
        store(GUEST_STATUS_VIOLATIONS, total.violations.count)
        store(GUEST_STATUS_SWEEPS, total.sweeps)
    }

    /// The checker's read of one page: control word, the reader words, control word again; judged only if the
    /// word did not change across the read.
    private func check(_ page: Int, into pass: inout Tally, words: inout [UInt64]) {
        let before = control.load(page)
        guard before != 0 else { pass.inconclusive += 1; return }
        let read = words.withUnsafeMutableBytes { chost_read_as_user(data + page * GuestPage.size, $0.baseAddress, $0.count) }
        let after = control.load(page)
        guard after == before else { pass.inconclusive += 1; return }
        let kind = ControlWord.Kind.of(before)
        if kind == .fault {
            guard read < 0 else { pass.violations.append(Violation(page: page, control: before, observed: words[0])); return }
            pass.refused += 1
            observations.recordFault { page }
            return
        }
        guard read == words.count * 8 else {
            pass.violations.append(Violation(page: page, control: before, observed: 0))
            return
        }
        let promised = ControlWord.make(.generation, ControlWord.counter(before))
        let allowed: (UInt64) -> Bool = switch kind {
        case .generation: { $0 == before }
        case .zero: { $0 == 0 }
        case .keep: { $0 == promised }
        case .oldOrZero: { $0 == promised || $0 == 0 }
        case .fault, .poison, nil: { _ in false }
        }
        if let wrong = words.first(where: { !allowed($0) }) {
            pass.violations.append(Violation(page: page, control: before, observed: wrong))
        } else if let kind {
            pass.conclusive[kind, default: 0] += 1
        }
    }

    private func store(_ word: Int32, _ value: Int) {
        UnsafeAtomic<UInt64>(at: UnsafeMutableRawPointer(block + Int(word)).assumingMemoryBound(to: UnsafeAtomic<UInt64>.Storage.self))
            .store(UInt64(value), ordering: .releasing)
    }
}

private func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
