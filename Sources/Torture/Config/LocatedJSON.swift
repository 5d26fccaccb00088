/// A JSON value that remembers the line it started on, so that a scenario file's errors can name the line of the
/// field at fault (Foundation's JSONSerialization and JSONDecoder do not keep positions).
///
/// The grammar is RFC 8259's; numbers keep their text, so an integer field can refuse `2.5` by what was written.
struct LocatedJSON: Equatable {
    enum Value: Equatable {
        /// Members in file order, each with the line of its key.
        case object([Member])
        case array([LocatedJSON])
        case string(String)
        case number(String)
        case bool(Bool)
        case null
    }

    struct Member: Equatable {
        var key: String
        var line: Int
        var value: LocatedJSON
    }

    var value: Value
    var line: Int

    /// A syntax error: where and what.
    struct SyntaxError: Error, Equatable {
        var line: Int
        var column: Int
        var problem: String
    }

    /// Parses one JSON document (UTF-8), rejecting anything after it but whitespace.
    static func parse(_ text: String) throws(SyntaxError) -> LocatedJSON {
        var parser = Parser(bytes: Array(text.utf8))
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        if parser.position < parser.bytes.count { throw parser.error("unexpected text after the document") }
        return value
    }

    /// What the value is, in words, for "expected X, found Y" messages.
    var kindName: String {
        switch value {
        case .object: "an object"
        case .array: "an array"
        case .string: "a string"
        case .number: "a number"
        case .bool: "true or false"
        case .null: "null"
        }
    }

    private struct Parser {
        let bytes: [UInt8]
        var position = 0
        var line = 1
        var lineStart = 0
        static let maximumDepth = 64

        func error(_ problem: String) -> SyntaxError {
            SyntaxError(line: line, column: position - lineStart + 1, problem: problem)
        }

        mutating func skipWhitespace() {
            while position < bytes.count {
                switch bytes[position] {
                case UInt8(ascii: "\n"):
                    line += 1
                    lineStart = position + 1
                case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"): break
                default: return
                }
                position += 1
            }
        }

        mutating func value(depth: Int) throws(SyntaxError) -> LocatedJSON {
            skipWhitespace()
            guard depth < Self.maximumDepth else { throw error("nested deeper than \(Self.maximumDepth) levels") }
            guard position < bytes.count else { throw error("unexpected end of file, a value was expected") }
            let start = line
            switch bytes[position] {
            case UInt8(ascii: "{"): return LocatedJSON(value: .object(try members(depth: depth)), line: start)
            case UInt8(ascii: "["): return LocatedJSON(value: .array(try elements(depth: depth)), line: start)
            case UInt8(ascii: "\""): return LocatedJSON(value: .string(try string()), line: start)
            case UInt8(ascii: "t"): try literal("true"); return LocatedJSON(value: .bool(true), line: start)
            case UInt8(ascii: "f"): try literal("false"); return LocatedJSON(value: .bool(false), line: start)
            case UInt8(ascii: "n"): try literal("null"); return LocatedJSON(value: .null, line: start)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return LocatedJSON(value: .number(try number()), line: start)
            default: throw error("unexpected character '\(String(decoding: [bytes[position]], as: UTF8.self))'")
            }
        }

        mutating func expect(_ character: Character) throws(SyntaxError) {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == character.asciiValue! else {
                throw error("'\(character)' expected")
            }
            position += 1
        }

        /// True (and consumed) if the next non-blank character is `character`.
        mutating func take(_ character: Character) -> Bool {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == character.asciiValue! else { return false }
            position += 1
            return true
        }

        mutating func members(depth: Int) throws(SyntaxError) -> [Member] {
            try expect("{")
            var members: [Member] = []
            if take("}") { return members }
            repeat {
                skipWhitespace()
                let keyLine = line
                guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw error("a quoted field name expected") }
                let key = try string()
                try expect(":")
                members.append(Member(key: key, line: keyLine, value: try value(depth: depth + 1)))
            } while take(",")
            try expect("}")
            return members
        }

        mutating func elements(depth: Int) throws(SyntaxError) -> [LocatedJSON] {
            try expect("[")
            var elements: [LocatedJSON] = []
            if take("]") { return elements }
            repeat { elements.append(try value(depth: depth + 1)) } while take(",")
            try expect("]")
            return elements
        }

        mutating func literal(_ word: String) throws(SyntaxError) {
            let text = Array(word.utf8)
            guard bytes.count - position >= text.count, Array(bytes[position..<position + text.count]) == text else {
                throw error("'\(word)' expected")
            }
            position += text.count
        }

        mutating func number() throws(SyntaxError) -> String {
            let start = position
            let allowed = Set("+-.eE0123456789".utf8)
            while position < bytes.count, allowed.contains(bytes[position]) { position += 1 }
            let text = String(decoding: bytes[start..<position], as: UTF8.self)
            guard Double(text) != nil, text.first != "+" else { throw error("'\(text)' is not a number") }
            return text
        }

        mutating func string() throws(SyntaxError) -> String {
            position += 1  // the opening quote
            var scalars: [UInt8] = []
            while position < bytes.count {
                let byte = bytes[position]
                position += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return String(decoding: scalars, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard position < bytes.count else { break }
                    let escape = bytes[position]
                    position += 1
                    switch escape {
                    case UInt8(ascii: "n"): scalars.append(UInt8(ascii: "\n"))
                    case UInt8(ascii: "t"): scalars.append(UInt8(ascii: "\t"))
                    case UInt8(ascii: "r"): scalars.append(UInt8(ascii: "\r"))
                    case UInt8(ascii: "b"): scalars.append(0x08)
                    case UInt8(ascii: "f"): scalars.append(0x0c)
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(escape)
                    case UInt8(ascii: "u"):
                        guard bytes.count - position >= 4, let code = UInt32(String(decoding: bytes[position..<position + 4], as: UTF8.self), radix: 16),
                              let scalar = Unicode.Scalar(code)
                        else { throw error("bad \\u escape (surrogate pairs are not supported)") }
                        position += 4
                        scalars += Array(String(Character(scalar)).utf8)
                    default: throw error("unknown escape '\\\(String(decoding: [escape], as: UTF8.self))'")
                    }
                case UInt8(ascii: "\n"):
                    throw error("a string runs past the end of its line")
                default:
                    scalars.append(byte)
                }
            }
            throw error("a string is not closed")
        }
    }
}
