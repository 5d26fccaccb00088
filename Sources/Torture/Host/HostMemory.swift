#if canImport(Glibc)
import CHost
import Glibc
#endif
import CKVM
import KVM

/// The engine's one choke point for the mm syscalls it fires at guest memory: each failure is a ``HostCallError``
/// naming the syscall, with errno and the address range. (The KVM library has its own for ioctls.)
enum HostMemory {
    static func check(_ result: Int32, _ name: String, _ address: UnsafeMutableRawPointer, _ length: Int) throws {
        if result != 0 { throw HostCallError(name, errno: errno, context: "\(address), \(length) bytes") }
    }

    /// `fork()`, with a child that does nothing but `_exit` (all a child of a multithreaded process may safely
    /// do): the parent's private pages all become copy-on-write, its PTEs write-protected under the mmu notifiers.
    static func forkChildThatExits() throws {
        try HeldChild.fork().release()
    }

    static func madvise(_ address: UnsafeMutableRawPointer, _ length: Int, _ advice: Int32, name: String) throws {
        try check(Glibc.madvise(address, length, advice), name, address, length)
    }

    /// Why this kernel has no guard regions, or nil: `MADV_GUARD_INSTALL` (Linux 6.13) tried on a scratch page of
    /// private anonymous memory (an older kernel answers EINVAL).
    static let guardRegionsProblem: String? = {
        guard let page = Glibc.mmap(nil, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), page != MAP_FAILED else {
            return "mmap of a scratch page failed (\(String(cString: strerror(errno))))"
        }
        defer { Glibc.munmap(page, 4096) }
        guard Glibc.madvise(page, 4096, CHOST_MADV_GUARD_INSTALL) == 0 else {
            return "madvise(MADV_GUARD_INSTALL) failed (\(String(cString: strerror(errno)))): guard regions need Linux 6.13 or later"
        }
        return nil
    }()

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
            throw HostCallError(name, errno: errno, context: "\(address), \(length) bytes")
        }
        guard result == address else {
            Glibc.munmap(result, length)
            throw HostCallError(name, errno: EEXIST, context: "asked for \(address), got \(result)",
                           hint: "the kernel ignored the fixed address")
        }
    }

    /// `mremap` one page from `source` to exactly `destination` (MREMAP_FIXED: whatever was there is unmapped).
    static func mremap(_ source: UnsafeMutableRawPointer, to destination: UnsafeMutableRawPointer) throws {
        let result = chost_mremap_fixed(source, 4096, 4096, destination)
        if result == MAP_FAILED || result != destination {
            throw HostCallError("mremap", errno: errno, context: "\(source) to \(destination)")
        }
    }

    /// Reserves `length` bytes of address space (PROT_NONE), anywhere or exactly at `address`.
    static func reserve(_ length: Int, at address: UnsafeMutableRawPointer? = nil) throws -> UnsafeMutableRawPointer {
        var flags = MAP_PRIVATE | MAP_ANONYMOUS | CHOST_MAP_NORESERVE
        if address != nil { flags |= MAP_FIXED }
        let result = Glibc.mmap(address, length, PROT_NONE, flags, -1, 0)
        guard let result, result != MAP_FAILED else { throw HostCallError("mmap(PROT_NONE)", errno: errno, context: "\(length) bytes") }
        return result
    }

    static func fallocatePunch(fd: Int32, offset: Int, length: Int) throws {
        if chost_fallocate(fd, CHOST_FALLOC_FL_PUNCH_HOLE_KEEP_SIZE, off_t(offset), off_t(length)) != 0 {
            throw HostCallError("fallocate(PUNCH_HOLE)", errno: errno, context: "offset \(offset), \(length) bytes")
        }
    }
}

/// A forked child that keeps the parent's private pages shared copy-on-write until released: while it lives, the
/// parent's (and the guests') next write to each page must break COW, the write fault moving the page to a new
/// frame under the mmu notifiers. The child only waits on a pipe and exits (all a child of a multithreaded process
/// may safely do).
struct HeldChild {
    let pid: pid_t
    private let releaseEnd: Int32

    static func fork() throws -> HeldChild {
        var ends: (Int32, Int32) = (-1, -1)
        let piped = withUnsafeMutablePointer(to: &ends) { $0.withMemoryRebound(to: Int32.self, capacity: 2) { pipe($0) } }
        guard piped == 0 else { throw HostCallError("pipe", errno: errno) }
        // Close-on-exec: nothing else this process starts may hold the write end and keep the child alive.
        _ = fcntl(ends.0, F_SETFD, FD_CLOEXEC)
        _ = fcntl(ends.1, F_SETFD, FD_CLOEXEC)
        let child = Glibc.fork()
        if child == 0 {
            close(ends.1)
            var byte: UInt8 = 0
            _ = read(ends.0, &byte, 1)  // returns at EOF: the parent closed its end
            _exit(0)
        }
        close(ends.0)
        guard child > 0 else {
            let error = errno
            close(ends.1)
            throw HostCallError("fork", errno: error)
        }
        return HeldChild(pid: child, releaseEnd: ends.1)
    }

    /// Lets the child exit, and reaps it.
    func release() {
        close(releaseEnd)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
}
