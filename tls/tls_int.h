/*
 * tls_int.h - internals shared by the tls/ sources (not for other modules).
 *
 * tls.c       the client context and its session cache
 * tls_conn.c  connections: set-up, DANE, handshake, I/O, outcome
 * tls_ocsp.c  the stapled OCSP response check
 * tls_name.c  the certificate name rule and log texts
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

#endif
