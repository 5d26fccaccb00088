import Guests
import KVM

/// The dirty-tracking oracle: harvests the data slot's dirty log in rounds, as a live migration does, and checks
/// that no guest write escaped it.
///
/// Every writer sweep writes its sequence number into every page, and publishes it once the sweep is done. At round
/// N the oracle reads each writer's publication P, then harvests B (`KVM_GET_DIRTY_LOG`, plus `KVM_CLEAR_DIRTY_LOG`
/// in clear mode, or the vCPUs' rings and `KVM_RESET_DIRTY_RINGS`), then notes the publication Q once the harvest is
/// done. Sweep Q + 2 can only have started after that (sweep Q + 1 may have been under way), so if P_N >= Q_{N-1} + 2,
/// a whole sweep wrote every page between round N-1's harvest and round N's: every page must be in B_N. A page
/// that is not is a *missed dirty page*. (A tighter rule from the words' values would be unsound: the host's own
/// invalidations zero pages, so a word can be older than the page's last guest write.)
final class DirtyOracle: @unchecked Sendable {
    // @unchecked: used by the mutator thread only.
    let configuration: TortureConfiguration
    let vm: VirtualMachine
    let backing: Backing
    let observations: Observations
    let published: (Int) -> UInt64
    let writers: Int
    /// The vCPUs' dirty rings, in ring mode.
    let rings: [DirtyRing]
    private var snapshot: [UInt64]
    /// Each writer's publication just after the previous harvest (Q).
    private var publishedAfterHarvest: [UInt64]
    private var lastRound: ContinuousClock.Instant = .now
    private var dropper = SeededGenerator(seed: 0xd1e7)
    private(set) var rounds = 0
    private(set) var pagesReported = 0
    /// Rounds in which some writer completed a whole sweep between harvests, so that every page was judged.
    private(set) var judgedRounds = 0

    init(configuration: TortureConfiguration, vm: VirtualMachine, backing: Backing, observations: Observations,
         writers: Int, rings: [DirtyRing], published: @escaping (Int) -> UInt64) {
        self.rings = rings
        self.configuration = configuration
        self.vm = vm
        self.backing = backing
        self.observations = observations
        self.writers = writers
        self.published = published
        self.snapshot = Array(repeating: 0, count: configuration.pages * writers)
        self.publishedAfterHarvest = Array(repeating: 0, count: writers)
    }

    /// The first harvest, before any guest runs: empties the log and takes the first snapshot.
    func start() throws {
        _ = try harvest()
        takeSnapshot()
        rounds = 0
        pagesReported = 0
        judgedRounds = 0
    }

    func harvestIfDue() throws {
        guard ContinuousClock.now - lastRound >= .milliseconds(configuration.dirtyRoundMilliseconds) else { return }
        let publications = (0..<writers).map(published)
        var bitmap = try harvest()
        if configuration.injection == .dropdirty, let dropped = bitmap.dirtyPages.randomElement(using: &dropper) {
            bitmap.clear(dropped)
        }
        rounds += 1
        pagesReported += bitmap.dirtyPages.count
        var judged = false
        defer { if judged { judgedRounds += 1 } }
        for writer in 0..<writers {
            guard publications[writer] >= publishedAfterHarvest[writer] + 2 else { continue }
            judged = true
            for page in 0..<configuration.pages where !bitmap.isDirty(page) {
                observations.addViolation(Violation(
                    kind: "missed-dirty", vcpu: writer, page: page, word: Int(GUEST_READER_WORDS) + writer, controlBefore: 0,
                    controlAfter: 0, window: "dirty round \(rounds)", expected: publications[writer],
                    observed: snapshot[page * writers + writer], time: observations.elapsed,
                    operationInFlight: nil, recentOperations: observations.recentOperations(page: page)))
            }
        }
        takeSnapshot()
        lastRound = .now
    }

    private func harvest() throws -> DirtyBitmap {
        let slot = UInt32(GUEST_DATA_SLOT)
        if configuration.dirty == .ring {
            var bitmap = DirtyBitmap(pageCount: configuration.dataBytes / 4096)
            for ring in rings {
                for entry in ring.harvest() where entry.slot == slot && entry.offset < UInt64(bitmap.pageCount) {
                    bitmap.mark(Int(entry.offset))
                }
            }
            try vm.resetDirtyRings()
            return bitmap
        }
        let bitmap = try vm.dirtyLog(slot: slot)
        if configuration.dirty == .clear { try vm.clearDirtyLog(slot: slot, bitmap) }
        return bitmap
    }

    private func takeSnapshot() {
        publishedAfterHarvest = (0..<writers).map(published)
        for page in 0..<configuration.pages {
            for writer in 0..<writers { snapshot[page * writers + writer] = backing.writerWord(page: page, writer: writer) }
        }
    }
}
