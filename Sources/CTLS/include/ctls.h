#ifndef GATEWAYD_CTLS_H
#define GATEWAYD_CTLS_H
// SIP over TLS (RFC 3261 §26.2, RFC 5630) for gatewayd, over OpenSSL 3. The TLS state of a
// connection never touches its socket: ciphertext read from the socket is fed in, plaintext
// is read out; plaintext written comes out as ciphertext that the caller sends. So the
// daemon's sockets stay in its one event loop and its one syscall shim (CSystem), and a
// handshake never blocks.
//
// OpenSSL (libssl.so.3, with its libcrypto) is loaded when the first context is made, not
// linked: a daemon without a TLS port maps none of it. A machine without it gets a context
// error that says so.
//
// Built with GATEWAYD_NO_TLS defined (a firmware image without TLS), nothing links OpenSSL:
// gw_tls_available() is 0 and a context cannot be made (its error says why).
#include <stddef.h>
#include <stdint.h>

typedef struct gw_tls_context gw_tls_context;
typedef struct gw_tls gw_tls;

/// How a side checks its peer's certificate.
enum {
    /// Not at all: a client takes any server, a server asks for no certificate.
    GW_TLS_VERIFY_NONE = 0,
    /// A client checks the server's chain against the CA file; a server asks for a client
    /// certificate, checks one that comes, and takes a client without one (a phone).
    GW_TLS_VERIFY_PEER = 1,
    /// As PEER, and a server refuses a client without a certificate.
    GW_TLS_VERIFY_REQUIRE = 2,
};

/// What a read, write or handshake step says.
enum {
    /// Wants more ciphertext from the peer before it can go on.
    GW_TLS_WANT_MORE = 0,
    /// The peer ended the session (close_notify).
    GW_TLS_CLOSED = -1,
    /// The session failed (handshake refused, certificate not trusted, bad record): the
    /// connection is to be closed; gw_tls_error says why.
    GW_TLS_FAILED = -2,
};

/// 1 when this build has TLS.
int gw_tls_available(void);

/// The library's name and version, for the log ("OpenSSL 3.0.x ...", or "none").
const char *gw_tls_library(void);

/// A context from PEM files: `certificate` (chain, leaf first) and `key` (may be NULL: both
/// or neither; a client-only side needs none), `ca` (may be NULL: needed for any verify but
/// NONE). On failure returns NULL and writes into `error` which file and what is wrong.
gw_tls_context *gw_tls_context_new(const char *certificate, const char *key, const char *ca,
                                   int verify, char *error, size_t error_size);
void gw_tls_context_free(gw_tls_context *context);

/// A session on one connection, accepting (`is_server`) or connecting. NULL when out of
/// memory.
gw_tls *gw_tls_new(gw_tls_context *context, int is_server);
void gw_tls_free(gw_tls *session);

/// Hands `count` bytes read from the socket to the session. Returns 0, or GW_TLS_FAILED.
int gw_tls_feed(gw_tls *session, const void *bytes, size_t count);

/// Moves the handshake on with what has been fed. Returns 1 once established,
/// GW_TLS_WANT_MORE, or GW_TLS_FAILED.
int gw_tls_handshake(gw_tls *session);

/// Plaintext out: bytes read (> 0), GW_TLS_WANT_MORE, GW_TLS_CLOSED or GW_TLS_FAILED.
long gw_tls_read(gw_tls *session, void *buffer, size_t capacity);

/// Plaintext in (after the handshake): bytes taken (all of them), or GW_TLS_FAILED.
long gw_tls_write(gw_tls *session, const void *bytes, size_t count);

/// Ciphertext waiting to be sent (handshake records, alerts, written data).
size_t gw_tls_pending(gw_tls *session);

/// Takes up to `capacity` bytes of the ciphertext waiting. Returns how many.
size_t gw_tls_take(gw_tls *session, void *buffer, size_t capacity);

/// 1 when the peer presented a certificate that verified and names `host` (a DNS
/// subjectAltName, wildcards allowed) or, with `ip_length` 4 or 16, the IP address `ip`
/// (an IP subjectAltName); else 0.
int gw_tls_peer_names(gw_tls *session, const char *host, const uint8_t *ip, size_t ip_length);

/// 1 when the peer presented a certificate and it verified.
int gw_tls_peer_verified(gw_tls *session);

/// Why the last call failed, as text (the library's first error, or the verify result).
void gw_tls_error(gw_tls *session, char *text, size_t size);

#endif
