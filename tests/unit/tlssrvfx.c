/*
 * tlssrvfx.c - the server-side TLS fixture: see tlssrvfx.h.
 */
#include "tlssrvfx.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"

#include <cmocka.h>

/* srv_ctx - a server context for the named certificates */
struct tls_server_ctx *
srv_ctx(struct fx *f, const char *names, const struct tls_server_params *p)
{
    static char certs[4][256], keys[4][256];
    const char *cp[4], *kp[4];
    struct tls_server_params q = {0};
    char list[128], *save = NULL, *n;
    char err[320] = "";
    struct tls_server_ctx *s;
    size_t k = 0;
    if (p != NULL)
        q = *p;
    snprintf(list, sizeof(list), "%s", names);
    for (n = strtok_r(list, ",", &save); n != NULL && k < 4; n = strtok_r(NULL, ",", &save)) {
        snprintf(certs[k], sizeof(certs[k]), "%s/srv-%s-chain.pem", f->dir, n);
        snprintf(keys[k], sizeof(keys[k]), "%s/srv-%s.key", f->dir, n);
        cp[k] = certs[k];
        kp[k] = keys[k];
        k++;
    }
    q.certs = cp;
    q.keys = kp;
    q.ncerts = k;
    if (q.verify_certificates == NULL)
        q.verify_certificates = path(f, "ca.pem");
    s = tls_server_ctx_new(&q, err, sizeof(err));
    if (s == NULL)
        fail_msg("tls_server_ctx_new: %s", err);
    return s;
}

/* status_cb - the client accepts any staple; run_pair reads it afterwards */
static int
status_cb(SSL *ssl, void *arg)
{
    (void)ssl, (void)arg;
    return 1;
}

/* client_new - the OpenSSL client per o over fd */
static SSL *
client_new(const struct copt *o, int fd, SSL_CTX **pctx)
{
    SSL_CTX *cc = SSL_CTX_new(TLS_client_method());
    SSL *ssl;
    assert_non_null(cc);
    SSL_CTX_set_verify(cc, SSL_VERIFY_NONE, NULL);
    if (o->max_version)
        SSL_CTX_set_max_proto_version(cc, o->max_version);
    if (o->sigalgs)
        assert_int_equal(SSL_CTX_set1_sigalgs_list(cc, o->sigalgs), 1);
    if (o->ciphers)
        assert_int_equal(SSL_CTX_set_cipher_list(cc, o->ciphers), 1);
    if (o->cert) {
        assert_int_equal(SSL_CTX_use_certificate_chain_file(cc, o->cert), 1);
        assert_int_equal(SSL_CTX_use_PrivateKey_file(cc, o->key, SSL_FILETYPE_PEM), 1);
    }
    if (o->status) {
        SSL_CTX_set_tlsext_status_cb(cc, status_cb);
        SSL_CTX_set_tlsext_status_type(cc, TLSEXT_STATUSTYPE_ocsp);
    }
    assert_non_null(ssl = SSL_new(cc));
    SSL_set_fd(ssl, fd);
    SSL_set_connect_state(ssl);
    if (o->sni)
        SSL_set_tlsext_host_name(ssl, o->sni);
    *pctx = cc;
    return ssl;
}

/* client_seen - what the client saw: the server's key type and the staple */
static void
client_seen(SSL *ssl, struct res *r)
{
    const unsigned char *p = NULL;
    long n = SSL_get_tlsext_status_ocsp_resp(ssl, &p);
    X509 *peer = SSL_get0_peer_certificate(ssl);
    if (peer != NULL)
        r->srv_key_type = EVP_PKEY_get_base_id(X509_get0_pubkey(peer));
    if (n > 0 && p != NULL && (size_t)n <= sizeof(r->staple)) {
        memcpy(r->staple, p, (size_t)n);
        r->staple_len = n;
    }
}

/* step_client - one client handshake step: 1 done, -1 failed, 0 wants more */
static int
step_client(SSL *ssl)
{
    int rc = SSL_do_handshake(ssl), e;
    if (rc == 1)
        return 1;
    e = SSL_get_error(ssl, rc);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
}

/* drive - step both sides until each has finished (bounded) */
static void
drive(struct tls_conn *c, SSL *ssl, int sfd, int cfd, struct res *r)
{
    int sdone = 0, cdone = 0;
    r->srv_rc = TLS_WANT_READ;
    for (int i = 0; i < 2000 && !(sdone && cdone); i++) {
        if (!sdone && (r->srv_rc = tls_conn_handshake(c)) != TLS_WANT_READ &&
            r->srv_rc != TLS_WANT_WRITE) {
            sdone = 1;
            if (r->srv_rc != TLS_OK)
                shutdown(sfd, SHUT_RDWR); /* the client must not wait for more */
        }
        if (!cdone && (r->cli_ok = step_client(ssl)) != 0) {
            cdone = 1;
            if (r->cli_ok < 0)
                shutdown(cfd, SHUT_RDWR);
        }
        struct pollfd p[2] = {{.fd = sfd, .events = POLLIN}, {.fd = cfd, .events = POLLIN}};
        if (!(sdone && cdone))
            poll(p, 2, 5);
    }
    assert_true(sdone);
}

/* exchange - the server writes "hi", the client reads it */
static void
exchange(struct tls_conn *c, SSL *ssl, struct res *r)
{
    int n = 0;
    assert_int_equal(tls_conn_write(c, "hi", 2), 2);
    for (int i = 0; i < 200 && n <= 0; i++) {
        n = SSL_read(ssl, r->got, sizeof(r->got) - 1);
        if (n <= 0) {
            struct pollfd p = {.fd = SSL_get_fd(ssl), .events = POLLIN};
            poll(&p, 1, 5);
        }
    }
    assert_true(n > 0);
    r->got[n] = '\0';
}

/* run_pair - one handshake between a server tls_conn and an OpenSSL client */
int
run_pair(struct tls_server_ctx *s, int verify, const struct copt *o, struct res *r)
{
    int sv[2];
    SSL_CTX *cc;
    SSL *ssl;
    struct tls_conn *c;
    char err[320] = "";
    memset(r, 0, sizeof(*r));
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    c = tls_conn_new_server(s, sv[0], verify, err, sizeof(err));
    if (c == NULL)
        fail_msg("tls_conn_new_server: %s", err);
    ssl = client_new(o, sv[1], &cc);
    drive(c, ssl, sv[0], sv[1], r);
    snprintf(r->srv_err, sizeof(r->srv_err), "%s", tls_conn_error(c));
    if (r->srv_rc == TLS_OK) {
        assert_int_equal(r->cli_ok, 1);
        assert_int_equal(tls_conn_info(c, &r->info), 0);
        assert_int_equal(tls_conn_server_info(c, &r->si), 0);
        client_seen(ssl, r);
        exchange(c, ssl, r);
    } else {
        assert_int_equal(tls_conn_server_info(c, &r->si), -1);
    }
    if (getenv("SPATE_TEST_VERBOSE"))
        fprintf(stderr, "srv=%d cli=%d err=%s X=%s CV=%s sni=%s ocsp=%d staple=%ld\n", r->srv_rc,
                r->cli_ok, r->srv_err, r->info.x, tls_cv_text(r->info.cv), r->si.sni, r->si.ocsp,
                r->staple_len);
    tls_conn_free(c);
    SSL_free(ssl);
    SSL_CTX_free(cc);
    close(sv[0]);
    close(sv[1]);
    ERR_clear_error();
    return r->srv_rc == TLS_OK ? TLS_OK : TLS_ERR;
}

/* log_to - send the main log to DIR/log */
void
log_to(struct fx *f)
{
    assert_int_equal(log_open(path(f, "log"), 0), 0);
}

/* log_count - lines of the log holding needle */
int
log_count(struct fx *f, const char *needle)
{
    FILE *fp = fopen(path(f, "log"), "r");
    char line[LOG_LINE_MAX];
    int n = 0;
    if (fp == NULL)
        return 0;
    while (fgets(line, sizeof(line), fp) != NULL)
        n += strstr(line, needle) != NULL;
    fclose(fp);
    return n;
}
