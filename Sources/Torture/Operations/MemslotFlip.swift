import Guests
import KVM

/// `memslot`: deletes and re-adds the data slot, or moves it away and back, under the running vCPUs. Once the
/// delete or move has returned, no guest access to the data may be translated any more: each must exit as MMIO,
/// which the vCPU workers serve from the same host memory (VCPUWorker). So while the slot is away every page
/// holds a must-fault window: a read the guest made without an MMIO exit went through an SPTE the slot change
/// should have zapped, and is a violation; a read served by MMIO is counted apart, not as a check.
final class MemslotFlip: HostOperation {
    static let name = "memslot"
    static let traits: OperationTraits = [.runsAlone]
    static func applies(to backing: BackingKind) -> Bool { true }
    /// The whole data slot goes away: every page is closed, watched for stray native reads, and republished.
    static func pages(around page: Int, of count: Int) -> Range<Int> { 0..<count }

    private unowned let context: StepContext
    /// Deleted and re-added, or moved, in turn.
    private var deleting = false
    init(_ context: StepContext) { self.context = context }

    func invoke(page: Int, pages: Range<Int>) throws -> Invocation {
        try flip(pages)
        return .done(CallOutcome(window: .keep, zeroed: page..<page))
    }

    private func flip(_ pages: Range<Int>) throws {
        deleting.toggle()
        let (configuration, environment) = (context.configuration, context.environment)
        guard let vm = environment.vm else { throw HarnessFailure("memslot: no VM holds the data slot (a run without vCPUs)") }
        let slot = UInt32(GUEST_DATA_SLOT)
        let home = GuestPhysicalAddress(UInt64(GUEST_DATA_GPA))
        // The negative control: the window opens while the slot is still there and reads are still translated.
        if configuration.injection == .slotearly { context.holdFaultWindow(pages, of: .memslot) }
        // The slot's change is in flight from before it goes until its return has completed: a vCPU run wholly
        // outside that may not exit as MMIO on the data (VCPUWorker). The slotback control ends it early.
        let slotState = context.observations.dataSlot
        slotState.beginChange()
        var ended = false
        defer { if !ended { slotState.endChange() } }
        let comeBack = { (back: () throws -> Void) in
            if configuration.injection == .slotback {
                slotState.endChange()
                ended = true
                self.context.spin(microseconds: configuration.faultWindowMicroseconds)
            }
            try back()
        }
        if deleting {
            try vm.deleteMemorySlot(slot)
            context.holdFaultWindow(pages, of: .memslot)
            try comeBack { try vm.setMemorySlot(slot, guestAddress: home, region: context.backing.region, flags: environment.dataSlotFlags) }
        } else {
            // Just above the data: no page table maps it, and nothing else lives there.
            let away = home + UInt64(configuration.dataBytes)
            try vm.moveMemorySlot(slot, to: away)
            context.holdFaultWindow(pages, of: .memslot)
            try comeBack { try vm.moveMemorySlot(slot, to: home) }
        }
    }
}

extension Operation {
    public static let memslot = Operation(MemslotFlip.self)
}
