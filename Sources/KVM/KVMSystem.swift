#if canImport(Glibc)
import Glibc
#endif
import CKVM

/// The KVM subsystem: an open descriptor on `/dev/kvm` (or another KVM device path).
///
/// ```swift
/// let kvm = try KVMSystem()                      // open("/dev/kvm", O_RDWR)
/// let vm = try kvm.createVirtualMachine()         // KVM_CREATE_VM
/// ```
/// See ``VirtualMachine`` for memory and vCPUs. The descriptor is closed when the system is released; VMs
/// created from it hold their own descriptors and keep working.
public final class KVMSystem: Sendable {
    /// The device KVM lives at on Linux.
    public static let defaultDevicePath = "/dev/kvm"
    /// The only stable KVM API version (`KVM_GET_API_VERSION` has returned 12 since Linux 2.6.22).
    public static let supportedAPIVersion: Int32 = 12

    /// The path this system was opened from.
    public let devicePath: String
    let fd: Int32

    /// Opens the KVM device read-write and checks the API version.
    ///
    /// Corresponds to `open(path, O_RDWR | O_CLOEXEC)` and `ioctl(KVM_GET_API_VERSION)`. Throws a ``KVMError``
    /// whose hint says how to fix a missing device, a permission problem or a wrong API version.
    public init(devicePath: String = KVMSystem.defaultDevicePath) throws {
        let (fd, error) = Syscall.open(devicePath, flags: O_RDWR)
        guard fd >= 0 else { throw KVMError.deviceUnavailable(path: devicePath, errno: error) }
        self.fd = fd
        self.devicePath = devicePath
        let version: Int32
        do {
            version = try Syscall.ioctl(fd, .getAPIVersion, context: devicePath)
        } catch {
            Syscall.close(fd)
            throw KVMError(
                operation: "KVM_GET_API_VERSION", errno: (error as? KVMError)?.errno ?? 0, context: devicePath,
                hint: "\(devicePath) does not answer KVM ioctls: is it the KVM device?")
        }
        guard version == Self.supportedAPIVersion else {
            Syscall.close(fd)
            throw KVMError(
                operation: "KVM_GET_API_VERSION", errno: 0, context: "\(devicePath) reports version \(version)",
                hint: "this library speaks KVM API version \(Self.supportedAPIVersion) only")
        }
    }

    deinit { Syscall.close(fd) }

    /// The KVM API version (`KVM_GET_API_VERSION`); always ``supportedAPIVersion`` for an opened system.
    public func apiVersion() throws -> Int32 {
        try Syscall.ioctl(fd, .getAPIVersion)
    }

    /// The value `KVM_CHECK_EXTENSION` returns for a capability: 0 when absent, otherwise 1 or a
    /// capability-specific number (a count, a size, a bit mask).
    public func checkExtension(_ capability: Capability) throws -> Int32 {
        try checkExtension(raw: capability.rawValue)
    }

    /// `KVM_CHECK_EXTENSION` for a capability number this library has no name for.
    public func checkExtension(raw capability: Int32) throws -> Int32 {
        try Syscall.ioctl(
            fd, .checkExtension, UInt(bitPattern: Int(capability)), context: "capability \(capability)")
    }

    /// Whether the kernel reports the capability at all.
    public func has(_ capability: Capability) -> Bool {
        ((try? checkExtension(capability)) ?? 0) > 0
    }

    /// The size of the per-vCPU `struct kvm_run` mapping (`KVM_GET_VCPU_MMAP_SIZE`), including the pages that
    /// follow it (the PIO data page, the coalesced MMIO ring).
    public func vcpuMmapSize() throws -> Int {
        Int(try Syscall.ioctl(fd, .getVCPUMmapSize))
    }

    /// Creates a virtual machine of the default type (`KVM_CREATE_VM` with type 0).
    public func createVirtualMachine() throws -> VirtualMachine {
        // Asked first: once the VM's descriptor exists, nothing may throw before the VM owns it.
        let runSize = try vcpuMmapSize()
        let vmfd = try Syscall.ioctl(fd, .createVM, 0)
        return VirtualMachine(fd: vmfd, system: self, vcpuMmapSize: runSize)
    }
}
