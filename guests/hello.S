// hello: the smallest CPL3 guest. A 4-byte `out` of GUEST_HELLO_DATA on GUEST_PORT_HELLO, then done.
#include "guest_abi.h"
    .intel_syntax noprefix
    .section .rodata
    .globl guest_hello_start, guest_hello_end
    .code64
guest_hello_start:
    mov eax, GUEST_HELLO_DATA
    out GUEST_PORT_HELLO, eax
    out GUEST_PORT_DONE, al
guest_hello_end:
