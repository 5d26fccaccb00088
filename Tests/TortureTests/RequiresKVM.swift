import Foundation
import KVM
import Testing

/// See KVMTests/RequiresKVM.swift: the same gate, for the torture suites.
let kvmDevicePath = ProcessInfo.processInfo.environment["MMUTORTURE_KVM_DEVICE"] ?? KVMSystem.defaultDevicePath

extension Trait where Self == ConditionTrait {
    static var requiresKVM: Self {
        let problem = KVMAvailability.problem(at: kvmDevicePath)
        let required = ProcessInfo.processInfo.environment["MMUTORTURE_REQUIRE_KVM"] == "1"
        return .enabled(if: problem == nil || required, "KVM unavailable: \(problem.map(String.init(describing:)) ?? "")")
    }
}
