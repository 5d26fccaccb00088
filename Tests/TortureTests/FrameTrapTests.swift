#if canImport(Glibc)
import Glibc
#endif
import KVM
import Testing
@testable import Torture

/// The recycled-frame traps on host memory alone: the mechanism they stand for is the page allocator's, not KVM's.
struct FrameTrapTests {
    /// A page's frame freed by MADV_DONTNEED goes to the freeing CPU's list, last in first out: the trap's poison
    /// write right after takes that very frame (what makes a translation KVM failed to zap read poison). Measured
    /// through /proc/self/pagemap, whose frame numbers only root sees. The steps go round 64 pages, as the
    /// mutator's go round the data: a page faulted in just before its call is still held by the CPU's LRU batch,
    /// and its frame is not freed by the call (one page called over and over recycled 1 frame in 40 here).
    @Test(.enabled(if: geteuid() == 0, "frame numbers in /proc/self/pagemap are shown to root only"))
    func aTrapSprungRightAfterACallTakesTheFrameTheCallFreed() throws {
        let traps = try FrameTraps(pages: 4)
        let pages = 64
        let region = try MemoryRegion.anonymous(size: pages * 4096)
        _ = madvise(region.base, pages * 4096, MADV_NOHUGEPAGE)
        // The free and the trap on one CPU, as the mutator's pinned thread has them.
        let thread = try OSThread(name: "trap-test", cpu: 0) {
            for page in 0..<pages { (region.base + page * 4096).storeBytes(of: 1, as: UInt64.self) }
            for step in 1...(40 * FrameTraps.measureEvery) {
                let page = region.base + step % pages * 4096
                let frames = traps.framesBeforeCall(page, count: 1)
                _ = madvise(page, 4096, MADV_DONTNEED)
                _ = traps.spring(after: .step(.dontneed, page: step % pages), freedPages: 1, measuring: frames, seconds: 0) {
                    ControlWord.make(.poison, UInt64(step))
                }
                page.storeBytes(of: UInt64(step), as: UInt64.self)  // republished, as the mutator does
            }
        }
        #expect(thread.join(timeout: 60))
        let report = traps.report
        #expect(report.sprung == 40 * FrameTraps.measureEvery && report.measured >= 30, "\(report)")
        #expect(report.recycled * 2 > report.measured, "most traps took the frame just freed: \(report)")
    }
}
