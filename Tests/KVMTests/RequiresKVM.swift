import Foundation
import KVM
import Testing

/// The KVM device the tests use: `MMUTORTURE_KVM_DEVICE`, or /dev/kvm. Pointing it at a missing path hides KVM.
let kvmDevicePath = ProcessInfo.processInfo.environment["MMUTORTURE_KVM_DEVICE"] ?? KVMSystem.defaultDevicePath

/// Gate for tests that drive the real device. Where it cannot be opened they skip, saying why; with
/// `MMUTORTURE_REQUIRE_KVM=1` (CI) they run anyway and fail on the open, so a skip cannot pass silently.
extension Trait where Self == ConditionTrait {
    static var requiresKVM: Self {
        let problem = KVMAvailability.problem(at: kvmDevicePath)
        let required = ProcessInfo.processInfo.environment["MMUTORTURE_REQUIRE_KVM"] == "1"
        return .enabled(if: problem == nil || required, "KVM unavailable: \(problem.map(String.init(describing:)) ?? "")")
    }
}

func openKVM() throws -> KVMSystem { try KVMSystem(devicePath: kvmDevicePath) }
