import Foundation

/// The guest kernel's text symbols, in System.map's or /proc/kallsyms's format (the guest boots with `nokaslr`,
/// so the addresses hold): turns a hung CPU's instruction pointer into a function name.
struct KernelSymbols {
    private var symbols: [(address: UInt64, name: String)] = []

    init?(file path: String) {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 3, "tTwW".contains(fields[1]), let address = UInt64(fields[0], radix: 16) else { continue }
            symbols.append((address, String(fields[2])))
        }
        symbols.sort { $0.address < $1.address }
        guard !symbols.isEmpty else { return nil }
    }

    /// "function+0xoffset", or nil outside the kernel's text (user space, or a nested guest's code).
    func name(of address: UInt64) -> String? {
        guard let first = symbols.first, address >= first.address, address < 0xffff_ffff_ff00_0000 else { return nil }
        var low = 0, high = symbols.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if symbols[middle].address <= address { low = middle } else { high = middle - 1 }
        }
        return symbols[low].name + "+0x" + String(address - symbols[low].address, radix: 16)
    }
}
