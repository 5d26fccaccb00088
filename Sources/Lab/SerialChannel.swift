import Foundation

/// The guest's second serial port (ttyS1): framed base64 blocks the init writes, one per checkpoint, final
/// report or captured output of a workload:
///   ==MMUTORTURE-BLOCK KIND NAME [EXIT]==
///   base64 lines
///   ==MMUTORTURE-END==
/// A block cut off by a dying guest has no end line and is ignored.
struct SerialChannel {
    struct Block {
        var kind: String
        var name: String
        var exitCode: Int32?
        var data: Data
    }

    var blocks: [Block] = []

    init(_ text: String) {
        var open: (kind: String, name: String, exit: Int32?)?
        var body = ""
        for raw in text.replacingOccurrences(of: "\r", with: "").split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.hasPrefix("==MMUTORTURE-BLOCK ") && line.hasSuffix("==") {
                let words = line.dropFirst("==MMUTORTURE-BLOCK ".count).dropLast(2).split(separator: " ").map(String.init)
                open = words.count >= 2 ? (words[0], words[1], words.count > 2 ? Int32(words[2]) : nil) : nil
                body = ""
            } else if line == "==MMUTORTURE-END==" {
                if let block = open, let data = Data(base64Encoded: body) {
                    blocks.append(Block(kind: block.kind, name: block.name, exitCode: block.exit, data: data))
                }
                open = nil
            } else if open != nil {
                body += line
            }
        }
    }

    /// The last complete block of a kind for a workload.
    func last(_ kind: String, of name: String) -> Block? { blocks.last { $0.kind == kind && $0.name == name } }
}
