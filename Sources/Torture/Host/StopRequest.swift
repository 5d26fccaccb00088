#if canImport(Glibc)
import Glibc
#endif
import Atomics

/// A request to stop, passed to what it stops: a run, or a lab, polls its own (``TortureRun/stop``,
/// `Lab.stop`), so that a test or an embedding program can stop one run without touching another. The process's
/// (``process``) is the one SIGINT, SIGTERM, SIGHUP (an ssh disconnect) and SIGQUIT set once
/// ``installSignalHandlers()`` ran, so that an interrupted run still stops its threads, undoes its system changes,
/// prints its summary and writes its report. The handler only stores to lock-free atomics: async-signal-safe.
public final class StopRequest: Sendable {
    private let flag = ManagedAtomic<Bool>(false)
    private let signalNumber = ManagedAtomic<Int32>(0)

    public init() {}

    /// The process's: the signals' (once the handlers are installed), and what runs poll unless given their own.
    public static let process = StopRequest()

    /// Installs the handlers (idempotent). They set ``process``.
    public static func installSignalHandlers() {
        _ = process  // initialised here, never first inside a handler
        for signal in handled {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { number in
                StopRequest.process.signalNumber.store(number, ordering: .relaxed)
                StopRequest.process.flag.store(true, ordering: .relaxed)
            }
            sigemptyset(&action.sa_mask)
            // Restarted, not failed with EINTR: a read of a child's output or a write of the report that a Ctrl-C
            // lands in goes on, and the stop is seen where the run polls for it.
            action.sa_flags = SA_RESTART
            sigaction(signal, &action, nil)
        }
        // A process inherits its parent's signal mask across exec (a test runner's worker thread blocks
        // everything): unblock the two, or Ctrl-C would never reach the handler.
        var signals = sigset_t()
        sigemptyset(&signals)
        for signal in handled { sigaddset(&signals, signal) }
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
    }

    /// The signals that stop a run.
    public static let handled: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT]

    /// The name of the signal that asked for the stop ("SIGINT"), if one did.
    public var signalName: String? {
        signal.map { number in Self.names.first { $0.number == number }?.name ?? "signal \(number)" }
    }

    /// The exit code of a run stopped by the signal named `name` (128 + its number; SIGINT's for a stop no
    /// signal asked for).
    public static func exitCode(stoppedBy name: String) -> Int32 {
        ExitStatus.interrupted(by: names.first { $0.name == name }?.number ?? SIGINT)
    }

    private static let names: [(number: Int32, name: String)] = [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM"), (SIGHUP, "SIGHUP"), (SIGQUIT, "SIGQUIT")]

    /// What the report says interrupted the run: the signal's name, "a stop request" where none was named, nil
    /// while no stop was asked for.
    public var reason: String? { signalName ?? (isRequested ? "a stop request" : nil) }

    public var isRequested: Bool { flag.load(ordering: .relaxed) }
    /// The signal that asked for the stop, if one did.
    public var signal: Int32? { let number = signalNumber.load(ordering: .relaxed); return number == 0 ? nil : number }
    /// Asks for the stop, as a signal would, without naming one (a checkpoint that cannot be written).
    public func request() { flag.store(true, ordering: .relaxed) }
}
