// Durations as the reports and rates want them: seconds as a Double, whole nanoseconds.
extension Duration {
    /// The duration in seconds, as a floating-point number (for rates and reports).
    package var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }

    /// The duration in whole nanoseconds (for latency histograms).
    package var nanoseconds: UInt64 {
        UInt64(components.seconds) * 1_000_000_000 + UInt64(components.attoseconds / 1_000_000_000)
    }
}
