/// The size of a leaf mapping in x86-64 4-level paging.
public enum PageSize: UInt64, Sendable, CaseIterable {
    case size4K = 0x1000
    case size2M = 0x20_0000
}

/// Bits of an x86-64 page-table entry.
public struct PageTableFlags: OptionSet, Sendable {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public static let present = PageTableFlags(rawValue: 1 << 0)
    public static let writable = PageTableFlags(rawValue: 1 << 1)
    /// U/S: the page is reachable from CPL3. Every level of a CPL3 walk needs it.
    public static let user = PageTableFlags(rawValue: 1 << 2)
    /// PS in a page-directory entry: a 2 MiB leaf.
    public static let largePage = PageTableFlags(rawValue: 1 << 7)

    /// What intermediate tables carry for a CPL3 guest: 0x7.
    public static let userTable: PageTableFlags = [.present, .writable, .user]
}

/// Builds 4-level x86-64 page tables inside guest memory, from the host side.
///
/// Tables are carved, zeroed, from an area of guest memory the caller reserves (a host pointer to its first
/// byte and the guest-physical address that byte has). The builder writes entries through the host mapping;
/// the guest's MMU reads them on its walks. ``root`` is the value for CR3.
public struct PageTableBuilder: @unchecked Sendable {
    // @unchecked: the pointer is into guest memory that the VM owns; the builder is a value used by one thread.
    private let areaHost: UnsafeMutableRawPointer
    private let areaGuest: UInt64
    private let areaSize: UInt64
    private var used: UInt64 = 0
    /// The guest-physical address of the PML4: the value for CR3.
    public private(set) var root: GuestPhysicalAddress

    /// - Parameters:
    ///   - area: host address of the table area (page aligned, zero-filled).
    ///   - guestAddress: the guest-physical address of the area's first byte.
    ///   - size: bytes available for tables.
    public init(area: UnsafeMutableRawPointer, guestAddress: GuestPhysicalAddress, size: Int) throws {
        self.areaHost = area
        self.areaGuest = guestAddress.rawValue
        self.areaSize = UInt64(size)
        self.root = guestAddress
        self.root = try allocateTable()
    }

    /// The number of bytes of the table area used so far.
    public var bytesUsed: Int { Int(used) }

    /// Maps `size` bytes at guest-virtual `virtual` to guest-physical `physical` with leaves of `pageSize`.
    /// Addresses and size must be multiples of `pageSize`.
    public mutating func map(
        virtual: UInt64, physical: UInt64, size: UInt64, pageSize: PageSize,
        flags: PageTableFlags = [.present, .writable, .user]
    ) throws {
        let step = pageSize.rawValue
        guard virtual % step == 0, physical % step == 0, size % step == 0 else {
            throw KVMError(
                operation: "page table map", errno: 0,
                context: "virtual 0x\(String(virtual, radix: 16)), physical 0x\(String(physical, radix: 16)), size 0x\(String(size, radix: 16))",
                hint: "addresses and size must be multiples of the \(step)-byte page size")
        }
        var offset: UInt64 = 0
        while offset < size {
            let leaf = try entry(for: virtual + offset, level: pageSize == .size4K ? 1 : 2, create: true)!
            let extra: PageTableFlags = pageSize == .size2M ? .largePage : []
            leaf.pointee = (physical + offset) | flags.union(extra).rawValue
            offset += step
        }
    }

    /// Identity-maps a guest-physical range (virtual == physical).
    public mutating func identityMap(_ address: GuestPhysicalAddress, size: UInt64, pageSize: PageSize) throws {
        try map(virtual: address.rawValue, physical: address.rawValue, size: size, pageSize: pageSize)
    }

    /// The host address of the leaf entry that maps `virtual`, if it is mapped: for tests and fault injection
    /// that rewrite a translation behind the guest's back.
    public func leafEntry(for virtual: UInt64) -> UnsafeMutablePointer<UInt64>? {
        var table = root.rawValue
        for level in stride(from: 4, through: 1, by: -1) {
            let slot = hostPointer(table) + Int(index(of: virtual, level: level)) * 8
            let entry = slot.assumingMemoryBound(to: UInt64.self)
            guard entry.pointee & PageTableFlags.present.rawValue != 0 else { return nil }
            if level == 1 || (level == 2 && entry.pointee & PageTableFlags.largePage.rawValue != 0) { return entry }
            table = entry.pointee & Self.addressMask
        }
        return nil
    }

    static let addressMask: UInt64 = 0x000f_ffff_ffff_f000

    private func index(of virtual: UInt64, level: Int) -> UInt64 {
        (virtual >> (12 + 9 * UInt64(level - 1))) & 511
    }

    private func hostPointer(_ guest: UInt64) -> UnsafeMutableRawPointer {
        precondition(guest >= areaGuest && guest < areaGuest + areaSize, "page table outside the table area")
        return areaHost + Int(guest - areaGuest)
    }

    private mutating func allocateTable() throws -> GuestPhysicalAddress {
        guard used + 4096 <= areaSize else {
            throw KVMError(
                operation: "page table allocation", errno: 0, context: "table area of \(areaSize) bytes is full",
                hint: "reserve a larger page-table area")
        }
        let table = areaGuest + used
        used += 4096
        hostPointer(table).initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
        return GuestPhysicalAddress(table)
    }

    /// The entry at `level` (1 = PT, 2 = PD) for `virtual`, creating intermediate tables on the way.
    private mutating func entry(for virtual: UInt64, level target: Int, create: Bool) throws -> UnsafeMutablePointer<UInt64>? {
        var table = root.rawValue
        var level = 4
        while true {
            let entry = (hostPointer(table) + Int(index(of: virtual, level: level)) * 8).assumingMemoryBound(to: UInt64.self)
            if level == target { return entry }
            if entry.pointee & PageTableFlags.present.rawValue == 0 {
                guard create else { return nil }
                entry.pointee = try allocateTable().rawValue | PageTableFlags.userTable.rawValue
            }
            table = entry.pointee & Self.addressMask
            level -= 1
        }
    }
}
