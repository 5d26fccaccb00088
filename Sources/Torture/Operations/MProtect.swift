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
        try backing.protect(page: page, PROT_NONE)
        return .holding(.fault, invalidates: true, freedFrames: 0) { [backing] in
            try backing.protect(page: page, PROT_READ | PROT_WRITE)
            return CallOutcome(window: .keep, zeroed: page..<page)
        }
    }
}

extension Operation {
    public static let mprotect = Operation(MProtect.self)
}
