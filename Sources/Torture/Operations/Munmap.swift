/// `munmap`, a must-fault window, then `mmap(MAP_FIXED_NOREPLACE)` back (zero for private anonymous memory).
final class Munmap: HostOperation {
    static let name = "munmap"
    static let traits: OperationTraits = [.mixable, .holdsAMustFaultWindow, .freesFrames, .probed, .noinvalSkips]
    static func applies(to backing: BackingKind) -> Bool { backing != .hugetlb }

    private let backing: Backing
    init(_ context: StepContext) { backing = context.backing }

    func invoke(page: Int, pages: Range<Int>) throws -> Invocation {
        try backing.unmap(page: page)
        return .holding(.fault, invalidates: true, freedFrames: backing.remapZeroes ? 1 : 0) { [backing] in
            try backing.mapBack(page: page)
            return CallOutcome(window: backing.remapZeroes ? .zero : .keep, zeroed: page..<page)
        }
    }
}

extension Operation {
    public static let munmap = Operation(Munmap.self)
}
