#if canImport(Glibc)
import CHost
import Glibc
#endif
import Atomics
import CKVM
import Guests
import KVM

// The mutator's windows in flight: a step begins, its window stays open while other steps begin, and it closes
// in deadline order (README, "Windows in flight").
extension Mutator {
    /// Performs one step whole, its windows held to their length (the benchmark's comparison steps this way).
    func perform(_ step: Step) throws {
        try begin(step)
        try closeAll()
    }

    /// The loop's step: every window that would fall due during its call closed first, then the step begun (its
    /// window left open), then the operation's pause (ksm's, for ksmd).
    func take(_ step: Step) throws {
        try closeImminent()
        try begin(step)
        let pause = step.operation.row!.pauseAfterStepMicroseconds
        if pause > 0 { usleep(pause) }
    }

    /// Closes windows until a step on `pages` may begin (``WindowsInFlight/blocking(_:alone:)``).
    func makeRoom(for pages: Range<Int>, alone: Bool) throws {
        while let index = inFlight.blocking(pages, alone: alone) { try closeWaiting(index) }
    }

    /// Closes, waiting for it, every window that would fall due during the next call (its deadline nearer than a
    /// call's mean time): the guest that faulted a page back in right after its call is then still near it when
    /// the page is republished, as it is at `--in-flight 1`.
    func closeImminent() throws {
        while let index = inFlight.imminent(now: MonotonicClock.now(), callNanoseconds: meanCallNanoseconds) { try closeWaiting(index) }
    }

    /// Closes every window, waiting for each deadline.
    func closeAll() throws {
        while let index = inFlight.earliest { try closeWaiting(index) }
    }

    /// Waits out the deadline of the window at `index`, closes it and runs the rest of its step.
    func closeWaiting(_ index: Int) throws {
        phases?.mark(.bookkeeping)
        MonotonicClock.spin(until: inFlight.open[index].deadline)
        phases?.mark(.windowWait)
        let open = inFlight.remove(at: index)
        currentSlot = open.slot
        keep(try open.resume(), slot: open.slot)
        phases?.mark(.republication)
    }

    /// The step in `slot` goes on with its `next` window open, or, with none, is done and frees its slot.
    func keep(_ next: OpenStep?, slot: Int) {
        if let next {
            inFlight.append(next)
        } else {
            observations.endOperation(slot: slot)
            inFlight.release(slot)
        }
    }

    /// Begins one step: closes the pages, makes the call, and leaves its window open for the loop to close (a
    /// must-fault or read-only window first where the call has two halves; then the must-read-zero or
    /// content-kept window, after which the page is republished).
    func begin(_ step: Step) throws {
        let (operation, page) = (step.operation, step.page)
        let traits = operation.traits
        let pages = operation.row!.pages(around: page, of: configuration.pages)
        // A due probe of the missing-flush oracle runs alone, and waits here, the page published, until the
        // checkers mapped it.
        phases?.beginStep()
        let probeDue = flushProbe?.isDue(for: operation) ?? false
        try makeRoom(for: pages, alone: probeDue || traits.contains(.runsAlone))
        phases?.mark(.bookkeeping)
        let probing = probeDue && flushProbe?.arm(requests: flushRequestsNow) == true
        phases?.mark(.probeWait)
        let slot = inFlight.takeSlot()
        currentSlot = slot
        observations.beginOperation(operation, pages: pages, slot: slot)
        for p in pages { control.close(p) }
        let snapshot = configuration.injection == .losewrite ? PageSnapshot(backing.address(ofPage: page)) : nil
        let trapping = frameTraps != nil && traits.contains(.freesFrames)
        // The frames the call may free: the first trap must take one of them. (Aging reclaims whichever pages the
        // cgroup's LRU offers: nothing to measure.)
        phases?.mark(.bookkeeping)
        let freedFrames = trapping && !traits.contains(.freesUnknownFrames)
            ? frameTraps?.framesBeforeCall(backing.address(ofPage: pages.lowerBound), count: pages.count) ?? [] : []
        phases?.mark(.traps)
        caller(operation).prepare(page: page)
        let started = observations.clock.now()
        // The negative control of the missing-flush oracle: on a probe, the call is skipped (the content stays).
        let skipped = probing && configuration.injection == .noinval
        // The negative control of the must-fault window: it opens while the page is still mapped.
        if configuration.injection == .faultearly && traits.contains(.holdsAMustFaultWindow) { holdFaultWindow(pages, of: operation) }
        let (invocation, measurement) = try measured { skipped ? .done(CallOutcome(window: .keep, zeroed: page..<page)) : try caller(operation).invoke(page: page, pages: pages) }
        // Judged on the call that invalidates (the first half): nothing else ran between the probe and it.
        let missingFlush = probing
            ? flushProbe?.judge(requestsBefore: measurement.requestsBefore, requestsAfter: measurement.requestsAfter, judgeable: invocation.invalidates)
            : nil
        // The traps take the frames the call freed once the step's first window is open (``springTraps(_:)``).
        var calls = CallRecord(step: step, pages: pages, started: started, calls: measurement, missingFlush: missingFlush,
                               snapshot: snapshot, traps: trapping ? (invocation.freedFrames, freedFrames) : nil)
        switch invocation {
        case .done(let call):
            keep(try finish(calls, call, slot: slot), slot: slot)
        case .holding(let kind, _, _, let rest):
            let before = kind == .readOnly ? writerWords(page: page) : []
            phases?.mark(.bookkeeping)
            let evidence = windows.evidence(kind)
            publishHeldWindow(kind, on: pages)
            observations.faultWindowOpen(true, slot: slot)  // the guests' accesses (writes, for read-only) must fault now
            let deadline = MonotonicClock.deadline(microseconds: configuration.faultWindowMicroseconds)
            phases?.mark(.publication)
            springTraps(&calls)
            phases?.mark(.traps)
            inFlight.append(OpenStep(pages: pages, slot: slot, deadline: deadline) { [self, calls] in
                observations.faultWindowOpen(false, slot: slot)
                for p in pages { control.close(p) }
                windows.closed(kind, of: operation, evidenceBefore: evidence)
                if kind == .readOnly { checkNoWriteLanded(page: page, before: before, of: operation) }
                var record = calls
                let (call, second) = try measured { try rest() }
                record.calls.add(second)
                return try finish(record, call, slot: slot)
            })
        }
    }
}
