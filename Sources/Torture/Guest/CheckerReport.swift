import Guests
import KVM

/// What the checker says at a port exit, decoded from its registers: `checker.S` leaves each report in fixed
/// registers before its `out`, and this is the one place that knows which.
enum CheckerReport {
    /// `GUEST_PORT_VIOLATION`: a read that contradicted its publication.
    struct Read: Equatable {
        /// The data page (r10) and the word's index in it (r11, a byte offset).
        var page: Int
        var word: Int
        /// The control word read before (rax) and after (rdx) the data word.
        var controlBefore: UInt64
        var controlAfter: UInt64
        /// What the checker read (rcx) and what the publication promised (r8).
        var observed: UInt64
        var expected: UInt64

        init(_ registers: Registers) {
            page = Int(registers.r10)
            word = Int(registers.r11 / 8)
            controlBefore = registers.rax
            controlAfter = registers.rdx
            observed = registers.rcx
            expected = registers.r8
        }
    }

    /// `GUEST_PORT_RECHECK`: the same word read again after one VM exit, under the control words now in force.
    struct Recheck: Equatable {
        var controlBefore: UInt64
        var controlAfter: UInt64
        var observed: UInt64

        init(_ registers: Registers) {
            controlBefore = registers.rax
            controlAfter = registers.rdx
            observed = registers.rcx
        }
    }

    /// `GUEST_PORT_READBACK`: a writer's own word did not hold what it wrote there last sweep (nor 0).
    struct Readback: Equatable {
        /// The data page (r10), what the word held (rax) and what the writer wrote there last (rcx).
        var page: Int
        var observed: UInt64
        var expected: UInt64

        init(_ registers: Registers) {
            page = Int(registers.r10)
            observed = registers.rax
            expected = registers.rcx
        }
    }

    /// The data page the checker was on at any access it makes to one (an EFAULT's page): r10.
    static func page(at registers: Registers) -> Int { Int(registers.r10) }
}
