import Foundation
import TestSupport
import Testing
@testable import Torture

/// A stop request is passed to what it stops: a run polls its own, and the process's stays as it was.
@Suite(.requiresKVM, .serialized)
struct StopRequestTests {
    @Test func aRunStoppedThroughItsOwnRequestIsInterruptedAndTheProcessIsNot() throws {
        var run = TortureRun(configuration: TortureConfiguration(.dontneed, duration: 60, seed: 3, devicePath: kvmDevicePath))
        let stop = StopRequest()
        run.stop = stop
        let started = Date()
        let asker = Thread { Thread.sleep(forTimeInterval: 1); stop.request() }
        asker.start()
        let report = try run.run()
        #expect(Date().timeIntervalSince(started) < 30, "the run polled its request")
        #expect(report.verdict == .interrupted && report.interruptedBy == "a stop request", "\(report.verdictReason)")
        #expect(!StopRequest.process.isRequested)
    }
}
