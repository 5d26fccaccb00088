import Foundation
import Guests
import GuestRuntime
import KVM

/// Everything one run builds before its threads start: the VM on the `guest_abi.h` layout, the control words,
/// the data slot's backing, the checkers' status blocks and vCPU workers, the mutator with its oracles, and the
/// antagonists. What it changed on the host (ksmd, the reclaim cgroup) is set back by ``restore()``, and by the
/// initializer itself when it fails half way.
final class Rig {
    let config: TortureConfiguration
    let startedAt: String
    let host: HostFingerprint
    let otherVMs: [OtherKVMUsers.User]
    let machine: GuestMachine
    let controlRegion: MemoryRegion
    let kernelLog: KernelLog
    /// The kernel's flush sanitizer, where the kvm module has one.
    let flushSanitizer: FlushSanitizerWatch?
    let backing: Backing
    /// What the opt-in operation changed on the host (ksmd, the reclaim cgroup).
    let hostChange: (any HostChange)?
    /// The system-wide lock and journal, held while ksmd or the cgroup are changed.
    let systemChanges: SystemChanges?
    let observations: Observations
    let vmStats: StatisticsReader?
    let status: [CheckerStatus]
    let mutator: Mutator
    let workers: [VCPUWorker]
    let antagonists: [Antagonist]
    let hugeAtStart: Int?
    let vcpuStats: [StatisticsReader?]
    let vmBefore: Statistics
    let vcpuBefore: [Statistics]
    let placement: Placement

    init(_ config: TortureConfiguration, kvm: KVMSystem, announcement: Announcement?, progress: ((String) -> Void)?) throws {
        self.config = config
        var ready = false
        startedAt = ISO8601DateFormatter().string(from: Date())
        host = HostFingerprint.current(kvm: kvm)
        otherVMs = OtherKVMUsers.find()
        if let warning = OtherKVMUsers.warning(otherVMs) { progress?("warning: " + warning) }
        let controlBytes = (config.pages * 8 + GuestPage.size - 1) / GuestPage.size * GuestPage.size
        machine = try GuestMachine(kvm: kvm, program: .checker, mappableBytes: UInt64(controlBytes + config.dataBytes))
        controlRegion = try MemoryRegion.anonymous(size: controlBytes)
        try machine.addMemory(slot: UInt32(GUEST_CONTROL_SLOT), at: GuestPhysicalAddress(UInt64(GUEST_CONTROL_GPA)), region: controlRegion)
        kernelLog = KernelLog()
        flushSanitizer = FlushSanitizerWatch()
        backing = try Backing(kind: config.backing, size: config.dataBytes)
        // System-wide changes: one run at a time, each journaled before it is made (what an earlier run left
        // changed is put back first, and said).
        let changes = config.operation.systemChange != nil ? try SystemChanges() : nil
        systemChanges = changes
        defer { if !ready { changes?.release() } }
        for line in changes?.restoredLeftovers ?? [] { progress?("mmutorture: " + line) }
        // The opt-in operation's change (ksmd on; the reclaim cgroup), before the first page is touched, so that the
        // data is charged to the cgroup; restored when this run ends, or by the next run after a SIGKILL.
        let hostChange = try changes.flatMap { try config.operation.row?.changeHost($0) }
        self.hostChange = hostChange
        defer { if !ready { hostChange?.restore() } }
        let dataSlotFlags = try Self.addDataSlot(config, machine: machine, backing: backing)

        observations = Observations(announcingTo: announcement)
        vmStats = try? machine.vm.statistics()
        status = (0..<config.vcpus).map { [machine] in CheckerStatus(block: machine.statusBlock(vcpu: $0)) }
        for (index, block) in status.enumerated() {
            block.configure(mode: config.mode, writer: index, hotPages: config.hotPages, hotRepeat: config.hotRepeat)
        }
        let frameTraps = config.frameTrapPages > 0
            && config.stepOperations.contains { $0.traits.contains(.freesFrames) }
            ? try FrameTraps(pages: config.frameTrapPages) : nil
        mutator = try Self.makeMutator(
            config, machine: machine, control: ControlWords(base: controlRegion.base, count: config.pages), backing: backing,
            observations: observations, vmStats: vmStats, status: status, dataSlotFlags: dataSlotFlags, hostChange: hostChange,
            frameTraps: frameTraps)
        mutator.publishInitialGenerations()
        let antagonistTraps = try config.antagonists.map { spec in
            config.frameTrapPages > 0 && spec.kind.freesFrames ? try FrameTraps(pages: config.frameTrapPages) : nil
        }
        if config.dirty == .ring { try machine.vm.enableDirtyRings(entries: config.ringEntries) }
        hugeAtStart = config.backing == .thp ? backing.anonHugePagesKB() : nil
        workers = try Self.makeWorkers(
            config, machine: machine, observations: observations, backing: backing, frameTraps: ([frameTraps] + antagonistTraps).compactMap { $0 })
        mutator.dirtyOracle = try Self.makeDirtyOracle(config, machine: machine, backing: backing, observations: observations, status: status, workers: workers)
        vcpuStats = workers.map { try? $0.vcpu.statistics() }
        vmBefore = (try? vmStats?.read()) ?? Statistics()
        vcpuBefore = vcpuStats.map { (try? $0?.read()) ?? Statistics() }
        placement = Placement(vcpus: config.vcpus, pin: config.pin)
        // Antagonists share the mutator's CPU: every flush they cause must reach the vCPUs elsewhere. Made before
        // the mutator starts: what they map must not land in a hole a munmap step leaves in the data.
        let antagonistContext = Antagonist.Context(
            vm: machine.vm, backing: backing, dataPages: config.mappedPages, targetPages: config.hotPages > 0 ? config.hotPages : config.pages,
            workers: workers, statistics: vmStats, observations: observations)
        antagonists = config.antagonists.enumerated().map { index, spec in
            Antagonist(spec: spec, index: index, seed: config.seed, context: antagonistContext, frameTraps: antagonistTraps[index])
        }
        ready = true
    }

    /// The dirty-log oracle, its first harvest made (nil with `--dirty off`).
    private static func makeDirtyOracle(
        _ config: TortureConfiguration, machine: GuestMachine, backing: Backing, observations: Observations, status: [CheckerStatus],
        workers: [VCPUWorker]
    ) throws -> DirtyOracle? {
        guard config.dirty != .off else { return nil }
        let log = KVMDirtyLog(
            vm: machine.vm, mode: config.dirty,
            rings: try config.dirty == .ring ? workers.map { try $0.vcpu.dirtyRing(entries: config.ringEntries) } : [], pageCount: config.mappedPages)
        let oracle = DirtyOracle(configuration: config, log: log, backing: backing, observations: observations, writerStatus: status)
        try oracle.start()
        return oracle
    }

    /// Registers the data slot on the backing under test, logging dirty pages when an oracle or antagonist harvests
    /// them (with manual protection for `--dirty clear` and clear-dirty); returns the slot's flags.
    private static func addDataSlot(_ config: TortureConfiguration, machine: GuestMachine, backing: Backing) throws -> MemorySlotFlags {
        let clearsDirtyLog = config.antagonists.contains { $0.kind == .clearDirty }
        if config.dirty == .clear || clearsDirtyLog {
            try machine.vm.enableCapability(.manualDirtyLogProtect, arguments: [1])  // MANUAL_PROTECT_ENABLE
        }
        let flags: MemorySlotFlags = config.dirty == .off && !clearsDirtyLog ? [] : .logDirtyPages
        try machine.addMemory(
            slot: UInt32(GUEST_DATA_SLOT), at: GuestPhysicalAddress(UInt64(GUEST_DATA_GPA)), region: backing.region,
            pageSize: config.guestPageSize.pageSize, flags: flags)
        return flags
    }

    private static func makeMutator(
        _ config: TortureConfiguration, machine: GuestMachine, control: ControlWords, backing: Backing, observations: Observations,
        vmStats: StatisticsReader?, status: [CheckerStatus], dataSlotFlags: MemorySlotFlags, hostChange: (any HostChange)?, frameTraps: FrameTraps?
    ) throws -> Mutator {
        let pageTables = machine.pageTables
        return Mutator(configuration: config, environment: Mutator.Environment(
            backing: backing, control: control, observations: observations, vmStatistics: vmStats,
            leafEntry: { page in pageTables.leafEntry(for: UInt64(GUEST_DATA_GPA) + UInt64(page * GuestPage.size)) },
            decoy: machine.system.base + Int(GUEST_DECOY_GPA), writerStatus: config.mode == .read ? [] : status, checkerStatus: status,
            vm: machine.vm, dataSlotFlags: dataSlotFlags, hostChange: hostChange),
            frameTraps: frameTraps)
    }

    /// One checker vCPU per `config.vcpus`, each with its worker.
    private static func makeWorkers(
        _ config: TortureConfiguration, machine: GuestMachine, observations: Observations, backing: Backing, frameTraps: [FrameTraps]
    ) throws -> [VCPUWorker] {
        // About a dozen heartbeats a second at full speed; each costs one exit round trip.
        let heartbeatSweeps = UInt64(max(1, (1 << 24) / config.pages))
        return try (0..<config.vcpus).map { index in
            let vcpu = try machine.createVCPU(
                id: index, arguments: CheckerStatus.entryArguments(vcpu: index, pages: config.pages, heartbeatSweeps: heartbeatSweeps),
                kick: VCPUWorker.kickSignal)
            return VCPUWorker(
                index: index, vcpu: vcpu, observations: observations,
                dataRange: UInt64(GUEST_DATA_GPA)..<(UInt64(GUEST_DATA_GPA) + UInt64(config.dataBytes)), dataHost: backing.region.base,
                frameTraps: frameTraps)
        }
    }

    /// Sets back what the run changed on the host (ksmd's settings, the reclaim cgroup), then lets the next run
    /// change them.
    func restore() {
        hostChange?.restore()
        systemChanges?.release()
    }

    /// The run's threads, once started.
    struct Threads {
        var vcpus: [OSThread]
        var mutator: OSThread
        var antagonists: [OSThread]
    }

    /// Starts the vCPUs, then the mutator (its own loop, or `driver`), then the antagonists, each on its CPU.
    func start(driver: (@Sendable (MutatorDriving) -> Void)?) throws -> Threads {
        var threads: [OSThread] = []
        for worker in workers {
            threads.append(try OSThread(name: "vcpu-\(worker.index)", cpu: placement.vcpuCPUs[worker.index]) { worker.run() })
        }
        let mutatorThread = try OSThread(name: "mutator", cpu: placement.mutatorCPU) { [mutator] in
            if let driver { driver(MutatorDriving(mutator: mutator)) } else { mutator.run() }
        }
        let antagonistThreads = try antagonists.enumerated().map { index, antagonist in
            try OSThread(name: "antagonist-\(index)", cpu: placement.mutatorCPU) { antagonist.run() }
        }
        return Threads(vcpus: threads, mutator: mutatorThread, antagonists: antagonistThreads)
    }

    /// Stops the mutator first (so no window is left open), then the antagonists, then the vCPUs, each join bounded.
    func stop(_ threads: Threads) {
        mutator.stop.store(true, ordering: .relaxed)
        for antagonist in antagonists { antagonist.stop.store(true, ordering: .relaxed) }
        if !threads.mutator.join(timeout: 10) { observations.addHarnessError("the mutator did not stop within 10 s") }
        for (index, thread) in threads.antagonists.enumerated() where !thread.join(timeout: 10) {
            observations.addHarnessError("antagonist \(index) did not stop within 10 s")
        }
        for worker in workers {
            worker.stop.store(true, ordering: .relaxed)
            worker.vcpu.requestExit()
        }
        for (index, thread) in threads.vcpus.enumerated() where !thread.join(timeout: 10) {
            observations.addHarnessError("vCPU \(index) did not leave KVM_RUN within 10 s of its kick")
        }
    }
}
