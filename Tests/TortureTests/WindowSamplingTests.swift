import Guests
import Testing
@testable import Torture

/// Windows as evidence (``WindowSampling``), judged with a status block in host memory whose conclusive counts the
/// test raises as a checker would: no `/dev/kvm`.
struct WindowSamplingTests {
    /// A checker's status block, and the windows counted over it.
    final class Script {
        let block = UnsafeMutablePointer<UInt64>.allocate(capacity: 64)
        let sampling: WindowSampling

        init() {
            block.initialize(repeating: 0, count: 64)
            sampling = WindowSampling(statusBlocks: [CheckerStatus(block: block)], observations: Observations())
        }

        deinit { block.deallocate() }

        /// `count` conclusive checks land in windows of `kind`'s evidence.
        func checksLand(_ count: UInt64, zero: Bool = false) {
            block[Int(zero ? GUEST_STATUS_CONCLUSIVE_ZERO : GUEST_STATUS_CONCLUSIVE_KEEP)] += count
        }

        func counts(_ operation: Torture.Operation, _ kind: WindowKind) -> RunReport.WindowCount {
            sampling.counts(of: operation)[kind.rawValue] ?? RunReport.WindowCount()
        }
    }

    @Test func aWindowNoCheckLandedInIsOpenedButNotSampled() {
        let script = Script()
        let before = script.sampling.evidence(.kept)
        script.sampling.closed(.kept, of: .mprotect, evidenceBefore: before)
        #expect(script.counts(.mprotect, .kept) == { var c = RunReport.WindowCount(); c.opened = 1; return c }())
    }

    /// Two windows of one kind open at once and one check lands: it is credited to one window, the first to close,
    /// never to both (sampled windows never outnumber the checks that landed in windows).
    @Test func oneCheckSamplesOneWindowOfTheSeveralOpen() {
        let script = Script()
        let first = script.sampling.evidence(.kept), second = script.sampling.evidence(.kept)
        script.checksLand(1)
        script.sampling.closed(.kept, of: .dontneed, evidenceBefore: first)
        script.sampling.closed(.kept, of: .dontneed, evidenceBefore: second)
        #expect(script.counts(.dontneed, .kept).opened == 2)
        #expect(script.counts(.dontneed, .kept).sampled == 1)
    }

    /// Two checks while both are open sample both.
    @Test func twoChecksSampleTwoWindows() {
        let script = Script()
        let first = script.sampling.evidence(.kept), second = script.sampling.evidence(.kept)
        script.checksLand(2)
        script.sampling.closed(.kept, of: .dontneed, evidenceBefore: first)
        script.sampling.closed(.kept, of: .dontneed, evidenceBefore: second)
        #expect(script.counts(.dontneed, .kept).sampled == 2)
    }

    /// Each kind has its own evidence: a zero-window check samples no content-kept window, and an old-or-zero
    /// window (free) is sampled by either.
    @Test func aKindIsSampledOnlyByItsOwnChecks() {
        let script = Script()
        let kept = script.sampling.evidence(.kept), either = script.sampling.evidence(.oldOrZero)
        script.checksLand(1, zero: true)
        script.sampling.closed(.kept, of: .remap, evidenceBefore: kept)
        script.sampling.closed(.oldOrZero, of: .free, evidenceBefore: either)
        #expect(script.counts(.remap, .kept).sampled == 0)
        #expect(script.counts(.free, .oldOrZero).sampled == 1)
        #expect(script.sampling.totals()["content-kept"]?.opened == 1)
    }
}
