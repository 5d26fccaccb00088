#if canImport(Glibc)
import Glibc
#endif
import Torture
import Baseline
import Foundation
import GuestRuntime
import Guests
import KVM
import Synchronization

/// `mmutorture bench`: how much the harness lands per second, and what the Swift layers cost against the same
/// work in plain C (`Sources/Baseline`), measured in one run on one machine so that only ratios are compared.
public struct Benchmark {
    public var devicePath = KVMSystem.defaultDevicePath
    /// Seconds per torture measurement.
    public var seconds: Double = 5
    /// Guest sizes for the setup-cost measurement, in GiB.
    public var setupSizesGiB: [Int] = [1, 4, 16]
    public var log: (String) -> Void = { _ in }

    public init() {}

    /// The parts of the bench, each measured on its own (`bench --only`).
    public enum Section: String, CaseIterable, Codable, Sendable {
        case exits, mutator, reference, checks, latency, setup, early, scale, evidence, inflight, stepcost
    }

    /// The sections to measure; all by default.
    public var sections: Set<Section> = Set(Section.allCases)

    public func run() throws -> Results {
        let kvm = try KVMSystem(devicePath: devicePath)
        var results = Results(host: HostFingerprint.current(kvm: kvm), seconds: seconds)
        if sections.contains(.exits) {
            log("exit round trip: Swift vs C")
            results.exitRoundTrip = try exitRoundTrip(kvm: kvm)
        }
        if sections.contains(.mutator) { (results.mutatorSteps, results.mutatorNoiseFloor) = try measureMutatorSteps() }
        if sections.contains(.reference) { results.reference = try measureAgainstReference() }
        if sections.contains(.checks) { results.checksPerSecond = try measureChecks() }
        if sections.contains(.latency) {
            log("detection latency: nowrite")
            results.detectionLatencyMicroseconds = try torture(.dontneed, injection: .nowrite).detectionLatencyMicroseconds ?? [:]
        }
        if sections.contains(.setup) {
            results.setup = try setupSizesGiB.map { size in
                log("setup: \(size) GiB")
                return try setupCost(kvm: kvm, gibibytes: size)
            }
        }
        if sections.contains(.early) {
            results.earlyCatchRate = try measureEarlyCatchRates()
            results.earlyInFlight = try measureEarlyInFlight()
        }
        if sections.contains(.evidence) { results.evidence = try measureEvidence() }
        if sections.contains(.inflight) { results.inFlight = try measureInFlight() }
        if sections.contains(.scale) { results.manyVCPUs = try measureManyVCPUs() }
        if sections.contains(.stepcost) { results.stepCosts = try measureStepCosts() }
        results.targets = results.judgeTargets()
        return results
    }

    /// The engine's steps against the C loop's, and the C loop against itself (the method's noise floor).
    private func measureMutatorSteps() throws -> (steps: [String: Comparison], floor: [String: Comparison]) {
        var steps: [String: Comparison] = [:], floor: [String: Comparison] = [:]
        for (operation, backing) in [(Operation.dontneed, BackingKind.anonymous), (.mprotect, .anonymous), (.punch, .memfd)] {
            log("mutator steps: \(operation.rawValue), engine vs C in paired slices")
            steps[operation.rawValue] = try Comparison(steps: mutatorRounds(operation, backing: backing, .engineAgainstProtocolLoop))
            log("mutator steps: \(operation.rawValue), C vs C in the same slices (the method's noise floor)")
            floor[operation.rawValue] = try Comparison(steps: mutatorRounds(operation, backing: backing, .protocolLoopAgainstItself))
        }
        return (steps, floor)
    }

    /// The engine's dontneed step, every oracle on (`--mode read`: the reference loop writes no words to verify),
    /// against the minimal reference loop in paired slices: at the engine's default window, the reference loop
    /// holding the same; and both at 1 µs. The pairs of ``referenceRuns`` runs (each a VM of its own) are pooled:
    /// on this nested host one run's median ratio strays from the next run's by ±0.03, more than its own interval
    /// says, so that one VM's luck (where its pages landed, the host's state meanwhile) does not decide it.
    private func measureAgainstReference() throws -> [ReferenceRun] {
        try [nil, 1].map { (window: Int?) in
            var rounds: [MutatorComparison.Round] = []
            for run in 1...Self.referenceRuns {
                log("reference: dontneed, the engine vs the minimal loop in paired slices, window \(window.map { "\($0) µs" } ?? "default"), run \(run) of \(Self.referenceRuns)")
                rounds += try mutatorRounds(.dontneed, backing: .anonymous, .engineAgainstReference) { configuration in
                    if let window { configuration.windowMicroseconds = window }
                }
            }
            return ReferenceRun(
                windowMicroseconds: window ?? TortureConfiguration.defaultWindowMicroseconds, steps: try Comparison(steps: rounds),
                flushRequests: try Comparison(
                    swiftRates: rounds.map { Double($0.engineFlushRequests) / $0.engineSeconds },
                    cRates: rounds.map { Double($0.cFlushRequests) / $0.cSeconds }, ratios: rounds.map(\.flushRequestRatio)))
        }
    }

    /// Conclusive checks per second, idle and under dontneed, with one and two vCPUs.
    private func measureChecks() throws -> [String: Double] {
        var checks: [String: Double] = [:]
        for operation in [Operation.none, .dontneed] {
            for vcpus in [1, 2] {
                log("checks: \(operation.rawValue), \(vcpus) vCPU(s)")
                checks["\(operation.rawValue), \(vcpus) vCPU\(vcpus > 1 ? "s" : "")"] = try torture(operation, vcpus: vcpus).checks.conclusivePerSecond
            }
        }
        return checks
    }

    /// The early control's catch rate (publications caught / made) in each of its setups.
    private func measureEarlyCatchRates() throws -> [String: Double] {
        var catchRates: [String: Double] = [:]
        for (name, hot, antagonists) in Self.earlySetups {
            log("early catch rate: \(name)")
            let report = try torture(.dontneed, injection: .early, hot: hot, antagonists: antagonists)
            catchRates[name] = report.publications > 0 ? Double(report.caughtPublications) / Double(report.publications) : 0
        }
        return catchRates
    }

    /// `--inject early` (dontneed, `--mode read`) caught per second at one window in flight and at the default, in
    /// rounds (each round runs both, side by side; a seed of its own per round, since one seed's rate strays by 2×).
    private func measureEarlyInFlight() throws -> [EarlyRun] {
        var runs: [EarlyRun] = []
        for round in 1...Self.inFlightRounds {
            for windows in [1, TortureConfiguration.defaultInFlight] {
                log("early caught per second: --in-flight \(windows), round \(round)")
                let report = try torture(.dontneed, injection: .early, inFlight: windows) { $0.seed = 20261200 + UInt64(round) }
                runs.append(EarlyRun(inFlight: windows, caughtPerSecond: Double(report.caughtPublications) / report.durationSeconds))
            }
        }
        return runs
    }

    /// dontneed with and without recycled-frame traps: windows sampled, frames the traps took, and what they cost.
    private func measureEvidence() throws -> Evidence {
        log("evidence: dontneed with and without recycled-frame traps")
        let trapped = try torture(.dontneed)
        let plain = try torture(.dontneed, traps: 0)
        let zero = trapped.windows?[WindowKind.zero.rawValue] ?? .init()
        let rate = { (report: RunReport) in report.operations.first { $0.name == "dontneed" }?.perSecond ?? 0 }
        return Evidence(
            zeroWindowsOpened: zero.opened, zeroWindowsSampled: zero.sampled, zeroWindowSampledFraction: zero.sampledFraction,
            trapRecycleRate: trapped.traps?.recycleRate, trapsMeasured: trapped.traps?.measured ?? 0,
            opsPerSecondWithTraps: rate(trapped), opsPerSecondWithoutTraps: rate(plain))
    }

    /// Each in-flight operation at 1 and at the default, then the targets' rounds.
    private func measureInFlight() throws -> [InFlightRun] {
        var runs: [InFlightRun] = []
        let standard = TortureConfiguration.defaultInFlight
        func measure(_ operation: Operation, _ windows: Int) throws {
            log("windows in flight: \(operation.rawValue), --in-flight \(windows), --mode both")
            let report = try torture(operation, mode: .both, inFlight: windows)
            runs.append(InFlightRun(
                operation: operation.rawValue, inFlight: windows, opsPerSecond: Self.stepsPerSecond(report),
                windowsSampledPerSecond: (report.windows ?? [:]).mapValues { Double($0.sampled) / report.durationSeconds },
                verdict: report.verdict))
        }
        // Each operation at both settings one after the other, so that a drift of the host hits both.
        for operation in Self.inFlightOperations where operation != .mix {
            for windows in [1, standard] { try measure(operation, windows) }
        }
        // The targets' three runs, in rounds, each round's runs side by side: a ratio of two runs 5 s apart
        // scatters by ±10% on a nested host, and a window kind sampled a few times a second needs the sum.
        for _ in 0..<Self.inFlightRounds {
            for (operation, windows) in [(Operation.dontneed, standard), (.mix, standard), (.mix, 1)] { try measure(operation, windows) }
        }
        return runs
    }

    /// 64 vCPUs on this host's CPUs: every one must check.
    private func measureManyVCPUs() throws -> ManyVCPUs {
        log("64 vCPUs")
        let many = try torture(.dontneed, vcpus: 64)
        let fewest = many.checks.perVCPU.map(\.conclusive).min() ?? 0
        return ManyVCPUs(
            vcpus: 64, hostCPUs: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), everyVCPUChecked: fewest > 0,
            fewestChecksOfAVCPU: fewest, verdict: many.verdict)
    }

    /// Paired slices of the two sides `pairing` names, on one run's VM, vCPU and memory.
    private func mutatorRounds(
        _ operation: Operation, backing: BackingKind, _ pairing: MutatorComparison.Pairing, adjust: (inout TortureConfiguration) -> Void = { _ in }
    ) throws -> [MutatorComparison.Round] {
        let comparison = MutatorComparison(pairing)
        _ = try torture(operation, backing: backing, comparison: comparison, adjust: adjust)
        let rounds = comparison.rounds.withLock { $0 }
        guard !rounds.isEmpty else {
            throw TortureRun.SetupError.harness(HarnessFailure("bench: no comparison rounds for \(operation.rawValue)", hint: "use --seconds 0.5 or more"))
        }
        return rounds
    }

    /// Runs (VMs) whose paired slices the reference section pools, per window.
    static let referenceRuns = 3

    /// The setups whose `early` catch rates are compared: the default, a hot set, and hot sets with antagonists
    /// (those that act without guest writes: the early control needs --mode read).
    static let earlySetups: [(String, Int, [AntagonistSpec])] = [
        ("default (dontneed, 256 pages)", 0, []), ("hot set of 8 pages", 8, []),
        ("hot set of 8 + dirty-toggle every 200 µs", 8, [AntagonistSpec(kind: .dirtyToggle, periodMicroseconds: 200)]),
        ("hot set of 8 + dirty-toggle, memslot-churn, cr0-wp", 8, [
            AntagonistSpec(kind: .dirtyToggle, periodMicroseconds: 200), AntagonistSpec(kind: .memslotChurn, periodMicroseconds: 500),
            AntagonistSpec(kind: .mmuReset, periodMicroseconds: 300),
        ]),
    ]

    /// The mutator's steps per second in a run: every operation's calls (not `none`'s republications).
    static func stepsPerSecond(_ report: RunReport) -> Double {
        Double(report.operations.filter { $0.name != Operation.none.rawValue }.reduce(0) { $0 + $1.count }) / report.durationSeconds
    }

    /// A torture run with the stale-read checkers only (the C baseline does not write).
    func torture(
        _ operation: Operation, backing: BackingKind = .anonymous, vcpus: Int = 1, injection: Injection = .none,
        comparison: MutatorComparison? = nil, hot: Int = 0, antagonists: [AntagonistSpec] = [], traps: Int? = nil, mode: CheckerMode = .read, inFlight: Int? = nil,
        phases: StepPhases? = nil, adjust: (inout TortureConfiguration) -> Void = { _ in }
    ) throws -> RunReport {
        var configuration = TortureConfiguration(
            operation, on: backing, injection: injection, duration: seconds, seed: 20261128, devicePath: devicePath)
        configuration.vcpus = vcpus
        configuration.mode = mode
        configuration.inFlight = inFlight
        configuration.hotPages = hot
        configuration.antagonists = antagonists
        configuration.trapPages = comparison?.pairing.engineWithoutTraps == true ? 0 : traps
        adjust(&configuration)
        var run = TortureRun(configuration: configuration)
        if let comparison { run.mutatorDriver = { @Sendable mutator in comparison.drive(mutator) } }
        run.stepPhases = phases
        return try run.run()
    }

    /// KVM_RUN round trips on a guest that exits every iteration: Swift's `VCPU.run()` (decoding the exit into a
    /// `VCPUExit`) against a C loop of bare ioctls, on the same vCPU, in paired rounds (median ratio).
    private func exitRoundTrip(kvm: KVMSystem) throws -> Comparison {
        let machine = try GuestMachine(kvm: kvm, program: .pingpong)
        let vcpu = try machine.createVCPU(id: 0)
        // On a thread pinned where a torture run's vCPU would be, so that migrations do not add to the noise.
        let result = Mutex<Result<Comparison, Error>?>(nil)
        let thread = try OSThread(name: "bench-exits", cpu: Placement(vcpus: 1, pin: true).vcpuCPUs.first ?? nil) {
            let outcome = Result { try Benchmark.exitRounds(vcpu) }
            result.withLock { $0 = outcome }
        }
        guard thread.join(timeout: 600) else { throw HarnessFailure("bench: exit round trips did not finish in 600 s") }
        return try result.withLock { $0 }!.get()
    }

    private static func exitRounds(_ vcpu: VCPU) throws -> Comparison {
        let iterations = 200
        for _ in 0..<200 { _ = try vcpu.run() }
        // Many short paired rounds (about 10 ms each), alternating which goes first; the ratio is the median of the
        // rounds' ratios, so that the drifts of a nested host cancel within each pair instead of deciding a best-of.
        var swiftTimes: [Double] = [], cTimes: [Double] = []
        for round in 0..<240 {
            for swiftTurn in round % 2 == 0 ? [true, false] : [false, true] {
                if swiftTurn {
                    let start = ContinuousClock.now
                    for _ in 0..<iterations {
                        guard case .ioOut = try vcpu.run() else { throw HarnessFailure("bench: unexpected exit") }
                    }
                    let elapsed = ContinuousClock.now - start
                    swiftTimes.append(elapsed.seconds)
                } else {
                    let nanoseconds = baseline_exit_round_trips(vcpu.fileDescriptor, vcpu.runStructure, UInt64(iterations))
                    guard nanoseconds > 0 else { throw KVMError(operation: "KVM_RUN (C baseline)", errno: Int32(-nanoseconds)) }
                    cTimes.append(Double(nanoseconds) / 1e9)
                }
            }
        }
        return try Comparison(
            swiftRates: swiftTimes.map { Double(iterations) / $0 }, cRates: cTimes.map { Double(iterations) / $0 },
            ratios: zip(swiftTimes, cTimes).map { $1 / $0 })
    }

    /// Creating and starting a VM with a large data slot: only touched pages may cost memory.
    private func setupCost(kvm: KVMSystem, gibibytes: Int) throws -> Setup {
        let before = ProcessMemory.residentKB() ?? 0
        let start = ContinuousClock.now
        let machine = try GuestMachine(kvm: kvm, program: .hello, mappableBytes: 1 << 30)
        let data = try MemoryRegion.anonymous(size: gibibytes << 30)
        try machine.addMemory(slot: UInt32(GUEST_DATA_SLOT), at: GuestPhysicalAddress(UInt64(GUEST_DATA_GPA)), region: data, pageSize: .size2M)
        let vcpu = try machine.createVCPU(id: 0)
        while true {
            if case .ioOut(let port, _, _) = try vcpu.run(), port == UInt16(GUEST_PORT_DONE) { break }
        }
        let elapsed = ContinuousClock.now - start
        let growth = (ProcessMemory.residentKB() ?? 0) - before
        return Setup(
            dataGiB: gibibytes, seconds: elapsed.seconds,
            residentGrowthKB: growth)
    }
}

/// The engine's operations (not Foundation's `Operation`).
typealias Operation = Torture.Operation
