#ifndef GATEWAYD_CBENCH_H
#define GATEWAYD_CBENCH_H
#include <stddef.h>
#include <stdint.h>

/// Heap allocations (malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign)
/// made by the whole process since start, counted by the interposer in cbench.c.
uint64_t cbench_allocations(void);

/// The plain libpcap baseline: pcap_next_ex over the whole file, touching each packet's
/// first byte so the loop cannot be optimised away. Returns packets read, -1 on error.
int64_t cbench_pcap_loop(const char *path, uint64_t *checksum);

/// CLOCK_MONOTONIC in nanoseconds.
int64_t cbench_now_ns(void);

/// Runs a shell command with its output discarded; returns its exit status.
int cbench_system(const char *command);

/// What Benchmarks/Floor/responder.c does with the bytes one read gave it (`length` of
/// them): a 302 for each INVITE, by copying five header lines, into `out`. The answers' length.
size_t cbench_floor_answers(const char *in, size_t length, char *out, size_t capacity);

#endif
