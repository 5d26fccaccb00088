// guest_abi.h: the one definition of the guest/host protocol.
//
// Included by the guest programs (assembled by `swift build` from guests/*.S) and imported into Swift through
// the Guests module. Every guest address, port and protocol constant lives here and nowhere else.
//
// All guests run at CPL3 in 64-bit long mode on identity-mapped memory (guest virtual == guest physical).
// CPL0 guest code is emulated on some hosts (PVM), and emulated loads bypass the shadow page tables, so a CPL0
// checker would test nothing there. A guest ends with `out GUEST_PORT_DONE`, never `hlt` (#GP at CPL3).
#ifndef GUEST_ABI_H
#define GUEST_ABI_H

// ---- Guest-physical layout -------------------------------------------------------------------------------
// Slot 0, the system slot: code, status blocks, a decoy frame and the page tables. Never invalidated.
#define GUEST_SYSTEM_SLOT 0
#define GUEST_SYSTEM_GPA 0x0
#define GUEST_CODE_GPA 0x10000          // guest program bytes, at most GUEST_CODE_MAX_SIZE
#define GUEST_CODE_MAX_SIZE 0x10000
#define GUEST_STACK_TOP_GPA 0x30000      // guests need no stack; rsp points here so a stray push stays mapped
#define GUEST_STATUS_GPA 0x40000         // one status block per vCPU
#define GUEST_STATUS_BLOCK_SIZE 0x200
#define GUEST_MAX_VCPUS 256
#define GUEST_DECOY_GPA 0x80000          // a spare frame the ptswap negative control points a guest PTE at
#define GUEST_PAGE_TABLES_GPA 0x100000   // page tables are built upwards from here

// Slot 1, the control slot: one 64-bit control word per data page. Never invalidated.
#define GUEST_CONTROL_SLOT 1
#define GUEST_CONTROL_GPA 0x40000000

// Slot 2, the data slot: the memory under test, on the backing under test.
#define GUEST_DATA_SLOT 2
#define GUEST_DATA_GPA 0x100000000

// Slot 3, the spare slot: a few pages no guest maps, created, moved and deleted by the memslot-churn antagonist.
// Any slot deletion or move makes KVM throw away every shadow page of the VM (x86: kvm_mmu_zap_all_fast).
#define GUEST_SPARE_SLOT 3
#define GUEST_SPARE_GPA 0x80000000
#define GUEST_SPARE_MOVED_GPA 0x80200000
#define GUEST_SPARE_SIZE 0x8000

#define GUEST_PAGE_SIZE 4096
#define GUEST_WORDS_PER_PAGE 512
// Words 0..GUEST_READER_WORDS-1 of a data page carry the host's generation (the stale-read half); word
// GUEST_READER_WORDS + v belongs to writer vCPU v (the lost-write half). The host never writes writer words.
#define GUEST_READER_WORDS 448
#define GUEST_MAX_WRITERS 64

// ---- Ports (`out imm8, al`; IOPL 3 makes `out` legal at CPL3 and it exits to the host) -----------------------
#define GUEST_PORT_HELLO 0x10      // hello guest: eax = GUEST_HELLO_DATA, a 4-byte out on this port
#define GUEST_PORT_VALUE 0x11      // peek guest: rax = the value just read, rbx = its address
#define GUEST_PORT_DONE 0x12       // any guest: finished
#define GUEST_PORT_HEARTBEAT 0x20  // checker: progress; counters are in the status block
#define GUEST_PORT_VIOLATION 0x21  // checker: a check failed; details in registers (below)
#define GUEST_PORT_RECHECK 0x22    // checker: the same check once more after the exit; same registers
#define GUEST_PORT_READBACK 0x23   // writer: its own word did not read back; details in registers (below)
#define GUEST_PORT_ABORT 0x2f      // checker: protocol error (unknown control-word kind); rax = the word

#define GUEST_HELLO_DATA 0x6f6c6c65  // "ello", little endian

// ---- Control words ---------------------------------------------------------------------------------------
// A control word is 0 while its page is in flux, else a kind (top 8 bits) and a counter unique over the run
// (low 56 bits). A word that names a generation is also the value the host wrote into every word of the page.
#define GUEST_CTRL_KIND_SHIFT 56
#define GUEST_CTRL_COUNTER_MASK 0x00ffffffffffffff
#define GUEST_KIND_GENERATION 0x01  // every word of the page equals the control word
#define GUEST_KIND_ZERO 0x02        // must-read-zero window: every word of the page reads 0
#define GUEST_KIND_FAULT 0x03       // must-fault window: no read of the page may succeed
#define GUEST_KIND_KEEP 0x04        // content kept: every word equals GENERATION<<56 | counter
#define GUEST_KIND_OLD_OR_ZERO 0x05 // lazily freed (MADV_FREE): every word reads 0 or GENERATION<<56 | counter
// Never published: the host writes POISON<<56 | counter into recycled-frame trap pages (host-only memory that
// takes the frame a content-replacing call just freed). No window accepts it, so the checker flags any read of it.
#define GUEST_KIND_POISON 0x5a

// ---- Checker status block (u64 words at GUEST_STATUS_GPA + vcpu * GUEST_STATUS_BLOCK_SIZE) -----------------
// Written by the checker once per sweep with plain stores; the host reads them with relaxed loads.
#define GUEST_STATUS_SWEEPS 0
#define GUEST_STATUS_CONCLUSIVE_GENERATION 1
#define GUEST_STATUS_INCONCLUSIVE 2
#define GUEST_STATUS_CONCLUSIVE_ZERO 3
#define GUEST_STATUS_CONCLUSIVE_KEEP 4
#define GUEST_STATUS_VIOLATIONS 5
// Writer state. The host sets MODE and WRITER_OFFSET and SEQUENCE = 1 before the vCPU starts.
#define GUEST_STATUS_MODE 6             // GUEST_MODE_* bits
#define GUEST_STATUS_WRITER_OFFSET 7    // byte offset of this vCPU's word in every page
#define GUEST_STATUS_SEQUENCE 8         // the sequence number this sweep writes
#define GUEST_STATUS_PUBLISHED 9        // the last sequence number written to every page (x86 TSO: stored after them)

// Hot set (optional, host-set): HOT_REPEAT passes over pages 0..HOT_PAGES-1 between full sweeps. Writers write
// and publish only in full sweeps, so a publication still means "written to every page".
#define GUEST_STATUS_HOT_PAGES 10
#define GUEST_STATUS_HOT_REPEAT 11
#define GUEST_STATUS_HOT_PASS 12        // checker-private: hot passes done since the last full sweep
#define GUEST_STATUS_TOTAL_PAGES 13     // checker-private: the page count from rsi
#define GUEST_STATUS_HOT_ACTIVE 14      // checker-private: 1 during a hot pass

// Faulting pages (a must-fault window: the page is unmapped or PROT_NONE and KVM_RUN returns EFAULT). The host
// resumes the checker at guest_checker_read_faulted or guest_checker_write_faulted instead of re-entering at the
// faulting access, so the checker moves on rather than waiting out the window. A write it could not make goes
// into the deferred-write ring: the word's guest address (0 = free) and the sequence number of the sweep that could
// not write it. Until the page is written again, its word still holds that sequence number minus one (or 0),
// which is what its next readback expects, and PUBLISHED is held to it: PUBLISHED = min(this sweep's number,
// every deferred entry's number - 1), so "every page holds at least PUBLISHED" stays true. COMPLETE is the
// number of the last sweep that wrote every page (no entry outstanding at its end). When the ring is full the
// checker retries the write until the page is back.
#define GUEST_STATUS_COMPLETE 15        // the last sequence number written to every page in one sweep
#define GUEST_STATUS_SKIPPED_READS 16   // reads that faulted and were skipped
#define GUEST_STATUS_DEFERRED_WRITES 17 // writes that faulted and were deferred
#define GUEST_STATUS_DEFERRED_COUNT 18  // checker-private: entries in the ring
#define GUEST_STATUS_DEFERRED_HIT 19    // checker-private: the ring entry of the page being written, or 0
#define GUEST_STATUS_DEFERRED 20        // the ring: GUEST_DEFERRED_SLOTS pairs (word address, sequence number)
#define GUEST_DEFERRED_SLOTS 8

#define GUEST_MODE_READ 1
#define GUEST_MODE_WRITE 2

// ---- Checker registers ---------------------------------------------------------------------------------------
// Entry: rdi = vCPU index, rsi = pages to sweep, rdx = data base, rcx = control-word base, r8 = status block,
//        r9 = sweeps between heartbeats (>= 1).
// On GUEST_PORT_VIOLATION and GUEST_PORT_RECHECK: rax = c1 (control word before the read), rcx = the value
//        read, rdx = c2 (control word after), r8 = the expected value (the window marker for a fault window),
//        r10 = page index, r11 = byte offset of the word within the page.
// On GUEST_PORT_READBACK: rax = the value read from the writer's own word, rcx = what it wrote there last
//        (0 is also accepted: a content-replacing operation legitimately zeroes the page), r8 = the sequence
//        number about to be written, r10 = page index, rdx = the word's guest address.

#ifndef __ASSEMBLER__
#include <stdint.h>
// The guest programs' bytes, assembled from guests/*.S. Each is loaded at GUEST_CODE_GPA and entered there.
// Swift cannot import arrays of unknown size, so each program is also offered as a (start, end) pair.
extern const uint8_t guest_hello_start[], guest_hello_end[];
extern const uint8_t guest_peek_start[], guest_peek_end[];
extern const uint8_t guest_poke_start[], guest_poke_end[];
extern const uint8_t guest_spin_start[], guest_spin_end[];
extern const uint8_t guest_checker_start[], guest_checker_end[];
extern const uint8_t guest_pingpong_start[], guest_pingpong_end[];
// Where the checker's data accesses are and where the host resumes it when one faults.
extern const uint8_t guest_checker_read[], guest_checker_write_load[], guest_checker_write_store[];
extern const uint8_t guest_checker_read_faulted[], guest_checker_write_faulted[];

struct guest_image { const uint8_t *start; const uint8_t *end; };
static inline struct guest_image guest_image_hello(void) { return (struct guest_image){guest_hello_start, guest_hello_end}; }
static inline struct guest_image guest_image_peek(void) { return (struct guest_image){guest_peek_start, guest_peek_end}; }
static inline struct guest_image guest_image_poke(void) { return (struct guest_image){guest_poke_start, guest_poke_end}; }
static inline struct guest_image guest_image_spin(void) { return (struct guest_image){guest_spin_start, guest_spin_end}; }
static inline struct guest_image guest_image_checker(void) { return (struct guest_image){guest_checker_start, guest_checker_end}; }
static inline struct guest_image guest_image_pingpong(void) { return (struct guest_image){guest_pingpong_start, guest_pingpong_end}; }
// Offsets from the checker's entry (GUEST_CODE_GPA) of its data accesses and of the places the host resumes it.
struct guest_checker_fault_points { uint64_t read, write_load, write_store, read_faulted, write_faulted; };
static inline struct guest_checker_fault_points guest_checker_fault_points(void) {
    return (struct guest_checker_fault_points){
        (uint64_t)(guest_checker_read - guest_checker_start), (uint64_t)(guest_checker_write_load - guest_checker_start),
        (uint64_t)(guest_checker_write_store - guest_checker_start),
        (uint64_t)(guest_checker_read_faulted - guest_checker_start),
        (uint64_t)(guest_checker_write_faulted - guest_checker_start)};
}
#endif

#endif
