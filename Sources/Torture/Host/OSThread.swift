#if canImport(Glibc)
import CHost
import Glibc
#endif
import CKVM
import Foundation
import KVM

/// A named OS thread, optionally pinned to one CPU, that can be joined with a deadline.
///
/// vCPUs never run on Swift's cooperative pool: `KVM_RUN` blocks for as long as the guest runs. (The kernel
/// selftests' memstress and Firecracker's `VcpuHandle` give each vCPU its own thread the same way.)
package final class OSThread: @unchecked Sendable {
    // @unchecked: `finished` is a semaphore; `pinError` is written by the thread before it signals `started`.
    let name: String
    private let finished = DispatchSemaphore(value: 0)
    private let started = DispatchSemaphore(value: 0)
    private var pinError: Int32 = 0
    private var thread: Thread?

    /// Starts `body` on a new thread named `name` (at most 15 characters reach the kernel), pinned to `cpu`.
    package init(name: String, cpu: Int?, body: @escaping @Sendable () -> Void) throws {
        self.name = name
        let thread = Thread { [self] in
            name.withCString { _ = chost_name_current_thread($0) }
            if let cpu { pinError = chost_pin_current_thread(Int32(cpu)) }
            started.signal()
            if pinError == 0 { body() }
            finished.signal()
        }
        thread.stackSize = 1 << 20
        self.thread = thread
        thread.start()
        started.wait()
        if pinError != 0 {
            throw HostCallError("pthread_setaffinity_np", errno: pinError, context: "\(name) to CPU \(cpu ?? -1)",
                           hint: "run with --no-pin, or give the process more CPUs")
        }
    }

    /// Waits up to `timeout` seconds for the thread to finish; false if it did not.
    package func join(timeout: Double) -> Bool {
        finished.wait(timeout: .now() + timeout) == .success
    }
}

/// CPU placement: the mutator on the first allowed CPU, vCPUs spread over the others, so that every flush the
/// mutator causes must reach a vCPU running elsewhere.
public struct Placement: Codable, Sendable, Equatable {
    public var pinned: Bool
    public var mutatorCPU: Int?
    public var vcpuCPUs: [Int?]
    public var note: String?

    package init(vcpus: Int, pin: Bool) {
        var allowed = CPU_SETSIZE_list()
        if !pin || allowed.count < 2 {
            pinned = false
            mutatorCPU = nil
            vcpuCPUs = Array(repeating: nil, count: vcpus)
            note = pin ? "not pinned: only \(allowed.count) CPU allowed, the mutator and vCPUs share it" : "not pinned (--no-pin)"
            return
        }
        pinned = true
        mutatorCPU = allowed.removeFirst()
        vcpuCPUs = (0..<vcpus).map { allowed[$0 % allowed.count] }
        note = nil
    }
}

/// The CPUs this process may run on.
private func CPU_SETSIZE_list() -> [Int] {
    let count = Int(chost_allowed_cpu_count())
    return count > 0 ? Array(0..<count) : [0]
}
