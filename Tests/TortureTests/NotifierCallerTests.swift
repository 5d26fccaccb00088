import TestSupport
import Testing
@testable import Torture

/// The notifier callers added to the catalogue by issue 31, each against a correct kernel (the host's) and
/// through its negative control.
@Suite(.requiresKVM, .serialized)
struct NotifierCallerTests {
    /// Where the host lacks what `operation` needs, the run exits 69 naming `problem`.
    func expectUnavailable(_ operation: Torture.Operation, _ problem: String) {
        let error = #expect(throws: TortureRun.SetupError.self) { try shortRun(operation) }
        #expect(error?.exitCode == 69 && error?.description.contains(problem) == true, "\(String(describing: error))")
    }

    /// MADV_FREE, reclaimed at once on every other step: the guest saw both halves of old-or-zero (the page kept,
    /// and dropped), and the dropped frames were really freed (the traps took them).
    @Test func aLazilyFreedPageReadsOldOrZeroAndItsFrameIsReallyFreed() throws {
        let report = try runUntil({ report in
            report.checks.conclusiveZeroWindow > 0 && report.checks.conclusiveKeptWindow > 0 && (report.traps?.recycled ?? 0) > 0
        }, seconds: 1.5) { try shortRun(.free, seconds: $0) }.last
        #expect(report.verdict == .pass, "\(report.summary)")
        #expect(report.checks.conclusiveZeroWindow > 0, "no check read a dropped page's zeros")
        #expect(report.checks.conclusiveKeptWindow > 0, "no check read a kept page's old content")
        #expect((report.traps?.recycled ?? 0) > 0, "no trap took a frame MADV_FREE and MADV_PAGEOUT freed")
        #expect(report.operations.first { $0.name == "free" }?.exercised == true)
    }

    /// The poison control on free: while the old-or-zero window is open the page reads a trap's poison, which the
    /// window's check flags as a stale frame.
    @Test func injectedPoisonIsCaughtByTheOldOrZeroWindow() throws {
        let report = try shortRun(.free, inject: .poison)
        #expect(report.verdict == .controlFired, "\(report.summary)")
        let first = try #require(report.violations.first)
        #expect(first.kind == .staleFrame && first.window == "old-or-zero", "\(first.summary)")
    }

    /// userfaultfd write-protection: reads go on in the read-only window, writes wait in the kernel until the
    /// protection is lifted, and none is lost (the host verified the writes, and no write landed while protected).
    @Test func aWriteProtectedPageKeepsItsContentAndLosesNoWrite() throws {
        if let problem = Torture.Operation.uffdWriteProtect.hostProblem {
            expectUnavailable(.uffdWriteProtect, problem)
            return
        }
        let report = try shortRun(.uffdWriteProtect)
        #expect(report.verdict == .pass, "\(report.summary)")
        let windows = report.operations.first { $0.name == "uffd-wp" }?.windows ?? [:]
        #expect((windows["read-only"]?.sampled ?? 0) > 0, "no check landed while the page was write-protected")
        #expect(report.writes.verifications > 0 && report.writes.published.allSatisfy { $0 > 0 })
    }

    /// noinval on uffd-wp: a probe's protection is skipped, so the mapped page saw no flush request.
    @Test func injectedNoinvalIsCaughtOnAWriteProtection() throws {
        guard Torture.Operation.uffdWriteProtect.hostProblem == nil else { return }
        let report = try shortRun(.uffdWriteProtect, inject: .noinval)
        #expect(report.verdict == .controlFired, "\(report.summary)")
        #expect(report.violations.first?.kind == .missingFlush)
    }

    /// mremap(MREMAP_DONTUNMAP): the old range stays mapped and reads zero, and the moved frame, unmapped at its
    /// new address, is really freed (the traps took it).
    @Test func aPageMovedWithDontUnmapReadsZeroWhereItWas() throws {
        if let problem = Torture.Operation.dontunmap.hostProblem {
            expectUnavailable(.dontunmap, problem)
            return
        }
        let report = try runUntil({ $0.checks.conclusiveZeroWindow > 0 && ($0.traps?.recycled ?? 0) > 0 }, seconds: 1.5) {
            try shortRun(.dontunmap, seconds: $0)
        }.last
        #expect(report.verdict == .pass, "\(report.summary)")
        #expect(report.checks.conclusiveZeroWindow > 0, "no check read the emptied range's zeros")
        #expect((report.traps?.recycled ?? 0) > 0, "no trap took a frame the move freed")
        #expect(!report.notes.contains { $0.hasPrefix("dontunmap:") }, "the host's check of the move: \(report.notes)")
    }

    /// poison on dontunmap: the republication writes the trap's poison, as a translation left on the moved frame.
    @Test func injectedPoisonIsCaughtAfterADontUnmap() throws {
        guard Torture.Operation.dontunmap.hostProblem == nil else { return }
        let report = try shortRun(.dontunmap, inject: .poison)
        #expect(report.verdict == .controlFired, "\(report.summary)")
        #expect(report.violations.first?.kind == .staleFrame)
    }

    /// move_pages(2) between NUMA nodes: content kept, the old frame freed. A host with one node exits 69 saying
    /// so (this one; the lab's QEMU has two, and its `migrate` workload runs it there).
    @Test func aMigratedPageKeepsItsContentOrTheRunSaysWhyItCannot() throws {
        if let problem = Torture.Operation.migrate.hostProblem {
            expectUnavailable(.migrate, problem)
            #expect(problem.contains("NUMA"))
            return
        }
        let report = try shortRun(.migrate)
        #expect(report.verdict == .pass, "\(report.summary)")
        #expect((report.traps?.recycled ?? 0) > 0, "no trap took a frame a migration freed")
        #expect(report.notes.contains { $0.hasPrefix("migrate: ") && !$0.hasPrefix("migrate: 0 pages") }, "\(report.notes)")
    }
}
