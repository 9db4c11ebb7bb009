/*
 * tlsfx.h - what the tls/ unit programs (test_tls.c, test_tls_ocsp.c) share:
 *           a fresh test PKI per case (tests/fixtures/mkcerts.sh in a
 *           temporary directory), a small OpenSSL server thread on
 *           127.0.0.1 (an ephemeral port) that staples the OCSP response
 *           file it is given, writes "hello\n" and closes, and a client
 *           connection driven by the engine loop. Every wait is bounded.
 */
#ifndef SPATE_TESTS_TLSFX_H
#define SPATE_TESTS_TLSFX_H

#include <openssl/ssl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "base/loop.h"
#include "tls/tls.h"

#define RUN_MS 4000

struct srv {
    char chain[256], key[256]; /* certificate chain and key files */
    char staple[256];          /* OCSP response to staple ("" none) */
    char client_ca[256];       /* require a client certificate from this CA ("" no) */
    int max_conns;
    int lfd;
    uint16_t port;
    SSL_CTX *ctx;
    pthread_t th;
    int conns, handshakes, got_client_cert;
};

struct fx {
    char dir[64];
    struct srv srv;
    struct tls_client_ctx *ctx;
};

struct cli {
    eng_loop *loop;
    struct eng_io io;
    struct eng_timer safety;
    struct tls_conn *c;
    int hs; /* last handshake result */
    int done, timed_out;
    char data[64];
    size_t n;
    struct tls_info info;
    char err[320];
};

/* srv_start - server context, listening socket, thread for max_conns connections */
void srv_start(struct srv *s, int max_conns);
/* srv_stop - wait for the server thread (it ends by itself, bounded) */
void srv_stop(struct srv *s);
/* path - DIR/name in a static rotating buffer */
const char *path(struct fx *f, const char *name);
/* fx_new - a fresh PKI; the server will use chain NAME (srv-NAME-chain.pem) */
struct fx *fx_new(const char *name);
/* fx_ctx - the client context with the test root as CA (or o) */
void fx_ctx(struct fx *f, const struct tls_client_opts *o);
/* fx_free - stop everything, remove the files */
void fx_free(struct fx *f);
/* connect_to - one client connection with params p; the outcome in *k */
int connect_to(struct fx *f, const struct tls_conn_params *p, struct cli *k);
/* one_conn - start the server for one connection, connect, stop it */
int one_conn(struct fx *f, const struct tls_conn_params *p, struct cli *k);
/* spki_sha256 - SHA-256 of a certificate file's public key (TLSA x 1 1) */
void spki_sha256(const char *file, uint8_t out[32]);

extern const char *const mx_name[1]; /* {"mx.example.test"} */

#endif
