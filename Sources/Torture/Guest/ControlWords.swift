import Atomics
import Guests

/// The control slot seen from the host: one 64-bit control word per data page (`guest_abi.h`, "Control words").
///
/// Ordering is the whole protocol, so every access names it: the mutator closes a page with a sequentially
/// consistent store of 0 *before* it invalidates (so no guest can pair an old publication with the new content),
/// and publishes with a release store *after* writing the page (so a guest that sees the word sees the content).
struct ControlWords: @unchecked Sendable {
    // @unchecked: a view of shared guest memory, accessed only atomically.
    private let storage: UnsafeMutablePointer<UnsafeAtomic<UInt64>.Storage>
    /// The words as plain memory, for the benchmark's C baseline (which uses C11 atomics on them).
    var base: UnsafeMutablePointer<UInt64> { UnsafeMutableRawPointer(storage).assumingMemoryBound(to: UInt64.self) }
    let count: Int

    init(base: UnsafeMutableRawPointer, count: Int) {
        // SAFETY: the control slot is 8-aligned, at least count * 8 bytes, and lives as long as the run.
        self.storage = base.bindMemory(to: UnsafeAtomic<UInt64>.Storage.self, capacity: count)
        self.count = count
    }

    private func word(_ page: Int) -> UnsafeAtomic<UInt64> { UnsafeAtomic(at: storage + page) }

    /// Marks the page in flux: guests judge nothing on it until the next publication.
    func close(_ page: Int) { word(page).store(0, ordering: .sequentiallyConsistent) }

    /// Publishes `value` for the page, after everything it promises has been written.
    func publish(_ page: Int, _ value: UInt64) { word(page).store(value, ordering: .releasing) }

    func load(_ page: Int) -> UInt64 { word(page).load(ordering: .acquiring) }
}

/// Control-word values: a kind in the top 8 bits, a run-unique counter below (`guest_abi.h`).
enum ControlWord {
    enum Kind: UInt64 {
        case generation = 0x01, zero = 0x02, fault = 0x03, keep = 0x04, oldOrZero = 0x05
        /// Never published: the content of a recycled-frame trap (``FrameTraps``).
        case poison = 0x5a
        static func of(_ word: UInt64) -> Kind? { Kind(rawValue: word >> UInt64(GUEST_CTRL_KIND_SHIFT)) }
        var name: String {
            switch self {
            case .generation: "generation"
            case .zero: "must-read-zero"
            case .fault: "must-fault"
            case .keep: "content-kept"
            case .oldOrZero: "old-or-zero"
            case .poison: "trap poison"
            }
        }
    }

    static func make(_ kind: Kind, _ counter: UInt64) -> UInt64 {
        kind.rawValue << UInt64(GUEST_CTRL_KIND_SHIFT) | (counter & UInt64(GUEST_CTRL_COUNTER_MASK))
    }

    static func counter(_ word: UInt64) -> UInt64 { word & UInt64(GUEST_CTRL_COUNTER_MASK) }
}
