/// `none`: no invalidation; the mutator only republishes pages. The baseline for check throughput.
final class NoOperation: HostOperation {
    static let name = "none"
    static let traits: OperationTraits = []
    static func applies(to backing: BackingKind) -> Bool { true }

    init(_ context: StepContext) {}

    func invoke(page: Int, pages: Range<Int>) throws -> Invocation {
        .done(CallOutcome(window: nil, zeroed: page..<page))
    }
}

extension Operation {
    public static let none = Operation(NoOperation.self)
}
