import CKVM

/// Register state for a guest that runs at CPL3 in 64-bit long mode, with no IDT and no GDT in guest memory.
///
/// Why CPL3: on some hosts (PVM) guest code at CPL0 is emulated instruction by instruction, and emulated loads go
/// through `copy_from_user` rather than the shadow page tables, so they test nothing about them. CPL3 code runs
/// natively everywhere. The values are the ones measured to work on VMX, SVM and PVM hosts:
/// CS 0x1b (DPL3, L=1), data segments 0x23 (DPL3), RFLAGS 0x3002 (IOPL 3, so `out` is legal and exits to the
/// host), EFER 0x500 (LME|LMA), CR0 0x80050033 (PG|AM|WP|NE|ET|MP|PE), CR4.PAE. With no IDT, any exception is a
/// triple fault (`KVM_EXIT_SHUTDOWN`); guests end with an `out` to a done port, never `hlt`.
public enum LongMode {
    public static let cr0: UInt64 = 0x8005_0033
    /// CR0.WP: whether supervisor writes honour read-only pages. CPL3 code is unaffected by it, but KVM makes it
    /// part of the MMU role, so changing it resets the vCPU's MMU context (new shadow roots).
    public static let cr0WriteProtect: UInt64 = 1 << 16
    public static let cr4PAE: UInt64 = 1 << 5
    public static let efer: UInt64 = 0x500
    public static let rflags: UInt64 = 0x3002
    public static let codeSelector: UInt16 = 0x1b
    public static let dataSelector: UInt16 = 0x23
    public static let taskSelector: UInt16 = 0x28

    /// `base` (the vCPU's current special registers) switched to CPL3 long mode with page tables at `root`.
    public static func userModeSpecialRegisters(from base: SpecialRegisters, pageTableRoot root: GuestPhysicalAddress) -> SpecialRegisters {
        var sregs = base
        sregs.cr0 = cr0
        sregs.cr3 = root.rawValue
        sregs.cr4 = cr4PAE
        sregs.efer = efer
        sregs.cs = segment(selector: codeSelector, type: 11, code64: true)
        let data = segment(selector: dataSelector, type: 3, code64: false)
        sregs.ds = data
        sregs.es = data
        sregs.fs = data
        sregs.gs = data
        sregs.ss = data
        // VMX requires a usable busy TSS in TR even though nothing here ever switches stacks through it.
        sregs.tr = kvm_segment(
            base: 0, limit: 0x67, selector: taskSelector, type: 11, present: 1, dpl: 0, db: 0, s: 0, l: 0, g: 0,
            avl: 0, unusable: 0, padding: 0)
        sregs.ldt.unusable = 1
        return sregs
    }

    /// General registers to enter at `entry` with the stack at `stackTop`, at CPL3 with IOPL 3. `arguments` go to
    /// rdi, rsi, rdx, rcx, r8, r9 in order (the SysV order, which the guest programs document).
    public static func userModeRegisters(entry: GuestPhysicalAddress, stackTop: GuestPhysicalAddress, arguments: [UInt64] = []) -> Registers {
        precondition(arguments.count <= 6, "at most six register arguments")
        var regs = Registers()
        regs.rip = entry.rawValue
        regs.rsp = stackTop.rawValue
        regs.rflags = rflags
        let args = arguments + Array(repeating: 0, count: 6 - arguments.count)
        regs.rdi = args[0]
        regs.rsi = args[1]
        regs.rdx = args[2]
        regs.rcx = args[3]
        regs.r8 = args[4]
        regs.r9 = args[5]
        return regs
    }

    private static func segment(selector: UInt16, type: UInt8, code64: Bool) -> kvm_segment {
        kvm_segment(
            base: 0, limit: 0xffff_ffff, selector: selector, type: type, present: 1, dpl: 3, db: code64 ? 0 : 1, s: 1,
            l: code64 ? 1 : 0, g: 1, avl: 0, unusable: 0, padding: 0)
    }
}

extension VCPU {
    /// Prepares this vCPU to run at CPL3 in long mode: the host's supported CPUID, the special registers of
    /// ``LongMode/userModeSpecialRegisters(from:pageTableRoot:)``, and the entry registers.
    public func enterUserMode(
        pageTableRoot: GuestPhysicalAddress, entry: GuestPhysicalAddress, stackTop: GuestPhysicalAddress,
        arguments: [UInt64] = [], cpuid: CPUIDTable
    ) throws {
        try setCPUID(cpuid)
        try setSpecialRegisters(LongMode.userModeSpecialRegisters(from: try specialRegisters(), pageTableRoot: pageTableRoot))
        try setRegisters(LongMode.userModeRegisters(entry: entry, stackTop: stackTop, arguments: arguments))
    }
}
