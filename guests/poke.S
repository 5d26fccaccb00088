// poke: writes rdx + k to the word at rdi + k * rcx for k in 0..<rsi, then done. One exit in all, so the
// writes go through the guest's own translations, not through emulation.
#include "guest_abi.h"
    .intel_syntax noprefix
    .section .rodata
    .globl guest_poke_start, guest_poke_end
    .code64
guest_poke_start:
    test rsi, rsi
    jz 2f
1:  mov [rdi], rdx
    inc rdx
    add rdi, rcx
    dec rsi
    jnz 1b
2:  out GUEST_PORT_DONE, al
guest_poke_end:
