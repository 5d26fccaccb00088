#if canImport(Glibc)
import Glibc
#endif
import Torture

/// The median of a sample with a distribution-free 95% confidence interval for it.
///
/// The bench compares Swift and C by the median of many paired ratios, and a nested host makes each pair's ratio
/// scatter widely (0.3 to 4 for 10 ms mutator slices here). How far the median itself can be trusted depends on how
/// many pairs there were: 25 pairs (a 0.5 s run) leave it several percent either way, a few thousand pin it to half a
/// percent. The interval says which: it is the pair of order statistics `[x(j), x(n+1-j)]` that covers the true median
/// with probability at least 95% whatever the distribution (the sign-test interval; the number of samples below the
/// median is binomial(n, 1/2)). With fewer than 6 samples no such pair exists, and the interval is the whole range.
public struct MedianInterval: Codable, Sendable, Equatable {
    /// The sample's median (the upper one for an even count, as `sorted()[count / 2]`).
    public var median: Double
    /// The 95% interval's ends.
    public var low: Double
    public var high: Double
    /// How many samples it rests on.
    public var count: Int

    /// Nil for an empty sample.
    public init?(_ samples: [Double]) {
        guard !samples.isEmpty else { return nil }
        let sorted = samples.sorted()
        let rank = Self.lowerRank(count: sorted.count)
        median = sorted[sorted.count / 2]
        low = sorted[rank - 1]
        high = sorted[sorted.count - rank]
        count = sorted.count
    }

    /// The 1-based rank j of the interval's lower end: the largest j with 2·P(binomial(n, 1/2) ≤ j-1) ≤ 0.05, or 1
    /// when even the whole range covers less (n < 6). Summed in log space so that long runs (thousands of pairs)
    /// neither overflow the binomial coefficients nor underflow 2^-n. The sum reaches 1/2 by k = (n-1)/2, so j never
    /// passes the median's rank.
    static func lowerRank(count n: Int) -> Int {
        let logHalfToTheN = -Double(n) * log(2.0)
        var below = 0.0, rank = 1
        for k in 0..<n {
            below += exp(lgamma(Double(n + 1)) - lgamma(Double(k + 1)) - lgamma(Double(n - k + 1)) + logHalfToTheN)
            guard 2 * below <= 0.05 else { break }
            rank = k + 1
        }
        return rank
    }
}
