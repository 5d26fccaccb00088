import CKVM

/// A KVM capability, as queried with `KVM_CHECK_EXTENSION` (the `KVM_CAP_*` constants of `linux/kvm.h`).
///
/// The named cases are the ones this project uses; ``KVMSystem/checkExtension(raw:)`` takes any number.
public struct Capability: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// `KVM_CAP_USER_MEMORY`: `KVM_SET_USER_MEMORY_REGION` works.
    public static let userMemory = Capability(rawValue: KVM_CAP_USER_MEMORY)
    /// `KVM_CAP_SYNC_MMU`: changes to the host mapping reach the guest (KVM has mmu notifiers). The whole
    /// integrity contract rests on it.
    public static let syncMMU = Capability(rawValue: KVM_CAP_SYNC_MMU)
    /// `KVM_CAP_NR_VCPUS`: the recommended maximum number of vCPUs.
    public static let recommendedVCPUs = Capability(rawValue: KVM_CAP_NR_VCPUS)
    /// `KVM_CAP_MAX_VCPUS`: the maximum number of vCPUs.
    public static let maxVCPUs = Capability(rawValue: KVM_CAP_MAX_VCPUS)
    /// `KVM_CAP_NR_MEMSLOTS`: the number of memory slots.
    public static let memorySlots = Capability(rawValue: KVM_CAP_NR_MEMSLOTS)
    /// `KVM_CAP_READONLY_MEM`: slots can be registered read-only.
    public static let readOnlyMemory = Capability(rawValue: KVM_CAP_READONLY_MEM)
    /// `KVM_CAP_IMMEDIATE_EXIT`: `kvm_run.immediate_exit` makes `KVM_RUN` return at once with EINTR.
    public static let immediateExit = Capability(rawValue: KVM_CAP_IMMEDIATE_EXIT)
    /// `KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2`: `KVM_CLEAR_DIRTY_LOG` and manual write protection.
    public static let manualDirtyLogProtect = Capability(rawValue: KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2)
    /// `KVM_CAP_DIRTY_LOG_RING`: per-vCPU dirty rings; the value is the maximum ring size in bytes.
    public static let dirtyLogRing = Capability(rawValue: KVM_CAP_DIRTY_LOG_RING)
    /// `KVM_CAP_BINARY_STATS_FD`: `KVM_GET_STATS_FD` on VMs and vCPUs.
    public static let binaryStatsFD = Capability(rawValue: KVM_CAP_BINARY_STATS_FD)
    /// `KVM_CAP_MEMORY_FAULT_INFO`: `KVM_RUN` failing with EFAULT fills `kvm_run.memory_fault`.
    public static let memoryFaultInfo = Capability(rawValue: KVM_CAP_MEMORY_FAULT_INFO)

    /// The named capabilities, for reports and diagnostics.
    public static let known: [Capability] = [
        .userMemory, .syncMMU, .recommendedVCPUs, .maxVCPUs, .memorySlots, .readOnlyMemory, .immediateExit,
        .manualDirtyLogProtect, .dirtyLogRing, .binaryStatsFD, .memoryFaultInfo,
    ]

    public var name: String {
        switch self {
        case .userMemory: "KVM_CAP_USER_MEMORY"
        case .syncMMU: "KVM_CAP_SYNC_MMU"
        case .recommendedVCPUs: "KVM_CAP_NR_VCPUS"
        case .maxVCPUs: "KVM_CAP_MAX_VCPUS"
        case .memorySlots: "KVM_CAP_NR_MEMSLOTS"
        case .readOnlyMemory: "KVM_CAP_READONLY_MEM"
        case .immediateExit: "KVM_CAP_IMMEDIATE_EXIT"
        case .manualDirtyLogProtect: "KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2"
        case .dirtyLogRing: "KVM_CAP_DIRTY_LOG_RING"
        case .binaryStatsFD: "KVM_CAP_BINARY_STATS_FD"
        case .memoryFaultInfo: "KVM_CAP_MEMORY_FAULT_INFO"
        default: "KVM_CAP(\(rawValue))"
        }
    }

    public var description: String { name }
}
