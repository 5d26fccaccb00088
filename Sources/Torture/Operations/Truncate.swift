import Guests

/// `ftruncate` the file down to the page (a must-fault window for the cut pages) and back up: they read zero.
final class Truncate: HostOperation {
    static let name = "truncate"
    static let traits: OperationTraits = [.holdsAMustFaultWindow, .freesFrames, .runsAlone, .probed, .noinvalSkips]
    static func applies(to backing: BackingKind) -> Bool { backing == .memfd || backing == .file }
    static let backingFix: String? = "truncate needs a file (--backing memfd|file)"
    static func pages(around page: Int, of count: Int) -> Range<Int> { page..<count }

    private let backing: Backing
    init(_ context: StepContext) { backing = context.backing }

    func invoke(page: Int, pages: Range<Int>) throws -> Invocation {
        try backing.truncate(to: page * GuestPage.size)
        return .holding(.fault, invalidates: true, freedFrames: pages.count) { [backing] in
            try backing.truncate(to: backing.size)
            return CallOutcome(window: .zero, zeroed: page..<page)
        }
    }
}

extension Operation {
    public static let truncate = Operation(Truncate.self)
}
