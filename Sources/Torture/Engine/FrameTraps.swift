#if canImport(Glibc)
import Glibc
#endif
import Guests
import KVM
import Synchronization

/// Recycled-frame traps: they make a stale translation visible for as long as it lives, not only inside the
/// step's few-microsecond window.
///
/// A content-replacing call (dontneed, remap, munmap, punch, truncate, a thp split) frees the page's frame to the
/// per-CPU free list, and the host's next write to the page faults a frame in on the same CPU: the one just freed
/// (the list is LIFO). Without traps a translation KVM failed to zap then reads the page's *new* generation and
/// passes. So right after such a call, before the page is refaulted, the mutator writes a *poison* value (a
/// control-word kind no publication carries, with the step's counter) into the next page of a ring of host-only
/// trap pages: that write faults in the frame just freed. A guest read through the stale translation now returns
/// poison, which no window accepts, and the host names it `stale-frame` with the step that freed the frame.
///
/// Antagonists whose calls free frames (``AntagonistSpec/Kind/freesFrames``: pageout, collapse) spring traps of
/// their own ring after each call, on the same CPU as the mutator: their invalidations keep the content, so without
/// a trap a translation left on the freed frame would read the same value and pass.
///
/// The ring holds each frame for `pages` steps, then releases a quarter of it at once (one madvise, one TLB
/// shootdown, for many steps). Where `/proc/self/pagemap` shows PFNs (root), one step in `measureEvery` reads
/// the PFNs of the pages the call may free, and then the first trap's: the recycle rate is how often the trap
/// really took one of the frames the call freed.
final class FrameTraps: @unchecked Sendable {
    // @unchecked: `next`, `stepsUntilMeasure` and the trap memory are the mutator thread's; the rest is locked.
    /// One sprung trap: which call freed the frame it (probably) holds.
    struct Record: Sendable {
        var poison: UInt64
        var call: Cause
        var seconds: Double
    }

    /// The call that freed a trapped frame, kept as values: its name is spelled only when a violation asks for it,
    /// not on each of tens of thousands of steps a second.
    enum Cause: Sendable, CustomStringConvertible {
        case step(Operation, page: Int)
        /// An antagonist's call, as its plan names it ("collapse 512..<1024").
        case antagonist(String)

        /// As a violation names it: "dontneed on page 5", "antagonist collapse 512..<1024".
        var description: String {
            switch self {
            case .step(let operation, let page): "\(operation.rawValue) on page \(page)"
            case .antagonist(let plan): "antagonist \(plan)"
            }
        }
    }

    /// 256 pages: a quarter released at once is one TLB shootdown (an IPI to every CPU running the VM's threads) per
    /// 64 steps (a 64-page ring, the default until 2026-12-07, cost a step about 1.5 µs in them; this one 0.8 µs).
    static let defaultPages = 256
    /// One step in this many reads the two PFNs.
    static let measureEvery = 8

    let pages: Int
    private let base: UnsafeMutableRawPointer
    private var next = 0
    private var stepsUntilMeasure = 0
    private let pagemap = PageMap()
    /// The last ``history`` traps' records and the counts, read by the report and by vCPU threads (to name a poison
    /// value's step) while the mutator updates them: one lock per trap, held briefly. A poison is looked up by a
    /// search of the records: only a violation asks, and a step then pays no hashing.
    private let state: Mutex<(records: [Record?], report: RunReport.TrapReport)>
    /// How many sprung traps' records are kept: far more than the ring has pages, because a frame stays poisoned
    /// after its trap page is reused, and a checker busy with other violations may name it milliseconds later
    /// (at 70,000 steps a second a 256-page ring turns over in about 4 ms).
    static let history = 4096
    var report: RunReport.TrapReport { state.withLock { $0.report } }

    /// Maps `pages` (a multiple of 4, at least 4) host-only trap pages.
    init(pages: Int) throws {
        precondition(pages >= 4 && pages % 4 == 0)
        self.pages = pages
        let length = pages * Int(GUEST_PAGE_SIZE)
        guard let mapped = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), mapped != MAP_FAILED else {
            throw HostCallError("mmap(trap pages)", errno: errno, context: "\(length) bytes")
        }
        base = mapped
        // A huge page would take every trap's fault at once and recycle nothing.
        _ = madvise(base, length, MADV_NOHUGEPAGE)
        var report = RunReport.TrapReport()
        report.ringPages = pages
        state = Mutex((Array(repeating: nil, count: max(pages, Self.history)), report))
    }

    deinit {
        munmap(base, pages * Int(GUEST_PAGE_SIZE))
    }

    private func trap(_ index: Int) -> UnsafeMutableRawPointer { base + index * Int(GUEST_PAGE_SIZE) }

    /// Before a call that may free the frames of `count` pages from `address`: on a measured step, their PFNs
    /// (empty when none is present or PFNs are hidden, which measures nothing).
    func framesBeforeCall(_ address: UnsafeMutableRawPointer, count: Int) -> Set<UInt64> {
        // Due until a sprung trap consumed a reading (a step may turn out to free nothing: thp's collapse half).
        stepsUntilMeasure -= 1
        guard stepsUntilMeasure <= 0, pagemap.isReadable else { return [] }
        return Set(pagemap.frames(address, count: count)).subtracting([0])
    }

    /// Right after the call freed the frames `freed` (empty: not measured): writes `poison` into the next trap,
    /// which faults in the frame freed last, and records which call it came from.
    func spring(poison: UInt64, call: Cause, seconds: Double, freed: Set<UInt64>) {
        let index = next
        next = (next + 1) % pages
        // SAFETY: the trap page is mapped read-write, 8-aligned, GUEST_PAGE_SIZE bytes, and only this thread writes it.
        trap(index).assumingMemoryBound(to: UInt64.self).update(repeating: poison, count: Int(GUEST_WORDS_PER_PAGE))
        let caught = freed.isEmpty ? nil : freed.contains(pagemap.frame(trap(index)))
        if caught != nil { stepsUntilMeasure = Self.measureEvery }
        let quarter = pages / 4
        if index % quarter == quarter - 1 {
            // Leaving a quarter: release the next one (its frames were trapped a whole ring ago) in one call, after
            // this step's trap, so that the frames it frees lie under the next call's freed frame, not over it.
            _ = madvise(trap(next), quarter * Int(GUEST_PAGE_SIZE), MADV_DONTNEED)
        }
        state.withLock { state in
            state.records[state.report.sprung % state.records.count] = Record(poison: poison, call: call, seconds: seconds)
            state.report.sprung += 1
            if let caught {
                state.report.measured += 1
                if caught { state.report.recycled += 1 }
                state.report.recycleRate = Double(state.report.recycled) / Double(state.report.measured)
            }
        }
    }

    /// Right after `call` freed `freedPages` data frames, before anything faults them back: one trap per freed
    /// frame, up to ``perCall`` (truncate frees a whole tail of the file, a collapse 512 pages), each with the next
    /// value of `poison`; the first is measured against `frames` (``framesBeforeCall(_:count:)``). Returns the
    /// first trap's poison (nil: nothing freed).
    func spring(after call: Cause, freedPages: Int, measuring frames: Set<UInt64>, seconds: Double, poison: () -> UInt64) -> UInt64? {
        var first: UInt64?
        for trap in 0..<min(freedPages, Self.perCall) {
            let value = poison()
            spring(poison: value, call: call, seconds: seconds, freed: trap == 0 ? frames : [])
            first = first ?? value
        }
        return first
    }

    /// At most this many traps per call.
    static let perCall = 8

    /// The step that wrote `poison`, if it is still in the ring.
    func record(poison: UInt64) -> Record? {
        state.withLock { state in state.records.lazy.compactMap { $0 }.first { $0.poison == poison } }
    }
}

extension [FrameTraps] {
    /// The call that freed the frame holding `poison`, from whichever ring (the mutator's or an antagonist's) trapped it.
    func record(poison: UInt64) -> FrameTraps.Record? {
        // Each ring asked once: a lazy compactMap asks twice (filter, then a force-unwrapping map), and a ring the
        // mutator wrote to between the two answered nil the second time and crashed the vCPU's thread.
        for traps in self { if let record = traps.record(poison: poison) { return record } }
        return nil
    }
}

extension RunReport {
    /// What the recycled-frame traps did (``FrameTraps``).
    public struct TrapReport: Codable, Sendable, Equatable {
        /// Host-only trap pages in the ring.
        public var ringPages = 0
        /// Traps sprung: content-replacing calls followed by a poison write that took a freed frame.
        public var sprung = 0
        /// Sprung traps whose freed frame and trap frame were both read from /proc/self/pagemap (0 without root).
        public var measured = 0
        /// Measured traps that took one of the frames the call freed.
        public var recycled = 0
        /// recycled / measured; nil when nothing was measured.
        public var recycleRate: Double? = nil
        public init() {}

        /// "224,022 sprung in a ring of 64 pages; took the freed frame: 78% of 26,017 measured".
        var summary: String {
            let rate = recycleRate.map { String(format: "%.0f%%", 100 * $0) + " of \(measured.grouped) measured" }
                ?? "not measured (/proc/self/pagemap shows PFNs to root only)"
            return "\(sprung.grouped) sprung in a ring of \(ringPages) pages; took the freed frame: \(rate)"
        }

        func adding(_ other: Self) -> Self {
            var sum = self
            sum.ringPages = max(ringPages, other.ringPages)
            sum.sprung += other.sprung
            sum.measured += other.measured
            sum.recycled += other.recycled
            sum.recycleRate = sum.measured > 0 ? Double(sum.recycled) / Double(sum.measured) : nil
            return sum
        }
    }
}
