import Guests

/// One of the tiny guest programs in `guests/`, assembled by `swift build`. Each runs at CPL3 in long mode,
/// entered at `GUEST_CODE_GPA` with its arguments in registers (see `guest_abi.h`).
public enum GuestProgram: String, CaseIterable, Sendable {
    /// A 4-byte `out` of `GUEST_HELLO_DATA` on `GUEST_PORT_HELLO`, then done.
    case hello
    /// Reads `rsi` words from `rdi` and reports each on `GUEST_PORT_VALUE` (rax value, rbx address).
    case peek
    /// Writes `rdx + k` to `rdi + k * rcx` for k < `rsi`, then done.
    case poke
    /// Counts `rcx` down to zero (0: forever), then done.
    case spin
    /// The stale-read checker of the integrity contract.
    case checker
    /// `out` to the heartbeat port forever: one exit per iteration (the exit round-trip benchmark).
    case pingpong

    /// The program's machine code.
    public var bytes: [UInt8] {
        let image =
            switch self {
            case .hello: guest_image_hello()
            case .peek: guest_image_peek()
            case .poke: guest_image_poke()
            case .spin: guest_image_spin()
            case .checker: guest_image_checker()
            case .pingpong: guest_image_pingpong()
            }
        // SAFETY: start and end bound one read-only byte array emitted by the assembler (guests/*.S).
        return Array(UnsafeBufferPointer(start: image.start, count: image.end - image.start))
    }
}
