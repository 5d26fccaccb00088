#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import Torture

/// The data backing's own promises to the steps that take its pages away and map them back.
@Suite struct BackingTests {
    /// Any thread's `mmap(NULL)` (a malloc arena, a thread's stack) goes to the highest free gap that fits. A page a
    /// munmap step left open must stay a gap of its own, bounded by mappings on both sides, never the top of the free
    /// space below the data or the bottom of the space above it, or the page's map-back fails with EEXIST.
    @Test(arguments: [BackingKind.anonymous, .memfd, .thp])
    func theHolesAStepLeavesAtTheDatasEndsAreBoundedByTheReservation(kind: BackingKind) throws {
        let pages = 1024
        let backing = try Backing(kind: kind, size: pages * GuestPage.size)
        for page in [0, pages - 1] { try backing.unmap(page: page) }
        let first = Int(bitPattern: backing.address(ofPage: 0)), end = first + pages * GuestPage.size
        let mappings = try Self.mappings()
        let below = try #require(mappings.first { $0.range.upperBound == first }, "a mapping ends where the data begins")
        let above = try #require(mappings.first { $0.range.lowerBound == end }, "a mapping begins where the data ends")
        #expect(below.permissions == "---p" && above.permissions == "---p", "the reservation's PROT_NONE ends: \(below), \(above)")
        #expect(!mappings.contains { $0.range.contains(first) || $0.range.contains(end - GuestPage.size) }, "the pages are unmapped")
        for page in [0, pages - 1] { try backing.mapBack(page: page) }
        #expect(first % (kind == .thp ? 2 << 20 : GuestPage.size) == 0)
    }

    /// This process's mappings from /proc/self/maps: address range and permissions.
    static func mappings() throws -> [(range: Range<Int>, permissions: String)] {
        try String(contentsOfFile: "/proc/self/maps", encoding: .utf8).split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            let bounds = fields[0].split(separator: "-").compactMap { Int($0, radix: 16) }
            guard bounds.count == 2 else { return nil }
            return (bounds[0]..<bounds[1], String(fields[1]))
        }
    }
}
