// pingpong: exits to the host forever, one `out` per iteration: the exit round-trip benchmark's guest.
#include "guest_abi.h"
    .intel_syntax noprefix
    .section .rodata
    .globl guest_pingpong_start, guest_pingpong_end
    .code64
guest_pingpong_start:
1:  out GUEST_PORT_HEARTBEAT, al
    jmp 1b
guest_pingpong_end:
