/// Every exit status mmutorture's commands return, named once (README, "Exit codes"): the verdicts' own (0 to
/// 3), sysexits.h's for bad input and an unusable host (64 to 73), and 128 + a signal for an interrupted run.
public enum ExitStatus: Int32, Sendable {
    /// A pass, or a negative control that fired.
    case success = 0
    /// The kernel broke its promise (a violation or a kernel finding).
    case violation = 1
    /// Nothing wrong seen, but nothing proved.
    case notExercised = 2
    /// A negative control (or a lab mutant) went uncaught: the detector is broken.
    case controlMissed = 3
    /// EX_USAGE: bad options.
    case usage = 64
    /// EX_DATAERR: a bad scenario file, report or patch.
    case dataError = 65
    /// EX_NOINPUT: an input file that cannot be read.
    case noInput = 66
    /// EX_UNAVAILABLE: KVM, a tool or a host resource the run needs is missing.
    case unavailable = 69
    /// EX_SOFTWARE: the harness itself failed.
    case software = 70
    /// EX_CANTCREAT: an output file that cannot be written.
    case cannotCreate = 73
    /// EX_TEMPFAIL: another run holds what this one needs (the system-wide settings); try again when it ends.
    case temporaryFailure = 75
    /// EX_NOPERM: what the tool would run or trust as its caller could have been written by another user.
    case noPermission = 77

    /// 128 + the signal's number, as a shell reports a process a signal stopped.
    public static func interrupted(by signal: Int32) -> Int32 { 128 + signal }
}
