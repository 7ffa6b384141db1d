#ifndef GATEWAYD_CSYSTEM_H
#define GATEWAYD_CSYSTEM_H
// The one place gatewayd's Swift code reaches libc. Embedded Swift has no Glibc overlay,
// so every call it needs is declared here, and errno (a macro) is read through a function.
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline int gw_errno(void) { return errno; }

/// Writes all of `count` bytes to `fd`, retrying on EINTR and short writes.
/// Returns 0, or the errno of the failure.
int gw_write_all(int fd, const void *bytes, size_t count);

/// CLOCK_MONOTONIC in nanoseconds.
int64_t gw_monotonic_ns(void);

#endif
