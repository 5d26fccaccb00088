// checker: the stale-read checker of the integrity contract (README, "The integrity contract").
//
// Sweeps the data pages forever. Per check on page i, at the word this sweep has chosen:
//     c1 = ctrl[i]; v = data[i][w]; c2 = ctrl[i]
// x86 keeps loads in program order, so when c1 == c2 != 0 the read of v happened while that one publication
// was in force. The control word's kind then says what v must be (guest_abi.h): the generation itself, zero, the
// kept generation, or nothing at all (a must-fault window, where any successful read is a violation). The word
// moves by one each sweep, starting at a per-vCPU offset, so every word of every page is read.
//
// In write mode the checker is also a writer (the lost-write half): in every page it first reads its own word
// (GUEST_READER_WORDS + vCPU), which must still hold what it wrote last sweep (or 0, after a content-replacing
// operation), then stores this sweep's sequence number there; after a whole sweep it publishes the number in its
// status block. The host then requires every page's word to be at least the published number.
//
// Counts stay in registers and reach the status block once per sweep; the only exits are a heartbeat every r9
// sweeps and the reports. Register use (entry values in guest_abi.h):
//   r15 pages, r14 data base, r13 control base, r12 status block, r9 heartbeat interval, rsi sweeps to heartbeat,
//   r11 byte offset of the word checked this sweep, r10 page index, rbp address of the word in page r10,
//   rbx conclusive generation checks, rdi inconclusive checks, rax/rcx/rdx c1/v/c2, r8 kind then expected value.
#include "guest_abi.h"
    .intel_syntax noprefix
    .section .rodata
    .globl guest_checker_start, guest_checker_end
    .code64
guest_checker_start:
    mov r15, rsi
    mov [r8 + 8 * GUEST_STATUS_TOTAL_PAGES], rsi
    mov r14, rdx
    mov r13, rcx
    mov r12, r8
    mov r11, rdi
    shl r11, 6
    and r11, GUEST_WORDS_PER_PAGE - 1
    cmp r11, GUEST_READER_WORDS
    jb 1f
    sub r11, GUEST_READER_WORDS
1:  shl r11, 3
    xor ebx, ebx
    xor edi, edi
    mov rsi, r9

.Lsweep:
    // Choose this sweep's extent: a hot pass over the first HOT_PAGES pages, or a full sweep.
    mov r15, [r12 + 8 * GUEST_STATUS_TOTAL_PAGES]
    mov qword ptr [r12 + 8 * GUEST_STATUS_HOT_ACTIVE], 0
    mov rax, [r12 + 8 * GUEST_STATUS_HOT_PAGES]
    test rax, rax
    jz 5f
    mov rcx, [r12 + 8 * GUEST_STATUS_HOT_PASS]
    cmp rcx, [r12 + 8 * GUEST_STATUS_HOT_REPEAT]
    jae 4f
    inc qword ptr [r12 + 8 * GUEST_STATUS_HOT_PASS]
    mov qword ptr [r12 + 8 * GUEST_STATUS_HOT_ACTIVE], 1
    mov r15, rax
    jmp 5f
4:  mov qword ptr [r12 + 8 * GUEST_STATUS_HOT_PASS], 0
5:  xor r10d, r10d
    lea rbp, [r14 + r11]
    test r15, r15
    jz .Lend_of_sweep
.Lpage:
    test byte ptr [r12 + 8 * GUEST_STATUS_MODE], GUEST_MODE_READ
    jz .Lwrite
    mov rax, [r13 + r10 * 8]
    mov rcx, [rbp]
    mov rdx, [r13 + r10 * 8]
    test rax, rax
    jz .Linconclusive
    cmp rax, rdx
    jne .Linconclusive
    mov r8, rax
    shr r8, GUEST_CTRL_KIND_SHIFT
    cmp r8, GUEST_KIND_GENERATION
    jne .Lother_kind
    cmp rcx, rax
    jne .Lviolation_generation
    inc rbx
.Lwrite:
    test byte ptr [r12 + 8 * GUEST_STATUS_MODE], GUEST_MODE_WRITE
    jz .Lnext
    cmp qword ptr [r12 + 8 * GUEST_STATUS_HOT_ACTIVE], 0
    jne .Lnext
    mov rdx, rbp
    sub rdx, r11
    add rdx, [r12 + 8 * GUEST_STATUS_WRITER_OFFSET]
    mov r8, [r12 + 8 * GUEST_STATUS_SEQUENCE]
    mov rax, [rdx]
    lea rcx, [r8 - 1]
    cmp rax, rcx
    je .Lstore
    test rax, rax
    jz .Lstore
    inc qword ptr [r12 + 8 * GUEST_STATUS_VIOLATIONS]
    out GUEST_PORT_READBACK, al
.Lstore:
    mov [rdx], r8
.Lnext:
    add rbp, GUEST_PAGE_SIZE
    inc r10
    cmp r10, r15
    jb .Lpage
.Lend_of_sweep:
    test byte ptr [r12 + 8 * GUEST_STATUS_MODE], GUEST_MODE_WRITE
    jz 2f
    cmp qword ptr [r12 + 8 * GUEST_STATUS_HOT_ACTIVE], 0
    jne 2f
    mov rax, [r12 + 8 * GUEST_STATUS_SEQUENCE]
    mov [r12 + 8 * GUEST_STATUS_PUBLISHED], rax
    inc qword ptr [r12 + 8 * GUEST_STATUS_SEQUENCE]
2:  inc qword ptr [r12 + 8 * GUEST_STATUS_SWEEPS]
    mov [r12 + 8 * GUEST_STATUS_CONCLUSIVE_GENERATION], rbx
    mov [r12 + 8 * GUEST_STATUS_INCONCLUSIVE], rdi
    add r11, 8
    cmp r11, 8 * GUEST_READER_WORDS
    jb 3f
    xor r11d, r11d
3:  dec rsi
    jnz .Lsweep
    mov rsi, r9
    out GUEST_PORT_HEARTBEAT, al
    jmp .Lsweep

.Linconclusive:
    inc rdi
    jmp .Lwrite

.Lother_kind:
    cmp r8, GUEST_KIND_ZERO
    je .Lzero
    cmp r8, GUEST_KIND_KEEP
    je .Lkeep
    cmp r8, GUEST_KIND_FAULT
    je .Lfault
    out GUEST_PORT_ABORT, al
    jmp .Lwrite

.Lzero:
    xor r8d, r8d
    test rcx, rcx
    jnz .Lviolation
    inc qword ptr [r12 + 8 * GUEST_STATUS_CONCLUSIVE_ZERO]
    jmp .Lwrite

.Lkeep:
    movabs r8, GUEST_CTRL_COUNTER_MASK
    and r8, rax
    bts r8, GUEST_CTRL_KIND_SHIFT      // GUEST_KIND_GENERATION is 1: its kind is this single bit
    cmp rcx, r8
    jne .Lviolation
    inc qword ptr [r12 + 8 * GUEST_STATUS_CONCLUSIVE_KEEP]
    jmp .Lwrite

.Lfault:
.Lviolation_generation:
    mov r8, rax

.Lviolation:
    inc qword ptr [r12 + 8 * GUEST_STATUS_VIOLATIONS]
    mov [r12 + 8 * GUEST_STATUS_CONCLUSIVE_GENERATION], rbx
    mov [r12 + 8 * GUEST_STATUS_INCONCLUSIVE], rdi
    out GUEST_PORT_VIOLATION, al
    // The exit above went through the host and back. Read the same word once more: a bad view that survives
    // a VM exit is the strongest evidence of a stale translation.
    mov rax, [r13 + r10 * 8]
    mov rcx, [rbp]
    mov rdx, [r13 + r10 * 8]
    out GUEST_PORT_RECHECK, al
    jmp .Lwrite
guest_checker_end:
