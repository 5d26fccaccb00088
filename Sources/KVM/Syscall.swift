#if canImport(Glibc)
import Glibc
#endif
import CKVM

/// The one choke point for every ioctl, mmap, munmap and close the library makes, so that errors are built in
/// one place, always name the operation and carry errno. Nothing else in the module calls these functions of
/// Glibc directly. (The shape of swift-system's `Internals/Syscalls.swift`.)
///
/// EINTR policy: these wrappers do not retry. `KVM_RUN` interrupted by a kick is an outcome the caller wants to
/// see (`VCPUExit.interrupted`); every other KVM ioctl used here does not sleep interruptibly.
enum Syscall {
    /// An ioctl whose argument is an integer (or none).
    @discardableResult
    static func ioctl(
        _ fd: Int32, _ request: Request<IntegerArgument>, _ argument: UInt = 0, context: @autoclosure () -> String = ""
    ) throws -> Int32 {
        let result = ckvm_ioctl_value(fd, request.code, argument)
        if result < 0 { throw KVMError(operation: request.name, errno: Glibc.errno, context: context()) }
        return result
    }

    /// An ioctl whose argument points at a value of type `T`, which the kernel reads and/or writes.
    @discardableResult
    static func ioctl<T>(
        _ fd: Int32, _ request: Request<T>, _ value: inout T, context: @autoclosure () -> String = ""
    ) throws -> Int32 {
        // SAFETY: CKVM statically asserts that the request encodes sizeof(T) for every pointer ioctl bound in
        // `Request`, so the kernel accesses exactly the bytes of `value`, which live for the duration of the call.
        let result = withUnsafeMutablePointer(to: &value) { Glibc.ioctl(fd, request.code, UnsafeMutableRawPointer($0)) }
        if result < 0 { throw KVMError(operation: request.name, errno: Glibc.errno, context: context()) }
        return result
    }

    static func mmap(
        address: UnsafeMutableRawPointer? = nil, length: Int, protection: Int32, flags: Int32, fd: Int32 = -1,
        offset: Int = 0, name: String = "mmap", context: @autoclosure () -> String = ""
    ) throws -> UnsafeMutableRawPointer {
        let result = Glibc.mmap(address, length, protection, flags, fd, off_t(offset))
        guard let result, result != MAP_FAILED else {
            throw KVMError(operation: name, errno: Glibc.errno, context: context())
        }
        return result
    }

    static func munmap(_ address: UnsafeMutableRawPointer, length: Int) throws {
        if Glibc.munmap(address, length) != 0 {
            throw KVMError(operation: "munmap", errno: Glibc.errno, context: "\(address), \(length) bytes")
        }
    }

    static func close(_ fd: Int32) {
        // close(2) releases the descriptor even when it reports an error; there is nothing to retry.
        _ = Glibc.close(fd)
    }

    static func open(_ path: String, flags: Int32) -> (fd: Int32, errno: Int32) {
        let fd = Glibc.open(path, flags | O_CLOEXEC)
        return (fd, fd < 0 ? Glibc.errno : 0)
    }

    static func pread(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, offset: Int, name: String) throws {
        var done = 0
        while done < buffer.count {
            let n = Glibc.pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if Glibc.errno == EINTR { continue }
                throw KVMError(operation: name, errno: Glibc.errno, context: "pread of \(buffer.count) bytes")
            }
            if n == 0 { throw KVMError(operation: name, errno: EIO, context: "short read at offset \(offset + done)") }
            done += n
        }
    }
}

extension Syscall {
    /// An ioctl whose argument points at a variable-length buffer (a header followed by entries), which a
    /// fixed Swift type cannot describe.
    @discardableResult
    static func ioctl(
        _ fd: Int32, _ request: Request<VariableLengthArgument>, buffer: UnsafeMutableRawPointer,
        context: @autoclosure () -> String = ""
    ) throws -> Int32 {
        let result = Glibc.ioctl(fd, request.code, buffer)
        if result < 0 { throw KVMError(operation: request.name, errno: Glibc.errno, context: context()) }
        return result
    }

    /// `KVM_RUN` and the like on the hot path: no throw, the caller reads errno from the result.
    static func ioctlResult(_ fd: Int32, _ request: Request<IntegerArgument>) -> (result: Int32, errno: Int32) {
        let result = ckvm_ioctl_value(fd, request.code, 0)
        return (result, result < 0 ? Glibc.errno : 0)
    }
}
