#if canImport(Glibc)
import Glibc
#endif

/// `CLOCK_MONOTONIC` as plain nanoseconds, for the mutator's step and the times it records.
///
/// Why not `ContinuousClock`: its `Instant` is a resilient standard-library type, so every function that holds one
/// asks for its metadata and copies and destroys it through value witnesses (indirect calls). The mutator reads the
/// clock around every operation and spins on it through every window; between two invalidations every such cost
/// decides whether the next flush finds the vCPU still out of the guest or must interrupt it (see `Mutator.begin`).
enum MonotonicClock {
    static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
    }

    /// The reading `microseconds` from now.
    static func deadline(microseconds: Int) -> UInt64 { now() + UInt64(microseconds) * 1000 }

    /// Spins until `deadline` (nanoseconds of this clock).
    static func spin(until deadline: UInt64) {
        while now() < deadline {}
    }
}
