#if canImport(Glibc)
import Glibc
#endif

/// An error from the KVM interface: which operation failed, the errno it failed with, what it was asked to do,
/// and, where one is known, how to fix it.
///
/// Every ioctl and syscall the library makes goes through one choke point (`Syscall`), which builds these, so a
/// failure always names the ioctl (`KVM_SET_USER_MEMORY_REGION`) or syscall (`mmap`) as the kernel selftests'
/// `__KVM_IOCTL_ERROR(#cmd)` does.
public struct KVMError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The ioctl or syscall that failed, e.g. `"KVM_CREATE_VCPU"` or `"mmap"`.
    public var operation: String
    /// The errno value it failed with, or 0 where the failure is not an errno (e.g. a wrong API version).
    public var errno: Int32
    /// What was being done, with the arguments that matter (slot, address, size, path).
    public var context: String
    /// How to fix it, where the fix is known.
    public var hint: String?

    public init(operation: String, errno: Int32, context: String = "", hint: String? = nil) {
        self.operation = operation
        self.errno = errno
        self.context = context
        self.hint = hint
    }

    /// The symbolic errno name (`EINVAL`), or `errno N` for a value not in the table.
    public var errnoName: String { Self.errnoName(errno) }

    public var description: String {
        var text = operation
        if !context.isEmpty { text += " (\(context))" }
        if errno != 0 {
            text += " failed: \(errnoName): \(String(cString: strerror(errno)))"
        } else {
            text += " failed"
        }
        if let hint { text += ". \(hint)" }
        return text
    }

    /// The symbolic name of an errno value (`EINVAL`), or `errno N` for one not in the table.
    public static func errnoName(_ value: Int32) -> String {
        switch value {
        case EPERM: "EPERM"
        case ENOENT: "ENOENT"
        case EINTR: "EINTR"
        case EIO: "EIO"
        case ENXIO: "ENXIO"
        case E2BIG: "E2BIG"
        case EBADF: "EBADF"
        case EAGAIN: "EAGAIN"
        case ENOMEM: "ENOMEM"
        case EACCES: "EACCES"
        case EFAULT: "EFAULT"
        case EBUSY: "EBUSY"
        case EEXIST: "EEXIST"
        case ENODEV: "ENODEV"
        case EINVAL: "EINVAL"
        case ENOSPC: "ENOSPC"
        case ERANGE: "ERANGE"
        case ENOTTY: "ENOTTY"
        case ENOSYS: "ENOSYS"
        case EOPNOTSUPP: "EOPNOTSUPP"
        case EHWPOISON: "EHWPOISON"
        default: "errno \(value)"
        }
    }
}

extension KVMError {
    /// Opening the KVM device failed; the hint says what to do about the particular errno.
    public static func deviceUnavailable(path: String, errno: Int32) -> KVMError {
        let hint: String
        switch errno {
        case ENOENT, ENODEV, ENXIO:
            hint = "KVM not available: module not loaded or no hardware virtualization "
                + "(load kvm_intel or kvm_amd, enable VT-x/AMD-V in firmware, or nested virtualization on the host)"
        case EACCES, EPERM:
            hint = "permission denied: " + permissionFix(path: path)
        default:
            hint = "check that \(path) is the KVM device"
        }
        return KVMError(operation: "open", errno: errno, context: path, hint: hint)
    }

    /// What would let this user open the device, from its actual owner, group and mode: joining a group helps
    /// only where the group may read and write it (`root:root 0600` needs root or a udev rule).
    static func permissionFix(path: String) -> String {
        let udev = "install a udev rule (KERNEL==\"kvm\", GROUP=\"kvm\", MODE=\"0660\"), reload udev, and add the user to group kvm"
        var status = stat()
        guard stat(path, &status) == 0 else { return udev }
        let mode = status.st_mode & 0o777
        let group = getgrgid(status.st_gid).flatMap { String(validatingCString: $0.pointee.gr_name) } ?? "gid \(status.st_gid)"
        let owner = getpwuid(status.st_uid).flatMap { String(validatingCString: $0.pointee.pw_name) } ?? "uid \(status.st_uid)"
        let description = "\(path) is \(owner):\(group) \(String(mode, radix: 8))"
        if mode & 0o060 == 0o060 && status.st_gid != 0 {
            return "\(description): add the user to group \(group) (then log in again), or run as root"
        }
        return "\(description), which no group but root's may open: run as root, or " + udev
    }
}
