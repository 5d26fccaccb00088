import Foundation
import KVM
import TestSupport
import Testing

@Suite(.requiresKVM)
struct KVMSystemTests {
    @Test func apiVersionIsTwelve() throws {
        #expect(try openKVM().apiVersion() == 12)
    }

    @Test func capabilitiesTheTortureNeedsArePresent() throws {
        let kvm = try openKVM()
        #expect(kvm.has(.syncMMU), "KVM_CAP_SYNC_MMU: without mmu notifiers there is nothing to test")
        #expect(kvm.has(.userMemory))
        #expect(kvm.has(.binaryStatsFD))
        #expect(kvm.has(.immediateExit))
        #expect(try kvm.checkExtension(.memorySlots) >= 3)
    }

    @Test func rawCapabilityQueryAgreesWithTheTypedOne() throws {
        let kvm = try openKVM()
        #expect(try kvm.checkExtension(raw: Capability.maxVCPUs.rawValue) == kvm.checkExtension(.maxVCPUs))
        #expect(try kvm.checkExtension(raw: 0x7fff_0000) == 0, "an unknown capability reads as absent")
    }

    @Test func vcpuMappingCoversKvmRun() throws {
        let size = try openKVM().vcpuMmapSize()
        #expect(size >= 4096 && size % 4096 == 0)
    }

    @Test func supportedCPUIDAdvertisesLongMode() throws {
        let table = try openKVM().supportedCPUID()
        let extended = table.entries.first { $0.function == 0x8000_0001 }
        #expect(extended.map { $0.edx & (1 << 29) != 0 } == true, "CPUID 0x80000001 EDX.LM")
    }
}

/// Opening failures need no device at all.
struct KVMDeviceErrorTests {
    @Test func missingDeviceSaysKVMIsNotAvailable() {
        let problem = KVMAvailability.problem(at: "/nonexistent/kvm")
        #expect(problem?.operation == "open")
        #expect(problem?.errnoName == "ENOENT")
        #expect(problem?.description.contains("KVM not available: module not loaded or no hardware virtualization") == true)
    }

    @Test func aFileThatIsNotKVMIsRejectedByTheVersionIoctl() {
        let problem = KVMAvailability.problem(at: "/dev/null")
        #expect(problem?.operation == "KVM_GET_API_VERSION")
        #expect(problem?.errnoName == "ENOTTY")
        #expect(problem?.description.contains("is it the KVM device?") == true)
    }

    @Test func permissionDeniedSaysWhatWouldHelpGivenTheDevicesOwnerGroupAndMode() throws {
        // EACCES cannot be provoked as root; build the error the way a failed open does, on files that stand
        // for a device node: one only root may open (joining a group cannot help), one its group may.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kvm-mode-\(getpid())").path
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        defer { unlink(path) }
        chmod(path, 0o600)
        let rootOnly = KVMError.deviceUnavailable(path: path, errno: EACCES).description
        #expect(rootOnly.contains(" 600") && rootOnly.contains("run as root") && rootOnly.contains("udev rule"), "\(rootOnly)")
        #expect(!rootOnly.contains("add the user to group \(String(cString: getgrgid(getegid()).pointee.gr_name))") || getegid() != 0)
        if geteuid() == 0 {
            chown(path, 0, 100)  // a group other than root's
            chmod(path, 0o660)
            let grouped = KVMError.deviceUnavailable(path: path, errno: EACCES).description
            #expect(grouped.contains(" 660") && grouped.contains("add the user to group"), "\(grouped)")
        }
    }

    @Test func errorDescriptionNamesIoctlErrnoAndContext() {
        let error = KVMError(operation: "KVM_SET_USER_MEMORY_REGION", errno: 22, context: "slot 3, gpa 0x1000, 4096 bytes")
        #expect(error.description == "KVM_SET_USER_MEMORY_REGION (slot 3, gpa 0x1000, 4096 bytes) failed: EINVAL: Invalid argument")
    }
}

/// The tests' gate: a device that cannot be opened skips the KVM tests with the reason, and fails them instead
/// where CI requires KVM, so that a skip is never a silent pass.
struct KVMTestGateTests {
    @Test func aMissingDeviceSkipsWithItsReasonUnlessKVMIsRequired() {
        let missing = [KVMTestGate.deviceOverrideVariable: "/nonexistent-kvm-\(getpid())"]
        let skipped = KVMTestGate.evaluate(environment: missing)
        #expect(!skipped.run && skipped.devicePath == missing.values.first!)
        #expect(skipped.skipReason.hasPrefix("KVM unavailable: ") && skipped.skipReason.contains("nonexistent-kvm"), "\(skipped.skipReason)")
        let required = KVMTestGate.evaluate(environment: missing.merging([KVMTestGate.requireVariable: "1"]) { $1 })
        #expect(required.run, "runs, and fails on the open")
    }
}
