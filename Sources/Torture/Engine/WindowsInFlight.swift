/// A step whose window is open: the rest of it (``resume``) runs once the window has lasted its length. The loop
/// meanwhile begins steps on other pages (`--in-flight`), so that a window's wait costs the run nothing.
struct OpenStep {
    var pages: Range<Int>
    var slot: Int
    /// When the window has lasted its length (``MonotonicClock`` nanoseconds).
    var deadline: UInt64
    /// Closed before the next call begins, however far its deadline: a long window
    /// (``WindowsInFlight/nextContentWindowMicroseconds(standard:)``).
    var heldTight = false
    /// Closes the window and runs the rest of the step; returns the step's next window, if it has one.
    var resume: () throws -> OpenStep?
}

/// The mutator's windows in flight as bookkeeping (README, "Windows in flight"): which steps are open, on which
/// pages and slots, which one must close before the next step may begin, and how long the next content window
/// lasts. The mutator does the closing (waits out a deadline, runs the rest of the step); this decides which and
/// when, and a test drives it with plain numbers.
struct WindowsInFlight {
    /// `--in-flight`: windows open at once.
    let limit: Int
    private(set) var open: [OpenStep] = [] {
        didSet { peak = max(peak, open.count) }
    }
    /// The most windows open at once, for the report.
    private(set) var peak = 0
    private var freeSlots = Array((0..<Observations.maxInFlight).reversed())
    /// Must-read-zero, content-kept and old-or-zero windows opened, and how many of them were long.
    private(set) var contentWindows = 0
    private(set) var longWindows = 0

    init(limit: Int) { self.limit = limit }

    /// The index of the open window with the earliest deadline.
    var earliest: Int? {
        open.indices.min { open[$0].deadline < open[$1].deadline }
    }

    /// The window to close before a step on `pages` may begin (nil: it may begin): while one of its pages is in
    /// flight, `limit` windows are open, or any is open and the step must run `alone`. Windows close in deadline
    /// order.
    func blocking(_ pages: Range<Int>, alone: Bool) -> Int? {
        guard !open.isEmpty, alone || open.count >= limit || open.contains(where: { $0.pages.overlaps(pages) }) else { return nil }
        return earliest
    }

    /// The window to close before the next call (nil: none): one held tight, or one that would fall due during
    /// the call (its deadline nearer than `callNanoseconds` from `now`): a window lasts its length, not a call
    /// longer.
    func imminent(now: UInt64, callNanoseconds: UInt64) -> Int? {
        guard let earliest, open.contains(where: \.heldTight) || open[earliest].deadline <= now &+ callNanoseconds else { return nil }
        return earliest
    }

    /// Whether `page` is in a window now.
    func isOpen(_ page: Int) -> Bool { open.contains { $0.pages.contains(page) } }

    /// The slot a new step takes (its in-flight word, its parking page), and the one the next would.
    mutating func takeSlot() -> Int { freeSlots.removeLast() }
    var nextSlot: Int { freeSlots[freeSlots.count - 1] }

    mutating func append(_ step: OpenStep) { open.append(step) }
    mutating func remove(at index: Int) -> OpenStep { open.remove(at: index) }
    /// The step in `slot` is done.
    mutating func release(_ slot: Int) { freeSlots.append(slot) }

    /// One must-read-zero or content-kept window in ``longWindowEvery`` lasts ``longWindowMicroseconds``, held
    /// before the next call, when windows are in flight. A call's flush kicks the vCPU out of the guest, and on a
    /// nested host it needs 5 to 20 µs to run again: a 5 µs window's republication lands while it is out, so a race
    /// in the republication (`--inject early`: the promise made before the write) is seen about once in a thousand
    /// steps. In a long window the vCPU is back and maps the page again before the republication, which must then
    /// zap it while the guest runs: `early` catches about one long window in eight. Held in flight instead, past the
    /// next call, its republication follows that call's kick and catches little more than a short one.
    static let longWindowEvery = 32
    static let longWindowMicroseconds = 40

    /// The length of the next content window, in µs (`standard`: `--window-us`).
    mutating func nextContentWindowMicroseconds(standard: Int) -> Int {
        contentWindows += 1
        guard limit > 1, contentWindows % Self.longWindowEvery == 0, standard < Self.longWindowMicroseconds else { return standard }
        longWindows += 1
        return Self.longWindowMicroseconds
    }
}
