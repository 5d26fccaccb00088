#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GuestRuntime
import Guests
import KVM

/// A whole torture run: builds the VM on the `guest_abi.h` layout, starts the checker vCPUs and the mutator on
/// their own pinned threads, watches them, stops them, and turns what was seen into a ``RunReport``.
public struct TortureRun {
    public let configuration: TortureConfiguration
    /// Called about once a second with a progress line (elapsed, operations/s, checks/s, violations).
    public var progress: ((String) -> Void)?
    /// Called every ``checkpointInterval`` seconds with the report as of then (soak runs write it out, so that
    /// `report show` can read a run that is still going).
    public var checkpoint: ((RunReport) -> Void)?
    public var checkpointInterval: Double?
    /// Drives the mutator's thread instead of its own loop, until the run stops it (the bench alternates engine
    /// steps with its C loop's this way). The run's windows and in-flight peak are then not reported.
    var mutatorDriver: (@Sendable (Mutator) -> Void)?

    public init(configuration: TortureConfiguration) {
        self.configuration = configuration
    }

    /// Failures before the run can start: a bad configuration or an unusable KVM device.
    public enum SetupError: Error, CustomStringConvertible {
        case configuration(ConfigurationError)
        /// The device cannot be used, or the host lacks what the run needs.
        case unavailable(Error)
        case harness(Error)
        public var description: String {
            switch self {
            case .configuration(let error): "invalid option \(error)"
            case .unavailable(let error): "\(error)"
            case .harness(let error): "setup failed: \(error)"
            }
        }
        public var exitCode: Int32 {
            switch self {
            case .configuration: ExitStatus.usage.rawValue
            case .unavailable: ExitStatus.unavailable.rawValue
            case .harness: ExitStatus.software.rawValue
            }
        }
    }

    public func run() throws(SetupError) -> RunReport {
        do { try configuration.validate() } catch { throw .configuration(error) }
        let kvm: KVMSystem
        do { kvm = try KVMSystem(devicePath: configuration.devicePath) } catch let error as KVMError {
            throw .unavailable(error)
        } catch { throw .harness(error) }
        if let problem = configuration.operation.hostProblem {
            throw .unavailable(HostUnavailable("--op \(configuration.operation.rawValue)", problem: problem))
        }
        do {
            guard configuration.operation == .all else { return try execute(configuration, kvm: kvm) }
            // Every operation that applies to the backing and can reach KVM on this host, in turn, sharing the
            // duration. The ones the host cannot exercise (doctor's forecast) are listed, not run and not passed.
            let forecast = DoctorReport.exercisability(facts: .current()).filter { $0.backing == configuration.backing.rawValue }
            let skipped = forecast.filter { !$0.exercisable }
            let operations = Operation.catalogue.filter { operation in
                operation.applies(to: configuration.backing) && !skipped.contains { $0.operation == operation.rawValue }
            }
            var reports: [RunReport] = []
            for operation in operations where !StopRequest.isRequested {
                // With --stop-after-violation, a violation ends the whole sequence, not only its part.
                if configuration.stopAfterViolationSeconds != nil && reports.contains(where: { $0.violationCount > 0 }) { break }
                var part = configuration
                part.operation = operation
                part.duration = configuration.duration / Double(operations.count)
                reports.append(try execute(part, kvm: kvm))
            }
            var combined = RunReport.combining(reports, as: configuration)
            combined.notes += skipped.map { "not run, cannot be exercised on this host: \($0.operation) (\($0.reason))" }
            return combined
        } catch let error as HostUnavailable {
            throw .unavailable(error)
        } catch {
            throw .harness(error)
        }
    }

    private func execute(_ config: TortureConfiguration, kvm: KVMSystem) throws -> RunReport {
        let startedAt = ISO8601DateFormatter().string(from: Date())
        let host = HostFingerprint.current(kvm: kvm)
        let otherVMs = OtherKVMUsers.find()
        Observations.openAnnouncement(config.announcePath)
        if let warning = OtherKVMUsers.warning(otherVMs) { progress?("warning: " + warning) }
        let controlBytes = (config.pages * 8 + GuestPage.size - 1) / GuestPage.size * GuestPage.size
        let machine = try GuestMachine(kvm: kvm, program: .checker, mappableBytes: UInt64(controlBytes + config.dataBytes))
        let controlRegion = try MemoryRegion.anonymous(size: controlBytes)
        try machine.addMemory(slot: UInt32(GUEST_CONTROL_SLOT), at: GuestPhysicalAddress(UInt64(GUEST_CONTROL_GPA)), region: controlRegion)
        let kernelLog = KernelLog()
        let backing = try Backing(kind: config.backing, size: config.dataBytes)
        // ksm: ksmd on (restored when this run ends, however it ends short of SIGKILL), twins made mergeable.
        let ksmDaemon = config.operation == .ksm ? try KSMDaemon() : nil
        defer { ksmDaemon?.restore() }
        let ksmScansAtStart = KSMDaemon.value("full_scans").flatMap { Int($0) }
        // aging: the cgroup is set up before the first page is touched, so that the data is charged to it.
        let reclaim = config.operation == .aging ? try ReclaimCgroup() : nil
        defer { reclaim?.restore() }
        let clearsDirtyLog = config.antagonists.contains { $0.kind == .clearDirty }
        if config.dirty == .clear || clearsDirtyLog {
            try machine.vm.enableCapability(.manualDirtyLogProtect, arguments: [1])  // MANUAL_PROTECT_ENABLE
        }
        let dataSlotFlags: MemorySlotFlags = config.dirty == .off && !clearsDirtyLog ? [] : .logDirtyPages
        try machine.addMemory(
            slot: UInt32(GUEST_DATA_SLOT), at: GuestPhysicalAddress(UInt64(GUEST_DATA_GPA)), region: backing.region,
            pageSize: config.guestPageSize.pageSize, flags: dataSlotFlags)

        let observations = Observations()
        let control = ControlWords(base: controlRegion.base, count: config.pages)
        let vmStats = try? machine.vm.statistics()
        let pageTables = machine.pageTables
        let status = (0..<config.vcpus).map { CheckerStatus(block: machine.statusBlock(vcpu: $0)) }
        for (index, block) in status.enumerated() {
            block.configure(mode: config.mode, writer: index, hotPages: config.hotPages, hotRepeat: config.hotRepeat)
        }
        let frameTraps = config.frameTrapPages > 0
            && config.stepOperations.contains(where: Mutator.freesFrames.contains)
            ? try FrameTraps(pages: config.frameTrapPages) : nil
        let mutator = Mutator(configuration: config, environment: Mutator.Environment(
            backing: backing, control: control, observations: observations, vmStatistics: vmStats,
            leafEntry: { page in pageTables.leafEntry(for: UInt64(GUEST_DATA_GPA) + UInt64(page * GuestPage.size)) },
            decoy: machine.system.base + Int(GUEST_DECOY_GPA), writerStatus: config.mode == .read ? [] : status, checkerStatus: status,
            vm: machine.vm, dataSlotFlags: dataSlotFlags, ksmTwins: config.operation == .ksm ? try KSMTwins(data: backing) : nil, reclaim: reclaim),
            frameTraps: frameTraps)
        mutator.publishInitialGenerations()
        let antagonistTraps = try config.antagonists.map { spec in
            config.frameTrapPages > 0 && spec.kind.freesFrames ? try FrameTraps(pages: config.frameTrapPages) : nil
        }
        if config.dirty == .ring { try machine.vm.enableDirtyRings(entries: config.ringEntries) }
        let hugeAtStart = config.backing == .thp ? backing.anonHugePagesKB() : nil

        // About a dozen heartbeats a second at full speed; each costs one exit round trip.
        let heartbeatSweeps = UInt64(max(1, (1 << 24) / config.pages))
        var workers: [VCPUWorker] = []
        for index in 0..<config.vcpus {
            let vcpu = try machine.createVCPU(
                id: index, arguments: CheckerStatus.entryArguments(vcpu: index, pages: config.pages, heartbeatSweeps: heartbeatSweeps),
                kick: VCPUWorker.kickSignal)
            workers.append(VCPUWorker(
                index: index, vcpu: vcpu, observations: observations,
                dataRange: UInt64(GUEST_DATA_GPA)..<(UInt64(GUEST_DATA_GPA) + UInt64(config.dataBytes)), dataHost: backing.region.base,
                frameTraps: ([frameTraps] + antagonistTraps).compactMap { $0 }))
        }
        if config.dirty != .off {
            let oracle = DirtyOracle(
                configuration: config, vm: machine.vm, backing: backing, observations: observations, writers: status.count,
                rings: try config.dirty == .ring ? workers.map { try $0.vcpu.dirtyRing(entries: config.ringEntries) } : [],
                published: { [mutator] writer in mutator.published(writer: writer) })
            try oracle.start()
            mutator.dirtyOracle = oracle
        }
        let vcpuStats = workers.map { try? $0.vcpu.statistics() }
        let vmBefore = (try? vmStats?.read()) ?? Statistics()
        let vcpuBefore = vcpuStats.map { (try? $0?.read()) ?? Statistics() }

        let placement = Placement(vcpus: config.vcpus, pin: config.pin)
        var threads: [OSThread] = []
        for worker in workers {
            threads.append(try OSThread(name: "vcpu-\(worker.index)", cpu: placement.vcpuCPUs[worker.index]) { worker.run() })
        }
        // Antagonists share the mutator's CPU: every flush they cause must reach the vCPUs elsewhere. Made before
        // the mutator starts: what they map must not land in a hole a munmap step leaves in the data.
        let antagonistContext = Antagonist.Context(
            vm: machine.vm, backing: backing, dataPages: config.mappedPages, targetPages: config.hotPages > 0 ? config.hotPages : config.pages,
            workers: workers, statistics: vmStats, observations: observations)
        let antagonists = config.antagonists.enumerated().map { index, spec in
            Antagonist(spec: spec, index: index, seed: config.seed, context: antagonistContext, frameTraps: antagonistTraps[index])
        }
        let mutatorThread = try OSThread(name: "mutator", cpu: placement.mutatorCPU) { [mutatorDriver] in
            if let mutatorDriver { mutatorDriver(mutator) } else { mutator.run() }
        }
        let antagonistThreads = try antagonists.enumerated().map { index, antagonist in
            try OSThread(name: "antagonist-\(index)", cpu: placement.mutatorCPU) { antagonist.run() }
        }

        /// The report as of now: at the end, or as a checkpoint while the run goes on.
        func makeReport(_ timeline: [RunReport.TimelineSample]) -> RunReport {
        let duration = observations.elapsed
        let vmAfter = (try? vmStats?.read()) ?? Statistics()
        let vcpuAfter = vcpuStats.map { (try? $0?.read()) ?? Statistics() }

        var notes: [String] = []
        if let note = OtherKVMUsers.note(atStart: otherVMs, atEnd: OtherKVMUsers.find()) { notes.append(note) }
        if let problem = kernelLog.problem { notes.append(problem) }
        if config.operation == .forkCOW {
            let measured = observations.cowMeasured.load(ordering: .relaxed)
            let forks = observations.tallies.withLock { $0[.forkCOW]?.count ?? 0 }
            notes.append("fork-cow: \(forks) forks, each child alive until its page was republished; "
                + (measured > 0 ? "\(observations.cowBreaks.load(ordering: .relaxed)) of \(measured) measured republications broke copy-on-write (the page moved to a new frame)"
                    : "copy-on-write breaks not measured (/proc/self/pagemap shows frames to root only)"))
        }
        if let starved = Self.starvationNote(timeline) { notes.append(starved) }
        if observations.stoppedAfterViolation.load(ordering: .relaxed) {
            notes.append("stopped \(config.stopAfterViolationSeconds ?? 0) s after the first violation (--stop-after-violation), before the planned \(config.duration) s")
        }
        let kernelFindings = KernelLog.findings(in: kernelLog.newRecords())
        observations.kernelFindings.withLock { $0 += kernelFindings }
        let dirty = mutator.dirtyOracle.map {
            RunReport.DirtyReport(
                mode: config.dirty.rawValue, rounds: $0.rounds, pagesReported: $0.pagesReported, judgedRounds: $0.judgedRounds,
                ringFullExits: observations.ringFullExits.load(ordering: .relaxed), writtenPagesJudged: $0.writtenPagesJudged)
        }
        var thp: RunReport.THPReport?
        if config.backing == .thp {
            let report = RunReport.THPReport(
                anonHugePagesKBAtStart: hugeAtStart, anonHugePagesKBAtEnd: backing.anonHugePagesKB(),
                collapseFailures: observations.tallies.withLock { $0[.thp]?.failed ?? 0 }, lastCollapseError: mutator.lastCollapseError)
            let kilobytes = { (value: Int?) in value.map { "\($0) kB" } ?? "unknown" }
            notes.append("thp: AnonHugePages of the data mapping \(kilobytes(report.anonHugePagesKBAtStart)) at the start, "
                + "\(kilobytes(report.anonHugePagesKBAtEnd)) at the end; MADV_COLLAPSE failures: \(report.collapseFailures)"
                + (report.lastCollapseError.map { " (last: \($0))" } ?? "")
                + (report.anonHugePagesKBAtStart == 0 ? "; no huge page was ever formed (THP disabled?)" : ""))
            thp = report
        }
        if config.operation == .ksm {
            let republications = observations.tallies.withLock { $0[.ksm]?.count ?? 0 }
            let scans = (KSMDaemon.value("full_scans").flatMap { Int($0) } ?? 0) - (ksmScansAtStart ?? 0)
            notes.append("ksm: \(observations.ksmMergedRepublications.load(ordering: .relaxed)) of \(republications) republications found "
                + "their page merged by ksmd (the host's write broke the sharing); ksm_merging_pages now "
                + "\(KSMDaemon.mergingPages().map(String.init) ?? "unknown"); ksmd full scans +\(scans)")
        }
        if let reclaim {
            let tally = observations.tallies.withLock { $0[.aging] ?? Observations.OperationTally() }
            notes.append("aging through \(reclaim.interface.rawValue) (\(reclaim.directory)): \(tally.count) reclaim steps, "
                + "\(tally.failed) found nothing to reclaim, usage dropped by \(observations.reclaimedBytes.load(ordering: .relaxed) / 1024) KiB in all")
        }
        if config.operation == .cold && config.backing != .thp {
            notes.append("MADV_COLD only moves pages to the inactive list; it unmaps nothing, so KVM is never told")
        } else if config.operation == .pageout && config.backing == .anonymous {
            notes.append("MADV_PAGEOUT on private anonymous memory needs swap to unmap anything")
        }
        var report = RunAssessment(
            configuration: config, notes: notes, thp: thp, dirty: dirty, antagonists: antagonists.map(\.report), observations: observations,
            windows: mutatorDriver != nil ? nil : mutator.windows, duration: duration, status: status.map(GuestStatus.init),
            workers: workers, placement: placement, vm: (vmBefore, vmAfter), vcpus: Array(zip(vcpuBefore, vcpuAfter))
        ).report(host: host, startedAt: startedAt, timeline: timeline, firstSteps: mutator.firstSteps)
        report.flushProbes = mutator.flushProbe?.report.withLock { $0 }
        report.traps = mutator.frameTraps?.report
        report.windowsInFlightPeak = mutatorDriver != nil ? nil : mutator.peakInFlight
        report.mmioServedChecks = observations.mmioServedChecks.load(ordering: .relaxed)
        return report
        }

        // Watch: progress, timeline, stalls, the deadline and stop requests.
        let flushCounter = vmStats?.counters(["remote_tlb_flush"])
        let flushBase = (try? flushCounter?.read().first) ?? 0
        var timeline: [RunReport.TimelineSample] = []
        var lastProgress = workers.map { _ in (UInt64(0), UInt64(0)) }
        var stalledSince: [Double?] = workers.map { _ in nil }
        var nextSample = 1.0
        var nextCheckpoint = checkpointInterval ?? .infinity
        var checkpointedViolation = false
        var firstViolationSeen: Double?
        while observations.elapsed < config.duration && !StopRequest.isRequested && !mutator.stop.load(ordering: .relaxed)
            && observations.harnessErrors.withLock({ $0.isEmpty }) {
            usleep(20_000)
            let now = observations.elapsed
            for (index, worker) in workers.enumerated() {
                let progressMark = (status[index].load(.sweeps), worker.exits.load(ordering: .relaxed))
                if progressMark != lastProgress[index] {
                    lastProgress[index] = progressMark
                    stalledSince[index] = nil
                } else if let since = stalledSince[index] {
                    if now - since > Self.stallSeconds {
                        worker.stallKick.store(true, ordering: .relaxed)
                        worker.vcpu.requestExit()
                        stalledSince[index] = now
                    }
                } else {
                    stalledSince[index] = now
                }
            }
            // Also at the first violation: a kernel bug that lets the guest write freed frames can corrupt this
            // process soon after, and the evidence must be out before that.
            let violated = observations.violationCount.load(ordering: .relaxed) > 0
            let firstViolation = !checkpointedViolation && violated
            if let grace = config.stopAfterViolationSeconds, violated {
                firstViolationSeen = firstViolationSeen ?? now
                if now - firstViolationSeen! >= grace {
                    observations.stoppedAfterViolation.store(true, ordering: .relaxed)
                    break
                }
            }
            if let checkpoint, now >= nextCheckpoint || firstViolation {
                if now >= nextCheckpoint { nextCheckpoint += checkpointInterval ?? .infinity }
                checkpointedViolation = checkpointedViolation || firstViolation
                var partial = makeReport(timeline)
                partial.complete = false
                checkpoint(partial)
            }
            if now >= nextSample {
                nextSample += 1
                let checks = status.reduce(0) { $0 + $1.conclusive }
                let sample = RunReport.TimelineSample(
                    second: now, operations: observations.tallies.withLock { $0.values.reduce(0) { $0 + $1.count } },
                    conclusiveChecks: checks, remoteTLBFlushes: ((try? flushCounter?.read().first) ?? 0) &- flushBase,
                    efaults: observations.efaults.load(ordering: .relaxed), residentKB: ProcessMemory.residentKB())
                let previous = timeline.last
                timeline.append(sample)
                if let progress {
                    let span = sample.second - (previous?.second ?? 0)
                    let ops = Double(sample.operations - (previous?.operations ?? 0)) / span
                    let rate = Double(sample.conclusiveChecks - (previous?.conclusiveChecks ?? 0)) / span
                    let violations = observations.violationCount.load(ordering: .relaxed)
                    progress(String(format: "%5.1f/%.0f s  %8.0f ops/s  %10.3g checks/s  %d violations", now, config.duration, ops, rate, violations))
                }
            }
        }

        // Stop: the mutator first (so no window is left open), then the vCPUs, each join bounded.
        mutator.stop.store(true, ordering: .relaxed)
        for antagonist in antagonists { antagonist.stop.store(true, ordering: .relaxed) }
        if !mutatorThread.join(timeout: 10) { observations.addHarnessError("the mutator did not stop within 10 s") }
        for (index, thread) in antagonistThreads.enumerated() where !thread.join(timeout: 10) {
            observations.addHarnessError("antagonist \(index) did not stop within 10 s")
        }
        for worker in workers {
            worker.stop.store(true, ordering: .relaxed)
            worker.vcpu.requestExit()
        }
        for (index, thread) in threads.enumerated() where !thread.join(timeout: 10) {
            observations.addHarnessError("vCPU \(index) did not leave KVM_RUN within 10 s of its kick")
        }
        return makeReport(timeline)
    }

    /// A vCPU whose sweeps and exits have not moved for this long is kicked and reported.
    static let stallSeconds = 3.0
}

extension TortureRun {
    /// A note when the machine starved the run: seconds in which the mutator's steps fell below a quarter of the
    /// run's own median rate (another process on the pinned CPUs, a loaded CI host). The progress lines show the
    /// dip; the report must say what it means: fewer windows were sampled than the rate suggests.
    static func starvationNote(_ timeline: [RunReport.TimelineSample]) -> String? {
        guard timeline.count >= 4 else { return nil }
        var rates: [Double] = []
        for (previous, sample) in zip(timeline, timeline.dropFirst()) where sample.second > previous.second {
            rates.append(Double(sample.operations - previous.operations) / (sample.second - previous.second))
        }
        let median = rates.sorted()[rates.count / 2]
        guard median > 0 else { return nil }
        let starved = rates.filter { $0 < median / 4 }.count
        guard starved > 0 else { return nil }
        return String(format: "starved: in %d of %d seconds the mutator made fewer than a quarter of its median %.0f steps/s (the machine was busy: another process on the pinned CPUs, or a loaded host); those seconds sampled fewer windows", starved, rates.count, median)
    }
}
