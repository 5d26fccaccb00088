import Atomics
import Foundation
import Testing
@testable import Torture

/// The missing-flush oracle's rule (``FlushProbe``), judged with a scripted checker (a status block in host memory
/// whose sweep count a thread advances) and scripted counter readings: no `/dev/kvm`.
@Suite(.serialized)
struct FlushProbeTests {
    /// A checker's status block that a thread sweeps every `period` until `stop`.
    final class ScriptedChecker: @unchecked Sendable {
        let block = UnsafeMutablePointer<UInt64>.allocate(capacity: 64)
        let stopped = ManagedAtomic(false)
        var status: CheckerStatus { CheckerStatus(block: block) }

        init(sweepEvery period: Duration?) {
            block.initialize(repeating: 0, count: 64)
            guard let period else { return }
            let sweeps = UnsafeAtomic<UInt64>(at: UnsafeMutableRawPointer(block).assumingMemoryBound(to: UnsafeAtomic<UInt64>.Storage.self))
            Thread.detachNewThread { [self] in
                while !stopped.load(ordering: .relaxed) {
                    Thread.sleep(forTimeInterval: Double(period.components.attoseconds) / 1e18)
                    sweeps.wrappingIncrement(ordering: .releasing)
                }
            }
        }

        func stop() { stopped.store(true, ordering: .relaxed) }
    }

    /// A probe armed with the flush request count `requests`, over a checker sweeping every 200 µs. On a loaded
    /// host the checker's thread may not sweep twice within one probe's wait (50 ms): the probe is then skipped
    /// and armed again, up to 40 times (2 s).
    func armedProbe(requests: UInt64) throws -> (FlushProbe, ScriptedChecker) {
        let checker = ScriptedChecker(sweepEvery: .microseconds(200))
        let probe = FlushProbe(statusBlocks: [checker.status], intervalMilliseconds: 5)
        var armed = false
        for _ in 0..<40 where !armed {
            while !probe.isDue(for: .dontneed) { usleep(100) }
            armed = probe.arm { requests }
        }
        try #require(armed, "two sweeps came within one of 40 waits")
        return (probe, checker)
    }

    @Test func aProvenMappedPageWhoseCallMovedNoFlushRequestIsAMissingFlush() throws {
        let (probe, checker) = try armedProbe(requests: 100)
        defer { checker.stop() }
        let missing = probe.judge(requestsBefore: 100, requestsAfter: 100, judgeable: true)
        #expect(missing?.before == 100 && missing?.after == 100)
        let report = probe.report.withLock { $0 }
        #expect(report.probes == report.skippedNoSweep + 1 && report.judged == 1 && report.missing == 1)
    }

    @Test func aCallThatFlushedIsJudgedAndClean() throws {
        let (probe, checker) = try armedProbe(requests: 100)
        defer { checker.stop() }
        #expect(probe.judge(requestsBefore: 100, requestsAfter: 101, judgeable: true) == nil)
        let report = probe.report.withLock { $0 }
        #expect(report.judged == 1 && report.missing == 0)
    }

    @Test func aFlushBetweenTheProofAndTheCallVoidsTheProbe() throws {
        // Something else zapped meanwhile: the page may not be mapped any more, so nothing is proven.
        let (probe, checker) = try armedProbe(requests: 100)
        defer { checker.stop() }
        #expect(probe.judge(requestsBefore: 101, requestsAfter: 101, judgeable: true) == nil)
        let report = probe.report.withLock { $0 }
        #expect(report.judged == 0 && report.skippedCounterMoved == 1)
    }

    @Test func aCallThatTurnedOutNoInvalidationJudgesNothing() throws {
        let (probe, checker) = try armedProbe(requests: 100)
        defer { checker.stop() }
        #expect(probe.judge(requestsBefore: 100, requestsAfter: 100, judgeable: false) == nil)
        #expect(probe.report.withLock { $0.skippedNotInvalidating } == 1)
    }

    @Test func withoutTwoSweepsTheProbeGivesUpAndJudgesNothing() throws {
        let checker = ScriptedChecker(sweepEvery: nil)  // a descheduled vCPU
        let probe = FlushProbe(statusBlocks: [checker.status], intervalMilliseconds: 5)
        #expect(probe.isDue(for: .dontneed))
        #expect(!probe.arm { 100 })
        #expect(probe.judge(requestsBefore: 100, requestsAfter: 100, judgeable: true) == nil)
        let report = probe.report.withLock { $0 }
        #expect(report.skippedNoSweep == 1 && report.judged == 0)
    }

    @Test func onlyInvalidationsOfAMappedRangeAreProbed() {
        let probe = FlushProbe(statusBlocks: [], intervalMilliseconds: 5)
        #expect(!probe.isDue(for: .forkCOW), "fork-cow may not reach KVM at all")
    }

    @Test func probingTakesAtMostItsShareOfTheMutatorsTime() throws {
        // Slow sweeps (5 ms each): a probe waits about two of them; the next may come no sooner than
        // `waitShare` waits later, far beyond the 5 ms interval.
        let checker = ScriptedChecker(sweepEvery: .milliseconds(5))
        defer { checker.stop() }
        let probe = FlushProbe(statusBlocks: [checker.status], intervalMilliseconds: 5)
        #expect(probe.isDue(for: .dontneed))
        let started = ContinuousClock.now
        try #require(probe.arm { 100 })
        let waited = ContinuousClock.now - started
        let ended = ContinuousClock.now
        while !probe.isDue(for: .dontneed) { usleep(100) }
        let between = ContinuousClock.now - ended
        // At most a fortieth of the mutator's time: 39 waits between probes (35 allows for the clock's reads).
        #expect(between >= waited * 35, "a wait of \(waited), the next probe \(between) later")
    }
}
