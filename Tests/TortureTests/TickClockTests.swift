import Testing
@testable import Torture

/// The mutator times its calls in ticks and converts them only later: the conversion must agree with the
/// monotonic clock it stands in for.
struct TickClockTests {
    @Test func ticksConvertToTheMonotonicClocksNanoseconds() {
        let clock = TickClock()
        let startTicks = clock.now(), startNanoseconds = MonotonicClock.now()
        MonotonicClock.spin(until: MonotonicClock.deadline(microseconds: 20_000))
        let endTicks = clock.now(), endNanoseconds = MonotonicClock.now()
        let measured = Double(clock.nanoseconds(from: startTicks, to: endTicks))
        let expected = Double(endNanoseconds - startNanoseconds)
        #expect(abs(measured - expected) < expected * 0.01, "\(measured) ns by ticks, \(expected) ns by the clock")
        // A tick reading maps back to the monotonic time it was taken at (within the gap between the two reads).
        let mapped = clock.monotonic(endTicks)
        #expect(mapped > endNanoseconds - 50_000 && mapped < endNanoseconds + 50_000, "\(mapped) vs \(endNanoseconds)")
        #expect(clock.monotonic(clock.originTicks) == clock.originNanoseconds || !clock.countsCycles)
    }

    @Test func aReadingFromBeforeTheOriginMapsToBeforeIt() {
        let early = TickClock()
        let reading = early.now()
        MonotonicClock.spin(until: MonotonicClock.deadline(microseconds: 100))
        let later = TickClock()
        let mapped = later.monotonic(reading)
        #expect(mapped < later.originNanoseconds && later.originNanoseconds - mapped < 10_000_000, "\(mapped) vs \(later.originNanoseconds)")
    }

    @Test func thisMachinesInvariantTimeStampCounterIsUsed() {
        // Every x86-64 host this runs on in CI has an invariant TSC (CPUID 0x80000007 EDX bit 8, /proc/cpuinfo's
        // nonstop_tsc); elsewhere the clock falls back to CLOCK_MONOTONIC and this records which.
        let clock = TickClock()
        #if arch(x86_64)
        #expect(clock.countsCycles == HostFingerprint.cpuFlags().contains("nonstop_tsc"), "CPUID and /proc/cpuinfo agree")
        #else
        #expect(!clock.countsCycles)
        #endif
    }
}
