import Foundation
import KVM
import TestSupport
import Testing
@testable import Torture

/// A short run of `operation` on `backing`; the seed is fixed so a failure replays. `configure` sets anything else.
func shortRun(
    _ operation: Torture.Operation, on backing: BackingKind = .anonymous, inject: Injection = .none, seconds: Double = 1.5,
    guestPageSize: TortureConfiguration.GuestPageSize = .size4K, seed: UInt64 = 42,
    configure: (inout TortureConfiguration) -> Void = { _ in }
) throws -> RunReport {
    var configuration = TortureConfiguration(operation, on: backing, injection: inject, duration: seconds, seed: seed, devicePath: kvmDevicePath)
    configuration.guestPageSize = guestPageSize
    configuration.pages = backing == .thp ? 512 : 256  // whole huge pages
    configure(&configuration)
    return try TortureRun(configuration: configuration).run()
}

/// Runs `make` for `seconds`, then twice as long and so on, until `enough` holds for a run's report (no run
/// longer than `cap`): a loaded host reaches the same counts later, not never. `enough` must ask only for amounts
/// (rounds, merges, windows), never for a verdict the test checks; every run is returned, so a violation in a
/// shorter attempt is still seen.
func runUntil(
    _ enough: (RunReport) -> Bool, seconds: Double, cap: Double = 24, _ make: (Double) throws -> RunReport
) rethrows -> (last: RunReport, all: [RunReport]) {
    var all: [RunReport] = []
    var length = seconds
    while true {
        let report = try make(length)
        all.append(report)
        if enough(report) || length * 2 > cap { return (report, all) }
        length *= 2
    }
}

/// A short run that a correct kernel must pass: as long as it takes, up to the cap, for every operation to be
/// exercised (a busy host reaches a vCPU or samples a window later); a violation in any attempt still fails.
func exercisedRun(
    _ operation: Torture.Operation, on backing: BackingKind = .anonymous, inject: Injection = .none, seconds: Double = 1.5,
    guestPageSize: TortureConfiguration.GuestPageSize = .size4K, seed: UInt64 = 42,
    configure: (inout TortureConfiguration) -> Void = { _ in }
) throws -> RunReport {
    let (report, all) = try runUntil({ $0.verdict != .notExercised }, seconds: seconds) {
        try shortRun(operation, on: backing, inject: inject, seconds: $0, guestPageSize: guestPageSize, seed: seed, configure: configure)
    }
    #expect(all.allSatisfy { $0.violationCount == 0 }, "\(all.map(\.verdictReason))")
    return report
}

/// The torture runs pin threads to both CPUs: two at once would starve each other, so they run one at a time.
@Suite(.requiresKVM, .serialized)
struct TortureRunTests {
    /// Every operation of the catalogue (and mix) on every backing it applies to (hugetlb needs reserved pages),
    /// where the host has what it needs (where not, the operation's own test checks that run exits 69 naming it).
    static let cases: [(Torture.Operation, BackingKind)] =
        (Torture.Operation.catalogue + [.mix]).filter { $0.hostProblem == nil }.flatMap { operation in
            BackingKind.allCases.filter { $0 != .hugetlb && operation.applies(to: $0) }.map { (operation, $0) }
        }

    /// Operations that cannot reach KVM on a host without swap: they must say so, never pass.
    static let reclaimOperations: Set<Torture.Operation> = [.pageout, .cold]

    @Test(arguments: cases)
    func aCorrectKernelPassesWithTheOperationExercised(operation: Torture.Operation, backing: BackingKind) throws {
        let forecast = DoctorReport.exercisability(facts: .current()).first { $0.operation == operation.rawValue && $0.backing == backing.rawValue }
        // pageout and cold on THP reach KVM only while huge pages are intact to be split: doctor cannot know that.
        let uncertain = backing == .thp && Self.reclaimOperations.contains(operation)
        // What can be exercised must be, given the time: a busy host samples a window or reaches a vCPU later.
        let (report, all) = try runUntil({ $0.verdict != .notExercised || uncertain || !(forecast?.exercisable ?? true) }, seconds: 1) {
            try shortRun(operation, on: backing, seconds: $0)
        }
        #expect(all.allSatisfy { $0.violationCount == 0 && $0.harnessErrors.isEmpty }, "\(all.map(\.verdictReason))")
        #expect(report.violationCount == 0, "\(report.summary)")
        #expect(report.harnessErrors.isEmpty, "\(report.harnessErrors)")
        #expect(report.checks.conclusive > 0)
        #expect(report.writes.verifications > 0, "the lost-write verifier ran")
        if operation != .mix && !uncertain {
            #expect((forecast?.exercisable ?? true) == (report.verdict != .notExercised), "doctor's forecast agrees with the run")
        }
        if report.verdict == .notExercised {
            #expect(Self.reclaimOperations.contains(operation), "\(report.summary)")
            #expect(report.operations.contains { !$0.exercised && $0.evidence.contains("never had to reach a vCPU") })
        } else {
            #expect(!report.operations.isEmpty && report.operations.allSatisfy(\.exercised), "\(report.summary)")
            #expect(report.verdict == .pass, "\(report.verdictReason)")
        }
    }

    @Test func injectedLosewriteIsCaughtWithTheRightDetail() throws {
        let report = try shortRun(.mprotect, inject: .losewrite)
        #expect(report.verdict == .controlFired, "\(report.summary)")
        let violation = try #require(report.violations.first { $0.kind == .lostWrite })
        #expect(violation.word == 448 && violation.vcpu == 0)
        #expect(violation.observed < violation.expected, "the word is behind its publication")
        #expect(violation.operationInFlight?.hasPrefix("mprotect on page \(violation.page)") == true)
        #expect(violation.recentOperations.last?.hasSuffix("mprotect") == true, "the page's history ends with the operation in flight")
    }

    @Test func guestWritesFaultWhileTheHostMappingIsReadOnlyAndNoneLands() throws {
        let report = try shortRun(.mprotectReadOnly, seconds: 2)
        #expect(report.violationCount == 0, "\(report.summary)")
        #expect(report.efaults > 0, "writes to a PROT_READ page make KVM_RUN fail with EFAULT; the vCPU re-enters")
        #expect(report.checks.conclusiveKeptWindow > 0, "reads went on during the read-only windows")
        #expect(report.writes.verifications > 0)
    }

    @Test func deletingTheDataSlotUnderRunningGuestsGivesMMIOExitsNotGarbage() throws {
        let report = try shortRun(.memslot, seconds: 2)
        #expect(report.mmioExits > 0)
        #expect(report.violationCount == 0 && report.harnessErrors.isEmpty, "\(report.summary)")
        // While the slot was away every page held a must-fault window; the reads in it exited as MMIO and were
        // served by the host, counted apart from the translated checks.
        #expect((report.mmioServedChecks ?? 0) > 0, "\(report.summary)")
    }

    /// guard where this kernel has guard regions (Linux 6.13): elsewhere `aGuardOperationTheKernelLacksExits69`.
    @Test(arguments: [Torture.Operation.mprotect, .munmap] + (Torture.Operation.guardRegion.hostProblem == nil ? [.guardRegion] : []))
    func injectedFaultearlyIsCaughtByTheMustFaultWindow(operation: Torture.Operation) throws {
        let report = try shortRun(operation, inject: .faultearly)
        #expect(report.verdict == .controlFired, "\(report.summary)")
        let early = try #require(report.violations.first)
        #expect(early.kind == .staleRead && early.window == "must-fault", "a translated read in a window opened before the call: \(early.summary)")
        var dontneed = TortureConfiguration()
        dontneed.operation = .dontneed
        dontneed.injection = .faultearly
        #expect(throws: ConfigurationError.self, "dontneed holds no must-fault window") { try dontneed.validate() }
    }

    @Test func aGuardOperationTheKernelLacksExits69NamingIt() throws {
        guard let problem = Torture.Operation.guardRegion.hostProblem else {
            // This kernel has guard regions: the operation runs (aCorrectKernelPasses…, and faultearly above).
            #expect(DoctorReport.exercisability(facts: .current()).contains { $0.operation == "guard" && $0.exercisable })
            return
        }
        let error = #expect(throws: TortureRun.SetupError.self) { try shortRun(.guardRegion) }
        #expect(error?.exitCode == 69 && error?.description.contains(problem) == true, "\(String(describing: error))")
    }

    @Test func injectedSlotearlyIsCaughtByTheMemslotWindow() throws {
        let report = try shortRun(.memslot, inject: .slotearly, seconds: 2)
        #expect(report.verdict == .controlFired, "\(report.summary)")
        let early = try #require(report.violations.first)
        #expect(early.kind == .staleRead && early.window == "must-fault", "a translated read in the window opened before the slot went: \(early.summary)")
    }

    /// The stray-MMIO check: data accesses exit as MMIO only while the data slot is away. The control says the slot is
    /// back before it is re-added, so the exits of that moment look like exits with the slot present.
    @Test func injectedSlotbackIsCaughtAsStrayMMIOAndACorrectKernelHasNone() throws {
        let (clean, all) = try runUntil({ $0.mmioExits > 100 }, seconds: 1.5) { try shortRun(.memslot, seconds: $0) }
        #expect(clean.mmioExits > 100, "the slot changes made the vCPUs exit as MMIO: \(clean.mmioExits)")
        #expect(all.allSatisfy { ($0.violationsByKind?[Violation.Kind.strayMMIO.rawValue] ?? 0) == 0 && $0.violationCount == 0 }, "\(all.map(\.summary))")
        let control = try shortRun(.memslot, inject: .slotback, seconds: 2)
        #expect(control.verdict == .controlFired, "\(control.summary)")
        let stray = try #require(control.violations.first { $0.kind == .strayMMIO })
        #expect(stray.window.hasPrefix("data slot present (generation ") && stray.operationInFlight?.contains("after the last slot change ended") == true, "\(stray.summary)")
    }

    @Test(arguments: [Torture.Operation.dontneed, .mix])
    func theMissingFlushOracleJudgesProbesAndACorrectKernelFlushesEveryOne(operation: Torture.Operation) throws {
        let report = try shortRun(operation, seconds: 1.5)
        let probes = try #require(report.flushProbes)
        #expect(probes.judged > 20, "probes proved pages mapped and judged their calls: \(probes)")
        #expect(probes.missing == 0 && report.violationCount == 0, "\(report.summary)")
    }

    @Test func probesWaitingOnSlowSweepsLeaveTheMutatorMostOfItsTime() throws {
        // Under nowrite every page the checker reads is a violation (two exits each), so a sweep takes tens of
        // milliseconds and a probe's wait for two of them runs into its 50 ms cap. Probing once took the mutator
        // from tens of thousands of steps a second to a few hundred; it may take a tenth of its time at most.
        let steps = { (report: RunReport) in Double(report.operations.reduce(0) { $0 + $1.count }) / report.durationSeconds }
        let probing = try shortRun(.dontneed, inject: .nowrite)
        let unprobed = try shortRun(.dontneed, inject: .nowrite) { $0.flushProbeMilliseconds = 0 }
        #expect(probing.verdict == .controlFired && (probing.flushProbes?.probes ?? 0) > 0, "\(probing.summary)")
        #expect(steps(probing) >= 0.5 * steps(unprobed), "\(steps(probing)) against \(steps(unprobed)) steps/s without probes")
        // The latency is the first detection's: every later read of the same bad page is a violation too.
        let p50 = try #require(probing.detectionLatencyMicroseconds?["50"])
        #expect(p50 < 50_000, "p50 \(p50) µs")
    }

    @Test func injectedNoinvalIsCaughtAsAMissingFlush() throws {
        let report = try shortRun(.dontneed, inject: .noinval, seconds: 1.5)
        #expect(report.verdict == .controlFired, "\(report.summary)")
        let probes = try #require(report.flushProbes)
        #expect(probes.judged > 20 && probes.missing == probes.judged, "every judged probe's skipped call moved no flush request: \(probes)")
        let missing = try #require(report.violations.first)
        #expect(missing.kind == .missingFlush && missing.observed == missing.expected - 1)
        #expect(report.violations.allSatisfy { $0.kind == .missingFlush }, "the skipped call kept the content: no data violation")
    }

    /// Beside an antagonist whose KVM-internal zaps flush under mmu_lock in a correct kernel, the oracle judges: a
    /// probe its toggles disturbed is void (the counter moved), the rest are judged and every call flushed.
    @Test func theMissingFlushOracleJudgesBesideDirtyLogTogglesAndACorrectKernelFlushesEveryOne() throws {
        let dirtyToggle = { (configuration: inout TortureConfiguration) in
            configuration.antagonists = [AntagonistSpec(kind: .dirtyToggle, periodMicroseconds: 5000)]
        }
        let (report, all) = try runUntil({ ($0.flushProbes?.judged ?? 0) > 50 && ($0.antagonists.first?.exercised ?? false) }, seconds: 1.5) {
            try shortRun(.dontneed, seconds: $0, configure: dirtyToggle)
        }
        let probes = try #require(report.flushProbes)
        #expect(probes.judged > 50, "\(probes)")
        #expect(report.antagonists.first?.exercised == true, "the toggles reached KVM: \(report.antagonists)")
        #expect(all.allSatisfy { $0.violationCount == 0 && ($0.flushProbes?.missing ?? 0) == 0 }, "\(all.map(\.summary))")
        // Through the oracle's own mechanism, beside the same antagonist: a judged call skipped is a missing flush.
        let control = try shortRun(.dontneed, inject: .noinval, seconds: 1.5, configure: dirtyToggle)
        #expect(control.verdict == .controlFired, "\(control.summary)")
        #expect(control.violations.contains { $0.kind == .missingFlush })
    }

    @Test func flushProbesAreOffBesideAntagonistsThatMayZapWithoutAFlushRequestAndTheReportSaysWhy() throws {
        let report = try shortRun(.dontneed, seconds: 0.5) {
            $0.antagonists = [AntagonistSpec(kind: .dirtyToggle, periodMicroseconds: 1000), AntagonistSpec(kind: .memslotChurn, periodMicroseconds: 1000)]
        }
        #expect(report.flushProbes == nil)
        #expect(report.notes.contains { $0.hasPrefix("the missing-flush oracle is off beside memslot-churn: ") && $0.contains("kvm_mmu_zap_all_fast") }, "\(report.notes)")
        var configuration = TortureConfiguration(.dontneed, injection: .noinval, duration: 1, seed: 1, devicePath: kvmDevicePath)
        configuration.antagonists = [AntagonistSpec(kind: .mmuReset, periodMicroseconds: 1000)]
        #expect(throws: ConfigurationError.self, "noinval needs the probes, which cr0-wp turns off") { try configuration.validate() }
        configuration.antagonists = [AntagonistSpec(kind: .dirtyToggle, periodMicroseconds: 1000)]
        #expect(throws: Never.self) { try configuration.validate() }
    }

    @Test func flushProbesAreOffWhenAsked() throws {
        let report = try shortRun(.dontneed, seconds: 0.5) { $0.flushProbeMilliseconds = 0 }
        #expect(report.flushProbes == nil)
    }

    @Test func forkCOWWithRunningVCPUThreadsLosesNoWrite() throws {
        let (report, all) = try runUntil({ $0.verdict != .notExercised }, seconds: 2) { try shortRun(.forkCOW, seconds: $0) }
        #expect(all.allSatisfy { $0.violationCount == 0 }, "\(all.map(\.verdictReason))")
        #expect(report.verdict == .pass, "\(report.summary)")
        #expect((report.operations.first?.count ?? 0) > 10 && report.writes.verifications > 0)
    }

    @Test func thpRunsSayWhetherHugePagesWereReallyThere() throws {
        let report = try exercisedRun(.thp, on: .thp, seconds: 2, seed: 8) { $0.pages = 1024 }
        #expect(report.verdict == .pass, "\(report.summary)")
        let thp = try #require(report.thp)
        #expect(thp.anonHugePagesKBAtStart != nil, "/proc/self/smaps was read")
        #expect(report.notes.contains { $0.hasPrefix("thp: AnonHugePages") })
        // On this project's hosts THP is in madvise mode: the backing starts as huge pages.
        if KVMTestGate.required { #expect((thp.anonHugePagesKBAtStart ?? 0) > 0) }
    }

    @Test func moreVCPUsThanHostCPUsAllCheckAndWrite() throws {
        let report = try exercisedRun(.dontneed, seconds: 2, seed: 9) { $0.vcpus = 4 }
        #expect(report.verdict == .pass, "\(report.summary)")
        #expect(report.checks.perVCPU.allSatisfy { $0.conclusive > 0 }, "every vCPU made conclusive checks")
        #expect(report.writes.published.count == 4 && report.writes.published.allSatisfy { $0 > 0 })
    }

    @Test func allRunsEveryApplicableOperationIntoOneTable() throws {
        let report = try shortRun(.all, on: .memfd, seconds: 5)
        let forecast = DoctorReport.exercisability(facts: .current()).filter { $0.backing == "memfd" }
        let expected = Torture.Operation.catalogue.filter { $0.applies(to: .memfd) }.map(\.rawValue)
            .filter { name in forecast.contains { $0.operation == name && $0.exercisable } }
        #expect(report.operations.map(\.name) == expected)
        for skipped in forecast where !skipped.exercisable {
            #expect(report.notes.contains { $0.contains("not run, cannot be exercised on this host: \(skipped.operation)") })
        }
        #expect(report.violationCount == 0 && report.harnessErrors.isEmpty, "\(report.summary)")
        #expect(report.summary.contains("truncate") && report.summary.contains("memslot"))
    }

    @Test func twoMegabyteGuestMappingsPassToo() throws {
        let report = try exercisedRun(.dontneed, guestPageSize: .size2M)
        #expect(report.verdict == .pass, "\(report.summary)")
    }

    @Test func injectedNowriteIsCaughtWithTheRightDetail() throws {
        let report = try shortRun(.dontneed, inject: .nowrite)
        #expect(report.verdict == .controlFired)
        #expect(report.violationCount > 0)
        let violation = try #require(report.violations.first { $0.kind == .staleRead })
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
        let violation = try #require(report.violations.first { $0.kind == .staleRead })
        #expect(violation.window == "generation" && violation.observed != violation.expected)
        // The stale frame holds a generation word the host published, not garbage. Not always an older one of
        // the same page: a translation left from an earlier swap can name the decoy after it moved to another
        // page, whose generation count may be ahead.
        #expect(violation.observed >> 56 == 0x01)
    }

    @Test func injectedEarlyIsNeverAPass() throws {
        let report = try shortRun(.dontneed, inject: .early)
        #expect([.notExercised, .controlFired].contains(report.verdict), "\(report.summary)")
        #expect((report.verdict == .controlFired) == (report.violationCount > 0))
    }

    @Test func recycledFrameTrapsTakeTheFramesTheCallsFreed() throws {
        let report = try exercisedRun(.dontneed, seconds: 1.5)
        #expect(report.verdict == .pass, "\(report.summary)")
        let traps = try #require(report.traps)
        let dontneed = try #require(report.operations.first { $0.name == "dontneed" })
        #expect(traps.sprung == dontneed.count, "one trap after every call that freed a frame")
        if geteuid() == 0 {
            // Root reads PFNs: the trap must really hold the freed frame most of the time (measured here: 92-94%).
            #expect(traps.measured > 10 && (traps.recycleRate ?? 0) > 0.5, "\(traps)")
        }
        #expect(try shortRun(.mprotect, seconds: 0.5).traps == nil, "mprotect frees no frame: no trap")
        #expect(try shortRun(.dontneed, seconds: 0.5) { $0.trapPages = 0 }.traps == nil)
    }

    /// Each window kind with an operation that opens it: a default run must land checks in some of them.
    static let windowKinds: [(String, Torture.Operation, BackingKind)] = [
        ("must-read-zero", .dontneed, .anonymous), ("content-kept", .dontneed, .memfd),
        ("must-fault", .mprotect, .anonymous), ("read-only", .mprotectReadOnly, .anonymous),
    ]

    @Test(arguments: windowKinds)
    func eachWindowKindIsSampledInADefaultRun(kind: String, operation: Torture.Operation, backing: BackingKind) throws {
        let windowsOf = { (report: RunReport) in report.operations.first { $0.name == operation.rawValue }?.windows?[kind] }
        let (report, _) = try runUntil({ (windowsOf($0)?.opened ?? 0) > 100 && (windowsOf($0)?.sampled ?? 0) > 0 }, seconds: 1.5) {
            try shortRun(operation, on: backing, seconds: $0)
        }
        let windows = try #require(report.operations.first { $0.name == operation.rawValue }?.windows?[kind], "\(report.summary)")
        #expect(windows.opened > 100 && windows.sampled > 0, "\(kind): \(windows)")
        #expect(report.windows?[kind] == windows)
        #expect(report.summary.contains("windows sampled"))
    }

    @Test func aReplacingOperationWhoseWindowsNoCheckCouldSampleIsNotExercised() throws {
        // Write-only checkers never read: dontneed's must-read-zero windows are opened and never sampled, so the
        // flushes alone prove nothing about what a vCPU could still read.
        let report = try shortRun(.dontneed) { $0.mode = .write }
        let dontneed = try #require(report.operations.first { $0.name == "dontneed" })
        #expect(dontneed.flushes > 0 && dontneed.windows?["must-read-zero"]?.sampled == 0, "\(report.summary)")
        #expect(!dontneed.exercised && dontneed.evidence.contains("windows") && report.verdict == .notExercised, "\(report.summary)")
    }

    @Test func forkCOWKeepsTheChildAliveSoThatWritesBreakCopyOnWrite() throws {
        // A fork's flush reaches a running vCPU only now and then; on a busy host, later.
        let (report, all) = try runUntil({ $0.verdict != .notExercised }, seconds: 1.5) { try shortRun(.forkCOW, seconds: $0) }
        #expect(all.allSatisfy { $0.violationCount == 0 }, "\(all.map(\.verdictReason))")
        #expect(report.verdict == .pass, "\(report.summary)")
        let note = try #require(report.notes.first { $0.hasPrefix("fork-cow:") })
        if geteuid() == 0 {
            // "fork-cow: 40 forks, ...; 38 of 40 measured republications broke copy-on-write ..."
            let numbers = note.split(separator: ";")[1].split(separator: " ").compactMap { Int($0) }
            #expect(numbers.count >= 2 && numbers[0] > 0 && numbers[0] * 2 >= numbers[1], "most writes found the page shared: \(note)")
        }
    }

    @Test func aRunStopsSoonAfterItsFirstViolationWhenAskedToAndAnnouncesItAtOnce() throws {
        let announced = FileManager.default.temporaryDirectory.appendingPathComponent("announced-\(getpid())").path
        #expect(FileManager.default.createFile(atPath: announced, contents: nil))
        defer { unlink(announced) }
        let report = try shortRun(.dontneed, inject: .nowrite, seconds: 60) {
            $0.stopAfterViolationSeconds = 0.5
            $0.announcePath = announced
        }
        let line = try String(contentsOfFile: announced, encoding: .utf8)
        #expect(line.hasPrefix(Violation.firstAnnouncementPrefix) && line.contains("stale-read: vCPU 0 page") && line.split(separator: "\n").count == 1, "\(line)")
        #expect(report.verdict == .controlFired && report.durationSeconds < 30, "\(report.summary)")
        #expect(report.notes.contains { $0.contains("after the first violation") })
    }

    @Test func injectedPoisonIsCaughtAsAStaleFrameNamingTheStepThatFreedIt() throws {
        let report = try shortRun(.dontneed, inject: .poison)
        #expect(report.verdict == .controlFired, "\(report.summary)")
        let violation = try #require(report.violations.first)
        #expect(violation.kind == .staleFrame && violation.observed >> 56 == 0x5a)
        #expect(violation.operationInFlight?.contains("frame freed by dontneed on page \(violation.page)") == true, "\(violation.summary)")
        #expect(report.violationsByKind?.keys.sorted() == ["stale-frame"])
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
        // The seed fixes the order of steps, not how many a loaded machine lets a run make: compare what both made.
        let common = min(first.firstSteps.count, second.firstSteps.count, other.firstSteps.count)
        #expect(common >= 8, "each run made a few steps at least")
        #expect(first.firstSteps.prefix(common) == second.firstSteps.prefix(common))
        #expect(first.firstSteps.prefix(common) != other.firstSteps.prefix(common))
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

/// The dirty-tracking oracle under invalidations.
@Suite(.requiresKVM, .serialized)
struct DirtyTrackingTests {
    static let cases: [(DirtyTracking, Torture.Operation)] = [
        (.log, .none), (.log, .mprotect), (.log, .dontneed), (.log, .mix), (.clear, .mprotect), (.clear, .dontneed), (.clear, .mix),
        (.ring, .none), (.ring, .mprotect), (.ring, .dontneed), (.ring, .mix),
    ]

    func run(_ dirty: DirtyTracking, _ operation: Torture.Operation, inject: Injection = .none, seconds: Double = 1.5) throws -> RunReport {
        try shortRun(operation, inject: inject, seconds: seconds, seed: 77) { $0.dirty = dirty }
    }

    @Test(arguments: cases)
    func noGuestWriteEscapesTheDirtyLog(dirty: DirtyTracking, operation: Torture.Operation) throws {
        // Long enough for a dozen harvest rounds and the operation's windows, however busy the host.
        let (report, all) = try runUntil({ ($0.dirty?.rounds ?? 0) > 10 && $0.verdict != .notExercised }, seconds: 1.5) {
            try run(dirty, operation, seconds: $0)
        }
        #expect(all.allSatisfy { $0.violationCount == 0 }, "\(all.map(\.verdictReason))")
        #expect(report.violationCount == 0 && report.verdict == .pass, "\(report.summary)")
        let rounds = try #require(report.dirty)
        #expect(rounds.rounds > 10 && rounds.pagesReported > 0)
        // Each harvest waits (its windows closed) for a writer's whole sweep: all but a few rounds judge every page.
        #expect(rounds.judgedRounds >= rounds.rounds * 9 / 10, "\(rounds.judgedRounds) of \(rounds.rounds) rounds judged every page")
        #expect((rounds.writtenPagesJudged ?? 0) > rounds.rounds, "every round judged the pages written since the previous harvest")
        let faults = report.counters.vcpus.reduce(Int64(0)) { $0 + ($1.delta["pf_taken"] ?? 0) }
        #expect(faults > Int64(rounds.rounds), "write-protection faults: every round re-protects pages the writers touch again")
    }

    @Test func aFullDirtyRingMakesTheVCPUWaitForTheHarvestNotFail() throws {
        let report = try shortRun(.none, seconds: 1.5) { configuration in
            configuration.dirty = .ring
            configuration.ringEntries = 256
            configuration.pages = 1024
        }
        #expect((report.dirty?.ringFullExits ?? 0) > 0, "1024 pages per sweep overflow a 256-entry ring every round")
        #expect(report.harnessErrors.isEmpty && report.violationCount == 0, "\(report.summary)")
        #expect(report.checks.perVCPU.allSatisfy { $0.sweeps > 0 }, "the vCPU went on after each ring-full exit")
        // Every sweep dirties more pages than the ring holds, so no round can judge every page: not a pass.
        #expect(report.dirty?.judgedRounds == 0 && report.verdict == .notExercised, "\(report.verdictReason)")
    }

    @Test(arguments: [DirtyTracking.log, .clear, .ring])
    func injectedDropdirtyIsCaught(dirty: DirtyTracking) throws {
        let report = try run(dirty, .none, inject: .dropdirty)
        #expect(report.verdict == .controlFired, "\(report.summary)")
        let missed = try #require(report.violations.first { $0.kind == .missedDirty })
        #expect(missed.expected > missed.observed, "the writer published past what the page held at the previous round")
        // The per-round rule fires too: the dropped page had been written since the previous harvest.
        #expect(report.violations.contains { $0.window.hasSuffix("written after the previous harvest") }, "\(report.summary)")
    }
}

struct KernelLogTests {
    @Test func warningsBugsAndTracesAreFindingsAndTheRestIsNot() {
        let records = [
            "4,1234,5678901,-;WARNING: CPU: 1 PID: 42 at arch/x86/kvm/../../../virt/kvm/dirty_ring.c:103 kvm_dirty_ring_push+0x3f/0x50",
            "6,1235,5678902,-;kvm: vcpu 0: requested 128 ns lapic timer period limited to 200000 ns",
            "4,1236,5678903,-;Call Trace:\n",
            "0,1237,5678904,-;BUG: unable to handle page fault for address: ffff888000000000",
        ]
        #expect(KernelLog.findings(in: records) == [
            "WARNING: CPU: 1 PID: 42 at arch/x86/kvm/../../../virt/kvm/dirty_ring.c:103 kvm_dirty_ring_push+0x3f/0x50",
            "Call Trace:",
            "BUG: unable to handle page fault for address: ffff888000000000",
        ])
    }
}

/// Composed antagonists on a hot set: the seed's interleaving of a KVM-internal zap with notifier invalidations.
@Suite(.requiresKVM, .serialized)
struct ComposedAntagonistTests {
    func run(_ operation: Torture.Operation, inject: Injection = .none, seconds: Double = 2) throws -> RunReport {
        // Controls are judged on their first run; a clean run lasts until exercised.
        try (inject == .none ? exercisedRun : shortRun)(operation, .anonymous, inject, seconds, .size4K, 31) { configuration in
            configuration.mode = inject == .early ? .read : .both
            configuration.hotPages = 8
            configuration.antagonists = [AntagonistSpec(kind: .dirtyToggle, periodMicroseconds: 200)]
        }
    }

    @Test(arguments: [Torture.Operation.dontneed, .mprotect, .mix])
    func dirtyLogTogglesRacingInvalidationsOnAHotSetBreakNothing(operation: Torture.Operation) throws {
        let report = try run(operation)
        #expect(report.verdict == .pass, "\(report.summary)")
        let toggles = try #require(report.antagonists.first)
        #expect(toggles.actions > 100 && toggles.exercised, "each toggle that enables logging write-protects the slot and flushes")
        #expect(report.firstSteps.allSatisfy { $0.page < 8 }, "the mutator stays on the hot set")
    }

    @Test func theEarlyCatchRateIsMeasured() throws {
        let report = try run(.dontneed, inject: .early)
        #expect(report.caughtPublications > 0 && UInt64(report.caughtPublications) <= report.publications)
        #expect(report.summary.contains("publications caught"))
    }

    @Test func antagonistArgumentsParseAndBadOnesAreRefused() {
        #expect(AntagonistSpec(argument: "dirty-toggle:250") == AntagonistSpec(kind: .dirtyToggle, periodMicroseconds: 250))
        #expect(AntagonistSpec(argument: "dirty-toggle") == nil && AntagonistSpec(argument: "shred:5") == nil)
        var configuration = TortureConfiguration()
        configuration.hotPages = 300
        #expect((try? configuration.validate()) == nil, "a hot set larger than the data")
        configuration.hotPages = 8
        configuration.antagonists = [AntagonistSpec(kind: .dirtyToggle, periodMicroseconds: 100)]
        configuration.dirty = .log
        #expect((try? configuration.validate()) == nil, "dirty-toggle and --dirty both own the slot's flags")
    }
}
