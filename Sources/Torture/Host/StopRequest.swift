#if canImport(Glibc)
import Glibc
#endif
import Atomics

/// SIGINT, SIGTERM, SIGHUP (an ssh disconnect) and SIGQUIT turned into a flag the run polls, so an interrupted run
/// still stops its threads, undoes its system changes, prints its summary and writes its report. The handler only
/// stores to a lock-free atomic: async-signal-safe.
public enum StopRequest {
    private static let flag = UnsafeAtomic<Bool>.create(false)
    private static let signalNumber = UnsafeAtomic<Int32>.create(0)

    /// Installs the handlers (idempotent).
    public static func installSignalHandlers() {
        for signal in handled {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { number in
                StopRequest.signalNumber.store(number, ordering: .relaxed)
                StopRequest.flag.store(true, ordering: .relaxed)
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
    public static var signalName: String? {
        signal.map { number in names.first { $0.number == number }?.name ?? "signal \(number)" }
    }

    /// The exit code of a run stopped by the signal named `name` (128 + its number; SIGINT's for a stop no
    /// signal asked for).
    public static func exitCode(stoppedBy name: String) -> Int32 {
        ExitStatus.interrupted(by: names.first { $0.name == name }?.number ?? SIGINT)
    }

    private static let names: [(number: Int32, name: String)] = [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM"), (SIGHUP, "SIGHUP"), (SIGQUIT, "SIGQUIT")]

    public static var isRequested: Bool { flag.load(ordering: .relaxed) }
    /// The signal that asked for the stop, if one did.
    public static var signal: Int32? { let number = signalNumber.load(ordering: .relaxed); return number == 0 ? nil : number }
    /// Asks the run to stop, as a signal would (for tests and embedding programs).
    public static func request() { flag.store(true, ordering: .relaxed) }
    public static func reset() {
        flag.store(false, ordering: .relaxed)
        signalNumber.store(0, ordering: .relaxed)
    }
}
