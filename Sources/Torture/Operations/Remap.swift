/// `mmap(MAP_FIXED)` of the same backing over the page: private anonymous memory reads zero after it.
final class Remap: HostOperation {
    static let name = "remap"
    static let traits: OperationTraits = [.mixable, .freesFrames, .probed, .noinvalSkips]
    static func applies(to backing: BackingKind) -> Bool { backing != .hugetlb }

    private let backing: Backing
    init(_ context: StepContext) { backing = context.backing }

    func invoke(page: Int, pages: Range<Int>) throws -> Invocation {
        try backing.remap(page: page)
        let window: ControlWord.Kind = backing.remapZeroes ? .zero : .keep
        return .done(CallOutcome(window: window, zeroed: page..<page, freedFrames: window == .zero ? pages.count : 0))
    }
}

extension Operation {
    public static let remap = Operation(Remap.self)
}
