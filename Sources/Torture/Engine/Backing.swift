#if canImport(Glibc)
import CHost
import Glibc
#endif
import Atomics
import CKVM
import Foundation
import Guests
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
        case .anonymous, .sharedAnonymous, .thp, .hugetlb:
            fd = -1
        case .memfd:
            fd = chost_memfd_create("mmutorture-data", 1 /* MFD_CLOEXEC */)
            if fd < 0 { throw HostCallError("memfd_create", errno: errno, context: "\(size) bytes") }
        case .file:
            var template = Array("\(Backing.temporaryDirectory)/mmutorture-data-XXXXXX".utf8CString)
            fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            if fd < 0 { throw HostCallError("mkstemp", errno: errno, context: Backing.temporaryDirectory, hint: "set TMPDIR to a writable directory") }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        }
        if fd >= 0, ftruncate(fd, off_t(size)) != 0 {
            let error = errno
            close(fd)
            throw HostCallError("ftruncate", errno: error, context: "\(size) bytes")
        }
        do {
            let mapped = try Backing.map(kind: kind, size: size, fd: fd)
            region = MemoryRegion(adopting: mapped.base, size: size)
            guards = mapped.guards
        } catch {
            if fd >= 0 { close(fd) }
            throw error
        }
        scratch = try? HostMemory.reserve(Self.parkingPages * GuestPage.size)
        if kind == .thp { try HostMemory.madvise(region.base, size, CHOST_MADV_HUGEPAGE, name: "madvise(MADV_HUGEPAGE)") }
    }

    /// Reserved (PROT_NONE) pages where ``moveAway(page:parking:)`` parks a page: one per window in flight.
    private(set) var scratch: UnsafeMutableRawPointer?
    static let parkingPages = Observations.maxInFlight

    /// The reservation's PROT_NONE ends below and above the data, unmapped when the backing goes.
    private var guards: [(base: UnsafeMutableRawPointer, length: Int)] = []

    /// Maps the backing inside a PROT_NONE reservation, 2 MiB-aligned for THP and hugetlb so huge pages can form.
    /// The reservation's ends bound the hole a `munmap` or `mremap` step leaves: without them the data's lowest page
    /// joins the free space below every mapping, where the next `mmap(NULL)` of any thread (a malloc arena, a
    /// thread's stack) lands, and mapping the page back fails with EEXIST.
    private static func map(kind: BackingKind, size: Int, fd: Int32) throws
        -> (base: UnsafeMutableRawPointer, guards: [(base: UnsafeMutableRawPointer, length: Int)]) {
        let huge = 2 << 20
        if kind == .hugetlb {
            let free = ProcFile.read("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages")
                .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
            guard free * huge >= size else {
                throw HostUnavailable("hugetlb backing", problem: "\(size / huge) huge pages of 2 MiB needed, \(free) free",
                                      fix: "reserve them (sysctl vm.nr_hugepages=N, as root) or use another backing")
            }
        }
        let alignment = kind == .thp || kind == .hugetlb ? huge : GuestPage.size
        let length = size + 2 * alignment
        let reservation = try HostMemory.reserve(length)
        let below = (Int(bitPattern: reservation) + GuestPage.size + alignment - 1) / alignment * alignment - Int(bitPattern: reservation)
        let base = reservation + below
        do {
            try HostMemory.mmapFixed(base, size, flags: flags(kind) | MAP_FIXED | CHOST_MAP_NORESERVE, fd: fd, offset: 0,
                                     name: "mmap of the \(kind.rawValue) data backing")
        } catch {
            munmap(reservation, length)
            throw error
        }
        return (base, [(reservation, below), (base + size, length - below - size)])
    }

    deinit {
        for end in guards { munmap(end.base, end.length) }
        if fd >= 0 { close(fd) }
        if let scratch { munmap(scratch, Self.parkingPages * GuestPage.size) }
    }

    static var temporaryDirectory: String {
        if let value = getenv("TMPDIR") { return String(cString: value) }
        return "/tmp"
    }

    private static func flags(_ kind: BackingKind) -> Int32 {
        switch kind {
        case .anonymous, .thp: MAP_PRIVATE | MAP_ANONYMOUS
        case .sharedAnonymous: MAP_SHARED | MAP_ANONYMOUS
        case .hugetlb: MAP_PRIVATE | MAP_ANONYMOUS | 0x40000  // MAP_HUGETLB
        case .memfd, .file: MAP_SHARED
        }
    }

    func address(ofPage page: Int) -> UnsafeMutableRawPointer { region.base + page * GuestPage.size }

    /// Writer `writer`'s word in page `page` (word GUEST_READER_WORDS + writer), as the host sees it now.
    func writerWord(page: Int, writer: Int) -> UInt64 {
        // SAFETY: an 8-aligned word of a mapped data page, which a guest stores to concurrently: a relaxed atomic
        // load reads a whole value.
        let word = address(ofPage: page) + (Int(GUEST_READER_WORDS) + writer) * 8
        return UnsafeAtomic<UInt64>(at: word.assumingMemoryBound(to: UnsafeAtomic<UInt64>.Storage.self)).load(ordering: .relaxed)
    }

    // MARK: What an invalidation leaves behind

    /// Whether `MADV_DONTNEED` replaces the content (private anonymous) or only drops the mapping (shared).
    var dontneedZeroes: Bool { kind == .anonymous || kind == .thp }
    /// Whether a fresh mapping over the page starts from zeros (anonymous) or maps the same file page again.
    var remapZeroes: Bool { fd < 0 }
    /// Whether munmap and map-back loses the content.
    var munmapZeroes: Bool { remapZeroes }

    // MARK: Invalidations

    func dontneed(page: Int) throws {
        try HostMemory.madvise(address(ofPage: page), GuestPage.size, CHOST_MADV_DONTNEED, name: "madvise(MADV_DONTNEED)")
    }

    func remap(page: Int) throws {
        try HostMemory.mmapFixed(
            address(ofPage: page), GuestPage.size, flags: Backing.flags(kind) | MAP_FIXED, fd: fd, offset: page * GuestPage.size,
            name: "mmap(MAP_FIXED)")
        try keepMergeable(page: page)
    }

    /// A page mapped anew must carry the same VMA flags as its neighbours, or the VMAs never merge again and
    /// MADV_COLLAPSE fails with EINVAL on the fragments.
    private func keepMergeable(page: Int) throws {
        if kind == .thp { try HostMemory.madvise(address(ofPage: page), GuestPage.size, CHOST_MADV_HUGEPAGE, name: "madvise(MADV_HUGEPAGE)") }
    }

    func unmap(page: Int) throws {
        try HostMemory.munmap(address(ofPage: page), GuestPage.size)
    }

    func mapBack(page: Int) throws {
        try HostMemory.mmapFixed(
            address(ofPage: page), GuestPage.size, flags: Backing.flags(kind) | CHOST_MAP_FIXED_NOREPLACE, fd: fd,
            offset: page * GuestPage.size, name: "mmap(MAP_FIXED_NOREPLACE)")
        try keepMergeable(page: page)
    }

    /// `mremap` the page to scratch page `parking` (leaving a hole where it was). Each page in flight at once
    /// parks in a page of its own.
    func moveAway(page: Int, parking: Int) throws {
        guard let scratch else { throw HostCallError("mremap", errno: ENOMEM, context: "no scratch page reserved") }
        try HostMemory.mremap(address(ofPage: page), to: scratch + parking * GuestPage.size)
    }

    /// `mremap` the page back from scratch page `parking`, and reserve that scratch page again.
    func moveBack(page: Int, parking: Int) throws {
        guard let scratch else { throw HostCallError("mremap", errno: ENOMEM, context: "no scratch page reserved") }
        try HostMemory.mremap(scratch + parking * GuestPage.size, to: address(ofPage: page))
        try keepMergeable(page: page)
        _ = try HostMemory.reserve(GuestPage.size, at: scratch + parking * GuestPage.size)
    }

    func advise(page: Int, _ advice: Int32, name: String) throws {
        try HostMemory.madvise(address(ofPage: page), GuestPage.size, advice, name: name)
    }

    /// How many of `count` pages from `first` are in memory now (`mincore`; all of them if it cannot tell): a
    /// pageout that lowered it freed the frames.
    func residentPages(first: Int, count: Int) -> Int {
        var vector = [UInt8](repeating: 0, count: count)
        guard mincore(address(ofPage: first), count * GuestPage.size, &vector) == 0 else { return count }
        return vector.reduce(0) { $0 + Int($1 & 1) }
    }

    /// MADV_COLLAPSE of the 2 MiB range holding `page`.
    func collapse(page: Int) throws {
        try HostMemory.madvise(address(ofPage: page / 512 * 512), 2 << 20, CHOST_MADV_COLLAPSE, name: "madvise(MADV_COLLAPSE)")
    }

    /// The errno of the last MADV_COLLAPSE ``tryCollapse(page:)`` saw fail (thp's, cold's), for the report.
    private(set) var lastCollapseError: String?

    /// MADV_COLLAPSE where a failure (EAGAIN, EINVAL) is counted, not fatal: whether it collapsed.
    func tryCollapse(page: Int) -> Bool {
        do {
            try collapse(page: page)
            return true
        } catch {
            lastCollapseError = (error as? HostCallError)?.errnoName ?? "\(error)"
            return false
        }
    }

    /// `ftruncate` the file to `bytes`.
    func truncate(to bytes: Int) throws {
        if ftruncate(fd, off_t(bytes)) != 0 { throw HostCallError("ftruncate", errno: errno, context: "to \(bytes) bytes") }
    }

    /// The `AnonHugePages` of the data mapping in /proc/self/smaps, in kB (THP evidence), or nil if not found.
    func anonHugePagesKB() -> Int? {
        guard let smaps = ProcFile.read("/proc/self/smaps") else { return nil }
        let start = UInt(bitPattern: region.base), end = start + UInt(size)
        var inside = false
        var total = 0
        for line in smaps.split(separator: "\n") {
            if let dash = line.firstIndex(of: "-"), let low = UInt(line[..<dash], radix: 16),
               let space = line.firstIndex(of: " "), let high = UInt(line[line.index(after: dash)..<space], radix: 16) {
                inside = low >= start && high <= end
            } else if inside, line.hasPrefix("AnonHugePages:") {
                total += Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
            }
        }
        return total
    }

    func punch(page: Int) throws {
        if fd >= 0 {
            try HostMemory.fallocatePunch(fd: fd, offset: page * GuestPage.size, length: GuestPage.size)
        } else {
            try HostMemory.madvise(address(ofPage: page), GuestPage.size, CHOST_MADV_REMOVE, name: "madvise(MADV_REMOVE)")
        }
    }

    func protect(page: Int, _ protection: Int32) throws {
        try HostMemory.mprotect(address(ofPage: page), GuestPage.size, protection)
    }
}
