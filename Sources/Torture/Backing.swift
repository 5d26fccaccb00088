#if canImport(Glibc)
import Glibc
#endif
import CKVM
import KVM

/// The host memory behind the data slot, and the invalidations that can be fired at it page by page.
///
/// The mapping is created once and handed to the VM as a ``MemoryRegion``; invalidations replace or unmap
/// single pages inside it and always put a mapping of the same kind back at the same address, so the slot never
/// points at a hole for longer than a must-fault window.
final class Backing: @unchecked Sendable {
    // @unchecked: used by the mutator thread only, after setup.
    let kind: BackingKind
    let size: Int
    let region: MemoryRegion
    /// The memfd or file descriptor, or -1 for anonymous memory.
    let fd: Int32

    init(kind: BackingKind, size: Int) throws {
        self.kind = kind
        self.size = size
        switch kind {
        case .anonymous, .sharedAnonymous:
            fd = -1
        case .memfd:
            fd = ckvm_memfd_create("mmutorture-data", 1 /* MFD_CLOEXEC */)
            if fd < 0 { throw KVMError(operation: "memfd_create", errno: errno, context: "\(size) bytes") }
        case .file:
            var template = Array("\(Backing.temporaryDirectory)/mmutorture-data-XXXXXX".utf8CString)
            fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            if fd < 0 { throw KVMError(operation: "mkstemp", errno: errno, context: Backing.temporaryDirectory, hint: "set TMPDIR to a writable directory") }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        }
        if fd >= 0, ftruncate(fd, off_t(size)) != 0 {
            let error = errno
            close(fd)
            throw KVMError(operation: "ftruncate", errno: error, context: "\(size) bytes")
        }
        let base = mmap(nil, size, PROT_READ | PROT_WRITE, Backing.flags(kind) | CKVM_MAP_NORESERVE, fd, 0)
        guard let base, base != MAP_FAILED else {
            let error = errno
            if fd >= 0 { close(fd) }
            throw KVMError(operation: "mmap", errno: error, context: "\(kind.rawValue) data backing, \(size) bytes")
        }
        region = MemoryRegion(adopting: base, size: size)
    }

    deinit { if fd >= 0 { close(fd) } }

    static var temporaryDirectory: String {
        if let value = getenv("TMPDIR") { return String(cString: value) }
        return "/tmp"
    }

    private static func flags(_ kind: BackingKind) -> Int32 {
        switch kind {
        case .anonymous: MAP_PRIVATE | MAP_ANONYMOUS
        case .sharedAnonymous: MAP_SHARED | MAP_ANONYMOUS
        case .memfd, .file: MAP_SHARED
        }
    }

    func address(ofPage page: Int) -> UnsafeMutableRawPointer { region.base + page * 4096 }

    // MARK: What an invalidation leaves behind

    /// Whether `MADV_DONTNEED` replaces the content (private anonymous) or only drops the mapping (shared).
    var dontneedZeroes: Bool { kind == .anonymous }
    /// Whether a fresh mapping over the page starts from zeros (anonymous) or maps the same file page again.
    var remapZeroes: Bool { kind == .anonymous || kind == .sharedAnonymous }
    /// Whether munmap and map-back loses the content.
    var munmapZeroes: Bool { remapZeroes }

    // MARK: Invalidations

    func dontneed(page: Int) throws {
        try HostMemory.madvise(address(ofPage: page), 4096, CKVM_MADV_DONTNEED, name: "madvise(MADV_DONTNEED)")
    }

    func remap(page: Int) throws {
        try HostMemory.mmapFixed(
            address(ofPage: page), 4096, flags: Backing.flags(kind) | MAP_FIXED, fd: fd, offset: page * 4096,
            name: "mmap(MAP_FIXED)")
    }

    func unmap(page: Int) throws {
        try HostMemory.munmap(address(ofPage: page), 4096)
    }

    func mapBack(page: Int) throws {
        try HostMemory.mmapFixed(
            address(ofPage: page), 4096, flags: Backing.flags(kind) | CKVM_MAP_FIXED_NOREPLACE, fd: fd,
            offset: page * 4096, name: "mmap(MAP_FIXED_NOREPLACE)")
    }

    func punch(page: Int) throws {
        if fd >= 0 {
            try HostMemory.fallocatePunch(fd: fd, offset: page * 4096, length: 4096)
        } else {
            try HostMemory.madvise(address(ofPage: page), 4096, CKVM_MADV_REMOVE, name: "madvise(MADV_REMOVE)")
        }
    }

    func protect(page: Int, _ protection: Int32) throws {
        try HostMemory.mprotect(address(ofPage: page), 4096, protection)
    }
}
