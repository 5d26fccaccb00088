// CKVM: the C pipe between Swift and <linux/kvm.h>.
//
// Swift imports the structs and plain #defines of linux/kvm.h, but not the function-like _IO* macros that
// build ioctl request numbers, nor the two glibc names the KVM library needs that hide behind _GNU_SOURCE.
// This header exports exactly those as prefixed constants and functions (the harness's own libc shims are
// CHost's). No logic lives here: ckvm.c only assigns and forwards.
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

// MAP_NORESERVE, for the KVM library's guest memory regions (glibc hides it behind _GNU_SOURCE).
extern const int CKVM_MAP_NORESERVE;

// ioctl(2) with an integer argument passed as a full unsigned long. Glibc's Swift overlay offers only an int
// (whose upper register half the ABI leaves undefined) or a non-null pointer; KVM_CREATE_VM needs a real 0.
int ckvm_ioctl_value(int fd, unsigned long request, unsigned long value);

#endif
