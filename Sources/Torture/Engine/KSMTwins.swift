#if canImport(Glibc)
import CHost
import Glibc
#endif
import CKVM
import KVM

/// For the ksm operation: a host-only twin of every data page, kept identical to it, so that ksmd merges the guest's
/// page with its twin (the data itself never repeats: every page carries its own generation).
///
/// A merge replaces the guest's page with a shared read-only KSM page through `replace_page`, which fires the mmu
/// notifiers: KVM must drop its mapping of the old page, which ksmd then frees. The host's next write to a merged
/// page breaks the sharing (a copy-on-write fault, another notifier invalidation) before the page gets its next
/// generation. Both must leave no vCPU on the old page.
final class KSMTwins {
    let twins: MemoryRegion
    private let data: Backing
    private let pagemap: Int32
    /// How long the mutator leaves the pages alone after each ksm step, so that ksmd (scanning every 10 ms, see
    /// ``KSMDaemon/settings``) merges most pages between their republications.
    static let pauseMicroseconds: UInt32 = 2000

    init(data: Backing) throws {
        self.data = data
        twins = try MemoryRegion.anonymous(size: data.size)
        try HostMemory.madvise(data.region.base, data.size, CHOST_MADV_MERGEABLE, name: "madvise(MADV_MERGEABLE) of the data")
        try HostMemory.madvise(twins.base, data.size, CHOST_MADV_MERGEABLE, name: "madvise(MADV_MERGEABLE) of the twins")
        pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC)
        if pagemap < 0 { throw HostCallError("open(/proc/self/pagemap)", errno: errno) }
    }

    deinit { close(pagemap) }

    /// Makes the twin of `page` byte for byte what the page holds now.
    func copy(page: Int) {
        (twins.base + page * GuestPage.size).copyMemory(from: data.address(ofPage: page), byteCount: GuestPage.size)
    }

    /// Whether ksmd has merged `page`: present, and no longer mapped by this mapping alone (/proc/self/pagemap bit 63
    /// "present" set, bit 56 "exclusively mapped" clear; readable without privileges).
    func isMerged(page: Int) -> Bool {
        var entry: UInt64 = 0
        let offset = off_t(UInt(bitPattern: data.address(ofPage: page)) / 4096 * 8)
        guard pread(pagemap, &entry, 8, offset) == 8 else { return false }
        return entry & (1 << 63) != 0 && entry & (1 << 56) == 0
    }
}
