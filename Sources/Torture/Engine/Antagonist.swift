#if canImport(Glibc)
import CHost
import Glibc
#endif
import Atomics
import CKVM
import Guests
import KVM
import Synchronization

/// An antagonist: a thread beside the mutator that drives one more path through KVM's MMU on its own seeded
/// schedule, so that invalidations from different paths interleave on the same pages (DESIGN, "Bugs live in
/// interleavings"). Its actions, and the pauses between them (jittered around its period), are a pure function of
/// the run's seed and the antagonist's place in the list: a seed replays them.
final class Antagonist: @unchecked Sendable {
    // @unchecked: the counters are atomic and `firstActions` is under a mutex; the schedule and the toggles are
    // used by the antagonist's own thread only.

    /// What the antagonists act on.
    struct Context {
        var vm: VirtualMachine
        /// The data's host memory, for the notifier-path kinds.
        var backing: Backing
        /// Pages of the data slot (the dirty log's granularity).
        var dataPages: Int
        /// The pages the antagonists aim at: the hot set, or all of them.
        var targetPages: Int
        /// The vCPUs, for MMU context resets (each applied by the vCPU's own thread).
        var workers: [VCPUWorker]
        var statistics: StatisticsReader?
        var observations: Observations
    }

    let spec: AntagonistSpec
    let stop = ManagedAtomic<Bool>(false)
    let actions = ManagedAtomic<UInt64>(0)
    /// Actions that found nothing to do (a clear of the dirty log while dirty logging was off).
    let idleActions = ManagedAtomic<UInt64>(0)
    private let context: Context
    private var schedule: SeededGenerator
    /// The kernel counters this kind of action moves, read around each action, and their summed movement. The
    /// antagonists share the mutator's CPU, so an action that sleeps (reclaim, fork) can let the mutator run
    /// mid-call and its flushes be counted here too; each kind's tests therefore run it beside `--op none`.
    private let counterNames: [String]
    private let counters: StatisticCounters?
    private let moved: [ManagedAtomic<UInt64>]
    private let firstActions = Mutex<[String]>([])
    static let recordedActions = 16
    private var logging = false
    /// The spare slot's memory, mapped once when the antagonist is made (before the mutator runs): a mapping
    /// made mid-run could land in the hole a munmap step leaves in the data (eight adjacent pages of a hot set in
    /// flight are exactly its 32 KiB), and the step's mapping back would then fail.
    private let spareMemory: MemoryRegion?
    /// Whether the spare slot is in the VM now.
    private var spare = false
    private var spareMoved = false
    /// The recycled-frame traps sprung after each call that may free frames (pageout, collapse); nil for the
    /// other kinds, or with `--traps 0`.
    let frameTraps: FrameTraps?
    /// Poison values of this antagonist's ring: its own counter space, apart from the mutator's and the others'.
    private var nextPoison: UInt64

    init(spec: AntagonistSpec, index: Int, seed: UInt64, context: Context, frameTraps: FrameTraps? = nil) {
        self.spec = spec
        self.context = context
        self.frameTraps = frameTraps
        self.nextPoison = UInt64(index + 1) << 44
        self.spareMemory = spec.kind == .memslotChurn ? try? MemoryRegion.anonymous(size: Int(GUEST_SPARE_SIZE)) : nil
        self.schedule = Antagonist.schedule(seed: seed, index: index)
        self.counterNames = spec.kind.evidenceCounters
        self.counters = context.statistics?.counters(counterNames)
        self.moved = counterNames.map { _ in ManagedAtomic<UInt64>(0) }
    }

    /// The antagonist's own generator: the run's seed mixed with its index, so antagonists do not move in step.
    static func schedule(seed: UInt64, index: Int) -> SeededGenerator {
        SeededGenerator(seed: seed ^ 0xa17a_6045_7000_0000 &+ UInt64(index) &* 0x9e37_79b9_7f4a_7c15)
    }

    func run() {
        defer { removeSpareSlot() }
        while !stop.load(ordering: .relaxed) {
            let before = (try? counters?.read()) ?? []
            let action: Action
            do {
                action = try step()
            } catch {
                context.observations.addHarnessError("antagonist \(spec.kind.rawValue): \(error)")
                return
            }
            let after = (try? counters?.read()) ?? []
            for (index, (old, new)) in zip(before, after).enumerated() { moved[index].wrappingIncrement(by: new &- old, ordering: .relaxed) }
            actions.wrappingIncrement(ordering: .relaxed)
            if action.idle { idleActions.wrappingIncrement(ordering: .relaxed) }
            firstActions.withLock { if $0.count < Self.recordedActions { $0.append(action.plan) } }
            usleep(UInt32(pause()))
        }
    }

    /// A pause drawn uniformly from half to one and a half periods.
    private func pause() -> Int {
        let period = spec.periodMicroseconds
        return period / 2 + Int(schedule.next() % UInt64(period + 1))
    }

    /// One action: what the schedule chose (a pure function of the seed), and whether it found nothing to do
    /// (which depends on timing: a clear while another antagonist has turned logging off).
    struct Action: Equatable {
        var plan: String
        var idle = false
    }

    /// Takes the next action of this antagonist's kind.
    func step() throws -> Action {
        switch spec.kind {
        case .dirtyToggle:
            logging.toggle()
            context.observations.dataSlot.beginChange()
            defer { context.observations.dataSlot.endChange() }
            try context.vm.setMemorySlotFlags(UInt32(GUEST_DATA_SLOT), logging ? .logDirtyPages : [])
            return Action(plan: logging ? "log on" : "log off")
        case .clearDirty:
            return try clearDirtyRange()
        case .memslotChurn:
            return Action(plan: try churnSpareSlot())
        case .mmuReset:
            let worker = context.workers[Int(schedule.next() % UInt64(context.workers.count))]
            worker.requestMMUReset()
            return Action(plan: "reset vCPU \(worker.index)")
        case .fork:
            try HostMemory.forkChildThatExits()
            return Action(plan: "fork")
        case .pageout:
            let (first, count) = randomRange()
            let plan = "pageout \(first)..<\(first + count)"
            return Action(plan: plan, idle: !advise(first, count, CHOST_MADV_PAGEOUT, "madvise(MADV_PAGEOUT)", plan: plan))
        case .collapse:
            let first = Int(schedule.next() % UInt64(context.targetPages)) / 512 * 512
            let plan = "collapse \(first)..<\(first + 512)"
            return Action(plan: plan, idle: !advise(first, 512, CHOST_MADV_COLLAPSE, "madvise(MADV_COLLAPSE)", plan: plan))
        }
    }

    /// Right after a call that may have freed the range's frames, before anything faults them back: traps take
    /// the frames on top of the free list (the last freed), so that a translation left on one reads poison.
    private func springTraps(after plan: String, pages: Int, freed: Set<UInt64>) {
        guard let frameTraps else { return }
        _ = frameTraps.spring(after: .antagonist(plan), freedPages: pages, measuring: freed, seconds: context.observations.elapsed) {
            nextPoison += 1
            return ControlWord.make(.poison, nextPoison)
        }
    }

    /// 64 to 256 pages from a random 64-page boundary among the target pages, within the data.
    private func randomRange() -> (first: Int, count: Int) {
        let blocks = (context.targetPages + 63) / 64
        let first = Int(schedule.next() % UInt64(blocks)) * 64
        return (first, min(64 * (1 + Int(schedule.next() % 4)), context.dataPages - first))
    }

    /// `madvise` of data pages, then the traps; false where the kernel found nothing it could do right now (a page
    /// the mutator has unmapped or moved away meanwhile, a collapse that must wait): those actions count as idle,
    /// not as errors.
    private func advise(_ first: Int, _ count: Int, _ advice: Int32, _ name: String, plan: String) -> Bool {
        let freed = frameTraps?.framesBeforeCall(context.backing.address(ofPage: first), count: count) ?? []
        let resident = advice == CHOST_MADV_PAGEOUT ? context.backing.residentPages(first: first, count: count) : count
        do {
            try HostMemory.madvise(context.backing.address(ofPage: first), count * GuestPage.size, advice, name: name)
        } catch {
            return false
        }
        // A collapse frees every small page of the range; a pageout the ones it took out of memory.
        let freedPages = advice == CHOST_MADV_PAGEOUT ? resident - context.backing.residentPages(first: first, count: count) : count
        if freedPages > 0 { springTraps(after: plan, pages: freedPages, freed: freed) }
        return true
    }

    /// `KVM_CLEAR_DIRTY_LOG` on 64 to 256 pages from a random 64-page boundary among the target pages: KVM
    /// write-protects again whichever of them the guests dirtied, and flushes.
    private func clearDirtyRange() throws -> Action {
        let (first, count) = randomRange()
        var bitmap = DirtyBitmap(pageCount: count)
        for page in 0..<count { bitmap.mark(page) }
        let plan = "clear \(first)..<\(first + count)"
        do {
            try context.vm.clearDirtyLog(slot: UInt32(GUEST_DATA_SLOT), bitmap, firstPage: first)
        } catch let error as KVMError where error.errno == ENOENT {
            return Action(plan: plan, idle: true)  // the slot is not logging now (a dirty-toggle turned it off)
        }
        return Action(plan: plan)
    }

    /// Adds the spare slot, or moves it, changes its flags, or deletes it: each slot deletion or move makes KVM
    /// drop every shadow page of the VM under the running vCPUs.
    private func churnSpareSlot() throws -> String {
        let slot = UInt32(GUEST_SPARE_SLOT)
        guard spare else {
            guard let region = spareMemory else {
                throw HostCallError("mmap(spare slot)", errno: ENOMEM, context: "\(GUEST_SPARE_SIZE) bytes")
            }
            spare = true
            spareMoved = false
            try context.vm.setMemorySlot(slot, guestAddress: GuestPhysicalAddress(UInt64(GUEST_SPARE_GPA)), region: region)
            return "spare add"
        }
        switch schedule.next() % 3 {
        case 0:
            spareMoved.toggle()
            let address = spareMoved ? GUEST_SPARE_MOVED_GPA : GUEST_SPARE_GPA
            try context.vm.moveMemorySlot(slot, to: GuestPhysicalAddress(UInt64(address)))
            return "spare move"
        case 1:
            let flags = context.vm.memorySlot(slot)?.flags ?? []
            try context.vm.setMemorySlotFlags(slot, flags.isEmpty ? .logDirtyPages : [])
            return "spare flags"
        default:
            try context.vm.deleteMemorySlot(slot)
            spare = false
            return "spare delete"
        }
    }

    private func removeSpareSlot() {
        guard spare else { return }
        try? context.vm.deleteMemorySlot(UInt32(GUEST_SPARE_SLOT))
        spare = false
    }

    var report: RunReport.AntagonistReport {
        let counts = Dictionary(uniqueKeysWithValues: zip(counterNames, moved.map { $0.load(ordering: .relaxed) }))
        let resets = spec.kind == .mmuReset ? context.workers.reduce(0) { $0 &+ $1.mmuResets.load(ordering: .relaxed) } : nil
        var evidence = counts.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key) +\($0.value)" }
        if let resets, resets > 0 { evidence.append("CR0.WP toggled \(resets) times (read back through KVM_GET_SREGS)") }
        let exercised = !evidence.isEmpty
        return RunReport.AntagonistReport(
            kind: spec.kind.rawValue, periodMicroseconds: spec.periodMicroseconds, actions: actions.load(ordering: .relaxed),
            flushRequests: counts["remote_tlb_flush_requests"] ?? 0, exercised: exercised,
            idleActions: idleActions.load(ordering: .relaxed), counters: counts, mmuResets: resets,
            evidence: exercised ? evidence.joined(separator: ", ") : "no kernel counter moved around its actions",
            firstActions: firstActions.withLock { $0 }, traps: frameTraps?.report)
    }
}

extension AntagonistSpec.Kind {
    /// The kinds whose calls may free data frames while keeping the content (a page reclaimed, small pages
    /// collapsed into a huge one): they spring recycled-frame traps. A fork frees none (the parent keeps every
    /// frame; the child's copies are its own), the KVM-internal kinds free no host memory.
    var freesFrames: Bool { self == .pageout || self == .collapse }

    /// The VM statistics whose movement around an action shows that it reached KVM's MMU.
    var evidenceCounters: [String] {
        switch self {
        case .dirtyToggle, .clearDirty, .fork, .pageout, .collapse: ["remote_tlb_flush_requests"]
        case .memslotChurn: ["remote_tlb_flush_requests", "mmu_shadow_zapped"]
        case .mmuReset: []
        }
    }
}
