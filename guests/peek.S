// peek: reads rsi words starting at rdi and reports each one (rax = value, rbx = address) on GUEST_PORT_VALUE.
#include "guest_abi.h"
    .intel_syntax noprefix
    .section .rodata
    .globl guest_peek_start, guest_peek_end
    .code64
guest_peek_start:
    test rsi, rsi
    jz 2f
1:  mov rbx, rdi
    mov rax, [rdi]
    out GUEST_PORT_VALUE, al
    add rdi, 8
    dec rsi
    jnz 1b
2:  out GUEST_PORT_DONE, al
guest_peek_end:
