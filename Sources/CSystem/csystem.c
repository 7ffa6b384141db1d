#define _GNU_SOURCE  // pipe2
#include "csystem.h"

// One convention for every function here: a result that is not an error is 0 or positive,
// an error is -errno. A call a signal interrupts is retried, here and nowhere else: every
// blocking call goes through GW_RETRY. (gatewayd blocks its signals and reads them from a
// signalfd, so EINTR is rare; a hook's SIGCHLD or a debugger can still cause one.)
#define GW_RETRY(result, call) do { (result) = (call); } while ((result) < 0 && errno == EINTR)

int gw_write_all(int fd, const void *bytes, size_t count) {
    const char *p = bytes;
    while (count > 0) {
        ssize_t n;
        GW_RETRY(n, write(fd, p, count));
        if (n < 0) return -errno;
        p += n;
        count -= (size_t)n;
    }
    return 0;
}

int64_t gw_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

static int is_mapped(const uint8_t a[16]) {
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(a, prefix, 12) == 0;
}

/// A 16-byte address and port as the sockaddr the kernel takes (IPv4 for a mapped address);
/// returns its length.
static socklen_t to_sockaddr(const uint8_t address[16], uint16_t port, struct sockaddr_storage *out) {
    memset(out, 0, sizeof *out);
    if (is_mapped(address)) {
        struct sockaddr_in *sin = (struct sockaddr_in *)out;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        memcpy(&sin->sin_addr, address + 12, 4);
        return sizeof *sin;
    }
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    memcpy(&sin6->sin6_addr, address, 16);
    return sizeof *sin6;
}

/// The other way: a sockaddr the kernel filled in as a 16-byte address and port.
static void from_sockaddr(const struct sockaddr_storage *in, uint8_t address[16], uint16_t *port) {
    if (in->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)in;
        memset(address, 0, 10);
        address[10] = 0xff;
        address[11] = 0xff;
        memcpy(address + 12, &sin->sin_addr, 4);
        *port = ntohs(sin->sin_port);
    } else {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)in;
        memcpy(address, &sin6->sin6_addr, 16);
        *port = ntohs(sin6->sin6_port);
    }
}

int gw_udp_bind(const uint8_t address[16], uint16_t port) {
    struct sockaddr_storage local;
    socklen_t size = to_sockaddr(address, port, &local);
    int fd = socket(local.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    // No SO_REUSEADDR: with it, any local user's socket that sets it too could bind the
    // same address and port and take gatewayd's requests; without it a second bind fails.
    if (bind(fd, (struct sockaddr *)&local, size) < 0) {
        int error = errno;
        close(fd);
        return -error;
    }
    return fd;
}

long gw_udp_receive(int fd, void *buffer, size_t length, uint8_t source[16], uint16_t *port) {
    struct sockaddr_storage from;
    socklen_t size = sizeof from;
    ssize_t n;
    GW_RETRY(n, recvfrom(fd, buffer, length, 0, (struct sockaddr *)&from, &size));
    if (n < 0) return -errno;
    from_sockaddr(&from, source, port);
    return (long)n;
}

int gw_udp_send(int fd, const void *buffer, size_t length, const uint8_t destination[16], uint16_t port) {
    struct sockaddr_storage to;
    socklen_t size = to_sockaddr(destination, port, &to);
    ssize_t n;
    GW_RETRY(n, sendto(fd, buffer, length, 0, (struct sockaddr *)&to, size));
    return n < 0 ? -errno : 0;
}

int gw_tcp_listen(const uint8_t address[16], uint16_t port, int backlog) {
    struct sockaddr_storage local;
    socklen_t size = to_sockaddr(address, port, &local);
    int fd = socket(local.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    // SO_REUSEADDR on a listening TCP socket only lets it bind past connections still in
    // TIME_WAIT after a restart; unlike UDP, a second listener on the port still fails.
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&local, size) < 0 || listen(fd, backlog) < 0) {
        int error = errno;
        close(fd);
        return -error;
    }
    return fd;
}

int gw_tcp_accept(int fd, uint8_t source[16], uint16_t *port, int *spare) {
    struct sockaddr_storage from;
    socklen_t size = sizeof from;
    int connection;
    GW_RETRY(connection, accept4(fd, (struct sockaddr *)&from, &size, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (connection < 0 && (errno == EMFILE || errno == ENFILE) && *spare >= 0) {
        // accept4 reports EMFILE before it looks at the queue: an empty one says EAGAIN here.
        close(*spare);
        GW_RETRY(connection, accept(fd, NULL, NULL));
        int error = connection < 0 ? errno : ECONNABORTED;
        if (connection >= 0) close(connection);
        *spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
        return -error;
    }
    if (connection < 0) return -errno;
    from_sockaddr(&from, source, port);
    return connection;
}

int gw_spare_descriptor(void) {
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

long gw_tcp_send(int fd, const void *bytes, size_t count) {
    ssize_t n;
    // MSG_NOSIGNAL: a peer that has gone away is an error to count, not SIGPIPE.
    GW_RETRY(n, send(fd, bytes, count, MSG_NOSIGNAL | MSG_DONTWAIT));
    return n < 0 ? -errno : (long)n;
}

int gw_tcp_connect(const uint8_t local[16], const uint8_t address[16], uint16_t port, int *pending) {
    struct sockaddr_storage remote, from;
    socklen_t size = to_sockaddr(address, port, &remote);
    socklen_t fromSize = to_sockaddr(local, 0, &from);
    int fd = socket(remote.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    // From the node's own address, as its UDP goes: members know each other by address.
    // The port is chosen at connect (IP_BIND_ADDRESS_NO_PORT), not searched for at bind.
#ifdef IP_BIND_ADDRESS_NO_PORT
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
#endif
    if (bind(fd, (struct sockaddr *)&from, fromSize) < 0) {
        int error = errno;
        close(fd);
        return -error;
    }
    int result;
    GW_RETRY(result, connect(fd, (struct sockaddr *)&remote, size));
    if (result < 0 && errno != EINPROGRESS) {
        int error = errno;
        close(fd);
        return -error;
    }
    *pending = result < 0;
    return fd;
}

int gw_socket_error(int fd) {
    int error = 0;
    socklen_t size = sizeof error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) < 0) return errno;
    return error;
}

long gw_raise_descriptor_limit(void) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) < 0) return -errno;
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &limit) < 0) return -errno;
    }
    return limit.rlim_cur == RLIM_INFINITY ? -1 : (long)limit.rlim_cur;
}

int gw_udp_receive_batch(int fd, void *buffers, size_t slot, gw_datagram *datagrams, int count) {
    if (count > GW_BATCH_MAX) count = GW_BATCH_MAX;
    struct mmsghdr headers[GW_BATCH_MAX];
    struct iovec vectors[GW_BATCH_MAX];
    struct sockaddr_storage sources[GW_BATCH_MAX];
    for (int i = 0; i < count; i++) {
        vectors[i].iov_base = (uint8_t *)buffers + (size_t)i * slot;
        vectors[i].iov_len = slot;
        memset(&headers[i], 0, sizeof headers[i]);
        headers[i].msg_hdr.msg_name = &sources[i];
        headers[i].msg_hdr.msg_namelen = sizeof sources[i];
        headers[i].msg_hdr.msg_iov = &vectors[i];
        headers[i].msg_hdr.msg_iovlen = 1;
    }
    int n;
    GW_RETRY(n, recvmmsg(fd, headers, (unsigned)count, MSG_DONTWAIT, NULL));
    if (n < 0) return -errno;
    for (int i = 0; i < n; i++) {
        from_sockaddr(&sources[i], datagrams[i].address, &datagrams[i].port);
        datagrams[i].offset = 0;
        datagrams[i].length = headers[i].msg_len;
    }
    return n;
}

int gw_udp_send_batch(int fd, const void *bytes, const gw_datagram *datagrams, int count) {
    if (count > GW_BATCH_MAX) count = GW_BATCH_MAX;
    struct mmsghdr headers[GW_BATCH_MAX];
    struct iovec vectors[GW_BATCH_MAX];
    struct sockaddr_storage destinations[GW_BATCH_MAX];
    for (int i = 0; i < count; i++) {
        vectors[i].iov_base = (uint8_t *)bytes + datagrams[i].offset;
        vectors[i].iov_len = datagrams[i].length;
        memset(&headers[i], 0, sizeof headers[i]);
        headers[i].msg_hdr.msg_name = &destinations[i];
        headers[i].msg_hdr.msg_namelen = to_sockaddr(datagrams[i].address, datagrams[i].port, &destinations[i]);
        headers[i].msg_hdr.msg_iov = &vectors[i];
        headers[i].msg_hdr.msg_iovlen = 1;
    }
    int n;
    GW_RETRY(n, sendmmsg(fd, headers, (unsigned)count, 0));
    return n < 0 ? -errno : n;
}

int gw_udp_connect(int fd, const uint8_t destination[16], uint16_t port, uint8_t local[16], uint16_t *local_port) {
    struct sockaddr_storage address;
    socklen_t size = to_sockaddr(destination, port, &address);
    int result;
    GW_RETRY(result, connect(fd, (struct sockaddr *)&address, size));
    if (result < 0) return -errno;
    size = sizeof address;
    if (getsockname(fd, (struct sockaddr *)&address, &size) < 0) return -errno;
    from_sockaddr(&address, local, local_port);
    return 0;
}

int gw_epoll_create(void) {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int gw_epoll_add(int epoll_fd, int fd, uint64_t tag) {
    struct epoll_event event = {0};
    event.events = EPOLLIN;
    event.data.u64 = tag;
    return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) < 0 ? -errno : 0;
}

int gw_epoll_watch(int epoll_fd, int fd, uint64_t tag, int writable) {
    struct epoll_event event = {0};
    event.events = EPOLLIN | (writable ? EPOLLOUT : 0);
    event.data.u64 = tag;
    return epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &event) < 0 ? -errno : 0;
}

int gw_epoll_wait(int epoll_fd, uint64_t *tags, int max, int timeout_ms) {
    struct epoll_event events[16];
    if (max > 16) max = 16;
    // Not retried: an interrupted wait returns 0 (nothing ready) and the loop, which
    // computes its timeout afresh, comes round again.
    int n = epoll_wait(epoll_fd, events, max, timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) tags[i] = events[i].data.u64;
    return n;
}

int gw_signalfd_open(void) {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGUSR1);
    sigaddset(&mask, SIGCHLD);  // hooks the steering agent runs
    if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) return -errno;
    int fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int gw_signalfd_read(int fd) {
    struct signalfd_siginfo info;
    ssize_t n;
    GW_RETRY(n, read(fd, &info, sizeof info));
    return n == (ssize_t)sizeof info ? (int)info.ssi_signo : 0;
}

int gw_random(void *buffer, size_t length) {
    char *p = buffer;
    while (length > 0) {
        ssize_t n;
        GW_RETRY(n, getrandom(p, length, 0));
        if (n < 0) return -errno;
        p += n;
        length -= (size_t)n;
    }
    return 0;
}

int64_t gw_realtime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void gw_log_stderr(const char *text, size_t length) {
    gw_write_all(2, text, length);
    gw_write_all(2, "\n", 1);
}

#include <sys/mman.h>

#define GW_MAP_FROM (8 * 1024)

void *gw_zeroed_alloc(size_t bytes) {
    if (bytes < GW_MAP_FROM) return calloc(1, bytes ? bytes : 1);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

int gw_release_pages(void *pointer, size_t bytes) {
    return madvise(pointer, bytes, MADV_DONTNEED) < 0 ? -errno : 0;
}

void gw_zeroed_free(void *pointer, size_t bytes) {
    if (bytes < GW_MAP_FROM) free(pointer);
    else munmap(pointer, bytes);
}

#include <signal.h>
#include <stdio.h>
#include <syslog.h>

void gw_syslog_open(int facility) {
    openlog("gatewayd", LOG_PID | LOG_NDELAY, facility);
}

void gw_syslog(int priority, const char *text, size_t length) {
    syslog(priority, "%.*s", (int)length, text);
}

int gw_pidfile_claim(const char *path) {
    FILE *existing = fopen(path, "r");
    if (existing) {
        long pid = 0;
        int read = fscanf(existing, "%ld", &pid);
        fclose(existing);
        if (read == 1 && pid > 0 && pid != (long)getpid() && (kill((pid_t)pid, 0) == 0 || errno == EPERM)) {
            return (int)pid;
        }
    }
    char temporary[4096];
    if (snprintf(temporary, sizeof temporary, "%s.%ld", path, (long)getpid()) >= (int)sizeof temporary) return -ENAMETOOLONG;
    int fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    char text[32];
    int length = snprintf(text, sizeof text, "%ld\n", (long)getpid());
    int error = -gw_write_all(fd, text, (size_t)length);
    close(fd);
    if (error == 0 && rename(temporary, path) < 0) error = errno;
    if (error) {
        unlink(temporary);
        return -error;
    }
    return 0;
}

void gw_pidfile_remove(const char *path) {
    unlink(path);
}

int gw_write_file_atomic(const char *path, const void *bytes, size_t length) {
    char temporary[4096];
    if (snprintf(temporary, sizeof temporary, "%s.tmp", path) >= (int)sizeof temporary) return -ENAMETOOLONG;
    int fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    int error = -gw_write_all(fd, bytes, length);
    if (error == 0 && fsync(fd) < 0) error = errno;
    if (close(fd) < 0 && error == 0) error = errno;
    if (error == 0 && rename(temporary, path) < 0) error = errno;
    if (error) {
        unlink(temporary);
        return -error;
    }
    return 0;
}

long gw_read_file(const char *path, void *buffer, size_t capacity) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    size_t total = 0;
    while (total < capacity) {
        ssize_t n;
        GW_RETRY(n, read(fd, (char *)buffer + total, capacity - total));
        if (n < 0) {
            int error = errno;
            close(fd);
            return -error;
        }
        if (n == 0) break;
        total += (size_t)n;
    }
    close(fd);
    return (long)total;
}

#include <sys/stat.h>

const void *gw_map_file(const char *path, size_t *size, int *error) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *error = errno;
        return NULL;
    }
    struct stat status;
    void *address = MAP_FAILED;
    if (fstat(fd, &status) != 0) {
        *error = errno;
    } else if (!S_ISREG(status.st_mode)) {
        *error = ESPIPE;
    } else if (status.st_size == 0) {
        *error = ENODATA;
    } else {
        address = mmap(NULL, (size_t)status.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (address == MAP_FAILED) {
            *error = errno;
        } else {
            // Read once from start to end: let the kernel read ahead generously.
            (void)madvise(address, (size_t)status.st_size, MADV_SEQUENTIAL);
            *size = (size_t)status.st_size;
        }
    }
    close(fd);
    return address == MAP_FAILED ? NULL : address;
}

void gw_unmap_file(const void *address, size_t size) { munmap((void *)address, size); }

int gw_process_alive(long pid) {
    if (pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno != EPERM)) return 0;
    // A zombie still answers kill(0) but is gone: read its state from /proc when there.
    char path[64], text[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    long n = gw_read_file(path, text, sizeof text - 1);
    if (n <= 0) return 1;
    text[n] = 0;
    char *close_paren = strrchr(text, ')');
    return !(close_paren && close_paren[1] == ' ' && (close_paren[2] == 'Z' || close_paren[2] == 'X'));
}

int64_t gw_unix_seconds(void) {
    return (int64_t)time(NULL);
}

#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/capability.h>

int gw_user_lookup(const char *user, long *uid, long *gid) {
    struct passwd *entry = getpwnam(user);
    if (!entry) return -ENOENT;
    *uid = (long)entry->pw_uid;
    *gid = (long)entry->pw_gid;
    return 0;
}

int gw_drop_privileges(long uid, long gid, const char **step) {
    // Keep the permitted set across setuid, then cut it down to CAP_NET_RAW alone.
    *step = "prctl(PR_SET_KEEPCAPS)";
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) return -errno;
    *step = "setgroups";
    if (setgroups(0, NULL) < 0) return -errno;
    *step = "setgid";
    if (setgid((gid_t)gid) < 0) return -errno;
    *step = "setuid";
    if (setuid((uid_t)uid) < 0) return -errno;
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    data[0].permitted = data[0].effective = 1u << CAP_NET_RAW;
    *step = "capset(CAP_NET_RAW)";
    if (syscall(SYS_capset, &header, data) < 0) return -errno;
    *step = "prctl(PR_SET_KEEPCAPS, 0)";
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) return -errno;
    // Hooks the agent runs get no capability: nothing is inheritable or ambient.
    return 0;
}

int gw_chown(const char *path, long uid, long gid) {
    return chown(path, (uid_t)uid, (gid_t)gid) < 0 ? -errno : 0;
}

#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

int gw_spawn(const char *path, const char *argument, const char *extra, int count, int *stderr_fd) {
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) < 0) return -errno;
    size_t inherited = 0;
    while (environ && environ[inherited]) inherited++;
    const char **env = calloc(inherited + (size_t)count + 1, sizeof *env);
    if (!env) {
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        return -ENOMEM;
    }
    size_t used = 0;
    // Ours first; inherited entries that set the same names are left out.
    const char *entry = extra;
    for (int i = 0; i < count; i++) {
        env[used++] = entry;
        entry += strlen(entry) + 1;
    }
    for (size_t i = 0; i < inherited; i++) {
        const char *equals = strchr(environ[i], '=');
        size_t name = equals ? (size_t)(equals - environ[i]) + 1 : strlen(environ[i]);
        int shadowed = 0;
        for (size_t k = 0; k < (size_t)count && !shadowed; k++) shadowed = strncmp(env[k], environ[i], name) == 0;
        if (!shadowed) env[used++] = environ[i];
    }
    env[used] = NULL;

    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
    posix_spawnattr_init(&attributes);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGHUP);
    sigaddset(&defaults, SIGUSR1);
    sigaddset(&defaults, SIGCHLD);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setsigdefault(&attributes, &defaults);
    posix_spawnattr_setpgroup(&attributes, 0);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    char *const argv[] = {(char *)path, (char *)argument, NULL};
    pid_t pid = 0;
    int error = posix_spawn(&pid, path, &actions, &attributes, argv, (char *const *)env);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    free(env);
    close(pipe_fds[1]);
    if (error != 0) {
        close(pipe_fds[0]);
        return -error;
    }
    fcntl(pipe_fds[0], F_SETFL, fcntl(pipe_fds[0], F_GETFL) | O_NONBLOCK);
    *stderr_fd = pipe_fds[0];
    return (int)pid;
}

int gw_reap(int pid, int *code) {
    int status = 0;
    pid_t done;
    GW_RETRY(done, waitpid((pid_t)pid, &status, WNOHANG));
    if (done < 0) return -errno;
    if (done == 0) return 0;
    *code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? -WTERMSIG(status) : -1;
    return 1;
}

void gw_kill_group(int pid, int signal) {
    kill(-(pid_t)pid, signal);
}

long gw_read(int fd, void *buffer, size_t capacity) {
    ssize_t n;
    GW_RETRY(n, read(fd, buffer, capacity));
    return n < 0 ? -errno : (long)n;
}

void gw_close(int fd) {
    close(fd);
}

int gw_is_executable_file(const char *path) {
    struct stat info;
    return stat(path, &info) == 0 && S_ISREG(info.st_mode) && access(path, X_OK) == 0;
}
