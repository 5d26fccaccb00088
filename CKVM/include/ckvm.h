// CKVM: the C pipe between Swift and <linux/kvm.h>.
//
// Swift imports the structs and plain #defines of linux/kvm.h, but not the function-like _IO* macros that
// build ioctl request numbers, and not the glibc calls hidden behind _GNU_SOURCE. This header exports exactly
// those as prefixed constants and functions. No logic lives here: ckvm.c only assigns and forwards.
#ifndef CKVM_H
#define CKVM_H

#include <linux/kvm.h>
#include <stdint.h>
#include <sys/types.h>

// Constants newer than the linux-libc-dev headers some distributions ship (6.1 on Debian 12). The values are
// the kernel's ABI and never change once released.
#ifndef KVM_EXIT_MEMORY_FAULT
#define KVM_EXIT_MEMORY_FAULT 39
#endif
#ifndef KVM_CAP_MEMORY_FAULT_INFO
#define KVM_CAP_MEMORY_FAULT_INFO 232
#endif

// Dirty-ring entry flags (defined with _BITUL, which Swift does not import).
extern const unsigned int CKVM_DIRTY_GFN_F_DIRTY;
extern const unsigned int CKVM_DIRTY_GFN_F_RESET;

// ioctl request codes on /dev/kvm.
extern const unsigned long CKVM_GET_API_VERSION;
extern const unsigned long CKVM_CREATE_VM;
extern const unsigned long CKVM_CHECK_EXTENSION;
extern const unsigned long CKVM_GET_VCPU_MMAP_SIZE;
extern const unsigned long CKVM_GET_SUPPORTED_CPUID;

// ioctl request codes on a VM descriptor.
extern const unsigned long CKVM_CREATE_VCPU;
extern const unsigned long CKVM_SET_USER_MEMORY_REGION;
extern const unsigned long CKVM_GET_DIRTY_LOG;
extern const unsigned long CKVM_CLEAR_DIRTY_LOG;
extern const unsigned long CKVM_ENABLE_CAP;
extern const unsigned long CKVM_GET_STATS_FD;
extern const unsigned long CKVM_SET_TSS_ADDR;
extern const unsigned long CKVM_SET_IDENTITY_MAP_ADDR;
extern const unsigned long CKVM_RESET_DIRTY_RINGS;

// ioctl request codes on a vCPU descriptor.
extern const unsigned long CKVM_RUN;
extern const unsigned long CKVM_GET_REGS;
extern const unsigned long CKVM_SET_REGS;
extern const unsigned long CKVM_GET_SREGS;
extern const unsigned long CKVM_SET_SREGS;
extern const unsigned long CKVM_SET_CPUID2;

// ioctl(2) with an integer argument passed as a full unsigned long. Glibc's Swift overlay offers only an int
// (whose upper register half the ABI leaves undefined) or a non-null pointer; KVM_CREATE_VM needs a real 0.
int ckvm_ioctl_value(int fd, unsigned long request, unsigned long value);

// Thread placement and naming (glibc keeps these behind _GNU_SOURCE, which Swift's Glibc module does not set).
// Both return 0 or an errno value, as pthread functions do.
int ckvm_pin_current_thread(int cpu);
int ckvm_name_current_thread(const char *name);
// The CPU the calling thread runs on now, or -1.
int ckvm_current_cpu(void);
// The number of CPUs in the calling thread's affinity mask, or -1.
int ckvm_allowed_cpu_count(void);

// memfd_create(2), declared by glibc only under _GNU_SOURCE. Returns a descriptor or -1 with errno set.
int ckvm_memfd_create(const char *name, unsigned int flags);
// fallocate(2), likewise.
int ckvm_fallocate(int fd, int mode, off_t offset, off_t length);
// mremap(2) with MREMAP_FIXED|MREMAP_MAYMOVE, likewise. Returns MAP_FAILED with errno on failure.
void *ckvm_mremap_fixed(void *old_address, size_t old_size, size_t new_size, void *new_address);

// mmap/madvise/fallocate flags that glibc hides behind _GNU_SOURCE or that the installed headers predate.
extern const int CKVM_MAP_FIXED_NOREPLACE;
extern const int CKVM_MAP_NORESERVE;
extern const int CKVM_MAP_POPULATE;
extern const int CKVM_MADV_DONTNEED;
extern const int CKVM_MADV_REMOVE;
extern const int CKVM_MADV_HUGEPAGE;
extern const int CKVM_MADV_COLLAPSE;
extern const int CKVM_MADV_PAGEOUT;
extern const int CKVM_MADV_COLD;
extern const int CKVM_MADV_MERGEABLE;
extern const int CKVM_FALLOC_FL_PUNCH_HOLE_KEEP_SIZE;

// The CPU's time-stamp counter (RDTSC), inline so that reading it touches no page but the caller's: a
// clock_gettime right after a system call costs a few hundred cycles here (the vDSO's code and data pages),
// RDTSC about 30. 0 off x86-64.
static inline uint64_t ckvm_read_tsc(void) {
#if defined(__x86_64__)
    return __builtin_ia32_rdtsc();
#else
    return 0;
#endif
}
// Whether CPUID says the time-stamp counter is invariant (leaf 0x80000007, EDX bit 8: the same rate in every
// P-, C- and T-state), i.e. a clock. 0 when it is not, or off x86-64.
int ckvm_tsc_is_invariant(void);

#endif
