// Definitions for ckvm.h: each request code once, with a static assertion that the size encoded in the
// request matches the struct Swift passes, so a header/struct mismatch fails the build instead of the ioctl.
#define _GNU_SOURCE
#include "ckvm.h"

#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

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

const int CKVM_MAP_NORESERVE = MAP_NORESERVE;

int ckvm_ioctl_value(int fd, unsigned long request, unsigned long value) {
    return ioctl(fd, request, value);
}

