/*
 * tls_int.h - internals shared by the tls/ sources (not for other modules).
 *
 * tls.c       the client context and its session cache
 * tls_conn.c  connections: set-up, DANE, handshake, I/O, outcome
 * tls_ocsp.c  the stapled OCSP response check
 * tls_name.c  the certificate name rule and log texts
 * tls_server.c the server context and server connections
 * tls_staple.c the OCSP staple the server sends (file cache and checks)
 */
#ifndef SPATE_TLS_TLS_INT_H
#define SPATE_TLS_TLS_INT_H

#include <openssl/ssl.h>
#include <pthread.h>

#include "tls/tls.h"

/* What a handshake established, kept with a cached session. */
struct tls__outcome {
    enum tls_cv cv;
    int dane;
    unsigned tlsa_usage;
    int dane_depth;
    enum tls_ocsp ocsp;
};

struct tls__sess;

/* One connection, client or server (tls_conn.c, tls_server.c). */
struct tls_conn {
    struct tls_client_ctx *ctx;
    SSL *ssl;
    int done; /* handshake complete */
    int dane; /* DANE mode (secure TLSA RRset) */
    int ocsp_require;
    enum tls_verify_mode verify;
    size_t nusable; /* TLSA records OpenSSL accepted */
    unsigned usage_bits;
    enum tls_ocsp ocsp; /* set by the status callback */
    char *cache_key;    /* NULL: no resumption */
    int have_saved;     /* a cached session was offered; saved is its outcome */
    struct tls__outcome saved;
    /* the caller's certificate hook (tls_conn_params.cert_hook) */
    int (*hook)(void *arg, int depth, const char *pem);
    void *hook_arg;
    int must_verify;         /* a failed check fails the handshake */
    unsigned long long seen; /* depths offered to the hook */
    long chain_error;        /* first check that failed (verify callback), 0 none */
    int refused;             /* the hook refused a certificate */
    int refused_depth;
    char err[320];
    /* server side (tls_server.c): NULL/0 on client connections */
    struct tls_server_ctx *srv;
    int in_ocsp; /* enum tls_in_ocsp */
};

struct tls_client_ctx {
    SSL_CTX *ssl_ctx;
    pthread_mutex_t lock; /* the session cache */
    struct tls__sess **tab;
    size_t tabsize, nsess, max;
    struct tls__sess *oldest, *newest; /* insertion order, for eviction */
};

/* tls__cache_get (tls_cache.c) - a new reference to the session stored under key and its
 * outcome; NULL if none (or no longer resumable) */
SSL_SESSION *tls__cache_get(struct tls_client_ctx *ctx, const char *key, struct tls__outcome *out);
/* tls__cache_put - store sess (the cache takes the caller's reference) */
void tls__cache_put(struct tls_client_ctx *ctx, const char *key, SSL_SESSION *sess,
                    const struct tls__outcome *o);
/* tls__cache_clear - release every cached session (tls_cache.c) */
void tls__cache_clear(struct tls_client_ctx *ctx);
/* tls__new_session_cb - OpenSSL's new-session callback (tls_conn.c) */
int tls__new_session_cb(SSL *ssl, SSL_SESSION *sess);
/* tls__ocsp_cb - OpenSSL's status callback for clients (tls_conn.c) */
int tls__ocsp_cb(SSL *ssl, void *arg);
/* tls__ocsp_check - judge the stapled response of ssl's peer (tls_ocsp.c) */
enum tls_ocsp tls__ocsp_check(SSL *ssl);

/* tls__pem_of - a certificate in PEM, malloc'd; NULL on failure (tls_conn.c) */
char *tls__pem_of(X509 *x);
/* tls__name_text - a distinguished name in RFC 2253 form into out (tls_conn.c) */
void tls__name_text(const X509_NAME *n, char *out, size_t len);

/* ---- server side (tls_server.c, tls_staple.c) ---- */

struct tls__staple;

struct tls_server_ctx {
    SSL_CTX *sc; /* owns this structure (ex_data), see tls.h Lifetime */
    int (*on_cert)(void *arg, int depth, const char *pem, const char *subject);
    void *on_cert_arg;
    struct tls__staple *staple; /* NULL: no tls_ocsp_file */
};

/* tls__staple_new - the staple state for path; NULL on no memory */
struct tls__staple *tls__staple_new(const char *path);
/* tls__staple_add_cert - a served certificate and its issuer (NULL: not found);
 * takes a reference to each; 0 or -1 */
int tls__staple_add_cert(struct tls__staple *st, X509 *leaf, X509 *issuer);
/* tls__staple_free - release it */
void tls__staple_free(struct tls__staple *st);
/* tls__staple_cb - OpenSSL's server status callback (arg: the tls_server_ctx) */
int tls__staple_cb(SSL *ssl, void *arg);

#endif
