#if canImport(Glibc)
import Glibc
#endif
import Atomics
import Guests
import KVM

/// One vCPU running the checker, on its own thread: turns the guest's exits into observations.
final class VCPUWorker: @unchecked Sendable {
    /// The engine's kick signal: SIGUSR1, which nothing else in mmutorture uses, installed on first use.
    static let kickSignal = KickSignal.install(SIGUSR1)

    // @unchecked: the vCPU is run by this worker's thread only; the flags are atomic.
    let index: Int
    let vcpu: VCPU
    let observations: Observations
    let stop = ManagedAtomic<Bool>(false)
    /// Set by the watchdog before it kicks a vCPU that made no progress.
    let stallKick = ManagedAtomic<Bool>(false)
    let exits = ManagedAtomic<UInt64>(0)
    /// Set by the cr0-wp antagonist before it kicks the vCPU: toggle CR0.WP before entering again.
    private let mmuResetRequested = ManagedAtomic<Bool>(false)
    /// CR0.WP toggles applied and read back.
    let mmuResets = ManagedAtomic<UInt64>(0)
    private var pendingRecheck: (page: Int, control: UInt64, expected: UInt64)?
    /// The data page of this vCPU's last MMIO read, until its next exit of another kind: a check the guest
    /// reports right after it read through MMIO was served by the host, not translated.
    private var mmioReadPage: Int?

    /// The data slot's home range and host memory: accesses that exit as MMIO while the slot is deleted or moved
    /// (the memslot operation) are served from the same memory, so the guest's view stays the host's.
    let dataRange: Range<UInt64>
    let dataHost: UnsafeMutableRawPointer
    /// The recycled-frame traps, to name the step that freed a frame whose poison a guest read.
    /// Every trap ring (the mutator's, the antagonists'), to name the call that freed a poisoned frame.
    let frameTraps: [FrameTraps]

    init(index: Int, vcpu: VCPU, observations: Observations, dataRange: Range<UInt64>, dataHost: UnsafeMutableRawPointer, frameTraps: [FrameTraps] = []) {
        self.index = index
        self.frameTraps = frameTraps
        self.vcpu = vcpu
        self.observations = observations
        self.dataRange = dataRange
        self.dataHost = dataHost
    }

    func run() {
        while !stop.load(ordering: .relaxed) {
            let exit: VCPUExit
            slotBeforeRun = observations.dataSlot.snapshot
            do {
                exit = try vcpu.run()
            } catch {
                observations.addHarnessError("vCPU \(index): \(error)")
                return
            }
            exits.wrappingIncrement(ordering: .relaxed)
            if !handle(exit) { return }
        }
    }

    /// The data slot's state when the last `KVM_RUN` began.
    private var slotBeforeRun: UInt64 = 0

    /// An MMIO exit on a data page from a run that ran wholly with the slot present and unchanged: KVM kept an MMIO
    /// decision it should have dropped. Served all the same (the guest reads what memory holds), and reported.
    private func checkStrayMMIO(_ address: GuestPhysicalAddress, write: Bool) {
        let slot = observations.dataSlot
        guard slot.isStrayMMIO(at: address.rawValue, in: dataRange, runBeganAt: slotBeforeRun) else { return }
        let page = dataPage(address)
        let since = slot.secondsSinceLastChange.map { String(format: "%.6f s after the last slot change ended", $0) } ?? "no slot change yet"
        observations.addViolation(Violation(
            kind: .strayMMIO, vcpu: index, page: page, word: Int(address.rawValue - dataRange.lowerBound) % GuestPage.size / 8,
            controlBefore: 0, controlAfter: 0, window: "data slot present (generation \(slot.generation))",
            expected: slot.generation, observed: address.rawValue, time: observations.elapsed,
            operationInFlight: "MMIO \(write ? "write" : "read") at \(address), \(since)",
            recentOperations: observations.recentOperations(page: page)))
    }

    /// Handles one exit; false ends the worker.
    private func handle(_ exit: VCPUExit) -> Bool {
        let servedPage = mmioReadPage
        mmioReadPage = nil
        switch exit {
        case .ioOut(let port, _, _):
            switch Int32(port) {
            case GUEST_PORT_HEARTBEAT:
                observations.heartbeats.wrappingIncrement(ordering: .relaxed)
            case GUEST_PORT_VIOLATION:
                recordViolation(servedPage: servedPage)
            case GUEST_PORT_RECHECK:
                recordRecheck()
            case GUEST_PORT_READBACK:
                recordReadback()
            default:
                observations.addHarnessError("vCPU \(index): guest protocol error on port 0x\(String(port, radix: 16)) \(registerDump())")
                return false
            }
        case .memoryFault:
            let registers = try? vcpu.registers()
            observations.recordFault { registers.map(CheckerReport.page(at:)) }
            if let resumed = registers.flatMap(CheckerFaultPoints.resumed) {
                do { try vcpu.setRegisters(resumed) } catch {
                    observations.addHarnessError("vCPU \(index): resuming the checker past a faulting page: \(error)")
                    return false
                }
            }
        case .dirtyRingFull:
            // As the API documents: the ring must be harvested and reset before this vCPU can run on. The
            // mutator's harvester does that every round; wait a little and re-enter.
            observations.ringFullExits.wrappingIncrement(ordering: .relaxed)
            usleep(200)
        case .mmioRead(let address, let length):
            guard let host = hostAddress(address, length) else { return unexpected(exit) }
            vcpu.completeMMIORead(with: Array(UnsafeRawBufferPointer(start: host, count: length)))
            checkStrayMMIO(address, write: false)
            mmioReadPage = dataPage(address)
            observations.recordFault(mmio: true) { mmioReadPage }
            return true
        case .mmioWrite(let address, let data):
            guard let host = hostAddress(address, data.count) else { return unexpected(exit) }
            data.withUnsafeBytes { host.copyMemory(from: $0.baseAddress!, byteCount: data.count) }
            checkStrayMMIO(address, write: true)
            observations.recordFault(mmio: true) { dataPage(address) }
        case .interrupted:
            if stop.load(ordering: .relaxed) { return false }
            if mmuResetRequested.exchange(false, ordering: .relaxed) && !toggleWriteProtect() { return false }
            if stallKick.exchange(false, ordering: .relaxed) {
                observations.addHarnessError("vCPU \(index) made no progress: \(registerDump())")
            }
            vcpu.clearExitRequest()
        default:
            return unexpected(exit)
        }
        return true
    }

    /// Asks the vCPU's thread to reset its MMU context (toggle CR0.WP) at its next exit, and kicks it out of the
    /// guest. Special registers may only change between `KVM_RUN`s of the thread that runs the vCPU.
    func requestMMUReset() {
        mmuResetRequested.store(true, ordering: .relaxed)
        vcpu.requestExit()
    }

    /// Flips CR0.WP through `KVM_SET_SREGS` and reads it back; false (and a harness error) if KVM refused it.
    private func toggleWriteProtect() -> Bool {
        do {
            var sregs = try vcpu.specialRegisters()
            let wanted = sregs.cr0 ^ LongMode.cr0WriteProtect
            sregs.cr0 = wanted
            try vcpu.setSpecialRegisters(sregs)
            let applied = try vcpu.specialRegisters().cr0
            guard applied == wanted else {
                observations.addHarnessError("vCPU \(index): CR0 0x\(String(wanted, radix: 16)) set, 0x\(String(applied, radix: 16)) read back")
                return false
            }
            mmuResets.wrappingIncrement(ordering: .relaxed)
            return true
        } catch {
            observations.addHarnessError("vCPU \(index): CR0.WP toggle: \(error)")
            return false
        }
    }

    private func unexpected(_ exit: VCPUExit) -> Bool {
        observations.addHarnessError("vCPU \(index): unexpected exit \(exit) \(registerDump())")
        return false
    }

    private func dataPage(_ address: GuestPhysicalAddress) -> Int {
        Int((address.rawValue - dataRange.lowerBound) / UInt64(GUEST_PAGE_SIZE))
    }

    private func hostAddress(_ address: GuestPhysicalAddress, _ length: Int) -> UnsafeMutableRawPointer? {
        guard dataRange.contains(address.rawValue), address.rawValue + UInt64(length) <= dataRange.upperBound else { return nil }
        return dataHost + Int(address.rawValue - dataRange.lowerBound)
    }

    /// The writer's own word did not hold what it wrote there last sweep (nor 0).
    private func recordReadback() {
        guard let regs = try? vcpu.registers() else {
            observations.addHarnessError("vCPU \(index): a readback violation was reported but its registers could not be read")
            return
        }
        let report = CheckerReport.Readback(regs)
        let (kind, inFlight) = classified(observed: report.observed, page: report.page, otherwise: .readback)
        observations.addViolation(Violation(
            kind: kind, vcpu: index, page: report.page, word: Int(GUEST_READER_WORDS) + index, controlBefore: 0, controlAfter: 0,
            window: "own word", expected: report.expected, observed: report.observed, time: observations.elapsed,
            operationInFlight: inFlight, recentOperations: observations.recentOperations(page: report.page)))
    }

    private func recordViolation(servedPage: Int?) {
        guard let regs = try? vcpu.registers() else {
            // The guest counted a violation the host cannot describe: the run cannot pass, and must say why.
            observations.addHarnessError("vCPU \(index): a violation was reported but its registers could not be read")
            return
        }
        let read = CheckerReport.Read(regs)
        if read.page == servedPage && ControlWord.Kind.of(read.controlBefore) == .fault {
            // The read exited as MMIO and the host served it: the slot was away, as it should be.
            observations.mmioServedChecks.wrappingIncrement(ordering: .relaxed)
            return
        }
        observations.noteDetection(page: read.page, word: read.controlBefore)
        let (kind, inFlight) = classified(observed: read.observed, page: read.page, otherwise: .staleRead)
        let window = ControlWord.Kind.of(read.controlBefore)?.name ?? "unknown"
        observations.addViolation(Violation(
            kind: kind, vcpu: index, page: read.page, word: read.word, controlBefore: read.controlBefore, controlAfter: read.controlAfter,
            window: window, expected: read.expected, observed: read.observed, time: observations.elapsed,
            operationInFlight: inFlight, recentOperations: observations.recentOperations(page: read.page)))
        pendingRecheck = (read.page, read.controlBefore, read.expected)
    }

    /// A violation's kind and what was in flight. A read (or a writer's own word) that returned a trap's poison is
    /// `stale-frame`: the translation led to a frame a content-replacing call freed, and the step that freed it is
    /// named; any other bad value is of the kind `otherwise`.
    private func classified(observed: UInt64, page: Int, otherwise kind: Violation.Kind) -> (kind: Violation.Kind, inFlight: String?) {
        let inFlight = observations.operationInFlightDescription(page: page)
        guard ControlWord.Kind.of(observed) == .poison else { return (kind, inFlight) }
        let freedBy = frameTraps.record(poison: observed).map { "frame freed by \($0.call) at \(String(format: "%.6f", $0.seconds))s, then trapped" }
        return (.staleFrame, [freedBy ?? "frame freed by a call no longer in its trap ring", inFlight.map { "in flight: \($0)" }]
            .compactMap { $0 }.joined(separator: "; "))
    }

    private func recordRecheck() {
        guard let pending = pendingRecheck, let regs = try? vcpu.registers() else { return }
        pendingRecheck = nil
        let recheck = CheckerReport.Recheck(regs)
        let samePublication = recheck.controlBefore == pending.control && recheck.controlAfter == pending.control
        let stillWrong = ControlWord.Kind.of(pending.control) == .fault || recheck.observed != pending.expected
        observations.completeRecheck(vcpu: index, page: pending.page, survived: samePublication && stillWrong, observed: recheck.observed)
    }

    private func registerDump() -> String {
        guard let regs = try? vcpu.registers() else { return "(registers unreadable)" }
        let hex = { (value: UInt64) in String(value, radix: 16) }
        return "rip=0x\(hex(regs.rip)) rsp=0x\(hex(regs.rsp)) rax=0x\(hex(regs.rax)) rcx=0x\(hex(regs.rcx)) "
            + "rdx=0x\(hex(regs.rdx)) r8=0x\(hex(regs.r8)) r10=0x\(hex(regs.r10)) r11=0x\(hex(regs.r11)) rbp=0x\(hex(regs.rbp))"
    }
}
