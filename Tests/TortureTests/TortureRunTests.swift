import Foundation
import KVM
import Testing
@testable import Torture

/// A short run of `operation` on `backing`; the seed is fixed so a failure replays.
func shortRun(
    _ operation: Torture.Operation, on backing: BackingKind = .anonymous, inject: Injection = .none, seconds: Double = 1.5,
    guestPageSize: TortureConfiguration.GuestPageSize = .size4K, seed: UInt64 = 42
) throws -> RunReport {
    var configuration = TortureConfiguration()
    configuration.operation = operation
    configuration.backing = backing
    configuration.injection = inject
    configuration.duration = seconds
    configuration.guestPageSize = guestPageSize
    configuration.seed = seed
    configuration.devicePath = kvmDevicePath
    return try TortureRun(configuration: configuration).run()
}

/// The torture runs pin threads to both CPUs: two at once would starve each other, so they run one at a time.
@Suite(.requiresKVM, .serialized)
struct TortureRunTests {
    static let cases: [(Torture.Operation, BackingKind)] =
        [Torture.Operation.dontneed, .remap, .munmap, .punch, .mprotect, .mix].flatMap { operation in
            BackingKind.allCases.filter { operation.applies(to: $0) }.map { (operation, $0) }
        }

    @Test(arguments: cases)
    func aCorrectKernelPassesWithTheOperationExercised(operation: Torture.Operation, backing: BackingKind) throws {
        let report = try shortRun(operation, on: backing)
        #expect(report.violationCount == 0, "\(report.summary)")
        #expect(report.harnessErrors.isEmpty)
        #expect(report.checks.conclusive > 0)
        #expect(!report.operations.isEmpty && report.operations.allSatisfy(\.exercised), "\(report.summary)")
        #expect(report.verdict == .pass, "\(report.verdictReason)")
    }

    @Test func twoMegabyteGuestMappingsPassToo() throws {
        let report = try shortRun(.dontneed, guestPageSize: .size2M)
        #expect(report.verdict == .pass, "\(report.summary)")
    }

    @Test func injectedNowriteIsCaughtWithTheRightDetail() throws {
        let report = try shortRun(.dontneed, inject: .nowrite)
        #expect(report.verdict == .controlFired)
        #expect(report.violationCount > 0)
        let violation = try #require(report.violations.first)
        #expect(violation.page >= 0 && violation.page < 256 && violation.word < 512)
        #expect(violation.window == "generation")
        #expect(violation.expected == violation.controlBefore, "a generation check expects the published word itself")
        #expect(violation.observed != violation.expected)
        // DONTNEED on private anonymous memory left zeros; nowrite never replaced them.
        #expect(report.violations.contains { $0.observed == 0 })
    }

    @Test func injectedPtswapIsCaughtAsAStaleTranslation() throws {
        let report = try shortRun(.none, inject: .ptswap)
        #expect(report.verdict == .controlFired, "\(report.summary)")
        let violation = try #require(report.violations.first)
        #expect(violation.window == "generation" && violation.observed != violation.expected)
        // The stale frame holds an older generation of the same kind.
        #expect(violation.observed >> 56 == 0x01 && violation.observed < violation.expected)
    }

    @Test func injectedEarlyIsReportedWhenCaught() throws {
        let report = try shortRun(.dontneed, inject: .early)
        #expect([.pass, .controlFired].contains(report.verdict))
        #expect((report.verdict == .controlFired) == (report.violationCount > 0))
    }

    @Test func mustFaultWindowsProduceCountedEFAULTsAndNoViolation() throws {
        let report = try shortRun(.mprotect, seconds: 2)
        #expect(report.violationCount == 0)
        #expect(report.efaults > 0, "a guest reading a PROT_NONE page must have KVM_RUN fail with EFAULT")
        #expect(report.operations.first { $0.name == "mprotect" }?.faults ?? 0 > 0)
    }

    @Test func theSameSeedReplaysTheSameSchedule() throws {
        let first = try shortRun(.mix, on: .memfd, seconds: 0.5, seed: 1234)
        let second = try shortRun(.mix, on: .memfd, seconds: 0.5, seed: 1234)
        let other = try shortRun(.mix, on: .memfd, seconds: 0.5, seed: 4321)
        #expect(first.firstSteps.count == Mutator.recordedSteps)
        #expect(first.firstSteps == second.firstSteps)
        #expect(first.firstSteps != other.firstSteps)
    }

    @Test func withNoOperationTheRunIsJudgedOnChecksAlone() throws {
        let report = try shortRun(.none, seconds: 1)
        #expect(report.verdict == .pass)
        #expect(report.checks.inconclusive == 0, "nothing was in flux")
    }

    @Test func aMissingDeviceIsAnEnvironmentError() throws {
        var configuration = TortureConfiguration()
        configuration.devicePath = "/nonexistent/kvm"
        let error = #expect(throws: TortureRun.SetupError.self) { try TortureRun(configuration: configuration).run() }
        #expect(error?.exitCode == 69)
        #expect(error?.description.contains("KVM not available") == true)
    }
}
