import Testing
@testable import Torture

/// The mutator's publication, end to end, against a scripted guest instead of vCPUs (``ScriptedRun``): each window
/// an operation promises is published while the page is in that state, and read as such, with no /dev/kvm. What
/// a kernel does is for the KVM-backed tests; these pin the host's side of the protocol.
@Suite(.serialized)
struct ScriptedGuestTests {
    /// dontneed on private memory: the page reads zero in its must-read-zero window, then its new generation.
    @Test func aDroppedPageReadsZeroInItsWindowAndItsNewGenerationAfter() throws {
        let run = try ScriptedRun(.dontneed)
        let seen = try run.run { $0.conclusive[.zero, default: 0] >= 20 && $0.conclusive[.generation, default: 0] >= 100 }
        #expect(seen.violations.isEmpty, "\(seen.violations.prefix(3))")
        #expect(seen.conclusive[.zero, default: 0] >= 20, "zero windows are published and read: \(seen.conclusive)")
        #expect((run.windows(of: .dontneed)["must-read-zero"]?.sampled ?? 0) > 0, "the mutator saw its windows sampled")
    }

    /// munmap, mprotect, mremap and guard (where the host has guard regions): every read while the page is away is
    /// refused, and the window that says so is up the whole time (a read that succeeds under a must-fault word is
    /// a violation).
    @Test(arguments: [Torture.Operation.munmap, .mprotect, .mremap] + (Torture.Operation.guardRegion.hostProblem == nil ? [.guardRegion] : []))
    func aPageTakenAwayIsUnderItsMustFaultWindowAndEveryReadThereFaults(_ operation: Torture.Operation) throws {
        let run = try ScriptedRun(operation)
        let seen = try run.run { $0.refused >= 20 }
        #expect(seen.violations.isEmpty, "\(seen.violations.prefix(3))")
        #expect(seen.refused >= 20, "must-fault windows are published while the page is away: \(seen)")
        #expect((run.windows(of: operation)["must-fault"]?.sampled ?? 0) > 0)
    }

    /// dontneed on shared memory keeps the content: the content-kept window promises the generation the page holds.
    @Test func aPageWhoseContentIsKeptReadsThePromisedGenerationInItsWindow() throws {
        let run = try ScriptedRun(.dontneed, on: .sharedAnonymous)
        let seen = try run.run { $0.conclusive[.keep, default: 0] >= 20 }
        #expect(seen.violations.isEmpty, "\(seen.violations.prefix(3))")
        #expect(seen.conclusive[.keep, default: 0] >= 20, "\(seen.conclusive)")
    }

    /// uffd-wp: reads go on under the read-only window, which promises the generation the page holds.
    @Test(.enabled(if: Torture.Operation.uffdWriteProtect.hostProblem == nil, "\(Torture.Operation.uffdWriteProtect.hostProblem ?? "")"))
    func aWriteProtectedPageReadsThePromisedGenerationInItsReadOnlyWindow() throws {
        let run = try ScriptedRun(.uffdWriteProtect)
        let seen = try run.run { $0.conclusive[.keep, default: 0] >= 20 }
        #expect(seen.violations.isEmpty, "\(seen.violations.prefix(3))")
        #expect((run.windows(of: .uffdWriteProtect)["read-only"]?.sampled ?? 0) > 0, "\(run.windows(of: .uffdWriteProtect))")
    }

    /// free: a lazily freed page reads the generation it held or zero (every other step pages it out), never
    /// anything else, under an old-or-zero window promising that generation.
    @Test func aLazilyFreedPageReadsTheGenerationItHeldOrZero() throws {
        let run = try ScriptedRun(.free)
        let seen = try run.run { $0.conclusive[.oldOrZero, default: 0] >= 20 }
        #expect(seen.violations.isEmpty, "\(seen.violations.prefix(3))")
        #expect(seen.conclusive[.oldOrZero, default: 0] >= 20, "\(seen.conclusive)")
    }

    /// dontunmap: the old address stays mapped and empty, so its window is must-read-zero.
    @Test func aPageMovedWithDontUnmapReadsZeroWhereItWas() throws {
        let run = try ScriptedRun(.dontunmap)
        let seen = try run.run { $0.conclusive[.zero, default: 0] >= 20 }
        #expect(seen.violations.isEmpty, "\(seen.violations.prefix(3))")
        #expect(seen.conclusive[.zero, default: 0] >= 20, "\(seen.conclusive)")
    }

    /// The scripted guest's negative control, through the mechanism it stands for: with `--inject nowrite` the
    /// mutator promises generations it never wrote, and the guest reads the old content under the new word.
    @Test func aGenerationPromisedButNeverWrittenIsAStaleReadTheGuestCatches() throws {
        let run = try ScriptedRun(.dontneed, inject: .nowrite)
        let seen = try run.run { !$0.violations.isEmpty }
        let violation = try #require(seen.violations.first, "no stale read in \(seen.sweeps) sweeps")
        #expect(ControlWord.Kind.of(violation.control) == .generation && violation.observed == 0, "\(violation)")
    }
}
