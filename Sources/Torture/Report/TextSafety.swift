/// Strings from a report (a report is input: a hand edit, a broken tool or a kernel bug under test may have put
/// anything in it) made safe for where a renderer puts them.
public enum TextSafety {
    /// For XML 1.0 (JUnit, HTML): markup escaped, and the characters XML 1.0 forbids (C0 controls but tab, newline
    /// and carriage return; U+FFFE, U+FFFF) written as `#xNN` text, as pytest's `bin_xml_escape` does: Jenkins and
    /// GitLab reject a file that holds them.
    public static func xml(_ text: String) -> String {
        var out = ""
        out.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            case _ where scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF:
                out += "#x" + String(scalar.value, radix: 16, uppercase: true).leftPadded(to: 2)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// One line (a KTAP test point or diagnostic): every control or line-breaking character becomes a space, so a
    /// string cannot start a line of its own and forge a test point.
    public static func oneLine(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { breaksOrControls($0) ? " " : $0 }))
    }

    /// For a terminal (`report show`): newlines and tabs kept, every other control character (an escape sequence's
    /// ESC above all, which could rewrite the screen or the title) shown as U+FFFD.
    public static func terminal(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0 != "\n" && $0 != "\t" && breaksOrControls($0) ? "\u{FFFD}" : $0 }))
    }

    private static func breaksOrControls(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.generalCategory == .control || scalar.value == 0x2028 || scalar.value == 0x2029
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
