/// A guest-physical address. Distinct from host pointers so that the two can never be mixed up; the guest
/// layout constants live in `guests/include/guest_abi.h` and nowhere else.
public struct GuestPhysicalAddress: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ value: UInt64) { self.rawValue = value }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
    public static func + (lhs: Self, offset: UInt64) -> Self { Self(lhs.rawValue + offset) }

    public var description: String { "gpa 0x" + String(rawValue, radix: 16) }
}
