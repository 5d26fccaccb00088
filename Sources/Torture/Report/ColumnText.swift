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
