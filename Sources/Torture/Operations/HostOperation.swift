#if canImport(Glibc)
import Glibc
#endif
import Guests

/// One notifier caller the mutator performs on data pages: one type per operation, one file each, a row of
/// ``OperationTable`` (the way `dirty_log_test.c` has one `struct log_mode` of hooks per mode). Its static members
/// are what the catalogue knows of it (backings, windows, traps, the doctor's forecast); an instance, made for a
/// run, makes the calls and keeps what its steps carry from one to the next (a forked child, the thp alternation).
protocol HostOperation: AnyObject, SendableMetatype {
    /// The name users type (`--op`) and reports show.
    static var name: String { get }
    static var traits: OperationTraits { get }
    /// Whether the operation means anything on `backing`.
    static func applies(to backing: BackingKind) -> Bool
    /// What to tell a user who asks for the operation on a backing it does not apply to (nil: the operations
    /// that backing supports, ``Operation/fixFor(backing:)``).
    static var backingFix: String? { get }
    /// Why the operation cannot run on this host (a facility the kernel lacks), or nil.
    static var hostProblem: String? { get }
    /// For the opt-in operations: the system-wide change they make, and how the run undoes it.
    static var systemChange: (what: String, undo: String)? { get }
    /// For the opt-in operations: makes that change for a run, before the data is touched (ksmd started, the
    /// reclaim cgroup set up), journaled in `changes`; the run undoes it when it ends. The instances find it in
    /// ``Mutator/Environment/hostChange``.
    static func changeHost(_ changes: SystemChanges) throws -> (any HostChange)?
    /// What else in the run's configuration the operation cannot go with (ksm: guest writers), or nil.
    static func problem(in configuration: TortureConfiguration) -> ConfigurationError?
    /// The doctor's forecast on `backing` where it differs from the general one (nil: "reaches KVM").
    static func forecast(on backing: BackingKind, facts: HostFacts) -> (exercisable: Bool, reason: String)?
    /// The pages a step on `page` acts on (of `count` data pages).
    static func pages(around page: Int, of count: Int) -> Range<Int>
    /// How long the mutator waits after each step (ksm: time for ksmd to merge).
    static var pauseAfterStepMicroseconds: UInt32 { get }

    init(_ context: StepContext)
    /// Before a step's calls, untimed: its flushes count for no operation.
    func prepare(page: Int)
    /// The step's calls: all of them, or the first half and the rest (the window between is the mutator's).
    func invoke(page: Int, pages: Range<Int>) throws -> Invocation
    /// After the step's pages were republished (fork-cow lets its child go, ksm copies the twin).
    func republished(page: Int)
    /// What the run's report should say of the operation's steps.
    func notes() -> [String]
}

extension HostOperation {
    static var backingFix: String? { nil }
    static var hostProblem: String? { nil }
    static var systemChange: (what: String, undo: String)? { nil }
    static func changeHost(_ changes: SystemChanges) throws -> (any HostChange)? { nil }
    static func problem(in configuration: TortureConfiguration) -> ConfigurationError? { nil }
    static func forecast(on backing: BackingKind, facts: HostFacts) -> (exercisable: Bool, reason: String)? { nil }
    static func pages(around page: Int, of count: Int) -> Range<Int> { page..<(page + 1) }
    static var pauseAfterStepMicroseconds: UInt32 { 0 }
    func prepare(page: Int) {}
    func republished(page: Int) {}
    func notes() -> [String] { [] }
}

/// What the mutator and the oracles need to know of an operation, beyond its calls.
struct OperationTraits: OptionSet, Sendable {
    let rawValue: Int
    /// `mix` draws it (on the backings it applies to).
    static let mixable = OperationTraits(rawValue: 1 << 0)
    /// It takes the page away between two calls, holding a must-fault window meanwhile (`--inject faultearly`).
    static let holdsAMustFaultWindow = OperationTraits(rawValue: 1 << 1)
    /// Its call may free data frames (the recycled-frame traps take them).
    static let freesFrames = OperationTraits(rawValue: 1 << 2)
    /// The frames it frees are whichever the kernel picks (aging): the traps cannot measure which before the call.
    static let freesUnknownFrames = OperationTraits(rawValue: 1 << 3)
    /// It begins only with no other window open: it acts on a range, or on state it keeps one of.
    static let runsAlone = OperationTraits(rawValue: 1 << 4)
    /// What tests it is the lost-write half, not its windows: its content-kept window is a formality (a fork
    /// stalls the vCPUs for milliseconds; a 5 µs window is rarely sampled).
    static let judgedByWrites = OperationTraits(rawValue: 1 << 5)
    /// The missing-flush oracle probes its steps: its call is an mmu-notifier invalidation of the page's range
    /// on every backing it runs on (thp's only in its split half: a collapse of a range already huge returns
    /// without one; fork-cow, pageout and cold may not reach KVM at all; memslot changes are not notifier calls).
    static let probed = OperationTraits(rawValue: 1 << 6)
    /// `--inject noinval` may skip its call on a probe (its every step invalidates; not thp's collapse half).
    static let noinvalSkips = OperationTraits(rawValue: 1 << 7)
    /// Opt-in and not in the catalogue's default set.
    static let optIn = OperationTraits(rawValue: 1 << 8)
}

/// What one call did: the window it opens, whether it failed (counted, not fatal), the pages of a content-kept
/// operation that were replaced nonetheless (the thp split), and whether it was an mmu-notifier invalidation of
/// the page's range (the missing-flush oracle judges only those).
struct CallOutcome {
    var window: ControlWord.Kind?
    var failed = false
    var zeroed: Range<Int>
    var invalidates = true
    /// How many of the data's frames the call may have freed (the recycled-frame traps take the last ones).
    var freedFrames = 0
}

extension CallOutcome {
    /// A call that dropped the page (dontneed, remap): zero where the backing's memory goes with it (its frames
    /// freed), the content kept where the backing holds it.
    static func dropped(page: Int, pages: Range<Int>, zeroes: Bool) -> CallOutcome {
        CallOutcome(window: zeroes ? .zero : .keep, zeroed: page..<page, freedFrames: zeroes ? pages.count : 0)
    }
}

/// A step's calls: done in one go, or a first half whose window (must-fault, or read-only) is held before
/// `rest` makes the second half.
enum Invocation {
    case done(CallOutcome)
    /// `freedFrames`: how many frames the first half may have freed (the traps take them at once).
    case holding(WindowKind, invalidates: Bool, freedFrames: Int, rest: () throws -> CallOutcome)

    var invalidates: Bool {
        switch self {
        case .done(let call): call.invalidates
        case .holding(_, let invalidates, _, _): invalidates
        }
    }

    var freedFrames: Int {
        switch self {
        case .done(let call): call.freedFrames
        case .holding(_, _, let freedFrames, _): freedFrames
        }
    }
}

/// What an operation's calls may use of the mutator: the memory, the run's settings and records, and the
/// windows it holds inside a call (memslot's).
protocol StepContext: AnyObject {
    var backing: Backing { get }
    var configuration: TortureConfiguration { get }
    var observations: Observations { get }
    var environment: Mutator.Environment { get }
    /// The slot of the step running now: no other page in flight uses it (mremap parks the page there).
    var currentSlot: Int { get }
    /// Publishes a must-fault window on `pages`, holds it, and closes it.
    func holdFaultWindow(_ pages: Range<Int>, of operation: Operation)
    func spin(microseconds: Int)
}

/// What an opt-in operation changed on the host for a run (``HostOperation/changeHost(_:)``), set back by
/// `restore()` on every exit path of the run.
protocol HostChange: AnyObject {
    func restore()
}

extension KSMDaemon: HostChange {}
extension ReclaimCgroup: HostChange {}
