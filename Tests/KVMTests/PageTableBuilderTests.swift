import KVM
import Testing

/// The page-table builder writes into plain memory here: no device needed.
struct PageTableBuilderTests {
    let area = UnsafeMutableRawPointer.allocate(byteCount: 64 * 4096, alignment: 4096)
    let base = GuestPhysicalAddress(0x10_0000)

    @Test func fourKilobyteLeavesCarryTheUserBitAtEveryLevel() throws {
        defer { area.deallocate() }
        var tables = try PageTableBuilder(area: area, guestAddress: base, size: 64 * 4096)
        try tables.map(virtual: 0x1_0000_3000, physical: 0x5000, size: 0x2000, pageSize: .size4K)
        #expect(tables.leafEntry(for: 0x1_0000_3000)?.pointee == 0x5000 | 0x7)
        #expect(tables.leafEntry(for: 0x1_0000_4000)?.pointee == 0x6000 | 0x7)
        #expect(tables.leafEntry(for: 0x1_0000_5000) == nil)
        // PML4, PDPT, PD, PT: four tables, each intermediate entry 0x7.
        #expect(tables.bytesUsed == 4 * 4096)
        let pml4 = area.load(fromByteOffset: 0, as: UInt64.self)  // index 0 covers 0x1_0000_0000
        #expect(pml4 & 0xfff == 0x7)
    }

    @Test func twoMegabyteLeavesSetPS() throws {
        defer { area.deallocate() }
        var tables = try PageTableBuilder(area: area, guestAddress: base, size: 64 * 4096)
        try tables.identityMap(GuestPhysicalAddress(0x4000_0000), size: 0x40_0000, pageSize: .size2M)
        #expect(tables.leafEntry(for: 0x4020_0000)?.pointee == 0x4020_0000 | 0x87)
        #expect(tables.leafEntry(for: 0x4020_1234)?.pointee == 0x4020_0000 | 0x87)
    }

    @Test func misalignedMappingsAndAFullAreaAreErrors() throws {
        defer { area.deallocate() }
        var tables = try PageTableBuilder(area: area, guestAddress: base, size: 2 * 4096)
        #expect(throws: KVMError.self) { try tables.map(virtual: 0x1000, physical: 0x1000, size: 0x1000, pageSize: .size2M) }
        let error = #expect(throws: KVMError.self) { try tables.map(virtual: 0, physical: 0, size: 0x1000, pageSize: .size4K) }
        #expect(error?.description.contains("reserve a larger page-table area") == true)
    }
}

struct DirtyBitmapTests {
    @Test func bitsMapToPagesLeastSignificantFirst() {
        var bitmap = DirtyBitmap(pageCount: 130, words: [0b101, 0, 1 << 1])
        #expect(bitmap.dirtyPages == [0, 2, 129])
        bitmap.clear(2)
        bitmap.mark(64)
        #expect(bitmap.dirtyPages == [0, 64, 129])
    }
}
