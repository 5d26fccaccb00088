import Foundation
import Guests
import TestSupport
import Testing
@testable import Torture

/// Windows in flight (`--in-flight`): the mutator begins steps on other pages while a step's window runs.
@Suite(.requiresKVM, .serialized)
struct InFlightRunTests {
    @Test func aMixedRunKeepsSeveralWindowsOpenAndStaysClean() throws {
        let (report, all) = try runUntil({ $0.verdict != .notExercised && ($0.windowsInFlightPeak ?? 0) > 1 }, seconds: 1.5) {
            try shortRun(.mix, on: .memfd, seconds: $0)
        }
        #expect(all.allSatisfy { $0.violationCount == 0 }, "\(all.map(\.verdictReason))")
        #expect(report.verdict == .pass, "\(report.summary)")
        let peak = try #require(report.windowsInFlightPeak)
        #expect(peak > 1 && peak <= TortureConfiguration.defaultInFlight, "windows really overlapped: \(peak)")
        #expect(report.summary.contains("windows in flight: at most \(peak) open at once"))
    }

    @Test func oneWindowInFlightStepsOneAtATime() throws {
        let report = try shortRun(.mix, on: .memfd, seconds: 1) { $0.inFlight = 1 }
        #expect(report.windowsInFlightPeak == 1, "\(report.summary)")
        #expect(report.violationCount == 0, "\(report.summary)")
    }

    @Test func theSameSeedMakesTheSameCallsInTheSameOrderAtAnyWindowsInFlight() throws {
        let one = try shortRun(.mix, on: .memfd, seconds: 0.5, seed: 1234) { $0.inFlight = 1 }
        let many = try shortRun(.mix, on: .memfd, seconds: 0.5, seed: 1234) { $0.inFlight = 16 }
        let common = min(one.firstSteps.count, many.firstSteps.count)
        #expect(common >= 8, "each run made a few steps at least")
        #expect(one.firstSteps.prefix(common) == many.firstSteps.prefix(common))
    }

    @Test func aRangeOperationRunsAlone() throws {
        // truncate cuts the file from its page to the end: no other step may be in flight over that range.
        let report = try shortRun(.truncate, on: .memfd, seconds: 1) { $0.inFlight = 8 }
        #expect(report.violationCount == 0, "\(report.summary)")
        #expect(report.windowsInFlightPeak == 1, "a truncate's window never shares the mutator: \(report.summary)")
    }

    @Test func aHotSetUnmappedWholeIsNeverTakenByAnAntagonistsMapping() throws {
        // Eight munmap steps in flight on a hot set of eight leave a 32 KiB hole, the spare slot's size: memslot-churn
        // once mapped its spare memory there mid-run and the steps' mapping back failed (EEXIST; seed 2 showed it
        // in one of three 5 s runs before the spare memory was mapped up front).
        let report = try shortRun(.mix, on: .memfd, seconds: 5, seed: 2) { configuration in
            configuration.hotPages = 8
            configuration.antagonists = [AntagonistSpec(kind: .memslotChurn, periodMicroseconds: 300), AntagonistSpec(kind: .dirtyToggle, periodMicroseconds: 300)]
        }
        #expect(report.harnessErrors.isEmpty && report.violationCount == 0, "\(report.summary)")
        #expect((report.windowsInFlightPeak ?? 0) > 4, "the hot set was in flight at once: \(report.summary)")
    }

    @Test func aWindowLastsItsLengthNotACallLonger() throws {
        // A 5 µs must-read-zero window falls due during the next call: it is waited for and closed first, so that
        // dontneed's windows never overlap; munmap's 300 µs must-fault windows do.
        let dontneed = try shortRun(.dontneed, seconds: 1) { $0.inFlight = 8 }
        #expect(dontneed.verdict == .pass && dontneed.windowsInFlightPeak == 1, "\(dontneed.summary)")
        let munmap = try shortRun(.munmap, seconds: 1) { $0.inFlight = 8 }
        #expect(munmap.verdict == .pass && (munmap.windowsInFlightPeak ?? 0) > 1, "\(munmap.summary)")
    }

    @Test func oneContentWindowInThirtyTwoIsHeldLongWithWindowsInFlightAndNoneAtOne() throws {
        // The long windows give the vCPU, kicked out by the call, time to map the page again before its
        // republication (WindowsInFlight.nextContentWindowMicroseconds).
        let many = try shortRun(.dontneed, seconds: 1)
        let opened = try #require(many.windows?[WindowKind.zero.rawValue]?.opened)
        let long = try #require(many.longWindows, "\(many.summary)")
        #expect(opened > 320 && Int(opened) / WindowsInFlight.longWindowEvery == long, "\(long) long of \(opened)")
        #expect(many.summary.contains("\(long.grouped) windows held \(WindowsInFlight.longWindowMicroseconds) µs (one in \(WindowsInFlight.longWindowEvery))"), "\(many.summary)")
        let one = try shortRun(.dontneed, seconds: 0.5) { $0.inFlight = 1 }
        #expect(one.longWindows == nil && one.verdict == .pass, "\(one.summary)")
    }

    @Test(arguments: [Torture.Operation.munmap, .mprotect])
    func theCheckerMovesPastPagesInMustFaultWindowsAndTheirWritesStillCount(operation: Torture.Operation) throws {
        // Several must-fault windows open at once: the checker skips a faulting read and defers its write rather
        // than waiting on the page, and the writes it deferred are made and verified later, lost-write free.
        let (report, _) = try runUntil({ ($0.checks.faultingWritesDeferred ?? 0) > 0 && $0.writes.verifications > 0 }, seconds: 1) {
            try shortRun(operation, seconds: $0) { $0.inFlight = 8 }
        }
        #expect(report.verdict == .pass, "\(report.summary)")
        #expect((report.checks.faultingReadsSkipped ?? 0) > 0 && (report.checks.faultingWritesDeferred ?? 0) > 0, "\(report.summary)")
        #expect((report.writes.published.first ?? 0) > 0 && report.writes.verifications > 0, "\(report.summary)")
    }

    @Test func everyControlStillFiresWithManyWindowsInFlight() throws {
        for (injection, operation, backing) in [
            (Injection.nowrite, Torture.Operation.mix, BackingKind.memfd), (.poison, .mix, .anonymous), (.losewrite, .mprotect, .anonymous),
        ] {
            let report = try shortRun(operation, on: backing, inject: injection) { $0.inFlight = 16 }
            #expect(report.verdict == .controlFired, "\(injection.rawValue): \(report.summary)")
            #expect((report.windowsInFlightPeak ?? 0) > 1, "\(injection.rawValue): windows overlapped")
        }
    }

    @Test func aViolationNeverNamesAnotherPagesStepAsItsOwn() throws {
        // The losewrite control's lost writes are found while other pages' steps are in flight: a violation names a
        // step as its own only when that step is on its page; otherwise it says so and lists the others.
        let report = try shortRun(.mprotect, inject: .losewrite) { $0.inFlight = 16 }
        #expect(report.verdict == .controlFired && (report.windowsInFlightPeak ?? 0) > 1, "\(report.summary)")
        let lost = report.violations.filter { $0.kind == .lostWrite }
        #expect(lost.contains { $0.operationInFlight?.hasPrefix("none on this page; in flight: mprotect on page") == true },
                "found while other pages' steps were in flight")
        for violation in lost {
            let inFlight = violation.operationInFlight ?? ""
            let own = "mprotect on page \(violation.page)"
            #expect(inFlight == own || (inFlight.hasPrefix("none on this page; in flight: ") && !inFlight.contains(own + ",") && !inFlight.hasSuffix(own)),
                    "\(violation.summary)")
        }
    }
}

struct InFlightBookkeepingTests {
    @Test func eachStepInFlightIsNamedByItsOwnPagesAndOwnsTheFaultsThere() {
        let observations = Observations()
        observations.beginOperation(.munmap, pages: 3..<4, slot: 0)
        observations.beginOperation(.truncate, pages: 10..<20, slot: 5)
        #expect(observations.operationInFlightDescription(page: 3) == "munmap on page 3")
        #expect(observations.operationInFlightDescription(page: 12) == "truncate on pages 10..<20")
        #expect(observations.operationInFlightDescription(page: 7) == "none on this page; in flight: munmap on page 3, truncate on pages 10..<20")
        observations.recordFault { Issue.record("no must-fault window is open: the faulting page is not asked for"); return 12 }
        observations.faultWindowOpen(true, slot: 5)
        observations.recordFault { 12 }
        observations.recordFault { 3 }  // munmap's window is not a must-fault one yet: not its evidence
        let tallies = observations.tallies.withLock { $0 }
        #expect(tallies[.truncate]?.faults == 1 && (tallies[.munmap]?.faults ?? 0) == 0)
        observations.endOperation(slot: 0)
        observations.endOperation(slot: 5)
        #expect(observations.operationInFlightDescription(page: 3) == nil && observations.operationsInFlight.isEmpty)
    }

    @Test func aCheckIsCreditedToOneWindowOnlyWhenWindowsOfItsKindOverlap() {
        let block = UnsafeMutablePointer<UInt64>.allocate(capacity: Int(GUEST_STATUS_BLOCK_SIZE) / 8)
        block.initialize(repeating: 0, count: Int(GUEST_STATUS_BLOCK_SIZE) / 8)
        defer { block.deallocate() }
        let sampling = WindowSampling(statusBlocks: [CheckerStatus(block: block)], observations: Observations())
        let first = sampling.evidence(.zero), second = sampling.evidence(.zero)
        block[Int(GUEST_STATUS_CONCLUSIVE_ZERO)] += 1  // one check lands while both windows are open
        sampling.closed(.zero, of: .dontneed, evidenceBefore: first)
        sampling.closed(.zero, of: .dontneed, evidenceBefore: second)
        #expect(sampling.counts(of: .dontneed)["must-read-zero"].map { [$0.opened, $0.sampled] } == [2, 1])
        let third = sampling.evidence(.zero)
        block[Int(GUEST_STATUS_CONCLUSIVE_ZERO)] += 1
        sampling.closed(.zero, of: .dontneed, evidenceBefore: third)
        #expect(sampling.counts(of: .dontneed)["must-read-zero"].map { [$0.opened, $0.sampled] } == [3, 2])
    }
}
