#if canImport(Glibc)
import Glibc
#endif
import Guests

/// `/proc/self/pagemap`: which page frame a virtual page maps now. The kernel shows frame numbers to root only
/// (CAP_SYS_ADMIN); elsewhere every reading is 0, which measures nothing.
final class PageMap: @unchecked Sendable {
    // @unchecked: the descriptor is only read with pread, which is safe from any thread.
    private let fd: Int32

    init() { fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC) }
    deinit { if fd >= 0 { close(fd) } }

    var isReadable: Bool { fd >= 0 }

    /// The page frame number `address` maps now (bits 0-54 when bit 63, present, is set), or 0.
    func frame(_ address: UnsafeMutableRawPointer) -> UInt64 {
        guard fd >= 0 else { return 0 }
        var entry: UInt64 = 0
        let offset = off_t(UInt(bitPattern: address) / UInt(GUEST_PAGE_SIZE) * 8)
        guard pread(fd, &entry, 8, offset) == 8, entry >> 63 == 1 else { return 0 }
        return entry & ((1 << 55) - 1)
    }
}
