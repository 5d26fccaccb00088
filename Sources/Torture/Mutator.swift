#if canImport(Glibc)
import Glibc
#endif
import Atomics
import Guests
import KVM

/// The host thread that invalidates data pages under the running guests, following the publication protocol
/// (README, "The integrity contract"):
///
///     ctrl[i] = 0                         (sequentially consistent: in flux)
///     the operation                       (munmap/mprotect publish a must-fault window while the page is gone)
///     ctrl[i] = window; hold; ctrl[i] = 0 (must-read-zero, or content-kept)
///     write generation g into every word of page i through the host mapping
///     ctrl[i] = g                         (release)
///
/// Injected faults (`--inject`) break the host's side of that on purpose, to prove the checker notices.
final class Mutator: @unchecked Sendable {
    // @unchecked: all mutable state is touched by the mutator thread only; `stop` is atomic.
    let configuration: TortureConfiguration
    let backing: Backing
    let control: ControlWords
    let observations: Observations
    let stop = ManagedAtomic<Bool>(false)
    private var schedule: Schedule
    private var nextCounter: UInt64 = 1
    /// The counter of the generation each page holds now: a content-kept window promises exactly that value.
    private var currentGeneration: [UInt64]
    private let flushRequests: StatisticCounter?
    private let flushes: StatisticCounter?
    /// ptswap: the guest page-table entries of the data pages, and the decoy frame.
    private let leafEntry: (Int) -> UnsafeMutablePointer<UInt64>?
    private let decoy: UnsafeMutableRawPointer
    private var decoyOwner: Int?
    /// The first steps of the schedule, kept to show that a seed replays.
    private(set) var firstSteps: [Step] = []
    static let recordedSteps = 64

    init(
        configuration: TortureConfiguration, backing: Backing, control: ControlWords, observations: Observations,
        vmStatistics: StatisticsReader?, leafEntry: @escaping (Int) -> UnsafeMutablePointer<UInt64>?,
        decoy: UnsafeMutableRawPointer
    ) {
        self.configuration = configuration
        self.backing = backing
        self.control = control
        self.observations = observations
        self.schedule = Schedule(configuration: configuration)
        self.currentGeneration = Array(repeating: 0, count: configuration.pages)
        self.flushRequests = vmStatistics?.counter("remote_tlb_flush_requests")
        self.flushes = vmStatistics?.counter("remote_tlb_flush")
        self.leafEntry = leafEntry
        self.decoy = decoy
    }

    /// Writes and publishes a first generation on every page, before any guest runs.
    func publishInitialGenerations() {
        for page in 0..<configuration.pages { writeAndPublish(page: page, into: backing.address(ofPage: page)) }
    }

    /// The mutator thread's body: steps until asked to stop.
    func run() {
        let idle = configuration.operation == .none && configuration.injection == .none
        while !stop.load(ordering: .relaxed) {
            if idle {
                usleep(10_000)
                continue
            }
            let step = schedule.next()
            if firstSteps.count < Self.recordedSteps { firstSteps.append(step) }
            do {
                if configuration.injection == .ptswap {
                    try swapTranslation(page: step.page)
                } else {
                    try perform(step)
                }
            } catch {
                observations.addHarnessError("mutator: \(step.operation.rawValue) on page \(step.page): \(error)")
                stop.store(true, ordering: .relaxed)
            }
        }
    }

    private func takeCounter() -> UInt64 {
        defer { nextCounter += 1 }
        return nextCounter
    }

    private func perform(_ step: Step) throws {
        let page = step.page
        observations.beginOperation(step.operation, page: page)
        defer { observations.endOperation() }
        control.close(page)
        let requestsBefore = (try? flushRequests?.read()) ?? 0
        let flushesBefore = (try? flushes?.read()) ?? 0
        let started = ContinuousClock.now
        var window: ControlWord.Kind?
        switch step.operation {
        case .none:
            window = nil
        case .dontneed:
            try backing.dontneed(page: page)
            window = backing.dontneedZeroes ? .zero : .keep
        case .remap:
            try backing.remap(page: page)
            window = backing.remapZeroes ? .zero : .keep
        case .munmap:
            try backing.unmap(page: page)
            holdFaultWindow(page)
            try backing.mapBack(page: page)
            window = backing.munmapZeroes ? .zero : .keep
        case .punch:
            try backing.punch(page: page)
            window = .zero
        case .mprotect:
            try backing.protect(page: page, PROT_NONE)
            holdFaultWindow(page)
            try backing.protect(page: page, PROT_READ | PROT_WRITE)
            window = .keep
        case .mix:
            preconditionFailure("the schedule resolves mix to a concrete operation")
        }
        let elapsed = ContinuousClock.now - started
        let requestsAfter = (try? flushRequests?.read()) ?? 0
        let flushesAfter = (try? flushes?.read()) ?? 0
        if let window {
            let marker = window == .keep
                ? ControlWord.make(.keep, currentGeneration[page])
                : ControlWord.make(window, takeCounter())
            control.publish(page, marker)
            spin(microseconds: configuration.windowMicroseconds)
            control.close(page)
        }
        writeAndPublish(page: page, into: backing.address(ofPage: page))
        observations.record(
            step.operation, page: page,
            nanoseconds: UInt64(elapsed.components.seconds) * 1_000_000_000 + UInt64(elapsed.components.attoseconds / 1_000_000_000),
            flushRequests: requestsAfter &- requestsBefore, flushes: flushesAfter &- flushesBefore, failed: false)
    }

    /// While the page is unmapped or PROT_NONE: any guest read that succeeds now is a violation.
    private func holdFaultWindow(_ page: Int) {
        control.publish(page, ControlWord.make(.fault, takeCounter()))
        spin(microseconds: configuration.faultWindowMicroseconds)
        control.close(page)
    }

    /// Writes a new generation into `frame` (the page's host view) and publishes it, or, under injection, does
    /// that wrong on purpose.
    private func writeAndPublish(page: Int, into frame: UnsafeMutableRawPointer) {
        let counter = takeCounter()
        let generation = ControlWord.make(.generation, counter)
        // SAFETY: `frame` is one mapped, 8-aligned 4 KiB page of guest memory.
        let words = frame.assumingMemoryBound(to: UInt64.self)
        switch configuration.injection {
        case .nowrite where currentGeneration[page] != 0:
            control.publish(page, generation)  // promise content that was never written
        case .early where currentGeneration[page] != 0:
            control.publish(page, generation)  // promise first, write after: a narrow race
            words.update(repeating: generation, count: Int(GUEST_WORDS_PER_PAGE))
        default:
            words.update(repeating: generation, count: Int(GUEST_WORDS_PER_PAGE))
            control.publish(page, generation)
        }
        currentGeneration[page] = counter
        observations.publications.wrappingIncrement(ordering: .relaxed)
    }

    /// The ptswap negative control: point the guest's own PTE for a page at the decoy frame (or back), write the
    /// new generation into the frame it now names, and publish, without the guest ever flushing its TLB. KVM's
    /// shadow MMU is not told of host writes to guest page tables, so a guest still using the old translation
    /// reads the old frame: a real stale translation, which the checker must report.
    private func swapTranslation(page: Int) throws {
        let target = decoyOwner ?? page
        guard let entry = leafEntry(target) else {
            throw KVMError(operation: "ptswap", errno: 0, context: "page \(target) has no 4 KiB guest PTE")
        }
        observations.beginOperation(.none, page: target)
        defer { observations.endOperation() }
        control.close(target)
        let flags = entry.pointee & 0xfff
        let frame: UnsafeMutableRawPointer
        if decoyOwner == nil {
            entry.pointee = UInt64(GUEST_DECOY_GPA) | flags
            frame = decoy
            decoyOwner = target
        } else {
            entry.pointee = UInt64(GUEST_DATA_GPA) + UInt64(target) * 4096 | flags
            frame = backing.address(ofPage: target)
            decoyOwner = nil
        }
        writeAndPublish(page: target, into: frame)
        observations.record(.none, page: target, nanoseconds: 0, flushRequests: 0, flushes: 0, failed: false)
    }

    private func spin(microseconds: Int) {
        guard microseconds > 0 else { return }
        let deadline = ContinuousClock.now + .microseconds(microseconds)
        while ContinuousClock.now < deadline {}
    }
}
