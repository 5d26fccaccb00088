import Foundation
import TestSupport
import Testing
@testable import Torture

/// A run that changes ksmd's settings (as root, asked) undoes them however it ends: a closed pipe or a hung-up
/// terminal does not kill it; a SIGKILL leaves them journaled for the next run or `doctor --restore`; and two runs
/// cannot change them at once.
@Suite(.requiresKVM, .serialized, .enabled(if: Torture.Operation.ksm.hostProblem == nil, Comment(rawValue: Torture.Operation.ksm.hostProblem ?? "")))
struct SystemChangeSafetyTests {
    static let ksmRun = "/sys/kernel/mm/ksm/run"
    static func ksm() -> String { (try? String(contentsOfFile: ksmRun, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?" }

    func ksmArguments(seconds: Double, report: String? = nil) -> [String] {
        ["run", "--op", "ksm", "--mode", "read", "--allow-system-changes", "--duration", String(seconds), "--seed", "3", "--device", kvmDevicePath]
            + (report.map { ["--report", $0] } ?? [])
    }

    static let journal = SystemChanges.defaultDirectory + "/ksm.state"

    /// Waits (up to a minute, on a loaded host) until the run under test holds the system-wide lock and has changed
    /// ksmd: its journal is written, under the lock, before the change (ksmd may already run when the test begins,
    /// so its setting alone says nothing of the run).
    func waitForKSM() -> Bool {
        for _ in 0..<600 where !(FileManager.default.fileExists(atPath: Self.journal) && Self.ksm() == "1") { usleep(100_000) }
        return FileManager.default.fileExists(atPath: Self.journal) && Self.ksm() == "1"
    }

    @Test func aClosedPipeNeitherKillsTheRunNorLeavesKSMChanged() throws {
        let before = Self.ksm()
        let report = FileManager.default.temporaryDirectory.appendingPathComponent("ksm-pipe-\(getpid()).json").path
        defer { try? FileManager.default.removeItem(atPath: report) }
        // As `run … 2>&1 | head -1`: a pipe whose reader goes away after the first line.
        let process = Process()
        process.executableURL = binary
        process.arguments = ksmArguments(seconds: 4, report: report)
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        try pipe.fileHandleForWriting.close()
        _ = try pipe.fileHandleForReading.read(upToCount: 1)
        try pipe.fileHandleForReading.close()
        process.waitUntilExit()
        #expect(process.terminationReason == .exit, "killed by signal \(process.terminationStatus)")
        #expect([0, 1, 2].contains(process.terminationStatus), "exit \(process.terminationStatus)")
        #expect(FileManager.default.fileExists(atPath: report), "the report was written")
        #expect(Self.ksm() == before, "ksmd's run setting put back")
    }

    @Test func aHungUpTerminalNeitherKillsTheRunNorLeavesKSMChanged() throws {
        let before = Self.ksm()
        let report = FileManager.default.temporaryDirectory.appendingPathComponent("ksm-tty-\(getpid()).json").path
        defer { try? FileManager.default.removeItem(atPath: report) }
        // As an ssh drop: the run writes to a terminal whose other side is gone, and every write fails with EIO.
        let master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        var unlock: Int32 = 0, number: UInt32 = 0
        // TIOCSPTLCK and TIOCGPTN (asm-generic/ioctls.h), which Swift's Glibc does not import: unlockpt and ptsname.
        try #require(master >= 0 && ioctl(master, 0x4004_5431, &unlock) == 0 && ioctl(master, 0x8004_5430, &number) == 0, "no pseudo-terminal")
        let terminal = try #require(FileHandle(forUpdatingAtPath: "/dev/pts/\(number)"))
        let process = Process()
        process.executableURL = binary
        process.arguments = ksmArguments(seconds: 4, report: report)
        process.standardOutput = terminal
        process.standardError = terminal
        try process.run()
        try terminal.close()
        var first: UInt8 = 0
        _ = read(master, &first, 1)  // the run has printed to the terminal
        close(master)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit, "killed by signal \(process.terminationStatus)")
        #expect([0, 1, 2].contains(process.terminationStatus), "exit \(process.terminationStatus)")
        #expect(FileManager.default.fileExists(atPath: report), "the report was written")
        #expect(Self.ksm() == before, "ksmd's run setting put back")
    }

    @Test func aRunKilledWithSIGKILLIsUndoneByDoctorRestoreAndASecondRunIsRefusedMeanwhile() throws {
        _ = try invoke(["doctor", "--restore"])  // no journal left from elsewhere
        let before = Self.ksm()
        let process = Process()
        process.executableURL = binary
        process.arguments = ksmArguments(seconds: 120)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        #expect(waitForKSM(), "the run started ksmd")
        let second = try invoke(ksmArguments(seconds: 1))
        #expect(second.status == 75 && second.stderr.contains("another mmutorture run"), "\(second.status): \(second.stderr)")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(Self.ksm() == "1", "SIGKILL let nothing be undone")
        #expect(FileManager.default.fileExists(atPath: Self.journal), "the values to put back were journaled")
        let restore = try invoke(["doctor", "--restore"])
        #expect(restore.status == 0 && restore.stdout.contains("set /sys/kernel/mm/ksm/run back to \(before)"), "\(restore.stdout) \(restore.stderr)")
        #expect(Self.ksm() == before)
        let again = try invoke(["doctor", "--restore"])
        #expect(again.stdout.contains("nothing to restore"))
    }
}
