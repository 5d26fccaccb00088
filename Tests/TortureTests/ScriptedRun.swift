import Foundation
import Guests
import KVM
@testable import Torture

/// A run's mutator on real host memory (the backing, control words, a decoy frame), with a ``ScriptedGuest`` in
/// place of the vCPUs and no VM: the engine's side of the protocol end to end, without /dev/kvm. Read-only
/// checkers (no writer words), no flush probe (no VM statistics), no traps unless asked.
struct ScriptedRun {
    let guest: ScriptedGuest
    let mutator: Mutator
    let observations: Observations
    /// Memory the run's parts point into, kept alive with it.
    private let memory: [MemoryRegion]
    private let backing: Backing

    /// `operation` on `backing`, 8 pages, windows long enough (300 µs) for a sweep to land in most of them.
    init(_ operation: Torture.Operation, on backing: BackingKind = .anonymous, inject: Injection = .none,
         configure: (inout TortureConfiguration) -> Void = { _ in }) throws {
        var configuration = TortureConfiguration(operation, on: backing, injection: inject, duration: 30, seed: 7, devicePath: "/nonexistent/kvm")
        (configuration.pages, configuration.mode, configuration.trapPages) = (8, .read, 0)
        (configuration.windowMicroseconds, configuration.faultWindowMicroseconds) = (300, 300)
        configure(&configuration)
        try configuration.validate()
        let controlRegion = try MemoryRegion.anonymous(size: GuestPage.size)
        let decoy = try MemoryRegion.anonymous(size: GuestPage.size)
        let control = ControlWords(base: controlRegion.base, count: configuration.pages)
        self.backing = try Backing(kind: configuration.backing, size: configuration.dataBytes)
        observations = Observations()
        guest = ScriptedGuest(control: control, data: self.backing.region.base, pages: configuration.pages, observations: observations)
        mutator = Mutator(configuration: configuration, environment: Mutator.Environment(
            backing: self.backing, control: control, observations: observations, vmStatistics: nil, leafEntry: { _ in nil },
            decoy: decoy.base, writerStatus: [], checkerStatus: [guest.status], vm: nil, dataSlotFlags: [], hostChange: nil),
            frameTraps: configuration.frameTrapPages > 0 ? try FrameTraps(pages: configuration.frameTrapPages) : nil)
        memory = [controlRegion, decoy]
    }

    /// Runs the mutator against the guest until `enough` holds of what the guest saw (at most `cap` seconds: a
    /// loaded host gets there later, not never), then stops both; returns what the guest saw.
    func run(cap: Double = 20, until enough: (ScriptedGuest.Tally) -> Bool) throws -> ScriptedGuest.Tally {
        mutator.publishInitialGenerations()
        try guest.start()
        let mutatorThread = try OSThread(name: "mutator", cpu: nil) { [mutator] in mutator.run() }
        let deadline = Date().addingTimeInterval(cap)
        while !enough(guest.seen) && Date() < deadline { usleep(2_000) }
        mutator.stop.store(true, ordering: .relaxed)
        _ = mutatorThread.join(timeout: 30)
        guest.stop()
        withExtendedLifetime(memory) {}
        return guest.seen
    }

    /// Windows the mutator counted for `operation`, opened and sampled, by kind name.
    func windows(of operation: Torture.Operation) -> [String: RunReport.WindowCount] { mutator.windows.counts(of: operation) }
}
