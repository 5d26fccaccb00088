#if canImport(Glibc)
import Glibc
#endif
import CKVM

/// A range of host virtual memory that can back guest memory.
///
/// A region either maps memory itself (``anonymous(size:shared:)``) or adopts a mapping made elsewhere (a file,
/// a memfd, hugetlb). Either way it unmaps the range when released, and a ``VirtualMachine`` keeps every region
/// it registers alive while the slot exists, so KVM can never point at memory the program already unmapped.
///
/// The region owns the *range*, not its contents: a torture harness may `madvise`, `mprotect` or re-`mmap`
/// pages inside it while the VM runs. That is the point of the exercise.
public final class MemoryRegion: @unchecked Sendable {
    // @unchecked: `base` and `size` never change after init; the memory behind them is shared with the guest
    // and is touched only through the pointer, never through Swift-managed state.

    /// The first byte of the range.
    public let base: UnsafeMutableRawPointer
    /// The length of the range in bytes (a multiple of the host page size).
    public let size: Int

    /// Adopts `size` bytes at `base`, already mapped by the caller; the region unmaps them when released.
    public init(adopting base: UnsafeMutableRawPointer, size: Int) {
        self.base = base
        self.size = size
    }

    deinit { try? Syscall.munmap(base, length: size) }

    /// Maps `size` bytes of zeroed anonymous memory, read-write, with `MAP_NORESERVE` so that only touched pages
    /// cost memory. Corresponds to `mmap(NULL, size, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|…)`.
    public static func anonymous(size: Int, shared: Bool = false) throws -> MemoryRegion {
        let flags = (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS | CKVM_MAP_NORESERVE
        let base = try Syscall.mmap(
            length: size, protection: PROT_READ | PROT_WRITE, flags: flags,
            context: "anonymous, \(size) bytes")
        return MemoryRegion(adopting: base, size: size)
    }

    /// A pointer `offset` bytes into the region.
    public func pointer(at offset: Int) -> UnsafeMutableRawPointer {
        precondition(offset >= 0 && offset < size, "offset \(offset) outside a region of \(size) bytes")
        return base + offset
    }
}
