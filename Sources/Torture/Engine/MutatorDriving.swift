/// The mutator as a driver of its thread sees it (``TortureRun/mutatorDriver``; the bench alternates its steps with a
/// C loop's this way): the run's settings, its steps one at a time, the memory a loop of one's own would step on, and
/// a way to say what went wrong. Nothing else of the engine.
package struct MutatorDriving: @unchecked Sendable {
    // @unchecked: used by the mutator's thread only, like the mutator itself.
    let mutator: Mutator

    package var configuration: TortureConfiguration { mutator.configuration }
    /// Set when the run asks the mutator to stop: the driver returns then.
    package var isStopped: Bool { mutator.stop.load(ordering: .relaxed) }
    /// The control words, one per data page, and the data itself (and its memfd, for punch).
    package var controlWords: UnsafeMutablePointer<UInt64> { mutator.environment.control.base }
    package var data: UnsafeMutableRawPointer { mutator.environment.backing.region.base }
    package var memfd: Int32 { mutator.environment.backing.fd }
    /// Where the VM's flush counters lie in its statistics file, if they exist.
    package var flushCounterSpan: (fileDescriptor: Int32, offset: Int, length: Int)? { mutator.flushCounterSpan }

    /// The VM's `remote_tlb_flush_requests` now (0 where it has no statistics): what a slice of steps asked for.
    package func flushRequests() -> UInt64 { mutator.flushRequestsNow() ?? 0 }

    /// One step of the engine's schedule, made and published as in a run.
    package func step() throws { try mutator.performNextStep() }

    /// Takes the generations someone else published in the control words as the pages' own.
    package func adoptPublishedGenerations() { mutator.adoptPublishedGenerations() }

    /// A harness error in the run's report: the run cannot pass.
    package func fail(_ message: String) { mutator.environment.observations.addHarnessError(message) }
}
