/// SplitMix64: a small, fast, well-distributed generator whose whole state is the seed, so a seed replays a run's
/// host-side schedule exactly.
struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// One mutator step: which page, which invalidation.
public struct Step: Equatable, Codable, Sendable {
    public var page: Int
    public var operation: Operation
}

/// The mutator's host-side schedule: a pure function of the seed and the configuration.
struct Schedule: Sendable {
    private var generator: SeededGenerator
    private let pages: Int
    private let choices: [Operation]

    init(configuration: TortureConfiguration) {
        generator = SeededGenerator(seed: configuration.seed)
        pages = configuration.hotPages > 0 ? configuration.hotPages : configuration.pages
        choices = configuration.stepOperations
    }

    mutating func next() -> Step {
        let page = Int(generator.next() % UInt64(pages))
        let operation = choices[Int(generator.next() % UInt64(choices.count))]
        return Step(page: page, operation: operation)
    }
}
