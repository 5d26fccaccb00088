// Definitions for chost.h: each forwards to glibc or names a flag, nothing more.
#define _GNU_SOURCE
#include "chost.h"

#include <fcntl.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <linux/falloc.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MADV_COLD
#define MADV_COLD 20
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MADV_GUARD_REMOVE
#define MADV_GUARD_REMOVE 103
#endif

const int CHOST_MAP_FIXED_NOREPLACE = MAP_FIXED_NOREPLACE;
const int CHOST_MAP_NORESERVE = MAP_NORESERVE;
const int CHOST_MAP_POPULATE = MAP_POPULATE;
const int CHOST_MADV_DONTNEED = MADV_DONTNEED;
const int CHOST_MADV_REMOVE = MADV_REMOVE;
const int CHOST_MADV_HUGEPAGE = MADV_HUGEPAGE;
const int CHOST_MADV_COLLAPSE = MADV_COLLAPSE;
const int CHOST_MADV_PAGEOUT = MADV_PAGEOUT;
const int CHOST_MADV_COLD = MADV_COLD;
const int CHOST_MADV_FREE = MADV_FREE;
const int CHOST_MADV_MERGEABLE = MADV_MERGEABLE;
const int CHOST_MADV_GUARD_INSTALL = MADV_GUARD_INSTALL;
const int CHOST_MADV_GUARD_REMOVE = MADV_GUARD_REMOVE;
const int CHOST_FALLOC_FL_PUNCH_HOLE_KEEP_SIZE = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;

int chost_pin_current_thread(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

int chost_name_current_thread(const char *name) {
    return pthread_setname_np(pthread_self(), name);
}

int chost_current_cpu(void) {
    return sched_getcpu();
}

int chost_allowed_cpu_count(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return -1;
    return CPU_COUNT(&set);
}

int chost_memfd_create(const char *name, unsigned int flags) {
    return memfd_create(name, flags);
}

int chost_fallocate(int fd, int mode, off_t offset, off_t length) {
    return fallocate(fd, mode, offset, length);
}

void *chost_mremap_fixed(void *old_address, size_t old_size, size_t new_size, void *new_address) {
    return mremap(old_address, old_size, new_size, MREMAP_FIXED | MREMAP_MAYMOVE, new_address);
}

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

void *chost_mremap_dontunmap(void *old_address, size_t size, void *new_address) {
    return mremap(old_address, size, size, MREMAP_DONTUNMAP | MREMAP_FIXED | MREMAP_MAYMOVE, new_address);
}

int chost_tsc_is_invariant(void) {
#if defined(__x86_64__)
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(0x80000007, &eax, &ebx, &ecx, &edx)) return 0;
    return (edx >> 8) & 1;
#else
    return 0;
#endif
}

int chost_userfaultfd(void) {
    return (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
}

int chost_uffd_api(int fd) {
    struct uffdio_api api = {.api = UFFD_API, .features = 0};
    return ioctl(fd, UFFDIO_API, &api);
}

int chost_uffd_register_wp(int fd, void *address, uint64_t length) {
    struct uffdio_register reg = {.range = {.start = (uint64_t)(uintptr_t)address, .len = length}, .mode = UFFDIO_REGISTER_MODE_WP};
    return ioctl(fd, UFFDIO_REGISTER, &reg);
}

int chost_uffd_writeprotect(int fd, void *address, uint64_t length, int protect) {
    struct uffdio_writeprotect wp = {
        .range = {.start = (uint64_t)(uintptr_t)address, .len = length}, .mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0};
    return ioctl(fd, UFFDIO_WRITEPROTECT, &wp);
}

#ifndef MPOL_MF_MOVE
#define MPOL_MF_MOVE (1 << 1)
#endif

long chost_move_pages(unsigned long count, void **pages, const int *nodes, int *status) {
    return syscall(SYS_move_pages, 0, count, pages, nodes, status, MPOL_MF_MOVE);
}

long chost_read_as_user(const void *address, void *into, size_t bytes) {
    struct iovec local = {.iov_base = into, .iov_len = bytes};
    struct iovec remote = {.iov_base = (void *)address, .iov_len = bytes};
    return process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
}
