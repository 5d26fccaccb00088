import CKVM
import KVM
import Testing

/// `VCPUExit.decode` on hand-built `struct kvm_run` images: no device needed.
struct ExitDecodingTests {
    /// A zeroed kvm_run mapping of one page, filled in by `fill`, then decoded.
    func decode(_ fill: (inout kvm_run, UnsafeMutableRawPointer) -> Void) -> VCPUExit {
        let size = 8192  // kvm_run, then the I/O data page, as KVM lays them out
        let page = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
        defer { page.deallocate() }
        page.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        var run = kvm_run()
        fill(&run, page)
        page.storeBytes(of: run, as: kvm_run.self)
        return VCPUExit.decode(page, mappingSize: size)
    }

    /// A port write of `bytes` (`count` items of `size` bytes) to port 0x3f8, its data in the page after kvm_run.
    func decodePortWrite(size: UInt8, count: UInt32, bytes: [UInt8]) -> VCPUExit {
        decode { run, page in
            run.exit_reason = UInt32(KVM_EXIT_IO)
            run.io.direction = UInt8(KVM_EXIT_IO_OUT)
            run.io.size = size
            run.io.count = count
            run.io.port = 0x3f8
            run.io.data_offset = 4096
            for (index, byte) in bytes.enumerated() { page.storeBytes(of: byte, toByteOffset: 4096 + index, as: UInt8.self) }
        }
    }

    @Test func ioOutCarriesPortSizeAndTheBytesAtDataOffset() {
        let exit = decodePortWrite(size: 2, count: 2, bytes: [0xde, 0xad, 0xbe, 0xef])
        #expect(exit == .ioOut(port: 0x3f8, size: 2, data: [0xde, 0xad, 0xbe, 0xef]))
    }

    @Test func aStringPortWriteLongerThanTheInlineBytesKeepsEveryByte() {
        let bytes = (0..<40).map { UInt8($0 * 3) }
        let exit = decodePortWrite(size: 4, count: 10, bytes: bytes)
        guard case .ioOut(_, _, let data) = exit else { Issue.record("decoded \(exit)"); return }
        #expect(Array(data) == bytes)
        #expect(data.withUnsafeBytes { Array($0) } == bytes)
    }

    @Test func exitDataHoldsUpToEightBytesAndComparesByContent() {
        let four: ExitData = [0xde, 0xad, 0xbe, 0xef]
        #expect(four.count == 4 && four[0] == 0xde && four[3] == 0xef)
        #expect(four.withUnsafeBytes { Array($0) } == [0xde, 0xad, 0xbe, 0xef])
        #expect(four == ExitData([0xde, 0xad, 0xbe, 0xef] as [UInt8]))
        #expect(four != [0xde, 0xad, 0xbe])
        #expect(four != [0xde, 0xad, 0xbe, 0xef, 0])  // a trailing zero is a byte, not padding
        #expect(ExitData([]).isEmpty)
        let nine: ExitData = [1, 2, 3, 4, 5, 6, 7, 8, 9]
        #expect(Array(nine) == [1, 2, 3, 4, 5, 6, 7, 8, 9])
        #expect(Set([four, ExitData([0xde, 0xad, 0xbe, 0xef] as [UInt8]), nine]).count == 2)
        #expect(four.description == "[222, 173, 190, 239]")
    }

    @Test func ioOutWhoseDataLiesOutsideTheMappingIsNotTrusted() {
        let exit = decode { run, _ in
            run.exit_reason = UInt32(KVM_EXIT_IO)
            run.io.direction = UInt8(KVM_EXIT_IO_OUT)
            run.io.size = 4
            run.io.count = 1
            run.io.data_offset = 8190
        }
        #expect(exit == .unknown(reason: UInt32(KVM_EXIT_IO)))
    }

    @Test func ioIn() {
        let exit = decode { run, _ in
            run.exit_reason = UInt32(KVM_EXIT_IO)
            run.io.direction = UInt8(KVM_EXIT_IO_IN)
            run.io.size = 1
            run.io.count = 3
            run.io.port = 0x60
        }
        #expect(exit == .ioIn(port: 0x60, size: 1, count: 3))
    }

    @Test func mmioWriteKeepsOnlyLenBytes() {
        let exit = decode { run, _ in
            run.exit_reason = UInt32(KVM_EXIT_MMIO)
            run.mmio.phys_addr = 0xfee0_0000
            run.mmio.len = 4
            run.mmio.is_write = 1
            run.mmio.data = (1, 2, 3, 4, 5, 6, 7, 8)
        }
        #expect(exit == .mmioWrite(address: GuestPhysicalAddress(0xfee0_0000), data: [1, 2, 3, 4]))
    }

    @Test func mmioRead() {
        let exit = decode { run, _ in
            run.exit_reason = UInt32(KVM_EXIT_MMIO)
            run.mmio.phys_addr = 0x1000
            run.mmio.len = 8
        }
        #expect(exit == .mmioRead(address: GuestPhysicalAddress(0x1000), length: 8))
    }

    @Test func simpleReasons() {
        #expect(decode { run, _ in run.exit_reason = UInt32(KVM_EXIT_HLT) } == .hlt)
        #expect(decode { run, _ in run.exit_reason = UInt32(KVM_EXIT_SHUTDOWN) } == .shutdown)
        #expect(decode { run, _ in run.exit_reason = UInt32(KVM_EXIT_DIRTY_RING_FULL) } == .dirtyRingFull)
    }

    @Test func failEntryAndInternalErrorCarryTheirDetail() {
        let fail = decode { run, _ in
            run.exit_reason = UInt32(KVM_EXIT_FAIL_ENTRY)
            run.fail_entry.hardware_entry_failure_reason = 0x21
            run.fail_entry.cpu = 1
        }
        #expect(fail == .failEntry(hardwareReason: 0x21, cpu: 1))
        let internalError = decode { run, _ in
            run.exit_reason = UInt32(KVM_EXIT_INTERNAL_ERROR)
            run.internal.suberror = 1
        }
        #expect(internalError == .internalError(suberror: 1))
    }

    @Test func reasonsNewerThanTheLibraryAreUnknownNotACrash() {
        #expect(decode { run, _ in run.exit_reason = 0xbeef } == .unknown(reason: 0xbeef))
    }
}
