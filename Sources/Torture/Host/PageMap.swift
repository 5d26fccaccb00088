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
        frames(address, count: 1)[0]
    }

    /// The page frame numbers of `count` pages from `address` (0 for each page not present), in one read.
    func frames(_ address: UnsafeMutableRawPointer, count: Int) -> [UInt64] {
        var entries = [UInt64](repeating: 0, count: count)
        guard fd >= 0 else { return entries }
        let offset = off_t(UInt(bitPattern: address) / UInt(GUEST_PAGE_SIZE) * 8)
        let read = entries.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, offset) }
        guard read == count * 8 else { return [UInt64](repeating: 0, count: count) }
        return entries.map { $0 >> 63 == 1 ? $0 & ((1 << 55) - 1) : 0 }
    }
}
