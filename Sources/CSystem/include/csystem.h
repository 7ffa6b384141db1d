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
#include <signal.h>
#include <unistd.h>
#include <sys/stat.h>

/// Signal numbers as this target's C library defines them (they differ on MIPS, which
/// Buildroot boards use): Swift code names these, never a number.
enum {
    GW_SIGHUP = SIGHUP,
    GW_SIGUSR1 = SIGUSR1,
    GW_SIGCHLD = SIGCHLD,
    GW_SIGKILL = SIGKILL,
};

/// Error numbers Swift code compares with (they differ between C libraries too).
enum {
    GW_EAGAIN = EAGAIN,
    GW_EWOULDBLOCK = EWOULDBLOCK,
    GW_ECONNABORTED = ECONNABORTED,
};

static inline int gw_errno(void) { return errno; }

// Every function returns 0 or a positive result, or -errno; interrupted calls are retried
// inside (csystem.c's GW_RETRY). The Swift side turns -errno into a `SystemError`.

/// Writes all of `count` bytes to `fd`, retrying short writes. Returns 0, or -errno.
int gw_write_all(int fd, const void *bytes, size_t count);

/// CLOCK_MONOTONIC in nanoseconds.
int64_t gw_monotonic_ns(void);

// ---- Sockets, event loop, signals, entropy: thin wrappers so Swift never builds a
// sockaddr. Addresses are 16 bytes, IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d).

/// A non-blocking UDP socket bound to `address`:`port` (IPv4 socket for a mapped address,
/// IPv6 otherwise). Returns the descriptor, or -errno.
int gw_udp_bind(const uint8_t address[16], uint16_t port);

/// Receives one datagram; fills the source. Returns its length, or -errno (-EAGAIN: none).
long gw_udp_receive(int fd, void *buffer, size_t length, uint8_t source[16], uint16_t *port);

/// Sends one datagram. Returns 0, or -errno.
int gw_udp_send(int fd, const void *buffer, size_t length, const uint8_t destination[16], uint16_t port);

/// One datagram of a batch: its peer (source when received, destination when sent) and where
/// its bytes are.
typedef struct {
    uint8_t address[16];
    uint16_t port;
    /// Sent: where the datagram starts in the batch's bytes. Received: unused.
    uint32_t offset;
    uint32_t length;
} gw_datagram;

/// The most datagrams one batch call moves (its kernel headers live on the stack).
enum { GW_BATCH_MAX = 64 };

/// Receives up to `count` (at most GW_BATCH_MAX) datagrams that are waiting, in one recvmmsg:
/// datagram i into `buffers` + i * `slot`, its source and length into `datagrams[i]`.
/// Returns how many (at least 1), or -errno (-EAGAIN: none waiting).
int gw_udp_receive_batch(int fd, void *buffers, size_t slot, gw_datagram *datagrams, int count);

/// Sends up to `count` (at most GW_BATCH_MAX) datagrams in one sendmmsg, datagram i being
/// `bytes` + offset, length, to its address and port. Returns how many the kernel took (at
/// least 1), or -errno when it refused the first: the caller counts that one as failed and
/// goes on from the next.
int gw_udp_send_batch(int fd, const void *bytes, const gw_datagram *datagrams, int count);

/// Connects a UDP socket to `destination`:`port` (it then hears only from there) and fills
/// the local address and port the kernel chose for it. Returns 0, or -errno.
int gw_udp_connect(int fd, const uint8_t destination[16], uint16_t port, uint8_t local[16], uint16_t *local_port);

/// A listening TCP socket, non-blocking, bound to `address` (IPv4-mapped or IPv6) and
/// `port`; -errno on failure.
int gw_tcp_listen(const uint8_t address[16], uint16_t port, int backlog);
/// The next connection waiting on `fd` (non-blocking) and its peer; -errno (-EAGAIN: none).
/// Out of descriptors, the connection is taken with `*spare` (a descriptor kept open for
/// this, given up for the moment) and closed, and -ECONNABORTED returned: otherwise it would
/// stay waiting and the listener readable, and the loop would spin on it.
int gw_tcp_accept(int fd, uint8_t source[16], uint16_t *port, int *spare);
/// A descriptor to keep in reserve (/dev/null), or -errno.
int gw_spare_descriptor(void);
/// Sends what it can of `bytes` without blocking: the count sent, or -errno.
long gw_tcp_send(int fd, const void *bytes, size_t count);
/// A non-blocking connection from `local` (any port) to `address`:`port`; `*pending` is 1
/// while it is being made (the socket turns writable when it is done: `gw_socket_error`
/// says how). -errno on failure.
int gw_tcp_connect(const uint8_t local[16], const uint8_t address[16], uint16_t port, int *pending);
/// The error a socket holds (SO_ERROR): 0 for a connection made, else the errno.
int gw_socket_error(int fd);
/// Watches `fd` for writing as well as reading (`writable` 1), or for reading only.
int gw_epoll_watch(int epoll_fd, int fd, uint64_t tag, int writable);
/// Raises the soft limit on open descriptors to the hard limit (TCP connections need
/// more than the usual 1,024); returns the limit now in force.
long gw_raise_descriptor_limit(void);
int gw_epoll_create(void);
int gw_epoll_add(int epoll_fd, int fd, uint64_t tag);
/// Waits up to `timeout_ms` (-1: forever); writes up to `max` ready tags. Returns how many,
/// 0 on timeout or EINTR, -errno on failure.
int gw_epoll_wait(int epoll_fd, uint64_t *tags, int max, int timeout_ms);

/// Blocks SIGINT, SIGTERM, SIGHUP, SIGUSR1 and SIGCHLD and returns a signalfd that reports them, or -errno.
int gw_signalfd_open(void);
/// The next pending signal number, or 0 when none.
int gw_signalfd_read(int fd);

/// Fills `buffer` from the kernel's random generator. Returns 0, or -errno.
int gw_random(void *buffer, size_t length);

/// CLOCK_REALTIME in nanoseconds (packet time of live captures is wall-clock time).
int64_t gw_realtime_ns(void);

/// Writes `text` (NUL-terminated) as a message's text to standard error with a newline.
void gw_log_stderr(const char *text, size_t length);

/// Zero-filled memory that is not resident until written: large blocks are mapped
/// anonymously (malloc's calloc may have to clear heap memory, touching every page).
void *gw_zeroed_alloc(size_t bytes);
void gw_zeroed_free(void *pointer, size_t bytes);

/// Gives the pages of `bytes` at `pointer` (page-aligned, within a gw_zeroed_alloc block
/// that was mapped, i.e. at least 8 KiB) back to the kernel: they read as zeros again and
/// are resident only once written. Returns 0, or -errno.
int gw_release_pages(void *pointer, size_t bytes);

/// Opens syslog once, ident "gatewayd", with the pid, at `facility` (LOG_DAEMON = 3 << 3,
/// LOG_LOCAL0..7 = 16..23 << 3). The socket is opened at once, before privileges are dropped.
void gw_syslog_open(int facility);
/// One line at `priority` (LOG_NOTICE = 5, LOG_WARNING = 4, LOG_ERR = 3, LOG_DEBUG = 7);
/// the text goes through "%s", never as a format.
void gw_syslog(int priority, const char *text, size_t length);

/// Claims the pid file at `path`: 0 when it now holds our pid (a stale one is replaced),
/// the pid of a live holder when one runs, or -errno.
int gw_pidfile_claim(const char *path);
void gw_pidfile_remove(const char *path);

/// Replaces `path` atomically: writes `path.tmp`, fsyncs it, renames it over `path`.
/// Returns 0, or -errno.
int gw_write_file_atomic(const char *path, const void *bytes, size_t length);
/// Reads at most `capacity` bytes of `path`; returns the length, or -errno.
long gw_read_file(const char *path, void *buffer, size_t capacity);
/// Maps a whole regular file read-only, for reading in place (the meter's capture files).
/// Returns its address and size, or NULL with errno in *error (an empty file, a pipe or a
/// device is not mapped: ENODATA, ESPIPE).
const void *gw_map_file(const char *path, size_t *size, int *error);
void gw_unmap_file(const void *address, size_t size);
/// Whether a process with `pid` exists.
int gw_process_alive(long pid);
/// CLOCK_REALTIME in whole seconds.
int64_t gw_unix_seconds(void);

/// Looks up `user`: fills its uid and primary gid. Returns 0, or -ENOENT when there is none.
int gw_user_lookup(const char *user, long *uid, long *gid);
/// Runs the rest of the process as `uid`:`gid` with no supplementary groups, keeping only
/// CAP_NET_RAW (permitted and effective) so a lost capture can be reopened. Call as root,
/// after the capture is open and the sockets are bound. Returns 0, or -errno; `step` names
/// what failed.
int gw_drop_privileges(long uid, long gid, const char **step);
/// Makes `path` (a directory gatewayd created) owned by `uid`:`gid`. Returns 0, or -errno.
int gw_chown(const char *path, long uid, long gid);

/// Starts `path argument` in its own process group, with the daemon's environment plus
/// `count` entries of `extra` ("NAME=value\0NAME=value\0..."), standard input and output on
/// /dev/null, standard error into a pipe whose non-blocking read end goes to `*stderr_fd`.
/// Signals are unblocked and at their defaults in the child. Returns the pid, or -errno.
int gw_spawn(const char *path, const char *argument, const char *extra, int count, int *stderr_fd);
/// Reaps `pid` if it has ended: returns 1 and sets `*code` (exit status, or -signal),
/// 0 while it runs, -errno on failure.
int gw_reap(int pid, int *code);
/// Sends `signal` to the process group `pid` leads.
void gw_kill_group(int pid, int signal);
/// Reads what is waiting on a non-blocking descriptor: length, 0 at end, -EAGAIN when none.
long gw_read(int fd, void *buffer, size_t capacity);
void gw_close(int fd);
/// Whether `path` is a regular file this process may execute.
int gw_is_executable_file(const char *path);

#endif  // GATEWAYD_CSYSTEM_H
