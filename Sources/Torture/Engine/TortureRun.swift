#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GuestRuntime
import Guests
import KVM

/// A whole torture run: builds the VM on the `guest_abi.h` layout, starts the checker vCPUs and the mutator on
/// their own pinned threads, watches them, stops them, and turns what was seen into a ``RunReport``.
public struct TortureRun {
    public let configuration: TortureConfiguration
    /// Called about once a second with a progress line (elapsed, operations/s, checks/s, violations).
    public var progress: ((String) -> Void)?
    /// Called every ``checkpointInterval`` seconds with the report as of then (soak runs write it out, so that
    /// `report show` can read a run that is still going).
    public var checkpoint: ((RunReport) -> Void)?
    public var checkpointInterval: Double?
    /// Drives the mutator's thread instead of its own loop, until the run stops it (the bench alternates engine
    /// steps with its C loop's this way). The run's windows and in-flight peak are then not reported.
    package var mutatorDriver: (@Sendable (MutatorDriving) -> Void)?
    /// Where the mutator's steps spend their time, kept when set (the bench's step-cost section).
    package var stepPhases: StepPhases?
    /// What the run polls to stop early (an interrupted run still writes its report): the process's signals'
    /// unless given its own.
    public var stop = StopRequest.process

    public init(configuration: TortureConfiguration) {
        self.configuration = configuration
    }

    /// Failures before the run can start: a bad configuration or an unusable KVM device.
    public enum SetupError: Error, CustomStringConvertible {
        case configuration(ConfigurationError)
        /// The device cannot be used, or the host lacks what the run needs.
        case unavailable(Error)
        case harness(Error)
        /// The system-wide lock is another run's, or its journal cannot be kept.
        case systemChanges(SystemChangesError)
        /// `--announce-to` names a file the run cannot open for writing.
        case announcement(HostCallError)
        public var description: String {
            switch self {
            case .configuration(let error): "invalid option \(error)"
            case .unavailable(let error): "\(error)"
            case .harness(let error): "setup failed: \(error)"
            case .systemChanges(let error): "\(error)"
            case .announcement(let error): "\(error)"
            }
        }
        public var exitCode: Int32 {
            switch self {
            case .configuration: ExitStatus.usage.rawValue
            case .unavailable: ExitStatus.unavailable.rawValue
            case .harness: ExitStatus.software.rawValue
            case .systemChanges(let error): error.exitCode
            case .announcement: ExitStatus.cannotCreate.rawValue
            }
        }
    }

    public func run() throws(SetupError) -> RunReport {
        do { try configuration.validate() } catch { throw .configuration(error) }
        let announcement: Announcement?
        do { announcement = try configuration.announcePath.map(Announcement.init) } catch { throw .announcement(error) }
        let kvm: KVMSystem
        do { kvm = try KVMSystem(devicePath: configuration.devicePath) } catch let error as KVMError {
            throw .unavailable(error)
        } catch { throw .harness(error) }
        if let problem = configuration.operation.hostProblem {
            throw .unavailable(HostUnavailable("--op \(configuration.operation.rawValue)", problem: problem))
        }
        do {
            guard configuration.operation == .all else { return try execute(configuration, kvm: kvm, announcement: announcement) }
            // Every operation that applies to the backing and can reach KVM on this host, in turn, sharing the
            // duration. The ones the host cannot exercise (doctor's forecast) are listed, not run and not passed.
            let forecast = DoctorReport.exercisability(facts: .current()).filter { $0.backing == configuration.backing.rawValue }
            let skipped = forecast.filter { !$0.exercisable }
            let operations = Operation.catalogue.filter { operation in
                operation.applies(to: configuration.backing) && !skipped.contains { $0.operation == operation.rawValue }
            }
            var reports: [RunReport] = []
            for operation in operations where !stop.isRequested {
                // With --stop-after-violation, a violation ends the whole sequence, not only its part.
                if configuration.stopAfterViolationSeconds != nil && reports.contains(where: { $0.violationCount > 0 }) { break }
                var part = configuration
                part.operation = operation
                part.duration = configuration.duration / Double(operations.count)
                reports.append(try execute(part, kvm: kvm, announcement: announcement))
            }
            var combined = RunReport.combining(reports, as: configuration)
            combined.notes += skipped.map { "not run, cannot be exercised on this host: \($0.operation) (\($0.reason))" }
            return combined
        } catch let error as HostUnavailable {
            throw .unavailable(error)
        } catch let error as SystemChangesError {
            throw .systemChanges(error)
        } catch {
            throw .harness(error)
        }
    }

    /// One run: the rig built, its threads started, watched and stopped, and its report.
    private func execute(_ config: TortureConfiguration, kvm: KVMSystem, announcement: Announcement?) throws -> RunReport {
        let rig = try Rig(config, kvm: kvm, announcement: announcement, progress: progress)
        defer { rig.restore() }
        rig.mutator.phases = stepPhases
        let threads = try rig.start(driver: mutatorDriver)
        let timeline = watch(rig)
        rig.stop(threads)
        return rig.report(timeline, driven: mutatorDriver != nil, interruptedBy: stop)
    }

    /// A vCPU whose sweeps and exits have not moved for this long is kicked and reported.
    static let stallSeconds = 3.0
}

extension TortureRun {
    /// A note when the machine starved the run: seconds in which the mutator's steps fell below a quarter of the
    /// run's own median rate (another process on the pinned CPUs, a loaded CI host). The progress lines show the
    /// dip; the report must say what it means: fewer windows were sampled than the rate suggests.
    static func starvationNote(_ timeline: [RunReport.TimelineSample]) -> String? {
        guard timeline.count >= 4 else { return nil }
        var rates: [Double] = []
        for (previous, sample) in zip(timeline, timeline.dropFirst()) where sample.second > previous.second {
            rates.append(Double(sample.operations - previous.operations) / (sample.second - previous.second))
        }
        let median = rates.sorted()[rates.count / 2]
        guard median > 0 else { return nil }
        let starved = rates.filter { $0 < median / 4 }.count
        guard starved > 0 else { return nil }
        return String(format: "starved: in %d of %d seconds the mutator made fewer than a quarter of its median %.0f steps/s (the machine was busy: another process on the pinned CPUs, or a loaded host); those seconds sampled fewer windows", starved, rates.count, median)
    }
}
