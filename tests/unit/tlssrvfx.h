/*
 * tlssrvfx.h - what the server-side TLS unit programs (test_tls_server.c,
 *              test_tls_server_ocsp.c) share: a server struct tls_conn and a
 *              plain OpenSSL client over a socketpair, both non-blocking and
 *              stepped in turn from one thread (bounded), the client able to
 *              restrict signature algorithms, versions and ciphers, offer a
 *              certificate and ask for OCSP status; and the main log in a file
 *              so that warnings can be counted. The PKI is tlsfx.h's.
 */
#ifndef SPATE_TESTS_TLSSRVFX_H
#define SPATE_TESTS_TLSSRVFX_H

#include <stddef.h>

#include "tls/tls.h"
#include "tlsfx.h"

struct copt {
    const char *sigalgs; /* e.g. "ecdsa_secp256r1_sha256"; NULL default */
    int max_version;     /* TLS1_2_VERSION ...; 0 default */
    const char *ciphers; /* TLS <= 1.2 list; NULL default */
    const char *cert;    /* client certificate chain file; NULL none */
    const char *key;
    int status; /* ask for OCSP status */
    const char *sni;
};

struct res {
    int srv_rc, cli_ok;
    char srv_err[320];
    struct tls_info info; /* the server's view */
    struct tls_server_info si;
    int srv_key_type; /* EVP_PKEY_RSA / EVP_PKEY_EC of the certificate the client got */
    long staple_len;  /* what the client saw stapled (0 none) */
    unsigned char staple[8192];
    char got[16]; /* bytes the client read after the handshake */
};

/* srv_ctx - a server context for the certificates named (srv-NAME-chain.pem /
 * srv-NAME.key, "," separated); p supplies the rest (may be NULL) */
struct tls_server_ctx *srv_ctx(struct fx *f, const char *names, const struct tls_server_params *p);
/* run_pair - one handshake; the server writes "hi" after it; TLS_OK or TLS_ERR (the server's) */
int run_pair(struct tls_server_ctx *s, int verify, const struct copt *o, struct res *r);
/* log_to - send the main log to DIR/log */
void log_to(struct fx *f);
/* log_count - lines of the log holding needle */
int log_count(struct fx *f, const char *needle);

#endif
