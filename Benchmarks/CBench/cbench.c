#define _GNU_SOURCE
#include "cbench.h"
#include <pcap/pcap.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <malloc.h>

// Counting interposer: these definitions take the place of libc's for the whole process,
// and hand the work to glibc's own entry points.
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static _Atomic uint64_t allocations;

void *malloc(size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_realloc(pointer, size);
}

int posix_memalign(void **result, size_t alignment, size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    void *pointer = __libc_memalign(alignment, size);
    if (!pointer) return 12; // ENOMEM
    *result = pointer;
    return 0;
}

void *aligned_alloc(size_t alignment, size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_memalign(alignment, size);
}

void *memalign(size_t alignment, size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_memalign(alignment, size);
}

uint64_t cbench_allocations(void) {
    return atomic_load_explicit(&allocations, memory_order_relaxed);
}

int64_t cbench_pcap_loop(const char *path, uint64_t *checksum) {
    char error[PCAP_ERRBUF_SIZE];
    pcap_t *handle = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, error);
    if (!handle) return -1;
    struct pcap_pkthdr *header;
    const u_char *data;
    int64_t packets = 0;
    uint64_t sum = 0;
    while (pcap_next_ex(handle, &header, &data) == 1) {
        sum += header->caplen > 0 ? data[0] : 0;
        sum += header->ts.tv_usec;
        packets++;
    }
    pcap_close(handle);
    *checksum = sum;
    return packets;
}

int64_t cbench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int cbench_system(const char *command) {
    return system(command);
}

// The floor responder's own work (Benchmarks/Floor/responder.c, without its main and loop).
#define RESPONDER_NO_MAIN
#include "../Floor/responder.c"

size_t cbench_floor_answers(const char *in, size_t length, char *out, size_t capacity) {
    size_t start = 0;
    return answer_all(in, length, out, capacity, &start, "127.0.0.1", "5392");
}
