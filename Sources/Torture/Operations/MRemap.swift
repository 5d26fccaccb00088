/// `mremap` the page away (a must-fault hole) and back: the content moves with it.
final class MRemap: HostOperation {
    static let name = "mremap"
    static let traits: OperationTraits = [.holdsAMustFaultWindow, .probed, .noinvalSkips]
    static func applies(to backing: BackingKind) -> Bool { backing != .hugetlb }

    private unowned let context: StepContext
    init(_ context: StepContext) { self.context = context }

    func invoke(page: Int, pages: Range<Int>) throws -> Invocation {
        let (backing, parking) = (context.backing, context.currentSlot)  // the step's own slot: no other page parks there
        try backing.moveAway(page: page, parking: parking)
        return .holding(.fault, invalidates: true, freedFrames: 0) {
            try backing.moveBack(page: page, parking: parking)
            return CallOutcome(window: .keep, zeroed: page..<page)
        }
    }
}

extension Operation {
    public static let mremap = Operation(MRemap.self)
}
