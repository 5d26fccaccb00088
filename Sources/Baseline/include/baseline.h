// baseline.h: the benchmark's plain-C reference loops. The same work as the Swift harness does, written the
// way a C harness would, so `mmutorture bench` can report Swift/C ratios measured in one run on one machine.
#ifndef BASELINE_H
#define BASELINE_H

#include <stdint.h>

// KVM_RUN `iterations` times on a vCPU whose guest exits on every iteration (guests/pingpong.S), reading each exit
// as any VMM must (exit reason, direction, port and the data byte from `run`, the vCPU's mapped struct kvm_run).
// Returns the elapsed nanoseconds, -errno if a KVM_RUN failed, or -EPROTO for an exit that is not the port write.
int64_t baseline_exit_round_trips(int vcpu_fd, const void *run, uint64_t iterations);

// The mutator's step for the benchmark, in C: `ops` of the same invalidations as the engine's mutator, on the
// same memory, with the same publication protocol and the same kernel-counter reads around each call.
enum baseline_operation { BASELINE_DONTNEED = 1, BASELINE_MPROTECT = 2, BASELINE_PUNCH = 3 };

struct baseline_mutator {
    uint64_t *control;           // control words, one per page
    uint8_t *data;               // the data mapping
    uint64_t pages;
    int memfd;                   // for PUNCH: the backing memfd
    int stats_fd;                // the VM's stats descriptor
    int64_t stats_offset;        // where the two flush counters start
    int64_t stats_length;        // how many bytes span them
    uint64_t seed;               // SplitMix64 seed: the same page sequence as the engine's schedule
    uint64_t window_us;          // must-read-zero / content-kept window
    uint64_t fault_window_us;    // must-fault window
    enum baseline_operation operation;
    uint64_t first_counter;      // the first control-word counter to use (above any the engine used)
};

// Runs `steps` steps, then leaves `seed` and `first_counter` where the next call continues. Returns elapsed
// nanoseconds, or -errno on a failed call.
int64_t baseline_mutator_run(struct baseline_mutator *m, uint64_t steps);

// The protocol's physical limit on this host (issue 30): madvise(MADV_DONTNEED) of one page, its must-read-zero
// window held `window_us`, and the republication; nothing else (no counter reads, no traps, no bookkeeping). The
// engine's dontneed step with every oracle on is compared against it. Same state and return as above.
int64_t baseline_reference_run(struct baseline_mutator *m, uint64_t steps);

#endif
