#if canImport(Glibc)
import Glibc
#endif

/// The signal that kicks a vCPU's thread out of `KVM_RUN` (it returns EINTR). The library installs no handler of
/// its own: the program picks a signal nothing else in it uses and installs it once, as Firecracker's VMM does.
public struct KickSignal: Sendable, Equatable {
    public let number: Int32

    /// Installs a handler that does nothing, without `SA_RESTART` (so the signal makes `KVM_RUN` return EINTR),
    /// for the whole process, and returns the signal to give the vCPUs (``VirtualMachine/createVCPU(id:kick:)``).
    public static func install(_ number: Int32) -> KickSignal {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(number, &action, nil)
        return KickSignal(number: number)
    }

    private init(number: Int32) { self.number = number }

    /// Unblocks the signal for the calling thread (threads inherit signal masks, and Dispatch's workers block
    /// everything).
    func unblockOnThisThread() {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, number)
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
    }
}
