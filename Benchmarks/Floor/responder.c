// The floor of scripts/bench-node.sh and scripts/bench-tcp.sh: what answering SIPp's INVITEs
// with 302s costs on this machine when the server's own work is next to nothing. It makes
// the same system calls as gatewayd's loop: over UDP epoll_wait, recvmmsg and sendmmsg in
// batches of 64; over TCP (`tcp`) epoll_wait, one read per wakeup and one send of all the
// answers to what it read. It answers an INVITE by copying its Via, From, To, Call-ID and
// CSeq lines into a 302, and drops everything else (SIPp's ACKs). No transactions, no
// retransmissions, no checks (over TCP, messages are taken to have no body, as SIPp's
// benchmark scenario sends them): a measuring stick, not a server. The CPU per call it
// takes is the kernel's share (loopback delivery, wakeups, copies) that any server with
// these system calls pays here.
//
//   cc -O2 -o responder responder.c && ./responder 127.0.0.1 5340 [tcp]
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { BATCH = 64, SLOT = 4096 };

/// Appends the header line of `request` (length `length`) that starts with `name` (with
/// its CRLF) to `out` at `*used`.
static void copy_line(const char *request, size_t length, const char *name, char *out, size_t *used) {
    size_t name_length = strlen(name);
    for (const char *line = request; line < request + length;) {
        const char *end = memchr(line, '\n', (size_t)(request + length - line));
        if (end == NULL) return;
        if ((size_t)(end - line) > name_length && strncasecmp(line, name, name_length) == 0) {
            size_t count = (size_t)(end - line) + 1;
            if (*used + count < SLOT) {
                memcpy(out + *used, line, count);
                *used += count;
            }
            return;
        }
        line = end + 1;
    }
}

/// A 302 for the INVITE `request` written into `answer` (SLOT bytes); its length.
static size_t redirect(const char *request, size_t length, char *answer, const char *address, const char *port) {
    size_t used = (size_t)snprintf(answer, SLOT, "SIP/2.0 302 Moved Temporarily\r\n");
    copy_line(request, length, "Via:", answer, &used);
    copy_line(request, length, "From:", answer, &used);
    copy_line(request, length, "To:", answer, &used);
    if (used > 2) used -= 2;  // the To line's CRLF, for the tag
    used += (size_t)snprintf(answer + used, SLOT - used, ";tag=floor\r\n");
    copy_line(request, length, "Call-ID:", answer, &used);
    copy_line(request, length, "CSeq:", answer, &used);
    used += (size_t)snprintf(answer + used, SLOT - used, "Contact: <sip:floor@%s:%s>\r\nContent-Length: 0\r\n\r\n",
                             address, port);
    return used;
}

/// The answers to the messages in `in` (`held` bytes; each up to an empty line) written
/// into `out` (`capacity` bytes); their length. `*start`: where the messages read end.
static size_t answer_all(const char *in, size_t held, char *out, size_t capacity, size_t *start, const char *address,
                         const char *port) {
    size_t answers = 0;
    for (;;) {
        char *end = memmem(in + *start, held - *start, "\r\n\r\n", 4);
        if (end == NULL) break;
        size_t length = (size_t)(end + 4 - (in + *start));
        if (length >= 7 && memcmp(in + *start, "INVITE ", 7) == 0 && answers + SLOT <= capacity)
            answers += redirect(in + *start, length, out + answers, address, port);
        *start += length;
    }
    return answers;
}

/// Over TCP: one connection at a time, each read's messages (up to an empty line each)
/// answered with one send.
static int serve_tcp(struct sockaddr_in *local, const char *address, const char *port) {
    int listener = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (listener < 0 || bind(listener, (struct sockaddr *)local, sizeof *local) != 0 || listen(listener, 16) != 0) {
        perror("responder: listen");
        return 1;
    }
    int loop = epoll_create1(0);
    struct epoll_event watch = {.events = EPOLLIN, .data.fd = listener};
    epoll_ctl(loop, EPOLL_CTL_ADD, listener, &watch);
    static char in[16 * SLOT], out[16 * SLOT];
    size_t held = 0;
    for (;;) {
        struct epoll_event ready;
        if (epoll_wait(loop, &ready, 1, -1) <= 0) continue;
        if (ready.data.fd == listener) {
            int connection = accept(listener, NULL, NULL);
            struct epoll_event reading = {.events = EPOLLIN, .data.fd = connection};
            if (connection >= 0) epoll_ctl(loop, EPOLL_CTL_ADD, connection, &reading);
            continue;
        }
        ssize_t count = read(ready.data.fd, in + held, sizeof in - held);
        if (count <= 0) {
            close(ready.data.fd);
            held = 0;
            continue;
        }
        held += (size_t)count;
        size_t start = 0, answers = answer_all(in, held, out, sizeof out, &start, address, port);
        memmove(in, in + start, held - start);
        held -= start;
        if (answers > 0) send(ready.data.fd, out, answers, MSG_NOSIGNAL);
    }
}

#ifndef RESPONDER_NO_MAIN
int main(int argc, char **argv) {
    if (argc != 3 && !(argc == 4 && strcmp(argv[3], "tcp") == 0)) {
        fprintf(stderr, "usage: responder ADDRESS PORT [tcp]\n");
        return 2;
    }
    if (argc == 4) {
        struct sockaddr_in local = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
        if (inet_pton(AF_INET, argv[1], &local.sin_addr) != 1) return 2;
        return serve_tcp(&local, argv[1], argv[2]);
    }
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in local = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    if (fd < 0 || inet_pton(AF_INET, argv[1], &local.sin_addr) != 1
        || bind(fd, (struct sockaddr *)&local, sizeof local) != 0) {
        perror("responder: bind");
        return 1;
    }
    int loop = epoll_create1(0);
    struct epoll_event watch = {.events = EPOLLIN};
    epoll_ctl(loop, EPOLL_CTL_ADD, fd, &watch);
    static char in[BATCH][SLOT], out[BATCH][SLOT];
    static struct sockaddr_in from[BATCH];
    static struct iovec in_vectors[BATCH], out_vectors[BATCH];
    static struct mmsghdr received[BATCH], answers[BATCH];
    for (;;) {
        struct epoll_event ready;
        if (epoll_wait(loop, &ready, 1, -1) <= 0) continue;
        for (int i = 0; i < BATCH; i++) {
            in_vectors[i] = (struct iovec){in[i], SLOT};
            received[i].msg_hdr = (struct msghdr){.msg_name = &from[i], .msg_namelen = sizeof from[i],
                                                  .msg_iov = &in_vectors[i], .msg_iovlen = 1};
        }
        int count = recvmmsg(fd, received, BATCH, 0, NULL);
        int answering = 0;
        for (int i = 0; i < count; i++) {
            const char *request = in[i];
            size_t length = received[i].msg_len;
            if (length < 7 || memcmp(request, "INVITE ", 7) != 0) continue;
            char *answer = out[answering];
            size_t used = redirect(request, length, answer, argv[1], argv[2]);
            out_vectors[answering] = (struct iovec){answer, used};
            answers[answering].msg_hdr = (struct msghdr){.msg_name = &from[i], .msg_namelen = sizeof from[i],
                                                         .msg_iov = &out_vectors[answering], .msg_iovlen = 1};
            answering++;
        }
        for (int sent = 0; sent < answering;) {
            int done = sendmmsg(fd, answers + sent, (unsigned)(answering - sent), 0);
            if (done <= 0) break;
            sent += done;
        }
    }
}
#endif
