import Glibc
import Guests
import GuestRuntime
import KVM
import TestSupport
import Testing

@Suite(.requiresKVM)
struct StatisticsTests {
    @Test func vmStatisticsIncludeTheRemoteFlushCounters() throws {
        let stats = try openKVM().createVirtualMachine().statistics()
        #expect(stats.names.contains("remote_tlb_flush"))
        #expect(stats.names.contains("remote_tlb_flush_requests"))
        #expect(try stats.read()["remote_tlb_flush"] != nil)
    }

    @Test func pfTakenMovesWhenTheGuestFaultsInFreshPages() throws {
        let (machine, _) = try machineWithData(try openKVM(), program: .poke, dataPages: 256)
        let vcpu = try machine.createVCPU(id: 0, arguments: [dataAddress.rawValue, 256, 1, 4096])
        let stats = try vcpu.statistics()
        #expect(stats.names.contains("pf_taken"))
        let before = try stats.read()
        _ = try runUntilDone(vcpu)
        let delta = try stats.read().delta(since: before)
        // Every first touch of an unbacked page is a fault KVM must take (on any MMU), so at least one per page.
        #expect((delta["pf_taken"] ?? 0) >= 256)
    }

    @Test func remoteFlushCounterMovesWhenTheHostZapsMappedGuestPages() throws {
        let (machine, data) = try machineWithData(try openKVM(), program: .poke, dataPages: 64)
        let vcpu = try machine.createVCPU(id: 0, arguments: [dataAddress.rawValue, 64, 1, 4096])
        _ = try runUntilDone(vcpu)  // the guest now has SPTEs for all 64 pages
        let stats = try machine.vm.statistics()
        let before = try stats.read()
        #expect(madvise(data.base, 64 * 4096, MADV_DONTNEED) == 0)
        let delta = try stats.read().delta(since: before)
        #expect((delta["remote_tlb_flush_requests"] ?? 0) + (delta["remote_tlb_flush"] ?? 0) > 0)
    }

    @Test func aSampleCapturesTheCountersItWasMadeFor() throws {
        let (machine, data) = try machineWithData(try openKVM(), program: .poke, dataPages: 64)
        let vcpu = try machine.createVCPU(id: 0, arguments: [dataAddress.rawValue, 64, 1, 4096])
        _ = try runUntilDone(vcpu)
        let stats = try machine.vm.statistics()
        let counters = try #require(stats.counters(["remote_tlb_flush_requests", "remote_tlb_flush"]))
        #expect(stats.counters(["remote_tlb_flush", "no_such_statistic"]) == nil)
        let before = StatisticSample(counters), after = StatisticSample(counters)
        #expect(before[0] == 0 && before[1] == 0, "nothing captured yet")
        try before.capture()
        #expect(madvise(data.base, 64 * 4096, MADV_DONTNEED) == 0)
        try after.capture()
        // The same values a full read decodes, in the order asked for, and the zap moved the requests.
        let full = try stats.read()
        #expect(after[0] == UInt64(full["remote_tlb_flush_requests"]!))
        #expect(after[1] == UInt64(full["remote_tlb_flush"]!))
        #expect(after[0] > before[0])
        #expect(try counters.read() == [after[0], after[1]])
    }

    @Test func theCPL3GuestRunsNativelyNotEmulated() throws {
        // 100 million loop iterations. Were each instruction emulated, insn_emulation would move by ~2e8; run
        // natively, only a few exits (timer ticks, preemption) happen.
        let iterations: UInt64 = 100_000_000
        let machine = try GuestMachine(kvm: try openKVM(), program: .spin)
        let vcpu = try machine.createVCPU(id: 0, arguments: [0, 0, 0, iterations])
        let stats = try vcpu.statistics()
        let before = try stats.read()
        _ = try runUntilDone(vcpu, maxExits: 1_000_000)
        let delta = try stats.read().delta(since: before)
        let emulated = delta["insn_emulation"] ?? 0
        let exits = delta["exits"] ?? 0
        #expect(emulated < Int64(iterations / 1000), "insn_emulation moved by \(emulated)")
        #expect(exits < Int64(iterations / 1000), "exits moved by \(exits)")
    }
}
