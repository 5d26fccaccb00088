import Testing
@testable import Torture

@Suite struct ColumnTextTests {
    @Test func largeCountsAreGroupedInThousands() {
        #expect(0.grouped == "0" && 999.grouped == "999" && 1000.grouped == "1,000")
        #expect(UInt64(83_124_350).grouped == "83,124,350" && Int64(-1234).grouped == "-1,234")
        #expect(UInt64.max.grouped == "18,446,744,073,709,551,615")
    }

    @Test func columnsPadLeftAndRight() {
        #expect("ab".padded(4) == "ab  " && "ab".rightAligned(4) == "  ab" && "abcde".rightAligned(4) == "abcde")
    }
}

@Suite struct FaultOverlapTests {
    static func vcpu(_ delta: [String: Int64]) -> RunReport.CounterSet {
        RunReport.CounterSet(before: ["pf_taken": 0], after: ["pf_taken": UInt64(delta["pf_taken"] ?? 0)], delta: delta)
    }

    @Test func faultsKVMNeitherFixedEmulatedNorFoundSpuriousNorFailedWereRetried() {
        let overlap = FaultOverlap(vcpus: [
            Self.vcpu(["pf_taken": 1000, "pf_fixed": 700, "pf_emulate": 50, "pf_spurious": 30, "pf_guest": 20]),
            Self.vcpu(["pf_taken": 500, "pf_fixed": 480]),
        ], efaults: 0)
        #expect(overlap == FaultOverlap(taken: 1500, retried: 220))
        // A must-fault window's accesses fault again at every re-entry and fail to userspace: not overlaps.
        #expect(FaultOverlap(vcpus: [Self.vcpu(["pf_taken": 1000, "pf_fixed": 700])], efaults: 250) == FaultOverlap(taken: 1000, retried: 50))
        #expect(overlap?.summary(seconds: 2).contains("220 retried by KVM (110/s") == true)
    }

    @Test func vCPUsWithoutStatisticsGiveNoOverlapRatherThanZero() {
        #expect(FaultOverlap(vcpus: [RunReport.CounterSet(before: [:], after: [:], delta: [:])], efaults: 0) == nil)
        #expect(FaultOverlap(vcpus: [], efaults: 0) == nil)
    }

    @Test func countsForANarrowColumnAreCompact() {
        #expect(999.compact == "999" && 1234.compact == "1.2k" && 412_034.compact == "412k" && UInt64(3_200_000).compact == "3.2M")
    }
}
