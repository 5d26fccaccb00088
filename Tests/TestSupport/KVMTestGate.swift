import Foundation
import KVM
import Testing

/// The one gate for tests that drive the real device: they run where it opens, skip with the reason where it does
/// not, and fail on the open instead under `MMUTORTURE_REQUIRE_KVM=1` (CI), so that a skip never passes silently.
/// `MMUTORTURE_KVM_DEVICE` points the tests (and only the tests) at another path, e.g. a missing one to hide KVM.
public enum KVMTestGate {
    public static let requireVariable = "MMUTORTURE_REQUIRE_KVM"
    public static let deviceOverrideVariable = "MMUTORTURE_KVM_DEVICE"

    /// The device to use, whether tests that need it run, and the reason they skip.
    public static func evaluate(environment: [String: String]) -> (devicePath: String, run: Bool, skipReason: String) {
        let path = environment[deviceOverrideVariable] ?? KVMSystem.defaultDevicePath
        let problem = KVMAvailability.problem(at: path)
        return (path, problem == nil || environment[requireVariable] == "1", "KVM unavailable: \(problem.map(String.init(describing:)) ?? "")")
    }

    /// This process's gate.
    public static let current = evaluate(environment: ProcessInfo.processInfo.environment)

    /// Whether CI asked for the KVM tests to run for real (a skip there is a failure).
    public static var required: Bool { ProcessInfo.processInfo.environment[requireVariable] == "1" }
}

/// The device the tests open.
public var kvmDevicePath: String { KVMTestGate.current.devicePath }

/// The tests' kick signal (SIGUSR1), installed on first use: the library installs none of its own.
public let testKickSignal = KickSignal.install(SIGUSR1)

/// Opens the device the tests use.
public func openKVM() throws -> KVMSystem { try KVMSystem(devicePath: kvmDevicePath) }

extension Trait where Self == ConditionTrait {
    /// For a test or suite that drives the real device (``KVMTestGate``).
    public static var requiresKVM: Self { .enabled(if: KVMTestGate.current.run, Comment(rawValue: KVMTestGate.current.skipReason)) }
}
