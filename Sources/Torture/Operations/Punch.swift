/// `fallocate(PUNCH_HOLE)` on a memfd or file, `MADV_REMOVE` on shared anonymous memory: the page reads zero.
final class Punch: HostOperation {
    static let name = "punch"
    static let traits: OperationTraits = [.mixable, .freesFrames, .probed, .noinvalSkips]
    static func applies(to backing: BackingKind) -> Bool { ![.hugetlb, .anonymous, .thp].contains(backing) }
    static let backingFix: String? = "punch a hole in a memfd, file or shared backing (--backing memfd|file|shared)"

    private let backing: Backing
    init(_ context: StepContext) { backing = context.backing }

    func invoke(page: Int, pages: Range<Int>) throws -> Invocation {
        try backing.punch(page: page)
        return .done(CallOutcome(window: .zero, zeroed: page..<page, freedFrames: pages.count))
    }
}

extension Operation {
    public static let punch = Operation(Punch.self)
}
