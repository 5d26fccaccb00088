// CHost: the glibc calls and flags Swift cannot see, for the harness's own use of this host (threads, mm
// syscalls, the time-stamp counter). Glibc keeps them behind _GNU_SOURCE, which Swift's Glibc module does not set,
// or the installed headers predate them. Nothing about KVM: that is CKVM. No logic: chost.c only forwards.

#ifndef CHOST_H
#define CHOST_H

#include <stdint.h>
#include <sys/types.h>

// Thread placement and naming (glibc keeps these behind _GNU_SOURCE, which Swift's Glibc module does not set).
// Both return 0 or an errno value, as pthread functions do.
int chost_pin_current_thread(int cpu);
int chost_name_current_thread(const char *name);
// The CPU the calling thread runs on now, or -1.
int chost_current_cpu(void);
// The number of CPUs in the calling thread's affinity mask, or -1.
int chost_allowed_cpu_count(void);

// memfd_create(2), declared by glibc only under _GNU_SOURCE. Returns a descriptor or -1 with errno set.
int chost_memfd_create(const char *name, unsigned int flags);
// fallocate(2), likewise.
int chost_fallocate(int fd, int mode, off_t offset, off_t length);
// mremap(2) with MREMAP_FIXED|MREMAP_MAYMOVE, likewise. Returns MAP_FAILED with errno on failure.
void *chost_mremap_fixed(void *old_address, size_t old_size, size_t new_size, void *new_address);
// mremap(2) with MREMAP_DONTUNMAP|MREMAP_FIXED|MREMAP_MAYMOVE (Linux 5.7): the old range stays mapped, empty.
void *chost_mremap_dontunmap(void *old_address, size_t size, void *new_address);

// userfaultfd(2) write-protection (glibc has no wrappers): each returns 0 (or a descriptor) or -1 with errno.
// The descriptor handles faults from the kernel too (KVM's), which needs CAP_SYS_PTRACE or
// vm.unprivileged_userfaultfd = 1; the API handshake asks for no features.
int chost_userfaultfd(void);
int chost_uffd_api(int fd);
// UFFDIO_REGISTER of [address, address + length) in write-protect mode.
int chost_uffd_register_wp(int fd, void *address, uint64_t length);
// UFFDIO_WRITEPROTECT on (protect != 0) or off (which wakes the faults waiting on the range).
int chost_uffd_writeprotect(int fd, void *address, uint64_t length, int protect);

// move_pages(2) of the calling process (glibc has no wrapper; libnuma's is not used): 0, or -1 with errno; each
// page's outcome (its node, or a negative errno) in status. nodes NULL: only ask where each page is.
long chost_move_pages(unsigned long count, void **pages, const int *nodes, int *status);
// process_vm_readv(2) of the calling process (glibc: _GNU_SOURCE): copies `bytes` from `address` the way a user
// access would see them, with EFAULT (a -1 return) where such an access would fault (unmapped, PROT_NONE, beyond
// a file's end) instead of a signal. The tests' scripted guest reads the data this way.
long chost_read_as_user(const void *address, void *into, size_t bytes);

// mmap/madvise/fallocate flags that glibc hides behind _GNU_SOURCE or that the installed headers predate.
extern const int CHOST_MAP_FIXED_NOREPLACE;
extern const int CHOST_MAP_NORESERVE;
extern const int CHOST_MAP_POPULATE;
extern const int CHOST_MADV_DONTNEED;
extern const int CHOST_MADV_REMOVE;
extern const int CHOST_MADV_HUGEPAGE;
extern const int CHOST_MADV_COLLAPSE;
extern const int CHOST_MADV_PAGEOUT;
extern const int CHOST_MADV_COLD;
extern const int CHOST_MADV_FREE;
extern const int CHOST_MADV_MERGEABLE;
extern const int CHOST_MADV_GUARD_INSTALL;  // Linux 6.13: EINVAL before
extern const int CHOST_MADV_GUARD_REMOVE;
extern const int CHOST_FALLOC_FL_PUNCH_HOLE_KEEP_SIZE;

// The CPU's time-stamp counter (RDTSC), inline so that reading it touches no page but the caller's: a
// clock_gettime right after a system call costs a few hundred cycles here (the vDSO's code and data pages),
// RDTSC about 30. 0 off x86-64.
static inline uint64_t chost_read_tsc(void) {
#if defined(__x86_64__)
    return __builtin_ia32_rdtsc();
#else
    return 0;
#endif
}
// Whether CPUID says the time-stamp counter is invariant (leaf 0x80000007, EDX bit 8: the same rate in every
// P-, C- and T-state), i.e. a clock. 0 when it is not, or off x86-64.
int chost_tsc_is_invariant(void);


#endif
