import Foundation

/// Text for a reader's eye: counts grouped in thousands, columns padded (Foundation's `%'d` and `%-10@` do
/// neither on Linux).
extension BinaryInteger {
    /// "83,124,350".
    public var grouped: String {
        let digits = String(self.magnitude)
        var text = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { text.append(",") }
            text.append(digit)
        }
        return (self < 0 ? "-" : "") + text
    }
}

extension String {
    /// The string left-aligned in a column `width` characters wide.
    package func padded(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
    /// The string right-aligned in a column `width` characters wide.
    package func rightAligned(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}

extension BinaryInteger {
    /// "412k", "3.2M": a count for a narrow column.
    public var compact: String {
        let value = Double(Int64(clamping: self))
        switch abs(value) {
        case ..<1_000: return String(Int64(clamping: self))
        case ..<10_000: return String(format: "%.1fk", value / 1_000)
        case ..<1_000_000: return String(format: "%.0fk", value / 1_000)
        case ..<10_000_000: return String(format: "%.1fM", value / 1_000_000)
        default: return String(format: "%.0fM", value / 1_000_000)
        }
    }
}
