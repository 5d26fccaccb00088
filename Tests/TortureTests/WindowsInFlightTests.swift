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
