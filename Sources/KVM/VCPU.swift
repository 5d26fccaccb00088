#if canImport(Glibc)
import Glibc
#endif
import Atomics
import CKVM

/// The general-purpose registers (`struct kvm_regs`).
public typealias Registers = kvm_regs
/// The special registers: segments, control registers, EFER, descriptor tables (`struct kvm_sregs`).
public typealias SpecialRegisters = kvm_sregs

/// A virtual CPU: its descriptor, its mapped `struct kvm_run`, and the means to stop it from another thread.
///
/// Run a vCPU from one thread only (a dedicated OS thread, never Swift's cooperative pool: `KVM_RUN` blocks for
/// as long as the guest runs). Any thread may call ``requestExit()``.
public final class VCPU: @unchecked Sendable {
    // @unchecked: `run` is the kernel-shared kvm_run mapping. Only the thread inside `run()` reads and writes it,
    // except `immediate_exit`, which `requestExit()` writes with an atomic store, as the KVM API allows.

    /// The vCPU id given to `KVM_CREATE_VCPU`.
    public let id: Int
    /// The VM this vCPU belongs to, kept alive (with its memory) while the vCPU exists.
    public let vm: VirtualMachine
    let fd: Int32
    private let runMapping: UnsafeMutableRawPointer
    private let runSize: Int
    /// The signal ``requestExit()`` sends to the thread inside `KVM_RUN`; without one, a running guest leaves only
    /// at its next exit of its own.
    public let kickSignal: KickSignal?
    /// The pthread currently inside `KVM_RUN`, or 0: the target of ``requestExit()``'s signal.
    private let runningThread = ManagedAtomic<UInt>(0)
    /// The last thread that unblocked the kick signal for itself (threads inherit signal masks, and Dispatch's
    /// worker threads block everything).
    private let kickableThread = ManagedAtomic<UInt>(0)

    init(fd: Int32, id: Int, vm: VirtualMachine, run: UnsafeMutableRawPointer, runSize: Int, kick: KickSignal?) {
        self.fd = fd
        self.kickSignal = kick
        self.id = id
        self.vm = vm
        self.runMapping = run
        self.runSize = runSize
    }

    deinit {
        try? Syscall.munmap(runMapping, length: runSize)
        Syscall.close(fd)
    }

    /// The vCPU's descriptor, lent within this package to code that issues its own ioctls (the bench's C
    /// baseline). The vCPU keeps ownership: do not close it, and do not use it after the vCPU is released.
    package var fileDescriptor: Int32 { fd }

    /// The vCPU's mapped `struct kvm_run`, lent read-only on the same terms, for code that reads exits itself.
    package var runStructure: UnsafeRawPointer { UnsafeRawPointer(runMapping) }

    // MARK: Registers

    /// `KVM_GET_REGS`.
    public func registers() throws -> Registers {
        var regs = Registers()
        try Syscall.ioctl(fd, .getRegisters, &regs, context: "vCPU \(id)")
        return regs
    }

    /// `KVM_SET_REGS`.
    public func setRegisters(_ registers: Registers) throws {
        var regs = registers
        try Syscall.ioctl(fd, .setRegisters, &regs, context: "vCPU \(id)")
    }

    /// `KVM_GET_SREGS`.
    public func specialRegisters() throws -> SpecialRegisters {
        var sregs = SpecialRegisters()
        try Syscall.ioctl(fd, .getSpecialRegisters, &sregs, context: "vCPU \(id)")
        return sregs
    }

    /// `KVM_SET_SREGS`.
    public func setSpecialRegisters(_ registers: SpecialRegisters) throws {
        var sregs = registers
        try Syscall.ioctl(fd, .setSpecialRegisters, &sregs, context: "vCPU \(id)")
    }

    // MARK: Running

    /// Enters the guest (`KVM_RUN`) and returns why it came back.
    ///
    /// EINTR (a kick, or ``requestExit()`` before entry) returns ``VCPUExit/interrupted``; EFAULT returns
    /// ``VCPUExit/memoryFault(address:size:flags:)``: both are outcomes the caller acts on. Any other errno throws
    /// a ``KVMError`` naming `KVM_RUN`.
    public func run() throws -> VCPUExit {
        let thread = UInt(pthread_self())
        if let kickSignal, thread != kickableThread.load(ordering: .relaxed) {
            kickSignal.unblockOnThisThread()
            kickableThread.store(thread, ordering: .relaxed)
        }
        runningThread.store(thread, ordering: .sequentiallyConsistent)
        let (result, error) = Syscall.ioctlResult(fd, .run)
        runningThread.store(0, ordering: .sequentiallyConsistent)
        if result < 0 {
            switch error {
            case EINTR: return .interrupted
            case EFAULT: return VCPUExit.decodeMemoryFault(runMapping)
            default: throw KVMError(operation: "KVM_RUN", errno: error, context: "vCPU \(id)")
            }
        }
        return VCPUExit.decode(runMapping, mappingSize: runSize)
    }

    /// Supplies the data for the MMIO read the last exit reported (``VCPUExit/mmioRead(address:length:)``); the
    /// guest's load completes with it on the next `run()` (`kvm_run.mmio.data`).
    public func completeMMIORead(with data: [UInt8]) {
        precondition(data.count <= 8, "an MMIO access is at most 8 bytes")
        // SAFETY: only the thread that runs this vCPU calls this, between KVM_RUN calls. `mmio` is a member of
        // the exit union (which starts where `hw` does): { __u64 phys_addr; __u8 data[8]; … }, so data is 8 in.
        let offset = VCPUExit.exitUnionOffset + 8
        data.withUnsafeBytes { (runMapping + offset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    /// Asks the vCPU to leave the guest promptly, from any thread: sets `kvm_run.immediate_exit` (so a
    /// `KVM_RUN` about to start returns at once) and sends the ``kickSignal`` to the thread inside `KVM_RUN` (so a
    /// running guest exits). The vCPU's `run()` then returns ``VCPUExit/interrupted``, and keeps doing so until
    /// ``clearExitRequest()``.
    ///
    /// The running thread must not exit while another thread calls this (join it afterwards).
    public func requestExit() {
        immediateExit.store(1, ordering: .sequentiallyConsistent)
        let thread = runningThread.load(ordering: .sequentiallyConsistent)
        if thread != 0, let kickSignal { pthread_kill(pthread_t(thread), kickSignal.number) }
    }

    /// Clears a previous ``requestExit()`` so that `run()` enters the guest again.
    public func clearExitRequest() {
        immediateExit.store(0, ordering: .sequentiallyConsistent)
    }

    /// Whether an exit has been requested and not cleared.
    public var exitRequested: Bool { immediateExit.load(ordering: .sequentiallyConsistent) != 0 }

    private var immediateExit: UnsafeAtomic<UInt8> {
        // SAFETY: immediate_exit is a naturally aligned __u8 inside the kvm_run mapping, which lives as long as
        // self; UInt8.AtomicRepresentation has the layout of UInt8.
        let offset = MemoryLayout<kvm_run>.offset(of: \kvm_run.immediate_exit)!
        return UnsafeAtomic(at: (runMapping + offset).assumingMemoryBound(to: UInt8.AtomicRepresentation.self))
    }

    // MARK: Statistics

    /// Opens the vCPU's binary statistics (`KVM_GET_STATS_FD`): `pf_taken`, `exits`, `insn_emulation`,
    /// `tlb_flush`, and whatever else this kernel exports.
    public func statistics() throws -> StatisticsReader {
        try StatisticsReader(fd: try Syscall.ioctl(fd, .getStatsFD, context: "vCPU \(id)"))
    }
}
