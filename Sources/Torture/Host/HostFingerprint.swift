#if canImport(Glibc)
import Glibc
#endif
import Foundation
import KVM

/// What host a run saw: kernel, MMU mode, nesting. Every report carries it, because a pass on a shadow-MMU PVM
/// host says nothing about a TDP host and the other way round.
public struct HostFingerprint: Codable, Sendable, Equatable {
    public var kernelRelease: String
    public var kvmAPIVersion: Int32
    /// `shadow`, `tdp` (EPT/NPT with the TDP MMU), `tdp-legacy` (EPT/NPT, legacy MMU), or `unknown`.
    public var mmuMode: String
    /// Whether the kvm_pvm module is loaded: guest CPL0 is then emulated, CPL3 native.
    public var pvm: Bool
    /// Whether this host itself runs under a hypervisor (the CPUID hypervisor bit in /proc/cpuinfo).
    public var nested: Bool
    public var tdpMMUParameter: String?
    public var cpuModel: String?
    public var cpus: Int
    public var capabilities: [String: Int32]
    /// `transparent_hugepage/enabled` (the selected mode).
    public var thpMode: String
    public var swap: Bool

    public static func current(kvm: KVMSystem) -> HostFingerprint {
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let tdpMMU = ProcFile.value("/sys/module/kvm/parameters/tdp_mmu")
        let ept = ProcFile.value("/sys/module/kvm_intel/parameters/ept")
        let npt = ProcFile.value("/sys/module/kvm_amd/parameters/npt")
        let pvm = FileManager.default.fileExists(atPath: "/sys/module/kvm_pvm")
        let twoDimensional = [ept, npt].contains { (value: String?) in value == "Y" || value == "1" }
        let mode: String
        if pvm || (!twoDimensional && (ept != nil || npt != nil)) || (tdpMMU == "N" && !twoDimensional) {
            mode = "shadow"
        } else if twoDimensional {
            mode = tdpMMU == "N" ? "tdp-legacy" : "tdp"
        } else {
            mode = "unknown"
        }
        let cpuinfo = ProcFile.value("/proc/cpuinfo") ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "" }
        let facts = HostFacts.current()
        var capabilities: [String: Int32] = [:]
        for capability in Capability.known { capabilities[capability.name] = (try? kvm.checkExtension(capability)) ?? 0 }
        return HostFingerprint(
            kernelRelease: release, kvmAPIVersion: (try? kvm.apiVersion()) ?? 0, mmuMode: mode, pvm: pvm,
            nested: cpuFlags(cpuinfo: cpuinfo).contains("hypervisor"), tdpMMUParameter: tdpMMU, cpuModel: model,
            cpus: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), capabilities: capabilities, thpMode: facts.thpMode, swap: facts.swap)
    }

    /// The first CPU's feature flags as /proc/cpuinfo lists them (`hypervisor`, `nonstop_tsc`, …).
    static func cpuFlags(cpuinfo: String = ProcFile.value("/proc/cpuinfo") ?? "") -> [Substring] {
        let line = cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") } ?? ""
        return line.split(separator: " ")
    }
}
