#if canImport(Glibc)
import Glibc
#endif
import CKVM
import KVM

/// The engine's one choke point for the mm syscalls it fires at guest memory: each failure is a ``KVMError``
/// naming the syscall, with errno and the address range. (The KVM library has its own for ioctls.)
enum HostMemory {
    static func check(_ result: Int32, _ name: String, _ address: UnsafeMutableRawPointer, _ length: Int) throws {
        if result != 0 { throw KVMError(operation: name, errno: errno, context: "\(address), \(length) bytes") }
    }

    /// `fork()`, with a child that does nothing but `_exit` (all a child of a multithreaded process may safely
    /// do): the parent's private pages all become copy-on-write, its PTEs write-protected under the mmu notifiers.
    static func forkChildThatExits() throws {
        let child = fork()
        if child == 0 { _exit(0) }
        guard child > 0 else { throw KVMError(operation: "fork", errno: errno) }
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 && errno == EINTR {}
    }

    static func madvise(_ address: UnsafeMutableRawPointer, _ length: Int, _ advice: Int32, name: String) throws {
        try check(Glibc.madvise(address, length, advice), name, address, length)
    }

    static func mprotect(_ address: UnsafeMutableRawPointer, _ length: Int, _ protection: Int32) throws {
        try check(Glibc.mprotect(address, length, protection), "mprotect", address, length)
    }

    static func munmap(_ address: UnsafeMutableRawPointer, _ length: Int) throws {
        try check(Glibc.munmap(address, length), "munmap", address, length)
    }

    /// `mmap` at exactly `address` (MAP_FIXED or MAP_FIXED_NOREPLACE in `flags`); anything else is an error.
    static func mmapFixed(_ address: UnsafeMutableRawPointer, _ length: Int, flags: Int32, fd: Int32, offset: Int, name: String) throws {
        let result = Glibc.mmap(address, length, PROT_READ | PROT_WRITE, flags, fd, off_t(offset))
        guard let result, result != MAP_FAILED else {
            throw KVMError(operation: name, errno: errno, context: "\(address), \(length) bytes")
        }
        guard result == address else {
            Glibc.munmap(result, length)
            throw KVMError(operation: name, errno: EEXIST, context: "asked for \(address), got \(result)",
                           hint: "the kernel ignored the fixed address")
        }
    }

    /// `mremap` one page from `source` to exactly `destination` (MREMAP_FIXED: whatever was there is unmapped).
    static func mremap(_ source: UnsafeMutableRawPointer, to destination: UnsafeMutableRawPointer) throws {
        let result = ckvm_mremap_fixed(source, 4096, 4096, destination)
        if result == MAP_FAILED || result != destination {
            throw KVMError(operation: "mremap", errno: errno, context: "\(source) to \(destination)")
        }
    }

    /// Reserves `length` bytes of address space (PROT_NONE), anywhere or exactly at `address`.
    static func reserve(_ length: Int, at address: UnsafeMutableRawPointer? = nil) throws -> UnsafeMutableRawPointer {
        var flags = MAP_PRIVATE | MAP_ANONYMOUS | CKVM_MAP_NORESERVE
        if address != nil { flags |= MAP_FIXED }
        let result = Glibc.mmap(address, length, PROT_NONE, flags, -1, 0)
        guard let result, result != MAP_FAILED else { throw KVMError(operation: "mmap(PROT_NONE)", errno: errno, context: "\(length) bytes") }
        return result
    }

    static func fallocatePunch(fd: Int32, offset: Int, length: Int) throws {
        if ckvm_fallocate(fd, CKVM_FALLOC_FL_PUNCH_HOLE_KEEP_SIZE, off_t(offset), off_t(length)) != 0 {
            throw KVMError(operation: "fallocate(PUNCH_HOLE)", errno: errno, context: "offset \(offset), \(length) bytes")
        }
    }
}
