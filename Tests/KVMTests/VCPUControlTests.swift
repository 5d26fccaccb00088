import Foundation
import Guests
import GuestRuntime
import KVM
import TestSupport
import Testing

@Suite(.requiresKVM)
struct VCPUControlTests {
    @Test(.timeLimit(.minutes(1)))
    func aRunningVCPUIsStoppedFromAnotherThreadWithinABoundedWait() throws {
        let machine = try GuestMachine(kvm: try openKVM(), program: .spin)
        let vcpu = try machine.createVCPU(id: 0, arguments: [0, 0, 0, 0], kick: testKickSignal)  // rcx = 0: spin forever
        let finished = DispatchSemaphore(value: 0)
        let outcome = LockedBox<VCPUExit?>(nil)
        let thread = Thread {
            // A thread that inherits a blocked kick signal (Dispatch's workers block signals) must still be kickable.
            var blocked = sigset_t()
            sigemptyset(&blocked)
            sigaddset(&blocked, testKickSignal.number)
            pthread_sigmask(SIG_BLOCK, &blocked, nil)
            outcome.value = try? vcpu.run()
            finished.signal()
        }
        thread.start()
        Thread.sleep(forTimeInterval: 0.1)  // let it enter the guest
        #expect(outcome.value == nil, "the spinning guest must still be running")
        vcpu.requestExit()
        #expect(finished.wait(timeout: .now() + 2) == .success, "KVM_RUN must return within 2 s of the kick")
        #expect(outcome.value == .interrupted)
    }

    @Test func anExitRequestedBeforeRunReturnsAtOnceUntilCleared() throws {
        let machine = try GuestMachine(kvm: try openKVM(), program: .hello)
        let vcpu = try machine.createVCPU(id: 0)
        vcpu.requestExit()
        #expect(vcpu.exitRequested)
        #expect(try vcpu.run() == .interrupted)
        #expect(try vcpu.registers().rip == UInt64(GUEST_CODE_GPA), "the guest did not execute")
        vcpu.clearExitRequest()
        #expect(try runUntilDone(vcpu).count == 1)
    }
}

/// A value shared between a test and the thread it starts.
final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
