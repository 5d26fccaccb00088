#if canImport(Glibc)
import Glibc
#endif

/// `mprotect(PROT_NONE)`, a must-fault window, then back to read-write: the content is kept.
final class MProtect: HostOperation {
    static let name = "mprotect"
    static let traits: OperationTraits = [.mixable, .holdsAMustFaultWindow, .probed, .noinvalSkips]
    static func applies(to backing: BackingKind) -> Bool { backing != .hugetlb }

    private let backing: Backing
    init(_ context: StepContext) { backing = context.backing }

    func invoke(page: Int, pages: Range<Int>) throws -> Invocation {
        try backing.protectHolding(page: page, PROT_NONE, window: .fault)
    }
}

extension Backing {
    /// `mprotect(protection)`, the window held while it is in force, then back to read-write: the content kept.
    func protectHolding(page: Int, _ protection: Int32, window: WindowKind) throws -> Invocation {
        try protect(page: page, protection)
        return .holding(window, invalidates: true, freedFrames: 0) { [self] in
            try protect(page: page, PROT_READ | PROT_WRITE)
            return CallOutcome(window: .keep, zeroed: page..<page)
        }
    }
}

extension Operation {
    public static let mprotect = Operation(MProtect.self)
}
