import Atomics
import Guests

/// One checker vCPU's status block (`guest_abi.h`, `GUEST_STATUS_*`) seen from the host: the settings the host
/// writes before the vCPU starts, and the counters the checker raises in place, each read atomically (acquire,
/// so that what the checker stored before a count is seen with it). The one place that knows the block's layout.
struct CheckerStatus: @unchecked Sendable {
    // @unchecked: the block is guest memory that outlives the run; every access below is atomic or made
    // before the vCPU runs.
    let block: UnsafeMutablePointer<UInt64>

    /// A word of the block.
    enum Word {
        case sweeps, conclusiveGeneration, inconclusive, conclusiveZero, conclusiveKeep, violations, published
        /// The sweep under way (its number is what it writes) and the last sweep that wrote every page.
        case sequence, complete
        /// Faulting pages moved past (`guest_abi.h`, "Faulting pages").
        case skippedReads, deferredWrites

        var index: Int {
            switch self {
            case .sweeps: Int(GUEST_STATUS_SWEEPS)
            case .conclusiveGeneration: Int(GUEST_STATUS_CONCLUSIVE_GENERATION)
            case .inconclusive: Int(GUEST_STATUS_INCONCLUSIVE)
            case .conclusiveZero: Int(GUEST_STATUS_CONCLUSIVE_ZERO)
            case .conclusiveKeep: Int(GUEST_STATUS_CONCLUSIVE_KEEP)
            case .violations: Int(GUEST_STATUS_VIOLATIONS)
            case .published: Int(GUEST_STATUS_PUBLISHED)
            case .sequence: Int(GUEST_STATUS_SEQUENCE)
            case .complete: Int(GUEST_STATUS_COMPLETE)
            case .skippedReads: Int(GUEST_STATUS_SKIPPED_READS)
            case .deferredWrites: Int(GUEST_STATUS_DEFERRED_WRITES)
            }
        }
    }

    /// The word's value now.
    func load(_ word: Word) -> UInt64 {
        // SAFETY: 8-aligned guest memory that lives as long as the run; the checker stores these words whole.
        UnsafeAtomic<UInt64>(at: UnsafeMutableRawPointer(block + word.index).assumingMemoryBound(to: UnsafeAtomic<UInt64>.Storage.self))
            .load(ordering: .acquiring)
    }

    /// Conclusive checks of every kind so far.
    var conclusive: UInt64 { load(.conclusiveGeneration) &+ load(.conclusiveZero) &+ load(.conclusiveKeep) }

    /// Writes the checker's settings: what it checks, which writer word is its own (writer `index`), the first
    /// sequence number it writes, and the hot set. Before its vCPU first runs.
    func configure(mode: CheckerMode, writer index: Int, hotPages: Int, hotRepeat: Int) {
        block[Int(GUEST_STATUS_MODE)] = UInt64(mode == .write ? 0 : GUEST_MODE_READ) | UInt64(mode == .read ? 0 : GUEST_MODE_WRITE)
        block[Int(GUEST_STATUS_WRITER_OFFSET)] = UInt64((Int(GUEST_READER_WORDS) + index) * 8)
        block[Int(GUEST_STATUS_SEQUENCE)] = 1
        block[Int(GUEST_STATUS_HOT_PAGES)] = UInt64(hotPages)
        block[Int(GUEST_STATUS_HOT_REPEAT)] = UInt64(hotRepeat)
    }

    /// The checker's entry arguments (rdi, rsi, rdx, rcx, r8, r9 at its entry in `checker.S`): its vCPU index, the
    /// data pages, where the data, control words and this block lie, and how many sweeps between heartbeats.
    static func entryArguments(vcpu index: Int, pages: Int, heartbeatSweeps: UInt64) -> [UInt64] {
        [UInt64(index), UInt64(pages), UInt64(GUEST_DATA_GPA), UInt64(GUEST_CONTROL_GPA),
         UInt64(GUEST_STATUS_GPA) + UInt64(index) * UInt64(GUEST_STATUS_BLOCK_SIZE), heartbeatSweeps]
    }
}

/// A snapshot of one checker's status block, for the report.
struct GuestStatus {
    var sweeps: UInt64
    var generation: UInt64
    var inconclusive: UInt64
    var zero: UInt64
    var keep: UInt64
    var published: UInt64
    /// Reads skipped and writes deferred because their page faulted.
    var skippedReads: UInt64
    var deferredWrites: UInt64
    /// Violations the guest counted (each also reported through a port exit).
    var violations: UInt64
    var conclusive: UInt64 { generation + zero + keep }

    init(_ status: CheckerStatus) {
        sweeps = status.load(.sweeps)
        generation = status.load(.conclusiveGeneration)
        inconclusive = status.load(.inconclusive)
        zero = status.load(.conclusiveZero)
        keep = status.load(.conclusiveKeep)
        published = status.load(.published)
        skippedReads = status.load(.skippedReads)
        deferredWrites = status.load(.deferredWrites)
        violations = status.load(.violations)
    }
}

/// The size of a data page as the checker sees it (`GUEST_PAGE_SIZE`): the unit of the mutator's steps.
enum GuestPage {
    /// Computed, not stored: a constant the optimizer folds, with no lazy-initialization check on the hot path.
    @inline(__always) static var size: Int { Int(GUEST_PAGE_SIZE) }
}
