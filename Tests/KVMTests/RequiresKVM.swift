import Foundation
import KVM
import Testing

/// The gate for tests that drive the real device (KVMAvailability.testGate: skip with the reason, or fail under
/// MMUTORTURE_REQUIRE_KVM=1). MMUTORTURE_KVM_DEVICE points the tests at another path, e.g. a missing one.
let kvmGate = KVMAvailability.testGate(environment: ProcessInfo.processInfo.environment)
let kvmDevicePath = kvmGate.devicePath

extension Trait where Self == ConditionTrait {
    static var requiresKVM: Self { .enabled(if: kvmGate.run, Comment(rawValue: kvmGate.skipReason)) }
}

func openKVM() throws -> KVMSystem { try KVMSystem(devicePath: kvmDevicePath) }
