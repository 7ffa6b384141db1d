// SIP over TLS for gatewayd over OpenSSL 3, with memory BIOs: see ctls.h.
#include "ctls.h"
#include <stdio.h>
#include <string.h>

#ifdef GATEWAYD_NO_TLS

int gw_tls_available(void) { return 0; }
const char *gw_tls_library(void) { return "none"; }
gw_tls_context *gw_tls_context_new(const char *certificate, const char *key, const char *ca,
                                   int verify, char *error, size_t error_size) {
    (void)certificate; (void)key; (void)ca; (void)verify;
    snprintf(error, error_size, "this gatewayd was built without TLS (firmware TLS=0)");
    return NULL;
}
void gw_tls_context_free(gw_tls_context *context) { (void)context; }
gw_tls *gw_tls_new(gw_tls_context *context, int is_server) { (void)context; (void)is_server; return NULL; }
void gw_tls_free(gw_tls *session) { (void)session; }
int gw_tls_feed(gw_tls *session, const void *bytes, size_t count) { (void)session; (void)bytes; (void)count; return GW_TLS_FAILED; }
int gw_tls_handshake(gw_tls *session) { (void)session; return GW_TLS_FAILED; }
long gw_tls_read(gw_tls *session, void *buffer, size_t capacity) { (void)session; (void)buffer; (void)capacity; return GW_TLS_FAILED; }
long gw_tls_write(gw_tls *session, const void *bytes, size_t count) { (void)session; (void)bytes; (void)count; return GW_TLS_FAILED; }
size_t gw_tls_pending(gw_tls *session) { (void)session; return 0; }
size_t gw_tls_take(gw_tls *session, void *buffer, size_t capacity) { (void)session; (void)buffer; (void)capacity; return 0; }
int gw_tls_peer_names(gw_tls *session, const char *host, const uint8_t *ip, size_t ip_length) {
    (void)session; (void)host; (void)ip; (void)ip_length;
    return 0;
}
int gw_tls_peer_verified(gw_tls *session) { (void)session; return 0; }
void gw_tls_error(gw_tls *session, char *text, size_t size) { (void)session; snprintf(text, size, "built without TLS"); }

#else

#include <dlfcn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

// OpenSSL is loaded when the first TLS context is made, not linked: a node without a TLS port
// maps none of libssl and libcrypto (their relocations alone cost about 1.8 MiB of resident
// memory from the start). Every function used is listed once here; the headers give the types.
#define GW_OPENSSL_FUNCTIONS(X) \
    X(BIO_ctrl) X(BIO_ctrl_pending) X(BIO_free) X(BIO_new) X(BIO_read_ex) X(BIO_s_mem) X(BIO_write) \
    X(ERR_clear_error) X(ERR_error_string_n) X(ERR_peek_last_error) X(OpenSSL_version) \
    X(SSL_CTX_check_private_key) X(SSL_CTX_ctrl) X(SSL_CTX_free) X(SSL_CTX_load_verify_locations) \
    X(SSL_CTX_new) X(SSL_CTX_set_num_tickets) X(SSL_CTX_set_options) X(SSL_CTX_set_verify) \
    X(SSL_CTX_use_PrivateKey_file) X(SSL_CTX_use_certificate_chain_file) X(SSL_do_handshake) \
    X(SSL_free) X(SSL_get0_peer_certificate) X(SSL_get_error) X(SSL_get_verify_result) \
    X(SSL_is_init_finished) X(SSL_new) X(SSL_read_ex) X(SSL_set_accept_state) X(SSL_set_bio) \
    X(SSL_set_connect_state) X(SSL_write_ex) X(TLS_method) X(X509_check_host) X(X509_check_ip) \
    X(X509_verify_cert_error_string)

/// The soname of OpenSSL 3's libssl (libcrypto comes with it as its dependency).
#define GW_LIBSSL "libssl.so.3"

static struct {
#define GW_POINTER(name) __typeof__(&name) name;
    GW_OPENSSL_FUNCTIONS(GW_POINTER)
#undef GW_POINTER
} openssl;

/// Loads libssl once. 1 when every function is there; else 0 with why in `error`.
static int load_openssl(char *error, size_t error_size) {
    static int loaded = 0;
    if (loaded) return 1;
    void *library = dlopen(GW_LIBSSL, RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        snprintf(error, error_size, "(none): cannot load %s, OpenSSL 3 (%s)", GW_LIBSSL, dlerror());
        return 0;
    }
    // dlsym on libssl's handle also finds libcrypto's functions: it searches the library's
    // own dependencies.
#define GW_RESOLVE(name) \
    if ((*(void **)&openssl.name = dlsym(library, #name)) == NULL) { \
        snprintf(error, error_size, "(none): %s has no %s (not OpenSSL 3?)", GW_LIBSSL, #name); \
        dlclose(library); \
        return 0; \
    }
    GW_OPENSSL_FUNCTIONS(GW_RESOLVE)
#undef GW_RESOLVE
    loaded = 1;
    return 1;
}

// The headers' control macros (SSL_CTX_set_mode, BIO_set_mem_eof_return, ...) expand to
// these two calls; from here on they go through the loaded functions.
#define SSL_CTX_ctrl openssl.SSL_CTX_ctrl
#define BIO_ctrl openssl.BIO_ctrl

struct gw_tls_context {
    SSL_CTX *ssl;
};

struct gw_tls {
    SSL *ssl;
    /// Ciphertext from the peer (fed) and to it (taken); the SSL object owns both.
    BIO *in, *out;
    /// What the last failing call left, kept so gw_tls_error can say it after the queue
    /// has moved on.
    unsigned long error;
    long verify;
};

int gw_tls_available(void) { return 1; }

/// Called once a context is made, so the library is loaded.
const char *gw_tls_library(void) { return openssl.OpenSSL_version(OPENSSL_VERSION); }

/// "FILE: what" from the library's first queued error, the queue then emptied.
static void describe(const char *what, const char *file, char *error, size_t size) {
    unsigned long code = openssl.ERR_peek_last_error();
    char reason[160] = "";
    if (code != 0) openssl.ERR_error_string_n(code, reason, sizeof reason);
    openssl.ERR_clear_error();
    snprintf(error, size, "%s: %s%s%s", file, what, reason[0] ? " (" : "", reason[0] ? reason : "");
    if (reason[0]) strncat(error, ")", size - strlen(error) - 1);
}

gw_tls_context *gw_tls_context_new(const char *certificate, const char *key, const char *ca,
                                   int verify, char *error, size_t error_size) {
    if (!load_openssl(error, error_size)) return NULL;
    openssl.ERR_clear_error();
    SSL_CTX *ssl = openssl.SSL_CTX_new(openssl.TLS_method());
    if (ssl == NULL) {
        describe("cannot make a TLS context", "(none)", error, error_size);
        return NULL;
    }
    // TLS 1.2 at least (RFC 8446/7525 practice; SIP phones of the last decade have it).
    SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION);
    // Buffers given back while a connection is idle: thousands of phones stay connected.
    SSL_CTX_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    // No session tickets or cache: a phone's reconnect does a full handshake, and nothing
    // grows with the number of clients seen.
    SSL_CTX_set_session_cache_mode(ssl, SSL_SESS_CACHE_OFF);
    openssl.SSL_CTX_set_options(ssl, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
    openssl.SSL_CTX_set_num_tickets(ssl, 0);
    if (certificate != NULL) {
        if (openssl.SSL_CTX_use_certificate_chain_file(ssl, certificate) != 1) {
            describe("not a readable PEM certificate chain", certificate, error, error_size);
            goto fail;
        }
        if (key == NULL || openssl.SSL_CTX_use_PrivateKey_file(ssl, key, SSL_FILETYPE_PEM) != 1) {
            int mismatch = ERR_GET_REASON(openssl.ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
            describe(mismatch ? "the key is not the certificate's" : "not a readable PEM private key", key ? key : "(no key)",
                     error, error_size);
            goto fail;
        }
        if (openssl.SSL_CTX_check_private_key(ssl) != 1) {
            describe("the key is not the certificate's", key, error, error_size);
            goto fail;
        }
    }
    if (ca != NULL && openssl.SSL_CTX_load_verify_locations(ssl, ca, NULL) != 1) {
        describe("not a readable PEM CA file", ca, error, error_size);
        goto fail;
    }
    if (verify != GW_TLS_VERIFY_NONE && ca == NULL) {
        snprintf(error, error_size, "(none): verifying peers needs a CA file");
        goto fail;
    }
    switch (verify) {
    case GW_TLS_VERIFY_NONE: openssl.SSL_CTX_set_verify(ssl, SSL_VERIFY_NONE, NULL); break;
    case GW_TLS_VERIFY_PEER: openssl.SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER, NULL); break;
    default: openssl.SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL); break;
    }
    gw_tls_context *context = malloc(sizeof *context);
    if (context == NULL) goto fail;
    context->ssl = ssl;
    return context;
fail:
    openssl.SSL_CTX_free(ssl);
    return NULL;
}

void gw_tls_context_free(gw_tls_context *context) {
    if (context == NULL) return;
    openssl.SSL_CTX_free(context->ssl);
    free(context);
}

gw_tls *gw_tls_new(gw_tls_context *context, int is_server) {
    gw_tls *session = calloc(1, sizeof *session);
    if (session == NULL) return NULL;
    session->ssl = openssl.SSL_new(context->ssl);
    session->in = openssl.BIO_new(openssl.BIO_s_mem());
    session->out = openssl.BIO_new(openssl.BIO_s_mem());
    if (session->ssl == NULL || session->in == NULL || session->out == NULL) {
        openssl.SSL_free(session->ssl);
        openssl.BIO_free(session->in);
        openssl.BIO_free(session->out);
        free(session);
        openssl.ERR_clear_error();
        return NULL;
    }
    // A mem BIO that is empty says "retry", not end of file.
    BIO_set_mem_eof_return(session->in, -1);
    openssl.SSL_set_bio(session->ssl, session->in, session->out);
    if (is_server) openssl.SSL_set_accept_state(session->ssl);
    else openssl.SSL_set_connect_state(session->ssl);
    return session;
}

void gw_tls_free(gw_tls *session) {
    if (session == NULL) return;
    openssl.SSL_free(session->ssl);  // frees both BIOs
    free(session);
}

int gw_tls_feed(gw_tls *session, const void *bytes, size_t count) {
    if (count == 0) return 0;
    if (openssl.BIO_write(session->in, bytes, (int)count) != (int)count) {
        session->error = openssl.ERR_peek_last_error();
        openssl.ERR_clear_error();
        return GW_TLS_FAILED;
    }
    return 0;
}

/// What an SSL call's result `result` means, with the error kept when it failed.
static long outcome(gw_tls *session, int result) {
    switch (openssl.SSL_get_error(session->ssl, result)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:  // mem BIOs always take writes; kept for completeness
        return GW_TLS_WANT_MORE;
    case SSL_ERROR_ZERO_RETURN:
        return GW_TLS_CLOSED;
    default:
        session->error = openssl.ERR_peek_last_error();
        session->verify = openssl.SSL_get_verify_result(session->ssl);
        openssl.ERR_clear_error();
        return GW_TLS_FAILED;
    }
}

int gw_tls_handshake(gw_tls *session) {
    if (openssl.SSL_is_init_finished(session->ssl)) return 1;
    openssl.ERR_clear_error();
    int result = openssl.SSL_do_handshake(session->ssl);
    return result == 1 ? 1 : (int)outcome(session, result);
}

long gw_tls_read(gw_tls *session, void *buffer, size_t capacity) {
    openssl.ERR_clear_error();
    size_t read = 0;
    int result = openssl.SSL_read_ex(session->ssl, buffer, capacity, &read);
    return result == 1 ? (long)read : outcome(session, 0);
}

long gw_tls_write(gw_tls *session, const void *bytes, size_t count) {
    if (count == 0) return 0;
    openssl.ERR_clear_error();
    size_t written = 0;
    // Mem BIOs take everything, so a write is whole or fails.
    int result = openssl.SSL_write_ex(session->ssl, bytes, count, &written);
    return result == 1 ? (long)written : (outcome(session, 0) == GW_TLS_WANT_MORE ? GW_TLS_WANT_MORE : GW_TLS_FAILED);
}

size_t gw_tls_pending(gw_tls *session) { return openssl.BIO_ctrl_pending(session->out); }

size_t gw_tls_take(gw_tls *session, void *buffer, size_t capacity) {
    size_t taken = 0;
    if (capacity == 0 || openssl.BIO_read_ex(session->out, buffer, capacity, &taken) != 1) return 0;
    return taken;
}

int gw_tls_peer_verified(gw_tls *session) {
    X509 *peer = openssl.SSL_get0_peer_certificate(session->ssl);
    return peer != NULL && openssl.SSL_get_verify_result(session->ssl) == X509_V_OK;
}

int gw_tls_peer_names(gw_tls *session, const char *host, const uint8_t *ip, size_t ip_length) {
    X509 *peer = openssl.SSL_get0_peer_certificate(session->ssl);
    if (peer == NULL || openssl.SSL_get_verify_result(session->ssl) != X509_V_OK) return 0;
    if (host != NULL && host[0] != 0 && openssl.X509_check_host(peer, host, strlen(host), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1)
        return 1;
    if (ip != NULL && (ip_length == 4 || ip_length == 16) && openssl.X509_check_ip(peer, ip, ip_length, 0) == 1) return 1;
    return 0;
}

void gw_tls_error(gw_tls *session, char *text, size_t size) {
    if (session->verify != X509_V_OK) {
        snprintf(text, size, "certificate: %s", openssl.X509_verify_cert_error_string(session->verify));
    } else if (session->error != 0) {
        openssl.ERR_error_string_n(session->error, text, size);
    } else {
        snprintf(text, size, "TLS session failed");
    }
}

#endif
