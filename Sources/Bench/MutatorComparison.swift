import Torture
import Baseline
import Foundation
import Synchronization

/// The bench's comparison of the engine's mutator with the plain-C loop (`Sources/Baseline`: pages from the same
/// kind of seeded schedule, the same calls, the same publication protocol and counter reads): slices of engine
/// steps and of C steps alternate on the same VM, memory and guest, driving the run's mutator thread
/// (``TortureRun/mutatorDriver``) until the run stops it. Each pair of slices is one ``Round``; the bench takes the
/// median of the pairs' ratios, so that the drifts of a nested host cancel within a pair.
final class MutatorComparison: Sendable {
    /// What the two slices of a pair run.
    enum Pairing: Sendable {
        /// The engine against the C loop of the same protocol (`baseline_mutator_run`): what Swift costs.
        case engineAgainstProtocolLoop
        /// That C loop on both sides: how far from 1 the method itself strays (an A/A control).
        case protocolLoopAgainstItself
        /// The engine, every oracle on, against the minimal reference loop (`baseline_reference_run`: the call, the
        /// window, the republication): what the oracles and the bookkeeping cost against the protocol's limit.
        case engineAgainstReference

        /// Whether the engine's side runs without recycled-frame traps: the protocol's C loop springs none, so its
        /// comparisons run the same work without them; the reference comparison keeps every oracle.
        var engineWithoutTraps: Bool { self != .engineAgainstReference }
    }

    /// One pair of equally long slices: the engine's steps, then the C loop's (or the other way round; the order
    /// alternates).
    struct Round: Sendable, Equatable {
        var engineSteps = 0
        var engineSeconds = 0.0
        var cSteps = 0
        var cSeconds = 0.0
        /// `remote_tlb_flush_requests` during each side's slice.
        var engineFlushRequests: UInt64 = 0
        var cFlushRequests: UInt64 = 0
        /// Engine steps per second over C steps per second.
        var ratio: Double { Self.ratio(Double(engineSteps), engineSeconds, Double(cSteps), cSeconds) }
        /// Engine flush requests per second over C flush requests per second.
        var flushRequestRatio: Double { Self.ratio(Double(engineFlushRequests), engineSeconds, Double(cFlushRequests), cSeconds) }

        private static func ratio(_ engine: Double, _ engineSeconds: Double, _ c: Double, _ cSeconds: Double) -> Double {
            guard engineSeconds > 0, cSeconds > 0, c > 0 else { return 0 }
            return (engine / engineSeconds) / (c / cSeconds)
        }
    }

    /// How many steps each side takes between two reads of the clock.
    static let batch = 16
    /// How long each side of a pair runs.
    static let sliceMilliseconds = 10

    let pairing: Pairing
    /// The pairs measured so far (the mutator's thread appends; the bench reads them once the run has ended).
    let rounds = Mutex<[Round]>([])

    init(_ pairing: Pairing) {
        self.pairing = pairing
    }

    /// The mutator thread's body: alternating slices until the run asks the mutator to stop.
    func drive(_ mutator: MutatorDriving) {
        let configuration = mutator.configuration
        let operation: baseline_operation
        switch configuration.operation {
        case .dontneed: operation = BASELINE_DONTNEED
        case .mprotect where pairing != .engineAgainstReference: operation = BASELINE_MPROTECT
        case .punch where pairing != .engineAgainstReference: operation = BASELINE_PUNCH
        default:
            mutator.fail("the C baseline implements dontneed, mprotect and punch (the reference loop dontneed), not \(configuration.operation.rawValue)")
            return
        }
        guard let span = mutator.flushCounterSpan else {
            mutator.fail("the C baseline needs the VM's statistics")
            return
        }
        var state = baseline_mutator(
            control: mutator.controlWords, data: mutator.data.assumingMemoryBound(to: UInt8.self),
            pages: UInt64(configuration.pages), memfd: mutator.memfd, stats_fd: span.fileDescriptor, stats_offset: Int64(span.offset),
            stats_length: Int64(span.length), seed: configuration.seed ^ 0xc0de, window_us: UInt64(configuration.windowMicroseconds),
            fault_window_us: UInt64(configuration.faultWindowMicroseconds), operation: operation, first_counter: 1 << 40)
        let slice = Duration.milliseconds(Self.sliceMilliseconds)
        var pairs = 0
        while !mutator.isStopped {
            var round = Round()
            for engineTurn in pairs % 2 == 0 ? [true, false] : [false, true] {
                let requestsBefore = mutator.flushRequests()
                let started = ContinuousClock.now
                var steps = 0
                // Both sides step in batches of the same size and read the clock only between batches.
                while ContinuousClock.now - started < slice && !mutator.isStopped {
                    if engineTurn && pairing != .protocolLoopAgainstItself {
                        do {
                            for _ in 0..<Self.batch { try mutator.step() }
                        } catch {
                            mutator.fail("mutator: \(configuration.operation.rawValue): \(error)")
                            return
                        }
                    } else {
                        let nanoseconds = pairing == .engineAgainstReference
                            ? baseline_reference_run(&state, UInt64(Self.batch)) : baseline_mutator_run(&state, UInt64(Self.batch))
                        guard nanoseconds >= 0 else {
                            mutator.fail("C baseline: errno \(-nanoseconds)")
                            return
                        }
                    }
                    steps += Self.batch
                }
                let elapsed = (ContinuousClock.now - started).seconds
                let requests = mutator.flushRequests() &- requestsBefore
                if engineTurn {
                    (round.engineSteps, round.engineSeconds, round.engineFlushRequests) = (steps, elapsed, requests)
                } else {
                    (round.cSteps, round.cSeconds, round.cFlushRequests) = (steps, elapsed, requests)
                    mutator.adoptPublishedGenerations()  // the C loop published its own generations
                }
            }
            if !mutator.isStopped { rounds.withLock { $0.append(round) } }
            pairs += 1
        }
    }

}
