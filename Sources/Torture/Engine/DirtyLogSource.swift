import Guests
import KVM

/// Where the dirty-tracking oracle's harvests come from: the pages written since the previous harvest, as one
/// bitmap of the data slot. KVM's (``KVMDirtyLog``) in a run; a test's script drives ``DirtyOracle`` without
/// /dev/kvm.
protocol DirtyLogSource {
    func harvest() throws -> DirtyBitmap
}

/// The data slot's dirty pages as KVM reports them: `KVM_GET_DIRTY_LOG` (and `KVM_CLEAR_DIRTY_LOG` in clear mode),
/// or every vCPU's dirty ring and `KVM_RESET_DIRTY_RINGS`.
struct KVMDirtyLog: DirtyLogSource {
    let vm: VirtualMachine
    let mode: DirtyTracking
    /// The vCPUs' dirty rings, in ring mode.
    let rings: [DirtyRing]
    /// The slot's 4 KiB pages (a ring entry past them is not the data's).
    let pageCount: Int

    func harvest() throws -> DirtyBitmap {
        let slot = UInt32(GUEST_DATA_SLOT)
        if mode == .ring {
            var bitmap = DirtyBitmap(pageCount: pageCount)
            for ring in rings {
                for entry in ring.harvest() where entry.slot == slot && entry.offset < UInt64(bitmap.pageCount) {
                    bitmap.mark(Int(entry.offset))
                }
            }
            try vm.resetDirtyRings()
            return bitmap
        }
        let bitmap = try vm.dirtyLog(slot: slot)
        if mode == .clear { try vm.clearDirtyLog(slot: slot, bitmap) }
        return bitmap
    }
}
