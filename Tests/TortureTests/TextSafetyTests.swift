import Foundation
import FoundationXML
import Testing
@testable import Torture

/// A report's strings where renderers put them: control characters can neither break the XML a CI server parses,
/// nor forge a KTAP test point, nor reach a terminal as an escape sequence.
@Suite struct TextSafetyTests {
    static let hostile = "stale\u{0}read\u{1B}]0;owned\u{7}\u{1B}[2J\nok 99 forged\r\u{0B}\u{0C}\u{2028}end <&>\""

    @Test func xmlKeepsNoCharacterXML10ForbidsAndParses() throws {
        let escaped = TextSafety.xml(Self.hostile)
        #expect(!escaped.unicodeScalars.contains { $0.value < 0x20 && !["\t", "\n", "\r"].contains($0) })
        #expect(escaped.contains("#x00") && escaped.contains("#x1B") && escaped.contains("&lt;&amp;&gt;&quot;"))
        let document = try XMLDocument(xmlString: "<a b=\"\(escaped)\">\(escaped)</a>")
        #expect(document.rootElement()?.stringValue?.contains("forged") == true)
    }

    @Test func aKTAPLineCannotBeBrokenToForgeATestPoint() {
        let line = KTAPRenderer.sanitize(Self.hostile)
        #expect(!line.unicodeScalars.contains { $0.properties.generalCategory == .control || $0.value == 0x2028 })
        #expect(line.split(separator: "\n").count == 1)
    }

    @Test func aTerminalSeesNoEscapeSequenceButKeepsLines() {
        let shown = TextSafety.terminal(Self.hostile)
        #expect(!shown.contains("\u{1B}") && !shown.contains("\u{7}") && !shown.contains("\r"))
        #expect(shown.contains("\nok 99 forged"))
    }
}
