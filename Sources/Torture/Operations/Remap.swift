/// `mmap(MAP_FIXED)` of the same backing over the page: private anonymous memory reads zero after it.
final class Remap: HostOperation {
    static let name = "remap"
    static let traits: OperationTraits = [.mixable, .freesFrames, .probed, .noinvalSkips]
    static func applies(to backing: BackingKind) -> Bool { backing != .hugetlb }

    private let backing: Backing
    init(_ context: StepContext) { backing = context.backing }

    func invoke(page: Int, pages: Range<Int>) throws -> Invocation {
        try backing.remap(page: page)
        return .done(.dropped(page: page, pages: pages, zeroes: backing.remapZeroes))
    }
}

extension Operation {
    public static let remap = Operation(Remap.self)
}
