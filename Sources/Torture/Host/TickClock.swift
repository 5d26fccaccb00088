import CHost
import CKVM

/// Times the mutator's calls with the CPU's time-stamp counter, and turns those ticks into ``MonotonicClock``
/// time afterwards.
///
/// Why not ``MonotonicClock`` for the calls themselves: the reading right before an invalidation and the one right
/// after it both follow a system call (the counter read), and there `clock_gettime` costs 250-350 cycles on this
/// machine (its vDSO code and data pages are cold again) against RDTSC's 30. That time sits between one
/// invalidation and the next, where it decides whether the next flush has to interrupt the running vCPU (see
/// `Mutator.begin`); measured with RDTSC around each phase, the two clock reads were about a third of the
/// engine's extra time there.
///
/// Ticks become nanoseconds only where time does not matter (in a step's window, or when a report is written), at
/// the rate measured from the clock's origin to that moment: no calibration at start, and the longer the run the
/// more exact the rate (two readings about 30 ns apart, over the whole run). Without an invariant TSC (or off
/// x86-64) ticks are ``MonotonicClock`` nanoseconds.
struct TickClock: Sendable {
    /// Whether ticks are the time-stamp counter's; otherwise they are ``MonotonicClock`` nanoseconds.
    let countsCycles: Bool
    /// The origin: a tick reading and the ``MonotonicClock`` reading taken with it.
    let originTicks: UInt64
    let originNanoseconds: UInt64

    /// How long the rate is measured over at least: 30 ns of skew between the two readings is then at most 3e-5.
    static let shortestRateSpan: UInt64 = 1_000_000

    init() {
        countsCycles = chost_tsc_is_invariant() != 0
        originTicks = countsCycles ? chost_read_tsc() : 0
        originNanoseconds = MonotonicClock.now()
    }

    /// The tick reading now: what brackets a call.
    @inline(__always)
    func now() -> UInt64 { countsCycles ? chost_read_tsc() : MonotonicClock.now() }

    /// The ``MonotonicClock`` reading at which the tick counter read `ticks`.
    func monotonic(_ ticks: UInt64) -> UInt64 {
        guard countsCycles else { return ticks }
        // Signed: a reading taken before the origin maps to before it, not to the far future.
        let offset = (Double(Int64(bitPattern: ticks &- originTicks)) * nanosecondsPerTick()).rounded()
        return UInt64(bitPattern: Int64(bitPattern: originNanoseconds) &+ Int64(offset))
    }

    /// Nanoseconds from tick reading `start` to `end`.
    func nanoseconds(from start: UInt64, to end: UInt64) -> UInt64 {
        guard countsCycles else { return end &- start }
        return UInt64((Double(end &- start) * nanosecondsPerTick()).rounded())
    }

    /// The counter's rate from the origin to now. Within ``shortestRateSpan`` of the origin (the first steps of a
    /// run, at most) it waits out the rest of the span, once.
    private func nanosecondsPerTick() -> Double {
        var ticks = chost_read_tsc()
        var nanoseconds = MonotonicClock.now()
        while nanoseconds &- originNanoseconds < Self.shortestRateSpan {
            ticks = chost_read_tsc()
            nanoseconds = MonotonicClock.now()
        }
        return Double(nanoseconds &- originNanoseconds) / Double(ticks &- originTicks)
    }
}
