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

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

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

const char *gw_tls_library(void) { return OpenSSL_version(OPENSSL_VERSION); }

/// "FILE: what" from the library's first queued error, the queue then emptied.
static void describe(const char *what, const char *file, char *error, size_t size) {
    unsigned long code = ERR_peek_last_error();
    char reason[160] = "";
    if (code != 0) ERR_error_string_n(code, reason, sizeof reason);
    ERR_clear_error();
    snprintf(error, size, "%s: %s%s%s", file, what, reason[0] ? " (" : "", reason[0] ? reason : "");
    if (reason[0]) strncat(error, ")", size - strlen(error) - 1);
}

gw_tls_context *gw_tls_context_new(const char *certificate, const char *key, const char *ca,
                                   int verify, char *error, size_t error_size) {
    ERR_clear_error();
    SSL_CTX *ssl = SSL_CTX_new(TLS_method());
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
    SSL_CTX_set_options(ssl, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_num_tickets(ssl, 0);
    if (certificate != NULL) {
        if (SSL_CTX_use_certificate_chain_file(ssl, certificate) != 1) {
            describe("not a readable PEM certificate chain", certificate, error, error_size);
            goto fail;
        }
        if (key == NULL || SSL_CTX_use_PrivateKey_file(ssl, key, SSL_FILETYPE_PEM) != 1) {
            int mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
            describe(mismatch ? "the key is not the certificate's" : "not a readable PEM private key", key ? key : "(no key)",
                     error, error_size);
            goto fail;
        }
        if (SSL_CTX_check_private_key(ssl) != 1) {
            describe("the key is not the certificate's", key, error, error_size);
            goto fail;
        }
    }
    if (ca != NULL && SSL_CTX_load_verify_locations(ssl, ca, NULL) != 1) {
        describe("not a readable PEM CA file", ca, error, error_size);
        goto fail;
    }
    if (verify != GW_TLS_VERIFY_NONE && ca == NULL) {
        snprintf(error, error_size, "(none): verifying peers needs a CA file");
        goto fail;
    }
    switch (verify) {
    case GW_TLS_VERIFY_NONE: SSL_CTX_set_verify(ssl, SSL_VERIFY_NONE, NULL); break;
    case GW_TLS_VERIFY_PEER: SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER, NULL); break;
    default: SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL); break;
    }
    gw_tls_context *context = malloc(sizeof *context);
    if (context == NULL) goto fail;
    context->ssl = ssl;
    return context;
fail:
    SSL_CTX_free(ssl);
    return NULL;
}

void gw_tls_context_free(gw_tls_context *context) {
    if (context == NULL) return;
    SSL_CTX_free(context->ssl);
    free(context);
}

gw_tls *gw_tls_new(gw_tls_context *context, int is_server) {
    gw_tls *session = calloc(1, sizeof *session);
    if (session == NULL) return NULL;
    session->ssl = SSL_new(context->ssl);
    session->in = BIO_new(BIO_s_mem());
    session->out = BIO_new(BIO_s_mem());
    if (session->ssl == NULL || session->in == NULL || session->out == NULL) {
        SSL_free(session->ssl);
        BIO_free(session->in);
        BIO_free(session->out);
        free(session);
        ERR_clear_error();
        return NULL;
    }
    // A mem BIO that is empty says "retry", not end of file.
    BIO_set_mem_eof_return(session->in, -1);
    SSL_set_bio(session->ssl, session->in, session->out);
    if (is_server) SSL_set_accept_state(session->ssl);
    else SSL_set_connect_state(session->ssl);
    return session;
}

void gw_tls_free(gw_tls *session) {
    if (session == NULL) return;
    SSL_free(session->ssl);  // frees both BIOs
    free(session);
}

int gw_tls_feed(gw_tls *session, const void *bytes, size_t count) {
    if (count == 0) return 0;
    if (BIO_write(session->in, bytes, (int)count) != (int)count) {
        session->error = ERR_peek_last_error();
        ERR_clear_error();
        return GW_TLS_FAILED;
    }
    return 0;
}

/// What an SSL call's result `result` means, with the error kept when it failed.
static long outcome(gw_tls *session, int result) {
    switch (SSL_get_error(session->ssl, result)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:  // mem BIOs always take writes; kept for completeness
        return GW_TLS_WANT_MORE;
    case SSL_ERROR_ZERO_RETURN:
        return GW_TLS_CLOSED;
    default:
        session->error = ERR_peek_last_error();
        session->verify = SSL_get_verify_result(session->ssl);
        ERR_clear_error();
        return GW_TLS_FAILED;
    }
}

int gw_tls_handshake(gw_tls *session) {
    if (SSL_is_init_finished(session->ssl)) return 1;
    ERR_clear_error();
    int result = SSL_do_handshake(session->ssl);
    return result == 1 ? 1 : (int)outcome(session, result);
}

long gw_tls_read(gw_tls *session, void *buffer, size_t capacity) {
    ERR_clear_error();
    size_t read = 0;
    int result = SSL_read_ex(session->ssl, buffer, capacity, &read);
    return result == 1 ? (long)read : outcome(session, 0);
}

long gw_tls_write(gw_tls *session, const void *bytes, size_t count) {
    if (count == 0) return 0;
    ERR_clear_error();
    size_t written = 0;
    // Mem BIOs take everything, so a write is whole or fails.
    int result = SSL_write_ex(session->ssl, bytes, count, &written);
    return result == 1 ? (long)written : (outcome(session, 0) == GW_TLS_WANT_MORE ? GW_TLS_WANT_MORE : GW_TLS_FAILED);
}

size_t gw_tls_pending(gw_tls *session) { return BIO_ctrl_pending(session->out); }

size_t gw_tls_take(gw_tls *session, void *buffer, size_t capacity) {
    size_t taken = 0;
    if (capacity == 0 || BIO_read_ex(session->out, buffer, capacity, &taken) != 1) return 0;
    return taken;
}

int gw_tls_peer_verified(gw_tls *session) {
    X509 *peer = SSL_get0_peer_certificate(session->ssl);
    return peer != NULL && SSL_get_verify_result(session->ssl) == X509_V_OK;
}

int gw_tls_peer_names(gw_tls *session, const char *host, const uint8_t *ip, size_t ip_length) {
    X509 *peer = SSL_get0_peer_certificate(session->ssl);
    if (peer == NULL || SSL_get_verify_result(session->ssl) != X509_V_OK) return 0;
    if (host != NULL && host[0] != 0 && X509_check_host(peer, host, strlen(host), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1)
        return 1;
    if (ip != NULL && (ip_length == 4 || ip_length == 16) && X509_check_ip(peer, ip, ip_length, 0) == 1) return 1;
    return 0;
}

void gw_tls_error(gw_tls *session, char *text, size_t size) {
    if (session->verify != X509_V_OK) {
        snprintf(text, size, "certificate: %s", X509_verify_cert_error_string(session->verify));
    } else if (session->error != 0) {
        ERR_error_string_n(session->error, text, size);
    } else {
        snprintf(text, size, "TLS session failed");
    }
}

#endif
