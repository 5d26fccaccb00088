import Testing
@testable import Torture

/// The windows in flight as bookkeeping (``WindowsInFlight``), with plain deadlines and pages: no `/dev/kvm`.
struct WindowsInFlightTests {
    func step(_ pages: Range<Int>, deadline: UInt64, tight: Bool = false, in windows: inout WindowsInFlight) {
        windows.append(OpenStep(pages: pages, slot: windows.takeSlot(), deadline: deadline, heldTight: tight) { nil })
    }

    @Test func aStepWaitsForTheWindowsOnItsPagesAndTheLimitButNotForOthers() {
        var windows = WindowsInFlight(limit: 3)
        step(4..<5, deadline: 200, in: &windows)
        step(9..<10, deadline: 100, in: &windows)
        #expect(windows.blocking(7..<8, alone: false) == nil, "another page may begin beside them")
        #expect(windows.blocking(4..<5, alone: false) == 1, "a page in flight waits: the earliest window closes first")
        #expect(windows.blocking(0..<512, alone: false) == 1, "a range over a page in flight waits too")
        #expect(windows.blocking(7..<8, alone: true) == 1, "a step that runs alone waits for every window")
        step(7..<8, deadline: 300, in: &windows)
        #expect(windows.blocking(20..<21, alone: false) == 1, "three open: the limit")
        #expect(windows.peak == 3)
    }

    @Test func aWindowThatWouldFallDueDuringTheNextCallClosesBeforeIt() {
        var windows = WindowsInFlight(limit: 8)
        step(1..<2, deadline: 1_000, in: &windows)
        #expect(windows.imminent(now: 0, callNanoseconds: 500) == nil)
        #expect(windows.imminent(now: 600, callNanoseconds: 500) == 0)
        step(2..<3, deadline: 5_000, tight: true, in: &windows)
        #expect(windows.imminent(now: 0, callNanoseconds: 500) == 0, "a window held tight closes before the next call, earliest first")
    }

    @Test func oneContentWindowInThirtyTwoIsLongWithWindowsInFlightAndNoneAtOne() {
        var many = WindowsInFlight(limit: 8), one = WindowsInFlight(limit: 1)
        let lengths = (0..<64).map { _ in many.nextContentWindowMicroseconds(standard: 5) }
        #expect(lengths.filter { $0 == WindowsInFlight.longWindowMicroseconds }.count == 2 && many.longWindows == 2)
        #expect((0..<64).allSatisfy { _ in one.nextContentWindowMicroseconds(standard: 5) == 5 })
        var longer = WindowsInFlight(limit: 8)
        #expect((0..<64).allSatisfy { _ in longer.nextContentWindowMicroseconds(standard: 50) == 50 }, "never shorter than asked")
    }

    @Test func aSlotIsReusedOnlyOnceItsStepIsDone() {
        var windows = WindowsInFlight(limit: 8)
        let first = windows.takeSlot(), second = windows.takeSlot()
        #expect(first != second)
        windows.release(first)
        #expect(windows.takeSlot() == first)
    }
}

/// The mutator's loop over the windows in flight, on a ``ScriptedRun``'s real mutator (no `/dev/kvm`).
struct MutatorLoopTests {
    /// A window that would fall due during the next step's call is closed before that call (its page republished
    /// at its length, as at `--in-flight 1`), not a whole call late; a window further off stays open beside it.
    @Test func aWindowDueDuringTheNextCallClosesBeforeItAndOneFurtherOffStaysOpen() throws {
        let run = try ScriptedRun(.dontneed) { $0.windowMicroseconds = 100_000 }
        let mutator = run.mutator
        mutator.publishInitialGenerations()
        try mutator.take(Step(page: 0, operation: .dontneed))
        #expect(mutator.inFlight.open.map(\.pages) == [0..<1])
        mutator.meanCallNanoseconds = 1_000  // calls far shorter than the window: page 0's stays open
        try mutator.take(Step(page: 3, operation: .dontneed))
        #expect(mutator.inFlight.open.map(\.pages).sorted { $0.lowerBound < $1.lowerBound } == [0..<1, 3..<4])
        mutator.meanCallNanoseconds = 10_000_000_000  // a call that outlasts both windows
        try mutator.take(Step(page: 5, operation: .dontneed))
        #expect(mutator.inFlight.open.map(\.pages) == [5..<6], "the windows due during page 5's call closed before it")
        try mutator.closeAll()
        #expect(mutator.inFlight.open.isEmpty)
    }
}
