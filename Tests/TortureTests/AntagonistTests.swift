import Foundation
import Guests
import KVM
import TestSupport
import Testing
@testable import Torture

/// Each KVM-internal antagonist changes KVM's state, composes with the others on a hot set without breaking a
/// correct kernel, and replays from the seed.
@Suite(.requiresKVM, .serialized)
struct AntagonistTests {
    /// A VM with only a data slot, and an antagonist of `kind` aimed at it (no vCPUs: steps are taken by hand).
    func antagonist(_ kind: AntagonistSpec.Kind, manualProtect: Bool = false) throws -> (Antagonist, VirtualMachine) {
        let vm = try KVMSystem(devicePath: kvmDevicePath).createVirtualMachine()
        if manualProtect { try vm.enableCapability(.manualDirtyLogProtect, arguments: [1]) }
        let backing = try Backing(kind: .anonymous, size: 256 * 4096)
        try vm.setMemorySlot(
            UInt32(GUEST_DATA_SLOT), guestAddress: GuestPhysicalAddress(UInt64(GUEST_DATA_GPA)),
            region: backing.region, flags: manualProtect ? .logDirtyPages : [])
        let context = Antagonist.Context(vm: vm, backing: backing, dataPages: 256, targetPages: 256, workers: [], statistics: nil, observations: Observations())
        return (Antagonist(spec: AntagonistSpec(kind: kind, periodMicroseconds: 100), index: 0, seed: 1, context: context), vm)
    }

    func isLogging(_ vm: VirtualMachine) -> Bool {
        (try? vm.dirtyLog(slot: UInt32(GUEST_DATA_SLOT))) != nil  // KVM_GET_DIRTY_LOG: ENOENT unless the slot logs
    }

    @Test func dirtyToggleTurnsTheSlotsDirtyLogOnAndOffInKVM() throws {
        let (toggle, vm) = try antagonist(.dirtyToggle)
        #expect(!isLogging(vm))
        #expect(try toggle.step() == Antagonist.Action(plan: "log on"))
        #expect(isLogging(vm), "KVM now keeps a dirty bitmap for the slot")
        #expect(try toggle.step() == Antagonist.Action(plan: "log off"))
        #expect(!isLogging(vm))
    }

    @Test func clearDirtyClearsRangesKVMAcceptsAndIsIdleWhileTheSlotDoesNotLog() throws {
        let (clear, vm) = try antagonist(.clearDirty, manualProtect: true)
        for _ in 0..<16 {
            let action = try clear.step()
            #expect(action.plan.hasPrefix("clear ") && !action.idle, "KVM accepted every range: 64-aligned, whole 64s or to the end")
        }
        try vm.setMemorySlotFlags(UInt32(GUEST_DATA_SLOT), [])
        #expect(try clear.step().idle, "with logging off there is nothing to clear")
    }

    @Test func memslotChurnAddsMovesAndDeletesTheSpareSlotInKVM() throws {
        let (churn, vm) = try antagonist(.memslotChurn)
        var seen: Set<String> = []
        for _ in 0..<64 {
            let action = try churn.step().plan
            seen.insert(action)
            let registered = vm.memorySlot(UInt32(GUEST_SPARE_SLOT))
            #expect((registered == nil) == (action == "spare delete"))
            if let registered {
                // KVM refuses a second slot over the same range: proof the spare slot is really there.
                #expect(throws: KVMError.self) {
                    try vm.setMemorySlot(9, guestAddress: registered.guestAddress, region: try MemoryRegion.anonymous(size: 4096))
                }
            }
        }
        #expect(seen == ["spare add", "spare move", "spare flags", "spare delete"])
    }

    /// The composed run: every antagonist at once, on a hot set, with the replacing mix.
    func composedRun(seed: UInt64, seconds: Double = 2, vcpus: Int = 2) throws -> RunReport {
        try shortRun(.mix, on: .memfd, seconds: seconds, seed: seed) { configuration in
            configuration.vcpus = vcpus
            configuration.hotPages = 8
            configuration.antagonists = Self.kvmInternal.map { AntagonistSpec(kind: $0, periodMicroseconds: 300) }
        }
    }

    static let kvmInternal: [AntagonistSpec.Kind] = [.dirtyToggle, .clearDirty, .memslotChurn, .mmuReset]

    /// The notifier-path antagonists, each on a backing where it can reach KVM, beside a mutator that only
    /// republishes (so every flush counted around an action is the antagonist's own).
    /// (collapse is tested racing splits below: over huge pages already formed it has nothing to do.)
    static let notifierPath: [(AntagonistSpec.Kind, BackingKind)] = [(.fork, .anonymous), (.pageout, .file)]

    @Test(arguments: notifierPath)
    func aNotifierPathAntagonistAloneReachesKVM(kind: AntagonistSpec.Kind, backing: BackingKind) throws {
        let (report, all) = try runUntil({ $0.verdict != .notExercised && $0.antagonists.allSatisfy(\.exercised) }, seconds: 1.5) { seconds in
            try shortRun(.none, on: backing, seconds: seconds, seed: 8) { configuration in
                configuration.antagonists = [AntagonistSpec(kind: kind, periodMicroseconds: 1000)]
            }
        }
        #expect(all.allSatisfy { $0.violationCount == 0 }, "\(all.map(\.verdictReason))")
        let antagonist = try #require(report.antagonists.first)
        #expect(report.verdict == .pass, "\(report.summary)")
        #expect(antagonist.exercised && antagonist.flushRequests > 0, "\(kind.rawValue): \(antagonist.evidence ?? "")")
        // A fork frees no frame of the data. A pageout gets a trap ring, sprung only after calls that took pages out
        // of memory: the guests keep the file's pages dirty, and reclaim frees a dirty page only after writeback,
        // so here it hardly ever springs (the collapse test below shows traps following an antagonist's calls).
        #expect((antagonist.traps != nil) == kind.freesFrames, "\(kind.rawValue)")
    }

    @Test func collapseRacingSplitsOnTheHotSetReachesKVM() throws {
        let report = try exercisedRun(.dontneed, on: .thp, seconds: 2, seed: 8) { configuration in
            configuration.hotPages = 8
            configuration.antagonists = [AntagonistSpec(kind: .collapse, periodMicroseconds: 1000)]
        }
        let collapse = try #require(report.antagonists.first)
        #expect(report.verdict == .pass, "\(report.summary)")
        #expect(collapse.actions > (collapse.idleActions ?? collapse.actions), "some collapses succeeded between the mutator's splits")
        // A collapse frees the 512 small pages, whose content the huge page keeps: only a trap makes a translation
        // left on one of them visible.
        let traps = try #require(collapse.traps, "collapse springs traps")
        #expect(traps.sprung > 0 && traps.sprung <= (collapse.actions - (collapse.idleActions ?? 0)) * UInt64(FrameTraps.perCall), "\(traps)")
        #expect(report.summary.contains("its recycled-frame traps: "), "\(report.summary)")
    }

    @Test func aStaleFrameFromAnAntagonistsTrapNamesTheAntagonistsCall() throws {
        // Two rings, as a run with the mutator's traps and a pageout antagonist has: a poison value is traced to
        // the ring, and the call, that wrote it.
        let mutator = try FrameTraps(pages: 4)
        let antagonist = try FrameTraps(pages: 4)
        mutator.spring(poison: ControlWord.make(.poison, 7), call: .step(.dontneed, page: 3), seconds: 0.5, freed: [])
        antagonist.spring(poison: ControlWord.make(.poison, 1 << 44 + 1), call: .antagonist("pageout 64..<128"), seconds: 0.75, freed: [])
        let rings = [mutator, antagonist]
        #expect(rings.record(poison: ControlWord.make(.poison, 1 << 44 + 1))?.call.description == "antagonist pageout 64..<128")
        #expect(rings.record(poison: ControlWord.make(.poison, 7))?.call.description == "dontneed on page 3")
        #expect(rings.record(poison: ControlWord.make(.poison, 8)) == nil)
    }

    @Test func forkAndCollapseRefuseBackingsTheyCannotAct() {
        var configuration = TortureConfiguration()
        configuration.backing = .memfd
        configuration.operation = .none
        configuration.antagonists = [AntagonistSpec(kind: .fork, periodMicroseconds: 100)]
        #expect((try? configuration.validate()) == nil, "fork on a shared backing makes nothing copy-on-write")
        configuration.antagonists = [AntagonistSpec(kind: .collapse, periodMicroseconds: 100)]
        #expect((try? configuration.validate()) == nil, "collapse needs the thp backing")
    }

    @Test func everyAntagonistAtOnceOnAHotSetBreaksNothingAndEachIsExercised() throws {
        let report = try composedRun(seed: 77)
        #expect(report.verdict == .pass, "\(report.summary)")
        #expect(report.antagonists.map(\.kind) == Self.kvmInternal.map(\.rawValue))
        for antagonist in report.antagonists {
            #expect(antagonist.exercised && antagonist.actions > 100, "\(antagonist.kind): \(antagonist.evidence ?? "")")
        }
        let zapped = try #require(report.antagonists.first { $0.kind == "memslot-churn" }?.counters)
        if report.host.mmuMode == "shadow" {
            #expect(zapped["mmu_shadow_zapped", default: 0] > 0, "each spare-slot deletion or move zaps every shadow page")
        }
        for vcpu in 0..<2 { #expect(report.checks.perVCPU[vcpu].conclusive > 0) }
    }

    @Test func clearDirtyReprotectsPagesTheGuestsWrite() throws {
        let report = try exercisedRun(.none, seconds: 1.5, seed: 5) { configuration in
            configuration.mode = .write
            configuration.antagonists = [AntagonistSpec(kind: .clearDirty, periodMicroseconds: 200)]
        }
        let clear = try #require(report.antagonists.first)
        #expect(report.verdict == .pass, "\(report.summary)")
        #expect(clear.idleActions == 0 && clear.flushRequests > 0,
                "KVM flushes after a clear only when it write-protected dirty pages again")
    }

    @Test func cr0WPTogglesResetTheVCPUsMMUContext() throws {
        func run(_ antagonists: [AntagonistSpec]) throws -> RunReport {
            try exercisedRun(.none, seconds: 1.5, seed: 6) { $0.antagonists = antagonists }
        }
        let quiet = try run([])
        let toggled = try run([AntagonistSpec(kind: .mmuReset, periodMicroseconds: 500)])
        let resets = try #require(toggled.antagonists.first?.mmuResets)
        #expect(toggled.verdict == .pass, "\(toggled.summary)")
        #expect(resets > 100, "each request was applied on the vCPU's thread and CR0 read back changed")
        if toggled.host.mmuMode == "shadow" {
            // With shadow paging CR0.WP is part of the MMU role: each toggle unloads the roots and flushes.
            let flushes = { (report: RunReport) in report.counters.vcpus[0].delta["tlb_flush", default: 0] }
            #expect(UInt64(flushes(toggled)) >= resets / 2 && flushes(toggled) > 10 * max(1, flushes(quiet)),
                    "tlb_flush: \(flushes(quiet)) without toggles, \(flushes(toggled)) with \(resets)")
        }
    }

    @Test func aSeedReplaysEveryAntagonistsActions() throws {
        let first = try composedRun(seed: 2012, seconds: 1, vcpus: 1)
        let second = try composedRun(seed: 2012, seconds: 1, vcpus: 1)
        #expect(first.antagonists.map(\.firstActions) == second.antagonists.map(\.firstActions))
        #expect(first.antagonists.allSatisfy { $0.firstActions?.count == Antagonist.recordedActions })
        #expect(first.firstSteps == second.firstSteps)
        let other = try composedRun(seed: 2013, seconds: 1, vcpus: 1)
        #expect(first.antagonists.map(\.firstActions) != other.antagonists.map(\.firstActions), "another seed, another schedule")
    }
}
