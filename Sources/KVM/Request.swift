import CKVM

/// A KVM ioctl bound once to its request code, its name (for errors) and the kind of argument it takes, so that a
/// call site can neither pass another type nor misname it (`Syscall.ioctl(fd, .getRegisters, &regs)`). The
/// codes come from CKVM, which asserts at build time that each pointer request encodes its struct's size.
struct Request<Argument>: Sendable {
    let code: UInt
    let name: String
}

/// The argument of a request that takes an integer (or nothing: 0) by value.
enum IntegerArgument {}
/// The argument of a request that takes a pointer to a header followed by entries (a length only the caller knows).
enum VariableLengthArgument {}

// On /dev/kvm.
extension Request where Argument == IntegerArgument {
    static let getAPIVersion = Request(code: CKVM_GET_API_VERSION, name: "KVM_GET_API_VERSION")
    static let checkExtension = Request(code: CKVM_CHECK_EXTENSION, name: "KVM_CHECK_EXTENSION")
    static let getVCPUMmapSize = Request(code: CKVM_GET_VCPU_MMAP_SIZE, name: "KVM_GET_VCPU_MMAP_SIZE")
    static let createVM = Request(code: CKVM_CREATE_VM, name: "KVM_CREATE_VM")
}

extension Request where Argument == VariableLengthArgument {
    static let getSupportedCPUID = Request(code: CKVM_GET_SUPPORTED_CPUID, name: "KVM_GET_SUPPORTED_CPUID")
    static let setCPUID2 = Request(code: CKVM_SET_CPUID2, name: "KVM_SET_CPUID2")
}

// On a VM.
extension Request where Argument == IntegerArgument {
    static let createVCPU = Request(code: CKVM_CREATE_VCPU, name: "KVM_CREATE_VCPU")
    static let getStatsFD = Request(code: CKVM_GET_STATS_FD, name: "KVM_GET_STATS_FD")
    static let resetDirtyRings = Request(code: CKVM_RESET_DIRTY_RINGS, name: "KVM_RESET_DIRTY_RINGS")
}

extension Request where Argument == kvm_userspace_memory_region {
    static let setUserMemoryRegion = Request(code: CKVM_SET_USER_MEMORY_REGION, name: "KVM_SET_USER_MEMORY_REGION")
}

extension Request where Argument == kvm_dirty_log {
    static let getDirtyLog = Request(code: CKVM_GET_DIRTY_LOG, name: "KVM_GET_DIRTY_LOG")
}

extension Request where Argument == kvm_clear_dirty_log {
    static let clearDirtyLog = Request(code: CKVM_CLEAR_DIRTY_LOG, name: "KVM_CLEAR_DIRTY_LOG")
}

extension Request where Argument == kvm_enable_cap {
    static let enableCapability = Request(code: CKVM_ENABLE_CAP, name: "KVM_ENABLE_CAP")
}

// On a vCPU.
extension Request where Argument == IntegerArgument {
    static let run = Request(code: CKVM_RUN, name: "KVM_RUN")
}

extension Request where Argument == kvm_regs {
    static let getRegisters = Request(code: CKVM_GET_REGS, name: "KVM_GET_REGS")
    static let setRegisters = Request(code: CKVM_SET_REGS, name: "KVM_SET_REGS")
}

extension Request where Argument == kvm_sregs {
    static let getSpecialRegisters = Request(code: CKVM_GET_SREGS, name: "KVM_GET_SREGS")
    static let setSpecialRegisters = Request(code: CKVM_SET_SREGS, name: "KVM_SET_SREGS")
}
