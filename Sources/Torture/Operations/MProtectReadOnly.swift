#if canImport(Glibc)
import Glibc
#endif

/// `mprotect(PROT_READ)`: reads go on, guest writes must fault (and none may land), then back to read-write.
final class MProtectReadOnly: HostOperation {
    static let name = "mprotect-ro"
    static let traits: OperationTraits = [.probed, .noinvalSkips]
    static func applies(to backing: BackingKind) -> Bool { backing != .hugetlb }

    private let backing: Backing
    init(_ context: StepContext) { backing = context.backing }

    func invoke(page: Int, pages: Range<Int>) throws -> Invocation {
        try backing.protectHolding(page: page, PROT_READ, window: .readOnly)
    }
}

extension Operation {
    public static let mprotectReadOnly = Operation(MProtectReadOnly.self)
}
