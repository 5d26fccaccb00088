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
    func finish(_ record: CallRecord, _ call: Call, slot: Int) throws -> OpenStep? {
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
        let sampledKind: WindowKind = call.zeroed.contains(page) || window == .zero ? .zero : .kept
        phases?.mark(.bookkeeping)
        let evidence = windows.evidence(sampledKind)
        for p in pages {
            let kind = call.zeroed.contains(p) ? .zero : window
            control.publish(p, kind == .keep ? ControlWord.make(.keep, currentGeneration[p]) : ControlWord.make(kind, takeCounter()))
        }
        let length = windowMicroseconds()
        let closes = MonotonicClock.deadline(microseconds: length)
        phases?.mark(.publication)
        springTraps(&record)
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
    private func account(_ record: CallRecord, _ call: Call) {
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
        } else if call.window == .zero {
            raiseFloors(pages)
        }
        observations.record(
            operation, nanoseconds: record.calls.nanoseconds,
            flushRequests: record.calls.requests, flushes: record.calls.flushes, failed: call.failed)
        verifyRandomPage(outside: pages)
    }

    /// The step's pages get their next generation; a fork-cow child is let go once its page is republished (and
    /// whether the write moved the page to a new frame is counted), a ksm twin gets the page's new content.
    private func republish(_ record: CallRecord) {
        let (operation, page) = (record.step.operation, record.step.page)
        for p in record.pages { writeAndPublish(page: p, into: backing.address(ofPage: p), poison: record.poison) }
        if let child = heldChild {
            heldChild = nil
            let after = pageMap.frame(backing.address(ofPage: page))
            if frameBeforeFork != 0 && after != 0 {
                observations.cowMeasured.wrappingIncrement(ordering: .relaxed)
                if after != frameBeforeFork { observations.cowBreaks.wrappingIncrement(ordering: .relaxed) }
            }
            child.release()
        }
        if operation == .ksm, let twins = environment.ksmTwins {
            twins.copy(page: page)
        }
    }

    /// The operations whose call may free data frames: where the content is replaced, and where it is kept but
    /// moves (a collapse's small pages, a page reclaimed by pageout or aging: swapped out, or a file page dropped).
    static let freesFrames: Set<Operation> = [.dontneed, .remap, .munmap, .punch, .truncate, .thp, .pageout, .aging, .guardRegion]

    /// What one call did: the window it opens, whether it failed (counted, not fatal), the pages of a
    /// content-kept operation that were replaced nonetheless (the thp split), and whether it was an mmu-notifier
    /// invalidation of the page's range (the missing-flush oracle judges only those).
    struct Call {
        var window: ControlWord.Kind?
        var failed = false
        var zeroed: Range<Int>
        var invalidates = true
        /// How many of the data's frames the call may have freed (the recycled-frame traps take the last ones).
        var freedFrames = 0
    }

    /// A step's calls: done in one go, or a first half whose window (must-fault, or read-only) is held before
    /// `rest` makes the second half.
    enum Invocation {
        case done(Call)
        /// `freedFrames`: how many frames the first half may have freed (the traps take them at once).
        case holding(WindowKind, invalidates: Bool, freedFrames: Int, rest: () throws -> Call)

        var invalidates: Bool {
            switch self {
            case .done(let call): call.invalidates
            case .holding(_, let invalidates, _, _): invalidates
            }
        }

        var freedFrames: Int {
            switch self {
            case .done(let call): call.freedFrames
            case .holding(_, _, let freedFrames, _): freedFrames
            }
        }
    }

    /// Before a step's calls, untimed (its flushes count for no operation): MADV_COLD on part of a huge page
    /// splits it, which KVM must be told of, and then nothing more of it reaches KVM. So a cold step on THP collapses
    /// the huge page again first (once one of its steps has split it): every step has a huge page to split, not
    /// only a run's first. The collapse keeps every page's content, so the windows in flight stay true.
    func prepare(_ operation: Operation, page: Int) {
        guard operation == .cold, backing.kind == .thp else { return }
        let hugePage = page / Self.pagesPerHugePage
        if !splitHugePages.insert(hugePage).inserted {
            coldCollapses.tried += 1
            do { try backing.collapse(page: page) } catch {  // EAGAIN/EINVAL: this step has nothing to split
                coldCollapses.failed += 1
                lastCollapseError = (error as? HostCallError)?.errnoName ?? "\(error)"
            }
        }
    }

    static let pagesPerHugePage = 512

    /// The operation's host calls: all of them, or the first half and the rest (the window between them is the
    /// caller's to hold).
    func invoke(_ operation: Operation, page: Int, pages: Range<Int>) throws -> Invocation {
        switch operation {
        case .munmap:
            try backing.unmap(page: page)
            return .holding(.fault, invalidates: true, freedFrames: backing.remapZeroes ? 1 : 0) { [self] in
                try backing.mapBack(page: page)
                return Call(window: backing.remapZeroes ? .zero : .keep, zeroed: page..<page)
            }
        case .mprotect:
            try backing.protect(page: page, PROT_NONE)
            return .holding(.fault, invalidates: true, freedFrames: 0) { [self] in
                try backing.protect(page: page, PROT_READ | PROT_WRITE)
                return Call(window: .keep, zeroed: page..<page)
            }
        case .mprotectReadOnly:
            try backing.protect(page: page, PROT_READ)
            return .holding(.readOnly, invalidates: true, freedFrames: 0) { [self] in
                try backing.protect(page: page, PROT_READ | PROT_WRITE)
                return Call(window: .keep, zeroed: page..<page)
            }
        case .mremap:
            let parking = currentSlot  // the step's own slot: no other page in flight parks there
            try backing.moveAway(page: page, parking: parking)
            return .holding(.fault, invalidates: true, freedFrames: 0) { [self] in
                try backing.moveBack(page: page, parking: parking)
                return Call(window: .keep, zeroed: page..<page)
            }
        case .guardRegion:
            try backing.advise(page: page, CHOST_MADV_GUARD_INSTALL, name: "madvise(MADV_GUARD_INSTALL)")
            return .holding(.fault, invalidates: true, freedFrames: 1) { [self] in
                try backing.advise(page: page, CHOST_MADV_GUARD_REMOVE, name: "madvise(MADV_GUARD_REMOVE)")
                return Call(window: .zero, zeroed: page..<page)
            }
        case .truncate:
            try backing.truncate(to: page * GuestPage.size)
            return .holding(.fault, invalidates: true, freedFrames: pages.count) { [self] in
                try backing.truncate(to: backing.size)
                return Call(window: .zero, zeroed: page..<page)
            }
        default:
            return .done(try call(operation, page: page, pages: pages))
        }
    }

    /// The calls of an operation made in one go.
    func call(_ operation: Operation, page: Int, pages: Range<Int>) throws -> Call {
        var failed = false
        var zeroed = page..<page
        var invalidates = true
        var collapsed = false
        /// Frames a content-kept call may have freed (pageout, aging).
        var movedOut = 0
        let window: ControlWord.Kind?
        switch operation {
        case .none:
            window = nil
        case .dontneed:
            try backing.dontneed(page: page)
            window = backing.dontneedZeroes ? .zero : .keep
        case .remap:
            try backing.remap(page: page)
            window = backing.remapZeroes ? .zero : .keep
        case .punch:
            try backing.punch(page: page)
            window = .zero
        case .forkCOW:
            // The child lives until the page has been republished: the host's write must break COW.
            heldChild = try HeldChild.fork()
            frameBeforeFork = pageMap.frame(backing.address(ofPage: page))
            window = .keep
        case .thp:
            let half = try collapseOrSplit(page: page)
            (collapsed, failed) = (half.collapsed, half.failed)
            invalidates = !half.collapsing  // a range already huge collapses without an invalidation; a split invalidates
            if !half.collapsing { zeroed = page..<(page + 1) }
            window = .keep
        case .pageout:
            try backing.advise(page: page, CHOST_MADV_PAGEOUT, name: "madvise(MADV_PAGEOUT)")
            movedOut = 1 - backing.residentPages(first: page, count: 1)  // anonymous memory without swap stays
            window = .keep
        case .cold:
            try backing.advise(page: page, CHOST_MADV_COLD, name: "madvise(MADV_COLD)")
            window = .keep
        case .memslot:
            try flipDataSlot(pages)
            window = .keep
        case .ksm:
            // The page is closed: a write to it now breaks a KSM merge (copy-on-write) before anything is promised.
            if environment.ksmTwins?.isMerged(page: page) == true { observations.ksmMergedRepublications.wrappingIncrement(ordering: .relaxed) }
            backing.address(ofPage: page).storeBytes(of: 0, as: UInt64.self)
            window = nil
        case .aging:
            (movedOut, failed) = age()
            window = .keep
        case .munmap, .mprotect, .mprotectReadOnly, .mremap, .truncate, .guardRegion:
            preconditionFailure("\(operation) holds a window between its two halves (invoke)")
        case .mix, .all:
            preconditionFailure("the schedule resolves \(operation) to single operations")
        }
        let freedFrames = window == .zero || collapsed ? pages.count : max(zeroed.count, movedOut)
        return Call(window: window, failed: failed, zeroed: zeroed, invalidates: invalidates && !failed, freedFrames: freedFrames)
    }

    /// thp's two halves, in turn: collapse the range into a huge page, or split it by dropping one small page (which
    /// comes back as zeros). Returns which half this was, whether a collapse happened and whether the call failed
    /// (counted, not fatal).
    private func collapseOrSplit(page: Int) throws -> (collapsing: Bool, collapsed: Bool, failed: Bool) {
        alternate.toggle()
        guard alternate else {
            // DONTNEED of one 4 KiB page inside a huge page splits it.
            try backing.dontneed(page: page)
            return (false, false, false)
        }
        // A collapse copies the small pages into a huge one and frees them: a translation left on one of them
        // would read the same content, unless a trap took its frame.
        do {
            try backing.collapse(page: page)
            return (true, true, false)
        } catch {  // EINVAL/EAGAIN: counted and reported, not fatal
            lastCollapseError = (error as? HostCallError)?.errnoName ?? "\(error)"
            return (true, false, true)
        }
    }

    /// aging's call: the cgroup reclaims; returns the pages it moved out and whether nothing was reclaimable
    /// (EAGAIN/EBUSY: counted, not fatal).
    private func age() -> (movedOut: Int, failed: Bool) {
        guard let reclaimed = environment.reclaim?.reclaim(bytes: Self.agingBytes) else { return (0, true) }
        observations.reclaimedBytes.wrappingIncrement(by: UInt64(reclaimed), ordering: .relaxed)
        return (reclaimed / GuestPage.size, false)
    }
}
