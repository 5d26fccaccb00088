#if canImport(Glibc)
import CHost
import Glibc
#endif
import CKVM
import Foundation
import KVM

/// `mmutorture doctor`: what this host can and cannot do for a torture run, one finding per line with a fix.
public struct DoctorReport: Codable, Sendable {
    public enum Status: String, Codable, Sendable { case ok, warning, failure, info }

    public struct Finding: Codable, Sendable, Equatable {
        public var check: String
        public var status: Status
        public var detail: String
        public var fix: String?
    }

    /// Whether an operation on a backing will be exercised here, as far as the host's facts tell.
    public struct Exercisability: Codable, Sendable, Equatable {
        public var operation: String
        public var backing: String
        public var exercisable: Bool
        public var reason: String
    }

    public var devicePath: String
    public var host: HostFingerprint?
    public var findings: [Finding]
    public var operations: [Exercisability]
    /// False when a run cannot start (no usable device, a capability it needs is missing).
    public var canRun: Bool
    public var exitCode: Int32 { canRun ? ExitStatus.success.rawValue : ExitStatus.unavailable.rawValue }

    public static func examine(devicePath: String) -> DoctorReport {
        var findings: [Finding] = []
        let kvm: KVMSystem
        do {
            kvm = try KVMSystem(devicePath: devicePath)
            findings.append(Finding(check: "device", status: .ok, detail: "\(devicePath) opens read-write; KVM API version 12"))
        } catch let error as KVMError {
            findings.append(Finding(check: "device", status: .failure, detail: "\(error.operation) (\(error.context)) failed: \(error.errnoName)", fix: error.hint))
            return DoctorReport(devicePath: devicePath, host: nil, findings: findings, operations: [], canRun: false)
        } catch {
            findings.append(Finding(check: "device", status: .failure, detail: "\(error)"))
            return DoctorReport(devicePath: devicePath, host: nil, findings: findings, operations: [], canRun: false)
        }
        let host = HostFingerprint.current(kvm: kvm)
        var canRun = true
        let required: [(Capability, String)] = [
            (.syncMMU, "mmu notifiers: without them host changes never reach the guest and there is nothing to test"),
            (.userMemory, "KVM_SET_USER_MEMORY_REGION"),
            (.immediateExit, "stopping vCPUs promptly"),
        ]
        for (capability, why) in required {
            let present = kvm.has(capability)
            if !present { canRun = false }
            findings.append(Finding(check: capability.name, status: present ? .ok : .failure, detail: present ? "present" : "missing: \(why)",
                                    fix: present ? nil : "use a kernel with this capability"))
        }
        let stats = kvm.has(.binaryStatsFD)
        findings.append(Finding(
            check: Capability.binaryStatsFD.name, status: stats ? .ok : .warning,
            detail: stats ? "present: runs judge operations exercised from the kernel's own counters" : "missing: no kernel counters, so no operation can be judged exercised",
            fix: stats ? nil : "Linux 5.14 or later"))
        for capability in [Capability.manualDirtyLogProtect, .dirtyLogRing, .memoryFaultInfo] {
            let value = (try? kvm.checkExtension(capability)) ?? 0
            findings.append(Finding(check: capability.name, status: .info, detail: value > 0 ? "present (\(value))" : "absent"))
        }
        findings.append(Finding(
            check: "mmu", status: .info,
            detail: "MMU \(host.mmuMode)\(host.pvm ? ", PVM (guest CPL0 emulated; the checkers run at CPL3)" : "")\(host.nested ? ", nested under a hypervisor" : ""), tdp_mmu=\(host.tdpMMUParameter ?? "n/a")"))
        let cpus = Int(chost_allowed_cpu_count())
        findings.append(Finding(
            check: "cpus", status: cpus >= 2 ? .ok : .warning,
            detail: cpus >= 2 ? "\(cpus) CPUs allowed: the mutator and the vCPUs are pinned apart" : "\(cpus) CPU allowed: the mutator and vCPUs share it, so no flush ever has to reach a running vCPU",
            fix: cpus >= 2 ? nil : "give the runner 2 or more CPUs"))
        let facts = HostFacts.current()
        findings.append(Finding(
            check: "thp", status: facts.thpEnabled ? .ok : .warning, detail: "transparent_hugepage/enabled: \(facts.thpMode)",
            fix: facts.thpEnabled ? nil : "echo madvise > /sys/kernel/mm/transparent_hugepage/enabled (as root) for the thp backing"))
        findings.append(Finding(
            check: "hugetlb", status: facts.freeHugePages > 0 ? .ok : .info, detail: "\(facts.freeHugePages) free 2 MiB huge pages",
            fix: facts.freeHugePages > 0 ? nil : "sysctl vm.nr_hugepages=N (as root) for the hugetlb backing"))
        findings.append(Finding(check: "swap", status: .info, detail: facts.swap ? "swap present" : "no swap: MADV_PAGEOUT of private anonymous memory unmaps nothing"))
        findings.append(Finding(check: "ksm", status: .info, detail: Operation.ksm.hostProblem.map { "--op ksm cannot run: \($0)" }
            ?? "--op ksm --allow-system-changes can run: it starts ksmd (run=\(facts.ksmRun) now) and restores its settings at the end"))
        switch ReclaimCgroup.locate() {
        case .success(let (interface, path)):
            findings.append(Finding(check: "aging", status: .info, detail: "--op aging --backing file --allow-system-changes can run: reclaim through the \(interface.rawValue) at \(path)"))
        case .failure(let problem):
            findings.append(Finding(check: "aging", status: .info, detail: "--op aging cannot run: \(problem)"))
        }
        return DoctorReport(
            devicePath: devicePath, host: host, findings: findings,
            operations: exercisability(facts: facts), canRun: canRun)
    }

    /// What a run of each operation on each backing will show here, from the host's facts. `run` is the judge;
    /// this is the forecast, and the tests hold the two to agreement.
    static func exercisability(facts: HostFacts) -> [Exercisability] {
        var rows: [Exercisability] = []
        for backing in BackingKind.allCases {
            for operation in Operation.catalogue where operation.applies(to: backing) {
                var reason = "the kernel must zap the guest's mappings and flush vCPUs"
                var exercisable = true
                switch (operation, backing) {
                case (_, .hugetlb) where facts.freeHugePages == 0:
                    (exercisable, reason) = (false, "no hugetlb pages reserved")
                case (_, .thp) where !facts.thpEnabled:
                    (exercisable, reason) = (false, "THP is disabled")
                default:
                    if let forecast = operation.row?.forecast(on: backing, facts: facts) { (exercisable, reason) = forecast }
                }
                rows.append(Exercisability(operation: operation.rawValue, backing: backing.rawValue, exercisable: exercisable, reason: reason))
            }
        }
        return rows
    }

    public var text: String {
        var lines = findings.map { finding in
            let mark = switch finding.status { case .ok: "ok  "; case .warning: "warn"; case .failure: "FAIL"; case .info: "info" }
            return "\(mark)  \(finding.check): \(finding.detail)" + (finding.fix.map { "\n      fix: \($0)" } ?? "")
        }
        if !operations.isEmpty {
            lines.append("")
            lines.append("operations that will not be exercised here:")
            for row in operations where !row.exercisable { lines.append("  \(row.operation) on \(row.backing): \(row.reason)") }
            lines.append("everything else applicable (\(operations.filter(\.exercisable).count) operation/backing pairs) should be exercised")
        }
        lines.append("")
        lines.append(canRun ? "a torture run can proceed" : "a torture run cannot proceed (exit \(exitCode))")
        return lines.joined(separator: "\n")
    }
}

/// Facts about the host's memory management that decide which operations can reach KVM.
struct HostFacts {
    var thpMode: String
    var thpEnabled: Bool
    var freeHugePages: Int
    var swap: Bool
    var ksmRun: String
    /// Why `--op guard` cannot run here (no `MADV_GUARD_INSTALL`), or nil.
    var guardRegionsProblem: String? = nil

    static func current() -> HostFacts {
        let thp = ProcFile.value("/sys/kernel/mm/transparent_hugepage/enabled") ?? "unavailable"
        let selected = thp.split(separator: " ").first { $0.hasPrefix("[") }.map { String($0.dropFirst().dropLast()) } ?? "unavailable"
        let swaps = ProcFile.read("/proc/swaps")?.split(separator: "\n").count ?? 1
        return HostFacts(
            thpMode: selected, thpEnabled: selected == "always" || selected == "madvise",
            freeHugePages: Int(ProcFile.value("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages") ?? "") ?? 0,
            swap: swaps > 1,
            ksmRun: KSMDaemon.value("run") ?? "", guardRegionsProblem: HostMemory.guardRegionsProblem)
    }
}
