import Foundation
import Testing
@testable import Lab
import Torture

/// The lab's children and work directories: a signal that interrupts a read of a child's output is not a crash,
/// and labs sharing a cache never share (or delete) each other's work directory.
@Suite struct LabProcessTests {
    @Test func aReadInterruptedBySignalsGoesOnToTheEnd() throws {
        // A handler without SA_RESTART: each delivery fails the blocked read with EINTR, as a Ctrl-C once did.
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        var old = sigaction()
        sigaction(SIGUSR2, &action, &old)
        defer { sigaction(SIGUSR2, &old, nil) }
        // The test runner's threads block every signal: let this one through to this thread for the test.
        var signals = sigset_t(), previous = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGUSR2)
        pthread_sigmask(SIG_UNBLOCK, &signals, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        var descriptors: [Int32] = [0, 0]
        #expect(pipe(&descriptors) == 0)
        let (readEnd, writeEnd) = (descriptors[0], descriptors[1])
        let reader = pthread_self()
        let writer = Thread {
            for _ in 0..<5 {
                usleep(20_000)
                pthread_kill(reader, SIGUSR2)
            }
            "the child's whole output\n".withCString { _ = write(writeEnd, $0, strlen($0)) }
            close(writeEnd)
        }
        writer.start()
        let data = DescriptorIO.readToEnd(readEnd)
        close(readEnd)
        #expect(String(decoding: data, as: UTF8.self) == "the child's whole output\n")
    }

    @Test func theStopHandlersRestartInterruptedCalls() {
        StopRequest.installSignalHandlers()
        for signal in StopRequest.handled {
            var action = sigaction()
            sigaction(signal, nil, &action)
            #expect(action.sa_flags & Int32(SA_RESTART) != 0, "signal \(signal)")
        }
    }

    @Test func eachLabGetsAWorkDirectoryOfItsOwn() throws {
        let cache = FileManager.default.temporaryDirectory.appendingPathComponent("lab-cache-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let first = try Lab.makeWorkDirectory(under: cache + "/runs")
        let second = try Lab.makeWorkDirectory(under: cache + "/runs")
        #expect(first != second)
        #expect(first.lastPathComponent != "\(getpid())", "not named after a PID, which containers sharing a cache repeat")
        #expect((try FileManager.default.attributesOfItem(atPath: first.path)[.posixPermissions] as? Int) == 0o700)
    }
}
