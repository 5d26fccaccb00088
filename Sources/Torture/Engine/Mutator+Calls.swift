#if canImport(Glibc)
import CHost
import Glibc
#endif
import Atomics
import CKVM
import Guests
import KVM

// The mutator's host calls for each operation, measured one by one, and what follows them: the traps, the
// missing-flush verdict, the bookkeeping and the step's window.
extension Mutator {
    /// What a step's calls did, carried from its first half to its window.
    struct CallRecord {
        var step: Step
        var pages: Range<Int>
        var started: UInt64
        var calls: CallMeasurement
        var missingFlush: (before: UInt64, after: UInt64)?
        var snapshot: PageSnapshot?
        /// The traps the call's freed frames are owed, until they are sprung (``springTraps(_:)``).
        var traps: (freed: Int, measuring: Set<UInt64>)?
        /// The poison of the step's first trap (``Injection/poison`` republishes it).
        var poison: UInt64?
    }

    /// The traps a call that freed frames is owed (``FrameTraps/spring(after:freedPages:measuring:seconds:poison:)``),
    /// sprung once its first window is published and its hold has begun: the hold is time the step waits anyway,
    /// and nothing on this CPU faults a page in before the window closes (the republication), so the traps still
    /// take the frames just freed. Keeps the first trap's poison in the record.
    func springTraps(_ record: inout CallRecord) {
        guard let traps = record.traps else { return }
        record.traps = nil
        let step = record.step
        record.poison = frameTraps?.spring(after: .step(step.operation, page: step.page), freedPages: traps.freed, measuring: traps.measuring,
                                           seconds: observations.elapsed) { ControlWord.make(.poison, takeCounter()) }
    }

    /// `remote_tlb_flush_requests` and `remote_tlb_flush` read right around a call, and its time: every step's
    /// calls are measured on their own, so that with several windows in flight no call's flushes (or time) count
    /// for another step, and a window's wait is not a call's latency.
    struct CallMeasurement {
        var requestsBefore: UInt64 = 0
        var requestsAfter: UInt64 = 0
        var requests: UInt64 = 0
        var flushes: UInt64 = 0
        var nanoseconds: UInt64 = 0
        mutating func add(_ other: CallMeasurement) {
            requests &+= other.requests
            flushes &+= other.flushes
            nanoseconds &+= other.nanoseconds
        }
    }

    /// The VM's `remote_tlb_flush_requests` now (nil where it has no statistics): a probe's reading before its
    /// wait, and the bench's around a slice of steps.
    func flushRequestsNow() -> UInt64? {
        guard let sample = countersBefore, (try? sample.capture()) != nil else { return nil }
        return sample[0]
    }

    func measured<Result>(_ call: () throws -> Result) throws -> (Result, CallMeasurement) {
        phases?.mark(.bookkeeping)
        try? countersBefore?.capture()
        phases?.mark(.counters)
        let started = observations.clock.now()
        let result = try call()
        let ended = observations.clock.now()
        phases?.mark(.call)
        try? countersAfter?.capture()
        phases?.mark(.counters)
        var measurement = CallMeasurement(nanoseconds: observations.clock.nanoseconds(from: started, to: ended))
        meanCallNanoseconds = (meanCallNanoseconds * 7 + measurement.nanoseconds) / 8
        if let before = countersBefore, let after = countersAfter {
            (measurement.requestsBefore, measurement.requestsAfter) = (before[0], after[0])
            (measurement.requests, measurement.flushes) = (after[0] &- before[0], after[1] &- before[1])
        }
        return (result, measurement)
    }

    /// After the step's calls: the traps, the missing-flush verdict, the bookkeeping, and the step's
    /// must-read-zero or content-kept window, published and returned open (nil: the step has none, and is done).
    func finish(_ record: CallRecord, _ call: CallOutcome, slot: Int) throws -> OpenStep? {
        var record = record
        let (operation, page, pages) = (record.step.operation, record.step.page, record.pages)
        if let snapshot = record.snapshot, call.window == .keep { snapshot.restore() }
        guard let window = call.window else {
            phases?.mark(.bookkeeping)
            springTraps(&record)
            phases?.mark(.traps)
            republish(record)
            phases?.mark(.republication)
            account(record, call)
            return nil
        }
        let sampledKind: WindowKind = call.zeroed.contains(page) || window == .zero ? .zero : window == .oldOrZero ? .oldOrZero : .kept
        phases?.mark(.bookkeeping)
        let evidence = windows.evidence(sampledKind)
        for p in pages {
            let kind = call.zeroed.contains(p) ? .zero : window
            control.publish(p, kind == .keep || kind == .oldOrZero ? ControlWord.make(kind, currentGeneration[p]) : ControlWord.make(kind, takeCounter()))
        }
        let length = inFlight.nextContentWindowMicroseconds(standard: configuration.windowMicroseconds)
        let closes = MonotonicClock.deadline(microseconds: length)
        phases?.mark(.publication)
        springTraps(&record)
        if window == .oldOrZero { poisonLazilyFreed(pages, &record) }
        phases?.mark(.traps)
        account(record, call)
        phases?.mark(.bookkeeping)
        return OpenStep(pages: pages, slot: slot, deadline: closes, heldTight: length > configuration.windowMicroseconds) { [self] in
            for p in pages { control.close(p) }
            windows.closed(sampledKind, of: operation, evidenceBefore: evidence)
            republish(record)
            return nil
        }
    }

    /// The step's bookkeeping (the page's history, the lost-write check, the tallies, a random page's check):
    /// done while its window is open, time the step waits anyway.
    private func account(_ record: CallRecord, _ call: CallOutcome) {
        let (operation, page, pages) = (record.step.operation, record.step.page, record.pages)
        // The page's history first: the lost-write check below may report a violation on the page. (A guest
        // reporting one in the window before this finds the operation as the one in flight.)
        observations.noteOperation(operation, page: page, startedAt: record.started)
        if let missingFlush = record.missingFlush {
            observations.addViolation(Violation(
                kind: .missingFlush, vcpu: -1, page: page, word: 0, controlBefore: 0, controlAfter: 0,
                window: "flush probe: mapped since the checkers' last sweep", expected: missingFlush.before + 1,
                observed: missingFlush.after, time: observations.elapsed,
                operationInFlight: "\(operation.rawValue) on page \(page): remote_tlb_flush_requests \(missingFlush.before) before the call, \(missingFlush.after) after",
                recentOperations: observations.recentOperations(page: page)))
        }
        // Nothing verifies these pages between the operation and here: the floors may rise this late.
        if call.window == .keep {
            raiseFloors(call.zeroed)
            verifyWrites(pages, excluding: call.zeroed)
        } else if call.window == .zero || call.window == .oldOrZero {
            raiseFloors(pages)
        }
        observations.record(
            operation, nanoseconds: record.calls.nanoseconds,
            flushRequests: record.calls.requests, flushes: record.calls.flushes, failed: call.failed)
        verifyRandomPage(outside: pages)
    }

    /// The step's pages get their next generation, and the operation hears of it (fork-cow lets its child go).
    private func republish(_ record: CallRecord) {
        for p in record.pages { writeAndPublish(page: p, into: backing.address(ofPage: p), poison: record.poison) }
        caller(record.step.operation).republished(page: record.step.page)
    }
}
