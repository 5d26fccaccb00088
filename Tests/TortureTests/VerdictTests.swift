import Testing
@testable import Torture

/// The verdict's rules one at a time: what each kind of evidence makes of a run.
struct VerdictTests {
    /// A run that judged something, with every operation exercised.
    let exercised = VerdictEvidence(conclusiveChecks: 1000, writeVerifications: 10)

    func judged(_ change: (inout VerdictEvidence) -> Void) -> Verdict {
        var evidence = exercised
        change(&evidence)
        return evidence.judge().0
    }

    @Test func aRunWithEvidenceAndNoViolationPasses() {
        #expect(exercised.judge().0 == .pass)
    }

    @Test func anyViolationWithoutInjectionIsAViolation() {
        for kind in Violation.Kind.allCases {
            #expect(judged { $0.violationsByKind = [kind: 1] } == .violation, "\(kind)")
        }
    }

    @Test func aControlFiresOnlyThroughItsOwnKind() {
        for injection in Injection.allCases where injection != .none {
            let own = injection.violationKinds.sorted()
            #expect(!own.isEmpty, "\(injection) names the kinds it produces")
            #expect(judged { $0.injection = injection; $0.violationsByKind = [own[0]: 3] } == .controlFired, "\(injection)")
            // A kind the control cannot produce is a real violation, even with the control's own kind beside it.
            let foreign = [Violation.Kind.staleRead, .missingFlush, .missedDirty].first { !injection.violationKinds.contains($0) }!
            #expect(judged { $0.injection = injection; $0.violationsByKind = [own[0]: 3, foreign: 1] } == .violation, "\(injection)")
        }
    }

    @Test func anUncaughtControlIsNeverAPass() {
        for injection in Injection.allCases where injection != .none {
            let verdict = judged { $0.injection = injection }
            #expect(verdict == (injection == .early ? .notExercised : .controlMissed), "\(injection)")
        }
    }

    @Test func kernelWarningsAreNeverHiddenByAnInjection() {
        #expect(judged { $0.injection = .nowrite; $0.violationsByKind = [.staleRead: 5]; $0.kernelFindings = ["WARNING: at mmu.c:579"] } == .violation)
        #expect(judged { $0.kernelFindings = ["BUG: soft lockup"] } == .violation)
    }

    @Test func aHarnessErrorOutranksEverything() {
        #expect(judged { $0.harnessErrors = ["vCPU 0: registers unreadable"]; $0.violationsByKind = [.staleRead: 1] } == .harnessError)
    }

    @Test func aRunThatJudgedNothingIsNotExercised() {
        #expect(judged { $0.conclusiveChecks = 0; $0.writeVerifications = 0 } == .notExercised)
        #expect(judged { $0.idle = ["dontneed"] } == .notExercised)
        #expect(judged { $0.dirtyJudgedRounds = 0 } == .notExercised)
        #expect(judged { $0.operationPerformed = false } == .notExercised)
        #expect(judged { $0.dirtyJudgedRounds = 4 } == .pass)
    }
}

/// The starvation note: seconds in which the mutator fell far below its own median rate.
struct StarvationTests {
    func timeline(_ operationsPerSecond: [Int]) -> [RunReport.TimelineSample] {
        var total = 0
        return operationsPerSecond.enumerated().map { second, rate in
            total += rate
            return RunReport.TimelineSample(second: Double(second + 1), operations: total, conclusiveChecks: 0, remoteTLBFlushes: 0, efaults: 0)
        }
    }

    @Test func aSteadyRunIsNotStarvedAndADipIsSaid() {
        #expect(TortureRun.starvationNote(timeline([3000, 3100, 2950, 3050, 3000])) == nil)
        let note = TortureRun.starvationNote(timeline([3000, 3100, 239, 3050, 3000]))
        #expect(note?.contains("starved: in 1 of 4 seconds") == true, "\(note ?? "none")")
    }
}

/// Whether an operation was exercised (``RunAssessment/isExercised(flushes:faults:windowsOpened:windowsSampled:judgedByItsWindows:)``),
/// the rule apart from the run it reads.
struct ExercisedRuleTests {
    @Test func anOperationWhoseFlushesReachedNoVCPUAndNothingFaultedIsNotExercised() {
        #expect(!RunAssessment.isExercised(flushes: 0, faults: 0, windowsOpened: 10, windowsSampled: 10, judgedByItsWindows: true))
        #expect(RunAssessment.isExercised(flushes: 1, faults: 0, windowsOpened: 10, windowsSampled: 1, judgedByItsWindows: true))
        #expect(RunAssessment.isExercised(flushes: 0, faults: 3, windowsOpened: 0, windowsSampled: 0, judgedByItsWindows: true))
    }

    @Test func anOperationJudgedByItsWindowsNeedsOneSampled() {
        #expect(!RunAssessment.isExercised(flushes: 5, faults: 0, windowsOpened: 10, windowsSampled: 0, judgedByItsWindows: true))
        // Judged by its writes (fork-cow, pageout, cold, aging): the windows are a formality.
        #expect(RunAssessment.isExercised(flushes: 5, faults: 0, windowsOpened: 10, windowsSampled: 0, judgedByItsWindows: false))
    }
}
