import Foundation

/// QEMU's human monitor on a pair of FIFOs (`-monitor pipe:PATH` reads PATH.in, writes PATH.out), asked only
/// when a boot hangs: where each CPU is, and the guest kernel's own backtraces (magic SysRq through the emulated
/// keyboard). A pipe, not a socket: a socket's path is limited to 108 bytes, the cache directory is not.
struct QEMUMonitor {
    var path: String

    /// Makes the FIFOs; QEMU opens both ends itself (read-write), so neither side ever blocks on open.
    static func create(at path: String) -> QEMUMonitor? {
        for end in [".in", ".out"] {
            unlink(path + end)
            guard mkfifo(path + end, 0o600) == 0 else { return nil }
        }
        return QEMUMonitor(path: path)
    }

    var qemuArgument: String { "pipe:" + path }

    /// Sends each command, waiting `settle` seconds after each, and returns everything the monitor printed
    /// meanwhile (nil when it printed nothing at all: QEMU's main loop itself was stuck).
    func ask(_ commands: [String], settle: Double = 1) -> String? {
        let input = open(path + ".in", O_WRONLY | O_NONBLOCK)
        let output = open(path + ".out", O_RDONLY | O_NONBLOCK)
        defer {
            if input >= 0 { close(input) }
            if output >= 0 { close(output) }
        }
        guard input >= 0, output >= 0 else { return nil }
        var printed = Data()
        func drain() {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = read(output, &buffer, buffer.count)
                guard count > 0 else { return }
                printed.append(contentsOf: buffer[..<count])
            }
        }
        drain()  // the banner and prompt from startup
        printed.removeAll()
        for command in commands {
            let line = Array((command + "\n").utf8)
            _ = line.withUnsafeBytes { write(input, $0.baseAddress, $0.count) }
            let until = Date().addingTimeInterval(settle)
            while Date() < until {
                usleep(100_000)
                drain()
            }
        }
        return printed.isEmpty ? nil : String(decoding: printed, as: UTF8.self)
    }
}
