// spin: counts rcx down to zero (rcx = 0 spins forever, until the host kicks the vCPU), then done.
#include "guest_abi.h"
    .intel_syntax noprefix
    .section .rodata
    .globl guest_spin_start, guest_spin_end
    .code64
guest_spin_start:
1:  dec rcx
    jnz 1b
    out GUEST_PORT_DONE, al
guest_spin_end:
