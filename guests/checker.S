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
    .globl guest_checker_read, guest_checker_write_load, guest_checker_write_store
    .globl guest_checker_read_faulted, guest_checker_write_faulted
    .code64

// Jumps to `skip` unless this sweep writes: write mode, in a full sweep (not a hot pass).
.macro unless_writing skip
    test byte ptr [r12 + 8 * GUEST_STATUS_MODE], GUEST_MODE_WRITE
    jz \skip
    cmp qword ptr [r12 + 8 * GUEST_STATUS_HOT_ACTIVE], 0
    jne \skip
.endm

// rdx = the address of this vCPU's writer word in page r10 (rbp is the word this sweep checks there).
.macro writer_word_address
    mov rdx, rbp
    sub rdx, r11
    add rdx, [r12 + 8 * GUEST_STATUS_WRITER_OFFSET]
.endm

// \cursor = the deferred-write ring's first entry, \end = just past its last (guest_abi.h, "Faulting pages").
.macro ring_bounds cursor, end
    lea \cursor, [r12 + 8 * GUEST_STATUS_DEFERRED]
    lea \end, [r12 + 8 * (GUEST_STATUS_DEFERRED + 2 * GUEST_DEFERRED_SLOTS)]
.endm

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
guest_checker_read:
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
    unless_writing .Lnext
    writer_word_address
    mov r8, [r12 + 8 * GUEST_STATUS_SEQUENCE]
    lea rcx, [r8 - 1]
    cmp qword ptr [r12 + 8 * GUEST_STATUS_DEFERRED_COUNT], 0
    jne .Lwrite_lookup
.Lwrite_load:
guest_checker_write_load:
    mov rax, [rdx]
    cmp rax, rcx
    je .Lstore
    test rax, rax
    jz .Lstore
    inc qword ptr [r12 + 8 * GUEST_STATUS_VIOLATIONS]
    out GUEST_PORT_READBACK, al
.Lstore:
guest_checker_write_store:
    mov [rdx], r8
    cmp qword ptr [r12 + 8 * GUEST_STATUS_DEFERRED_HIT], 0
    jne .Lwrite_resolved
.Lnext:
    add rbp, GUEST_PAGE_SIZE
    inc r10
    cmp r10, r15
    jb .Lpage
.Lend_of_sweep:
    unless_writing 2f
    mov rax, [r12 + 8 * GUEST_STATUS_SEQUENCE]
    cmp qword ptr [r12 + 8 * GUEST_STATUS_DEFERRED_COUNT], 0
    jne .Lpublish_deferred
    mov [r12 + 8 * GUEST_STATUS_COMPLETE], rax
.Lpublish:
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
    cmp r8, GUEST_KIND_OLD_OR_ZERO
    je .Lold_or_zero
    out GUEST_PORT_ABORT, al
    jmp .Lwrite

.Lzero:
    xor r8d, r8d
    test rcx, rcx
    jnz .Lviolation
    inc qword ptr [r12 + 8 * GUEST_STATUS_CONCLUSIVE_ZERO]
    jmp .Lwrite

// A page lazily freed: zero if the kernel has dropped it, else exactly the content it was promised with.
.Lold_or_zero:
    test rcx, rcx
    jnz .Lkeep
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

// ---- Faulting pages and the deferred-write ring (guest_abi.h) --------------------------------------------------
// Is the word at rdx (this page's writer word) in the ring? If so, remember its entry and expect what the write
// before the deferred one left there; rcx is the expected value, r8 the number to store.
.Lwrite_lookup:
    ring_bounds rax, rcx
1:  cmp [rax], rdx
    je 2f
    add rax, 16
    cmp rax, rcx
    jb 1b
    lea rcx, [r8 - 1]
    jmp .Lwrite_load
2:  mov [r12 + 8 * GUEST_STATUS_DEFERRED_HIT], rax
    mov rcx, [rax + 8]
    dec rcx
    jmp .Lwrite_load

// The deferred write is made: free its entry.
.Lwrite_resolved:
    mov rax, [r12 + 8 * GUEST_STATUS_DEFERRED_HIT]
    mov qword ptr [rax], 0
    mov qword ptr [r12 + 8 * GUEST_STATUS_DEFERRED_HIT], 0
    dec qword ptr [r12 + 8 * GUEST_STATUS_DEFERRED_COUNT]
    jmp .Lnext

// The host resumes here when the data read (guest_checker_read) faulted: nothing was read, so nothing is
// checked; a writer defers this page's write too (it would fault the same way).
guest_checker_read_faulted:
    inc qword ptr [r12 + 8 * GUEST_STATUS_SKIPPED_READS]
    unless_writing .Lnext
    writer_word_address

// The host resumes here when the writer's load or store (guest_checker_write_load/_store) faulted, rdx = the
// word's address: the write is deferred. A page already in the ring keeps its entry (its first deferred number);
// otherwise it takes a free one; with none free, the write is tried again (and faults again until the page is back).
guest_checker_write_faulted:
    mov qword ptr [r12 + 8 * GUEST_STATUS_DEFERRED_HIT], 0
    ring_bounds rax, r8
    xor ecx, ecx
1:  cmp [rax], rdx
    je .Lnext
    test rcx, rcx
    jnz 2f
    cmp qword ptr [rax], 0
    jne 2f
    mov rcx, rax
2:  add rax, 16
    cmp rax, r8
    jb 1b
    test rcx, rcx
    jz .Lwrite
    mov [rcx], rdx
    mov r8, [r12 + 8 * GUEST_STATUS_SEQUENCE]
    mov [rcx + 8], r8
    inc qword ptr [r12 + 8 * GUEST_STATUS_DEFERRED_COUNT]
    inc qword ptr [r12 + 8 * GUEST_STATUS_DEFERRED_WRITES]
    jmp .Lnext

// End of a full sweep with deferred writes outstanding: publish min(this sweep's number, each entry's - 1), and
// leave COMPLETE where it is. rax = this sweep's number.
.Lpublish_deferred:
    ring_bounds rcx, r8
1:  cmp qword ptr [rcx], 0
    je 3f
    mov rdx, [rcx + 8]
    dec rdx
    cmp rdx, rax
    jae 3f
    mov rax, rdx
3:  add rcx, 16
    cmp rcx, r8
    jb 1b
    jmp .Lpublish
guest_checker_end:
