// The benchmark's C reference loops: see baseline.h.
#define _GNU_SOURCE
#include "baseline.h"

#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/kvm.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t baseline_exit_round_trips(int vcpu_fd, const void *run, uint64_t iterations) {
    const struct kvm_run *state = run;
    volatile uint64_t seen = 0;  // keeps the reads of each exit
    int64_t start = now_ns();
    for (uint64_t i = 0; i < iterations; i++) {
        if (ioctl(vcpu_fd, KVM_RUN, 0) < 0) return -errno;
        if (state->exit_reason != KVM_EXIT_IO || state->io.direction != KVM_EXIT_IO_OUT) return -EPROTO;
        seen += state->io.port + ((const uint8_t *)run)[state->io.data_offset];
    }
    return now_ns() - start;
}

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void spin_us(uint64_t us) {
    if (us == 0) return;
    int64_t deadline = now_ns() + (int64_t)us * 1000;
    while (now_ns() < deadline) {}
}

#define KIND(k, n) (((uint64_t)(k) << 56) | ((n) & 0x00ffffffffffffffULL))

// A must-read-zero or content-kept window: published, held, closed.
static void hold_window(_Atomic uint64_t *word, uint64_t window, uint64_t us) {
    atomic_store_explicit(word, window, memory_order_release);
    spin_us(us);
    atomic_store_explicit(word, 0, memory_order_seq_cst);
}

// Generation `counter` written into the page's 448 reader words, then promised. Returns `counter`.
static uint64_t republish(_Atomic uint64_t *word, uint8_t *frame, uint64_t counter) {
    uint64_t generation = KIND(1, counter);
    uint64_t *words = (uint64_t *)frame;
    for (int w = 0; w < 448; w++) words[w] = generation;
    atomic_store_explicit(word, generation, memory_order_release);
    return counter;
}

int64_t baseline_mutator_run(struct baseline_mutator *m, uint64_t steps) {
    uint64_t state = m->seed, counter = m->first_counter;
    uint64_t stats[64];
    // Each page's current generation, for content-kept windows: what the engine published last.
    uint64_t *current = calloc(m->pages, sizeof *current);
    if (!current) return -ENOMEM;
    for (uint64_t p = 0; p < m->pages; p++) current[p] = m->control[p] & 0x00ffffffffffffffULL;
    int64_t start = now_ns();
    for (uint64_t s = 0; s < steps; s++) {
        uint64_t page = splitmix64(&state) % m->pages;
        (void)splitmix64(&state);  // the engine's schedule draws an operation too
        _Atomic uint64_t *word = (_Atomic uint64_t *)&m->control[page];
        uint8_t *frame = m->data + page * 4096;
        atomic_store_explicit(word, 0, memory_order_seq_cst);
        if (pread(m->stats_fd, stats, m->stats_length, m->stats_offset) < 0) { free(current); return -errno; }
        uint64_t window;
        switch (m->operation) {
        case BASELINE_DONTNEED:
            if (madvise(frame, 4096, MADV_DONTNEED) != 0) { free(current); return -errno; }
            window = KIND(2, counter++);
            break;
        case BASELINE_MPROTECT:
            if (mprotect(frame, 4096, PROT_NONE) != 0) { free(current); return -errno; }
            atomic_store_explicit(word, KIND(3, counter++), memory_order_release);
            spin_us(m->fault_window_us);
            atomic_store_explicit(word, 0, memory_order_seq_cst);
            if (mprotect(frame, 4096, PROT_READ | PROT_WRITE) != 0) { free(current); return -errno; }
            window = KIND(4, current[page]);
            break;
        case BASELINE_PUNCH:
            if (fallocate(m->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)(page * 4096), 4096) != 0) { free(current); return -errno; }
            window = KIND(2, counter++);
            break;
        default:
            free(current);
            return -EINVAL;
        }
        if (pread(m->stats_fd, stats, m->stats_length, m->stats_offset) < 0) { free(current); return -errno; }
        hold_window(word, window, m->window_us);
        current[page] = republish(word, frame, counter++);
    }
    m->seed = state;
    m->first_counter = counter;
    free(current);
    return now_ns() - start;
}

int64_t baseline_reference_run(struct baseline_mutator *m, uint64_t steps) {
    uint64_t state = m->seed, counter = m->first_counter;
    int64_t start = now_ns();
    for (uint64_t s = 0; s < steps; s++) {
        uint64_t page = splitmix64(&state) % m->pages;
        (void)splitmix64(&state);
        _Atomic uint64_t *word = (_Atomic uint64_t *)&m->control[page];
        uint8_t *frame = m->data + page * 4096;
        atomic_store_explicit(word, 0, memory_order_seq_cst);
        if (madvise(frame, 4096, MADV_DONTNEED) != 0) return -errno;
        hold_window(word, KIND(2, counter++), m->window_us);
        republish(word, frame, counter++);
    }
    m->seed = state;
    m->first_counter = counter;
    return now_ns() - start;
}
