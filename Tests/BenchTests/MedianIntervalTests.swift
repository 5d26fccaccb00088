import Foundation
import Testing
import KVM
@testable import Bench
@testable import Torture

/// The bench judges its Swift/C targets on the median ratio's 95% interval: the interval must be the sign-test one,
/// and must cover the median 95% of the time, no more and no less, whatever the distribution.
struct MedianIntervalTests {
    @Test func theRanksAreTheSignTestTables() {
        // Published tables of the distribution-free 95% interval for the median: n → lower rank j, upper n + 1 - j.
        for (n, rank) in [(6, 1), (10, 2), (25, 8), (100, 40), (250, 110)] {
            #expect(MedianInterval.lowerRank(count: n) == rank, "n = \(n)")
        }
        // Fewer than 6 samples: even the whole range covers the median less than 95% of the time; it is all there is.
        #expect(MedianInterval.lowerRank(count: 5) == 1)
        #expect(MedianInterval.lowerRank(count: 1) == 1)
        // Thousands of pairs (a long bench) neither overflow nor underflow.
        let rank = MedianInterval.lowerRank(count: 3000)
        #expect(rank > 1440 && rank < 1500, "\(rank)")
    }

    @Test func theIntervalIsThoseOrderStatistics() throws {
        let interval = try #require(MedianInterval((1...25).reversed().map(Double.init)))
        #expect(interval.median == 13 && interval.low == 8 && interval.high == 18 && interval.count == 25)
        #expect(MedianInterval([]) == nil)
        let single = try #require(MedianInterval([0.97]))
        #expect(single.low == 0.97 && single.high == 0.97)
    }

    /// Coverage, measured: 4000 samples of 25 draws from a skewed distribution (exponential, median ln 2, the shape of
    /// the bench's ratios' long right tail). The interval of ranks 8..18 covers 95.7%; one rank narrower would cover
    /// 89%, one wider 98.5%, so this fails if the ranks are off by one either way.
    @Test func itCoversTheMedianNinetyFivePercentOfTheTime() throws {
        var generator = SeededGenerator(seed: 20261128)
        let trueMedian = log(2.0)
        var covered = 0
        let trials = 4000
        for _ in 0..<trials {
            let sample = (0..<25).map { _ in -log(1 - Double.random(in: 0..<1, using: &generator)) }
            let interval = try #require(MedianInterval(sample))
            if interval.low <= trueMedian && trueMedian <= interval.high { covered += 1 }
        }
        let coverage = Double(covered) / Double(trials)
        #expect(coverage > 0.94 && coverage < 0.975, "coverage \(coverage)")
    }

    /// A ratio target is met only when the whole interval clears it: 25 pairs spread ±40% around 0.98 (a 0.5 s run
    /// on a nested host) cannot say 0.95 is met, 2500 can; 2500 around 0.90 miss it.
    @Test func aRatioTargetIsJudgedOnTheInterval() throws {
        /// Pair ratios spread evenly (in log) over center·e^±0.4, as the bench's scatter.
        func comparison(_ count: Int, around center: Double) throws -> Benchmark.Comparison {
            let ratios = (0..<count).map { center * exp(0.4 * (2 * (Double($0) + 0.5) / Double(count) - 1)) }
            return try Benchmark.Comparison(swiftRates: ratios, cRates: ratios.map { _ in 1 }, ratios: ratios)
        }
        #expect(try comparison(25, around: 0.98).outcome(atLeast: 0.95) == .undecided)
        #expect(try comparison(2500, around: 0.98).outcome(atLeast: 0.95) == .met)
        #expect(try comparison(2500, around: 0.90).outcome(atLeast: 0.95) == .missed)
        #expect(throws: HarnessFailure.self) { try Benchmark.Comparison(swiftRates: [], cRates: [], ratios: []) }
    }
}
