// Definitions for ckvm.h: each request code once, with a static assertion that the size encoded in the
// request matches the struct Swift passes, so a header/struct mismatch fails the build instead of the ioctl.
#define _GNU_SOURCE
#include "ckvm.h"

#include <fcntl.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <linux/falloc.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
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

#define CKVM_ASSERT_SIZE(request, type) \
    _Static_assert(_IOC_SIZE(request) == sizeof(type), #request " encodes the size of " #type)

CKVM_ASSERT_SIZE(KVM_SET_USER_MEMORY_REGION, struct kvm_userspace_memory_region);
CKVM_ASSERT_SIZE(KVM_GET_DIRTY_LOG, struct kvm_dirty_log);
CKVM_ASSERT_SIZE(KVM_CLEAR_DIRTY_LOG, struct kvm_clear_dirty_log);
CKVM_ASSERT_SIZE(KVM_ENABLE_CAP, struct kvm_enable_cap);
CKVM_ASSERT_SIZE(KVM_SET_IDENTITY_MAP_ADDR, __u64);
CKVM_ASSERT_SIZE(KVM_GET_REGS, struct kvm_regs);
CKVM_ASSERT_SIZE(KVM_SET_REGS, struct kvm_regs);
CKVM_ASSERT_SIZE(KVM_GET_SREGS, struct kvm_sregs);
CKVM_ASSERT_SIZE(KVM_SET_SREGS, struct kvm_sregs);
// The CPUID ioctls encode only the header; the entries follow it (nent of them).
CKVM_ASSERT_SIZE(KVM_GET_SUPPORTED_CPUID, struct kvm_cpuid2);
CKVM_ASSERT_SIZE(KVM_SET_CPUID2, struct kvm_cpuid2);

const unsigned int CKVM_DIRTY_GFN_F_DIRTY = KVM_DIRTY_GFN_F_DIRTY;
const unsigned int CKVM_DIRTY_GFN_F_RESET = KVM_DIRTY_GFN_F_RESET;

const unsigned long CKVM_GET_API_VERSION = KVM_GET_API_VERSION;
const unsigned long CKVM_CREATE_VM = KVM_CREATE_VM;
const unsigned long CKVM_CHECK_EXTENSION = KVM_CHECK_EXTENSION;
const unsigned long CKVM_GET_VCPU_MMAP_SIZE = KVM_GET_VCPU_MMAP_SIZE;
const unsigned long CKVM_GET_SUPPORTED_CPUID = KVM_GET_SUPPORTED_CPUID;

const unsigned long CKVM_CREATE_VCPU = KVM_CREATE_VCPU;
const unsigned long CKVM_SET_USER_MEMORY_REGION = KVM_SET_USER_MEMORY_REGION;
const unsigned long CKVM_GET_DIRTY_LOG = KVM_GET_DIRTY_LOG;
const unsigned long CKVM_CLEAR_DIRTY_LOG = KVM_CLEAR_DIRTY_LOG;
const unsigned long CKVM_ENABLE_CAP = KVM_ENABLE_CAP;
const unsigned long CKVM_GET_STATS_FD = KVM_GET_STATS_FD;
const unsigned long CKVM_SET_TSS_ADDR = KVM_SET_TSS_ADDR;
const unsigned long CKVM_SET_IDENTITY_MAP_ADDR = KVM_SET_IDENTITY_MAP_ADDR;
const unsigned long CKVM_RESET_DIRTY_RINGS = KVM_RESET_DIRTY_RINGS;

const unsigned long CKVM_RUN = KVM_RUN;
const unsigned long CKVM_GET_REGS = KVM_GET_REGS;
const unsigned long CKVM_SET_REGS = KVM_SET_REGS;
const unsigned long CKVM_GET_SREGS = KVM_GET_SREGS;
const unsigned long CKVM_SET_SREGS = KVM_SET_SREGS;
const unsigned long CKVM_SET_CPUID2 = KVM_SET_CPUID2;

const int CKVM_MAP_FIXED_NOREPLACE = MAP_FIXED_NOREPLACE;
const int CKVM_MAP_NORESERVE = MAP_NORESERVE;
const int CKVM_MAP_POPULATE = MAP_POPULATE;
const int CKVM_MADV_DONTNEED = MADV_DONTNEED;
const int CKVM_MADV_REMOVE = MADV_REMOVE;
const int CKVM_MADV_HUGEPAGE = MADV_HUGEPAGE;
const int CKVM_MADV_COLLAPSE = MADV_COLLAPSE;
const int CKVM_MADV_PAGEOUT = MADV_PAGEOUT;
const int CKVM_MADV_COLD = MADV_COLD;
const int CKVM_MADV_MERGEABLE = MADV_MERGEABLE;
const int CKVM_FALLOC_FL_PUNCH_HOLE_KEEP_SIZE = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;

int ckvm_ioctl_value(int fd, unsigned long request, unsigned long value) {
    return ioctl(fd, request, value);
}

int ckvm_pin_current_thread(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

int ckvm_name_current_thread(const char *name) {
    return pthread_setname_np(pthread_self(), name);
}

int ckvm_current_cpu(void) {
    return sched_getcpu();
}

int ckvm_allowed_cpu_count(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return -1;
    return CPU_COUNT(&set);
}

int ckvm_memfd_create(const char *name, unsigned int flags) {
    return memfd_create(name, flags);
}

int ckvm_fallocate(int fd, int mode, off_t offset, off_t length) {
    return fallocate(fd, mode, offset, length);
}

void *ckvm_mremap_fixed(void *old_address, size_t old_size, size_t new_size, void *new_address) {
    return mremap(old_address, old_size, new_size, MREMAP_FIXED | MREMAP_MAYMOVE, new_address);
}

int ckvm_tsc_is_invariant(void) {
#if defined(__x86_64__)
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(0x80000007, &eax, &ebx, &ecx, &edx)) return 0;
    return (edx >> 8) & 1;
#else
    return 0;
#endif
}
