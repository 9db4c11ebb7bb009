/*
 * test_tls.c - unit tests for tls/: the client context, non-blocking
 *              connections driven by the engine loop, certificate name
 *              checks, DANE (usages 2 and 3), OCSP staples, CRLs, client
 *              certificates and session resumption.
 *
 * Each case makes a fresh test PKI with tests/fixtures/mkcerts.sh in a
 * temporary directory and runs a small OpenSSL server thread of its own on
 * 127.0.0.1 (an ephemeral port, so parallel cases never collide). The server
 * staples the OCSP response file it is given, writes "hello\n" and closes.
 * Every wait is bounded (the loop's safety timer, the server's socket
 * timeouts).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/loop.h"
#include "tls/tls.h"

#include <cmocka.h>

#define RUN_MS 4000

/* ---- the server thread ---- */

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

/* srv_status_cb - staple the configured response file */
static int
srv_status_cb(SSL *ssl, void *arg)
{
    struct srv *s = arg;
    FILE *fp;
    unsigned char buf[16384], *der;
    size_t n;
    if (s->staple[0] == '\0' || (fp = fopen(s->staple, "rb")) == NULL)
        return SSL_TLSEXT_ERR_NOACK;
    n = fread(buf, 1, sizeof(buf), fp);
    fclose(fp);
    if (n == 0 || (der = OPENSSL_memdup(buf, n)) == NULL)
        return SSL_TLSEXT_ERR_NOACK;
    SSL_set_tlsext_status_ocsp_resp(ssl, der, (long)n);
    return SSL_TLSEXT_ERR_OK;
}

/* srv_one - serve one connection: handshake, "hello\n", close */
static void
srv_one(struct srv *s, int fd)
{
    struct timeval tv = {.tv_sec = 3};
    SSL *ssl = SSL_new(s->ctx);
    char buf[64];
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
        s->handshakes++;
        X509 *peer = SSL_get1_peer_certificate(ssl);
        s->got_client_cert |= peer != NULL;
        X509_free(peer);
        SSL_write(ssl, "hello\n", 6);
        SSL_shutdown(ssl);
        (void)SSL_read(ssl, buf, sizeof(buf)); /* wait for the client's close */
    }
    SSL_free(ssl);
    ERR_clear_error();
    close(fd);
}

/* srv_main - accept up to max_conns connections (bounded wait for each) */
static void *
srv_main(void *arg)
{
    struct srv *s = arg;
    while (s->conns < s->max_conns) {
        struct pollfd p = {.fd = s->lfd, .events = POLLIN};
        if (poll(&p, 1, RUN_MS) != 1)
            break;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            break;
        s->conns++;
        srv_one(s, fd);
    }
    return NULL;
}

/* srv_start - server context, listening socket, thread */
static void
srv_start(struct srv *s, int max_conns)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    s->max_conns = max_conns;
    s->conns = s->handshakes = s->got_client_cert = 0;
    assert_non_null(s->ctx = SSL_CTX_new(TLS_server_method()));
    assert_int_equal(SSL_CTX_use_certificate_chain_file(s->ctx, s->chain), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey_file(s->ctx, s->key, SSL_FILETYPE_PEM), 1);
    SSL_CTX_set_session_id_context(s->ctx, (const unsigned char *)"spate", 5);
    SSL_CTX_set_tlsext_status_cb(s->ctx, srv_status_cb);
    SSL_CTX_set_tlsext_status_arg(s->ctx, s);
    if (s->client_ca[0]) {
        assert_int_equal(SSL_CTX_load_verify_file(s->ctx, s->client_ca), 1);
        SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s->lfd >= 0);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(s->lfd, 8), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&sin, &len), 0);
    s->port = ntohs(sin.sin_port);
    assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
}

/* srv_stop - wait for the thread (it ends by itself, bounded) */
static void
srv_stop(struct srv *s)
{
    shutdown(s->lfd, SHUT_RDWR);
    pthread_join(s->th, NULL);
    close(s->lfd);
    SSL_CTX_free(s->ctx);
}

/* ---- fixture ---- */

struct fx {
    char dir[64];
    struct srv srv;
    struct tls_client_ctx *ctx;
};

/* fixtures_dir - tests/fixtures next to this source file (or $SPATE_SRC) */
static void
fixtures_dir(char *out, size_t len)
{
    const char *src = getenv("SPATE_SRC");
    char *slash;
    if (src != NULL) {
        snprintf(out, len, "%s/tests/fixtures", src);
        return;
    }
    snprintf(out, len, "%s", __FILE__);
    if ((slash = strrchr(out, '/')) == NULL)
        snprintf(out, len, "tests/fixtures");
    else
        snprintf(slash, len - (size_t)(slash - out), "/../fixtures");
}

/* path - DIR/name in a static rotating buffer */
static const char *
path(struct fx *f, const char *name)
{
    static char buf[8][256];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof(buf[k]), "%s/%s", f->dir, name);
    return buf[k];
}

/* fx_new - a fresh PKI; the server will use chain NAME (srv-NAME-chain.pem) */
static struct fx *
fx_new(const char *name)
{
    struct fx *f = calloc(1, sizeof(*f));
    char script[512], cmd[1024];
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/spate-tls.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    fixtures_dir(script, sizeof(script));
    snprintf(cmd, sizeof(cmd), "/bin/sh '%s/mkcerts.sh' '%s' >'%s/mkcerts.log' 2>&1", script,
             f->dir, f->dir);
    if (system(cmd) != 0)
        fail_msg("mkcerts.sh failed in %s", f->dir);
    if (strcmp(name, "self") == 0) {
        snprintf(f->srv.chain, sizeof(f->srv.chain), "%s", path(f, "self.pem"));
        snprintf(f->srv.key, sizeof(f->srv.key), "%s", path(f, "self.key"));
    } else {
        char n[64];
        snprintf(n, sizeof(n), "srv-%s-chain.pem", name);
        snprintf(f->srv.chain, sizeof(f->srv.chain), "%s", path(f, n));
        snprintf(n, sizeof(n), "srv-%s.key", name);
        snprintf(f->srv.key, sizeof(f->srv.key), "%s", path(f, n));
    }
    return f;
}

/* fx_ctx - the client context with the test root as CA (or o) */
static void
fx_ctx(struct fx *f, const struct tls_client_opts *o)
{
    struct tls_client_opts def = {.verify_certificates = path(f, "ca.pem")};
    char err[256] = "";
    f->ctx = tls_client_ctx_new(o ? o : &def, err, sizeof(err));
    if (f->ctx == NULL)
        fail_msg("tls_client_ctx_new: %s", err);
}

/* fx_free - stop everything, remove the files */
static void
fx_free(struct fx *f)
{
    char cmd[128];
    tls_client_ctx_free(f->ctx);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    free(f);
}

/* ---- the client, driven by the engine loop ---- */

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

/* cli_step - advance the handshake, then read until the peer closes */
static void
cli_step(struct cli *k)
{
    ssize_t r;
    if (k->hs != TLS_OK) {
        k->hs = tls_conn_handshake(k->c);
        if (k->hs == TLS_ERR) {
            snprintf(k->err, sizeof(k->err), "%s", tls_conn_error(k->c));
            k->done = 1;
            return;
        }
        if (k->hs != TLS_OK) {
            eng_io_set(k->loop, &k->io, k->hs == TLS_WANT_READ ? EPOLLIN : EPOLLOUT);
            return;
        }
        assert_int_equal(tls_conn_info(k->c, &k->info), 0);
    }
    for (int i = 0; i < 100; i++) {
        r = tls_conn_read(k->c, k->data + k->n, sizeof(k->data) - 1 - k->n);
        if (r > 0) {
            k->n += (size_t)r;
            continue;
        }
        if (r == TLS_WANT_READ || r == TLS_WANT_WRITE) {
            eng_io_set(k->loop, &k->io, r == TLS_WANT_READ ? EPOLLIN : EPOLLOUT);
            return;
        }
        if (r == TLS_ERR)
            snprintf(k->err, sizeof(k->err), "%s", tls_conn_error(k->c));
        tls_conn_shutdown(k->c);
        k->done = 1;
        return;
    }
}

/* on_cli_io - socket ready */
static void
on_cli_io(eng_loop *loop, struct eng_io *io, uint32_t events)
{
    struct cli *k = io->data;
    (void)events;
    cli_step(k);
    if (k->done) {
        eng_io_set(loop, io, 0);
        eng_loop_stop(loop);
    }
}

/* on_cli_safety - the run took too long */
static void
on_cli_safety(eng_loop *loop, struct eng_timer *t)
{
    struct cli *k = t->data;
    k->timed_out = 1;
    eng_io_set(loop, &k->io, 0);
    eng_loop_stop(loop);
}

/* connect_to - one client connection with params p; the outcome in *k.
 * Returns the handshake result (TLS_OK or TLS_ERR). */
static int
connect_to(struct fx *f, const struct tls_conn_params *p, struct cli *k)
{
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons(f->srv.port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    memset(k, 0, sizeof(*k));
    k->hs = TLS_WANT_WRITE;
    assert_true(fd >= 0);
    assert_true(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 || errno == EINPROGRESS);
    assert_non_null(k->loop = eng_loop_new());
    assert_non_null(k->c = tls_conn_new(f->ctx, fd, p));
    eng_io_init(&k->io, fd, on_cli_io, k);
    eng_timer_init(&k->safety, on_cli_safety, k);
    eng_io_set(k->loop, &k->io, EPOLLOUT);
    eng_timer_start(k->loop, &k->safety, RUN_MS);
    eng_loop_run(k->loop);
    eng_timer_stop(k->loop, &k->safety);
    assert_false(k->timed_out);
    assert_true(k->done);
    tls_conn_free(k->c);
    k->c = NULL;
    eng_loop_free(k->loop);
    close(fd);
    if (getenv("SPATE_TEST_VERBOSE"))
        fprintf(stderr, "hs=%d err=%s X=%s CV=%s ocsp=%s resumed=%d\n", k->hs, k->err, k->info.x,
                tls_cv_text(k->info.cv), tls_ocsp_text(k->info.ocsp), k->info.resumed);
    return k->hs == TLS_OK ? TLS_OK : TLS_ERR;
}

/* one_conn - start the server for one connection, connect, stop it */
static int
one_conn(struct fx *f, const struct tls_conn_params *p, struct cli *k)
{
    int rc;
    srv_start(&f->srv, 1);
    rc = connect_to(f, p, k);
    srv_stop(&f->srv);
    return rc;
}

/* spki_sha256 - SHA-256 of a certificate file's public key (TLSA x 1 1) */
static void
spki_sha256(const char *file, uint8_t out[32])
{
    FILE *fp = fopen(file, "r");
    X509 *x;
    unsigned char *der = NULL;
    int n;
    assert_non_null(fp);
    assert_non_null(x = PEM_read_X509(fp, NULL, NULL, NULL));
    fclose(fp);
    n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
    assert_true(n > 0);
    assert_int_equal(EVP_Digest(der, (size_t)n, out, NULL, EVP_sha256(), NULL), 1);
    OPENSSL_free(der);
    X509_free(x);
}

static const char *const mx_name[] = {"mx.example.test"};

/* ---- tests: PKIX ---- */

/* test_verified_chain - right name, chain to the test root: CV=yes */
static void
test_verified_chain(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    struct cli k;
    struct tls_conn_params p = {
        .sni = "mx.example.test", .names = mx_name, .nnames = 1, .verify = TLS_VERIFY_REQUIRE};
    fx_ctx(f, NULL);
    assert_int_equal(one_conn(f, &p, &k), TLS_OK);
    assert_string_equal(k.data, "hello\n");
    assert_int_equal(k.info.cv, TLS_CV_YES);
    assert_string_equal(k.info.version, "TLS1.3");
    assert_non_null(strstr(k.info.x, "TLS1.3:TLS_"));
    assert_true(k.info.bits >= 128);
    assert_false(k.info.dane);
    assert_int_equal(k.info.tlsa_usage, 0);
    assert_int_equal(k.info.ocsp, TLS_OCSP_NOT_REQUESTED);
    assert_non_null(strstr(k.info.peer_subject, "CN=mx.example.test"));
    assert_non_null(strstr(k.info.peer_issuer, "Intermediate"));
    assert_string_equal(tls_cv_text(k.info.cv), "yes");
    fx_free(f);
}

/* test_second_name - any of the names may match (SAN holds two) */
static void
test_second_name(void **state)
{
    (void)state;
    static const char *const names[] = {"nomatch.example.test", "MX2.Example.Test"};
    struct fx *f = fx_new("right");
    struct cli k;
    struct tls_conn_params p = {.names = names, .nnames = 2, .verify = TLS_VERIFY_REQUIRE};
    fx_ctx(f, NULL);
    assert_int_equal(one_conn(f, &p, &k), TLS_OK);
    assert_int_equal(k.info.cv, TLS_CV_YES);
    fx_free(f);
}

/* test_wrong_name - required: fails; tried: delivered with CV=no */
static void
test_wrong_name(void **state)
{
    (void)state;
    struct fx *f = fx_new("wrong");
    struct cli k;
    struct tls_conn_params p = {
        .sni = "mx.example.test", .names = mx_name, .nnames = 1, .verify = TLS_VERIFY_REQUIRE};
    fx_ctx(f, NULL);
    assert_int_equal(one_conn(f, &p, &k), TLS_ERR);
    assert_non_null(strstr(k.err, "hostname mismatch"));
    p.verify = TLS_VERIFY_TRY;
    assert_int_equal(one_conn(f, &p, &k), TLS_OK);
    assert_int_equal(k.info.cv, TLS_CV_NO);
    assert_int_equal(k.info.verify_error, X509_V_ERR_HOSTNAME_MISMATCH);
    /* no names to check: the chain alone verifies */
    p.nnames = 0;
    p.verify = TLS_VERIFY_REQUIRE;
    assert_int_equal(one_conn(f, &p, &k), TLS_OK);
    assert_int_equal(k.info.cv, TLS_CV_YES);
    fx_free(f);
}

/* test_wildcard - *.example.test matches one label only */
static void
test_wildcard(void **state)
{
    (void)state;
    static const char *n1[] = {"a.example.test"}, *n2[] = {"a.b.example.test"},
                      *n3[] = {"example.test"};
    struct fx *f = fx_new("wild");
    struct cli k;
    struct tls_conn_params p = {.names = n1, .nnames = 1, .verify = TLS_VERIFY_REQUIRE};
    fx_ctx(f, NULL);
    assert_int_equal(one_conn(f, &p, &k), TLS_OK);
    assert_int_equal(k.info.cv, TLS_CV_YES);
    p.names = n2;
    assert_int_equal(one_conn(f, &p, &k), TLS_ERR);
    assert_non_null(strstr(k.err, "hostname mismatch"));
    p.names = n3;
    assert_int_equal(one_conn(f, &p, &k), TLS_ERR);
    fx_free(f);
}

/* test_cn_only - no subjectAltName: the Subject CN is checked */
static void
test_cn_only(void **state)
{
    (void)state;
    static const char *ok[] = {"cn.example.test"}, *bad[] = {"mx.example.test"};
    struct fx *f = fx_new("cnonly");
    struct cli k;
    struct tls_conn_params p = {.names = ok, .nnames = 1, .verify = TLS_VERIFY_REQUIRE};
    fx_ctx(f, NULL);
    assert_int_equal(one_conn(f, &p, &k), TLS_OK);
    p.names = bad;
    assert_int_equal(one_conn(f, &p, &k), TLS_ERR);
    fx_free(f);
}

/* test_expired - an expired certificate fails verification */
static void
test_expired(void **state)
{
    (void)state;
    struct fx *f = fx_new("expired");
    struct cli k;
    struct tls_conn_params p = {.names = mx_name, .nnames = 1, .verify = TLS_VERIFY_REQUIRE};
    fx_ctx(f, NULL);
    assert_int_equal(one_conn(f, &p, &k), TLS_ERR);
    assert_non_null(strstr(k.err, "expired"));
    p.verify = TLS_VERIFY_NONE; /* opportunistic: delivered, CV=no */
    assert_int_equal(one_conn(f, &p, &k), TLS_OK);
    assert_int_equal(k.info.cv, TLS_CV_NO);
    assert_int_equal(k.info.verify_error, X509_V_ERR_CERT_HAS_EXPIRED);
    fx_free(f);
}

/* test_untrusted_ca - a CA store without the test root */
static void
test_untrusted_ca(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    struct cli k;
    struct tls_client_opts o = {.verify_certificates = path(f, "self.pem")};
    struct tls_conn_params p = {.names = mx_name, .nnames = 1, .verify = TLS_VERIFY_REQUIRE};
    fx_ctx(f, &o);
    assert_int_equal(one_conn(f, &p, &k), TLS_ERR);
    assert_non_null(strstr(k.err, "certificate verification failed"));
    fx_free(f);
}

/* test_crl - tls_crl: the revoked server certificate fails */
static void
test_crl(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    struct cli k;
    struct tls_client_opts o = {.verify_certificates = path(f, "ca.pem"),
                                .crl = path(f, "crl.pem")};
    struct tls_conn_params p = {.names = mx_name, .nnames = 1, .verify = TLS_VERIFY_REQUIRE};
    fx_ctx(f, &o);
    assert_int_equal(one_conn(f, &p, &k), TLS_ERR);
    assert_non_null(strstr(k.err, "revoked"));
    tls_client_ctx_free(f->ctx);
    o.crl = path(f, "ok.crl.pem");
    fx_ctx(f, &o);
    assert_int_equal(one_conn(f, &p, &k), TLS_OK);
    assert_int_equal(k.info.cv, TLS_CV_YES);
    fx_free(f);
}

/* test_client_cert - a server that demands a client certificate */
static void
test_client_cert(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    struct cli k;
    struct tls_client_opts o = {.verify_certificates = path(f, "ca.pem"),
                                .certificate = path(f, "srv-client-chain.pem"),
                                .privatekey = path(f, "client.key")};
    struct tls_conn_params p = {.verify = TLS_VERIFY_REQUIRE};
    snprintf(f->srv.client_ca, sizeof(f->srv.client_ca), "%s", path(f, "ca.pem"));
    fx_ctx(f, &o);
    assert_int_equal(one_conn(f, &p, &k), TLS_OK);
    assert_string_equal(k.data, "hello\n");
    assert_true(f->srv.got_client_cert);
    tls_client_ctx_free(f->ctx);
    fx_ctx(f, NULL); /* without one: the server refuses (TLS 1.3: seen at the first read) */
    one_conn(f, &p, &k);
    assert_false(f->srv.got_client_cert);
    assert_int_equal(f->srv.handshakes, 0);
    assert_string_equal(k.data, "");
    fx_free(f);
}

/* test_ctx_bad_files - unreadable or mismatched files are refused with a reason */
static void
test_ctx_bad_files(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    char err[256];
    struct tls_client_opts o = {.verify_certificates = "/nonexistent/ca.pem"};
    assert_null(tls_client_ctx_new(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "tls_verify_certificates"));
    o.verify_certificates = NULL;
    o.crl = path(f, "ca.key");
    assert_null(tls_client_ctx_new(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "tls_crl"));
    o.crl = NULL;
    o.certificate = path(f, "client.pem");
    o.privatekey = path(f, "ca.key");
    assert_null(tls_client_ctx_new(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "tls_privatekey"));
    o.certificate = path(f, "ca.key");
    assert_null(tls_client_ctx_new(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "tls_certificate"));
    /* the system default store, and NULL options, are fine */
    struct tls_client_ctx *c = tls_client_ctx_new(NULL, err, sizeof(err));
    assert_non_null(c);
    tls_client_ctx_free(c);
    fx_free(f);
}

/* ---- tests: DANE ---- */

/* test_dane_ee_match - 3 1 1 of a self-signed certificate; no name or CA checks */
static void
test_dane_ee_match(void **state)
{
    (void)state;
    static const char *const base[] = {"mx.example.test"};
    struct fx *f = fx_new("self");
    struct cli k;
    uint8_t h[32];
    struct tls_tlsa t[2] = {{3, 1, 1, 32, h}, {1, 1, 1, 32, h}};
    struct tls_conn_params p = {.sni = "mx.example.test",
                                .names = base,
                                .nnames = 1,
                                .verify = TLS_VERIFY_REQUIRE,
                                .dane = 1,
                                .tlsa = t,
                                .ntlsa = 2};
    spki_sha256(path(f, "self.pem"), h);
    fx_ctx(f, NULL);
    assert_int_equal(one_conn(f, &p, &k), TLS_OK);
    assert_int_equal(k.info.cv, TLS_CV_DANE);
    assert_true(k.info.dane);
    assert_int_equal(k.info.dane_depth, 0);
    assert_int_equal(k.info.tlsa_usage, 1u << 3); /* usage 1 was skipped */
    assert_string_equal(tls_cv_text(k.info.cv), "dane");
    fx_free(f);
}

/* test_dane_ee_mismatch - a usable record that does not match: no fallback */
static void
test_dane_ee_mismatch(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    struct cli k;
    uint8_t h[32] = {0};
    struct tls_tlsa t = {3, 1, 1, 32, h};
    struct tls_conn_params p = {.names = mx_name,
                                .nnames = 1,
                                .verify = TLS_VERIFY_NONE,
                                .dane = 1,
                                .tlsa = &t,
                                .ntlsa = 1};
    fx_ctx(f, NULL); /* the CA store would verify this chain: it must not matter */
    assert_int_equal(one_conn(f, &p, &k), TLS_ERR);
    assert_non_null(strstr(k.err, "DANE verification failed"));
    fx_free(f);
}

/* test_dane_ta_name - 2 1 1 of the intermediate: the name is checked */
static void
test_dane_ta_name(void **state)
{
    (void)state;
    static const char *const good[] = {"mx.sec.test", "mx.example.test"};
    static const char *const bad[] = {"other.sec.test", "nomatch.example.test"};
    struct fx *f = fx_new("right");
    struct cli k;
    uint8_t h[32];
    struct tls_tlsa t = {2, 1, 1, 32, h};
    struct tls_client_opts o = {.verify_certificates = path(f, "self.pem")}; /* no test root */
    struct tls_conn_params p = {
        .sni = "mx.sec.test", .names = good, .nnames = 2, .dane = 1, .tlsa = &t, .ntlsa = 1};
    spki_sha256(path(f, "int.pem"), h);
    fx_ctx(f, &o);
    assert_int_equal(one_conn(f, &p, &k), TLS_OK);
    assert_int_equal(k.info.cv, TLS_CV_DANE);
    assert_int_equal(k.info.dane_depth, 1);
    assert_int_equal(k.info.tlsa_usage, 1u << 2);
    p.names = bad;
    assert_int_equal(one_conn(f, &p, &k), TLS_ERR);
    assert_non_null(strstr(k.err, "hostname mismatch"));
    fx_free(f);
}

/* test_dane_none_usable - only usages 0/1 and a bad digest length: TLS, no authentication */
static void
test_dane_none_usable(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    struct cli k;
    uint8_t h[32] = {0};
    struct tls_tlsa t[3] = {{0, 0, 1, 32, h}, {1, 1, 1, 32, h}, {3, 1, 1, 20, h}};
    struct tls_conn_params p = {.names = mx_name,
                                .nnames = 1,
                                .verify = TLS_VERIFY_REQUIRE,
                                .dane = 1,
                                .tlsa = t,
                                .ntlsa = 3};
    fx_ctx(f, NULL);
    assert_int_equal(one_conn(f, &p, &k), TLS_OK);
    assert_int_equal(k.info.cv, TLS_CV_NO);
    assert_false(k.info.dane);
    assert_int_equal(k.info.tlsa_usage, 0);
    fx_free(f);
}

/* ---- tests: OCSP ---- */

/* make_expired_ocsp - a correctly signed "good" response that ended 3 days ago */
static void
make_expired_ocsp(struct fx *f, const char *out)
{
    FILE *fp;
    X509 *leaf, *issuer, *signer;
    EVP_PKEY *key;
    OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
    OCSP_RESPONSE *rsp;
    ASN1_TIME *thisupd = X509_gmtime_adj(NULL, -10 * 86400L);
    ASN1_TIME *nextupd = X509_gmtime_adj(NULL, -3 * 86400L);
    assert_non_null(fp = fopen(path(f, "srv-right.pem"), "r"));
    leaf = PEM_read_X509(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(fp = fopen(path(f, "int.pem"), "r"));
    issuer = PEM_read_X509(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(fp = fopen(path(f, "ocsp.pem"), "r"));
    signer = PEM_read_X509(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(fp = fopen(path(f, "ocsp.key"), "r"));
    key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
    fclose(fp);
    OCSP_CERTID *id = OCSP_cert_to_id(NULL, leaf, issuer);
    assert_non_null(id);
    assert_non_null(
        OCSP_basic_add1_status(bs, id, V_OCSP_CERTSTATUS_GOOD, 0, NULL, thisupd, nextupd));
    OCSP_CERTID_free(id);
    assert_int_equal(OCSP_basic_sign(bs, signer, key, EVP_sha256(), NULL, 0), 1);
    assert_non_null(rsp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs));
    unsigned char *der = NULL;
    int n = i2d_OCSP_RESPONSE(rsp, &der);
    assert_true(n > 0);
    assert_non_null(fp = fopen(out, "wb"));
    assert_int_equal(fwrite(der, 1, (size_t)n, fp), n);
    fclose(fp);
    OPENSSL_free(der);
    OCSP_RESPONSE_free(rsp);
    OCSP_BASICRESP_free(bs);
    ASN1_TIME_free(thisupd);
    ASN1_TIME_free(nextupd);
    X509_free(leaf);
    X509_free(issuer);
    X509_free(signer);
    EVP_PKEY_free(key);
}

/* ocsp_case - staple file (NULL: none), require or only request; outcome */
static int
ocsp_case(struct fx *f, const char *staple, int require, struct cli *k)
{
    struct tls_conn_params p = {.names = mx_name,
                                .nnames = 1,
                                .verify = TLS_VERIFY_REQUIRE,
                                .ocsp_request = 1,
                                .ocsp_require = require};
    snprintf(f->srv.staple, sizeof(f->srv.staple), "%s", staple ? path(f, staple) : "");
    return one_conn(f, &p, k);
}

/* test_ocsp_good - a good staple, required */
static void
test_ocsp_good(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    struct cli k;
    fx_ctx(f, NULL);
    assert_int_equal(ocsp_case(f, "ocsp-good.der", 1, &k), TLS_OK);
    assert_int_equal(k.info.ocsp, TLS_OCSP_GOOD);
    assert_string_equal(k.data, "hello\n");
    fx_free(f);
}

/* test_ocsp_revoked - revoked: refused when required, reported otherwise */
static void
test_ocsp_revoked(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    struct cli k;
    fx_ctx(f, NULL);
    assert_int_equal(ocsp_case(f, "ocsp-revoked.der", 1, &k), TLS_ERR);
    assert_non_null(strstr(k.err, "OCSP status revoked"));
    assert_int_equal(ocsp_case(f, "ocsp-revoked.der", 0, &k), TLS_OK);
    assert_int_equal(k.info.ocsp, TLS_OCSP_REVOKED);
    fx_free(f);
}

/* test_ocsp_missing - nothing stapled */
static void
test_ocsp_missing(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    struct cli k;
    fx_ctx(f, NULL);
    assert_int_equal(ocsp_case(f, NULL, 1, &k), TLS_ERR);
    assert_non_null(strstr(k.err, "OCSP status missing"));
    assert_int_equal(ocsp_case(f, NULL, 0, &k), TLS_OK);
    assert_int_equal(k.info.ocsp, TLS_OCSP_MISSING);
    fx_free(f);
}

/* test_ocsp_expired - past nextUpdate, or no nextUpdate at all */
static void
test_ocsp_expired(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    struct cli k;
    fx_ctx(f, NULL);
    make_expired_ocsp(f, path(f, "ocsp-expired.der"));
    assert_int_equal(ocsp_case(f, "ocsp-expired.der", 1, &k), TLS_ERR);
    assert_non_null(strstr(k.err, "OCSP status expired"));
    assert_int_equal(ocsp_case(f, "ocsp-expired.der", 0, &k), TLS_OK);
    assert_int_equal(k.info.ocsp, TLS_OCSP_EXPIRED);
    assert_int_equal(ocsp_case(f, "ocsp-noend.der", 1, &k), TLS_ERR);
    fx_free(f);
}

/* test_ocsp_unbound_and_garbage - a response for another certificate, and junk */
static void
test_ocsp_unbound_and_garbage(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    struct cli k;
    fx_ctx(f, NULL);
    assert_int_equal(ocsp_case(f, "ocsp-other.der", 1, &k), TLS_ERR);
    assert_int_equal(ocsp_case(f, "ocsp-other.der", 0, &k), TLS_OK);
    assert_int_equal(k.info.ocsp, TLS_OCSP_NOT_BOUND);
    assert_int_equal(ocsp_case(f, "ca.pem", 0, &k), TLS_OK); /* not DER OCSP at all */
    assert_int_equal(k.info.ocsp, TLS_OCSP_BAD_SIGNATURE);
    assert_int_equal(ocsp_case(f, "ca.pem", 1, &k), TLS_ERR);
    fx_free(f);
}

/* test_ocsp_untrusted_responder - a responder that chains to no trusted CA */
static void
test_ocsp_untrusted_responder(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    struct cli k;
    struct tls_conn_params p = {
        .names = mx_name, .nnames = 1, .verify = TLS_VERIFY_NONE, .ocsp_request = 1};
    struct tls_client_opts o = {.verify_certificates = path(f, "self.pem")};
    fx_ctx(f, &o);
    snprintf(f->srv.staple, sizeof(f->srv.staple), "%s", path(f, "ocsp-good.der"));
    assert_int_equal(one_conn(f, &p, &k), TLS_OK);
    assert_int_equal(k.info.cv, TLS_CV_NO);
    assert_int_equal(k.info.ocsp, TLS_OCSP_BAD_SIGNATURE);
    fx_free(f);
}

/* test_ocsp_under_dane_ta - the responder verifies through the DANE-TA anchor */
static void
test_ocsp_under_dane_ta(void **state)
{
    (void)state;
    static const char *const names[] = {"mx.example.test"};
    struct fx *f = fx_new("right");
    struct cli k;
    uint8_t h[32];
    struct tls_tlsa t = {2, 1, 1, 32, h};
    struct tls_client_opts o = {.verify_certificates = path(f, "self.pem")};
    struct tls_conn_params p = {.names = names,
                                .nnames = 1,
                                .dane = 1,
                                .tlsa = &t,
                                .ntlsa = 1,
                                .ocsp_request = 1,
                                .ocsp_require = 1};
    spki_sha256(path(f, "int.pem"), h);
    fx_ctx(f, &o);
    snprintf(f->srv.staple, sizeof(f->srv.staple), "%s", path(f, "ocsp-good.der"));
    assert_int_equal(one_conn(f, &p, &k), TLS_OK);
    assert_int_equal(k.info.cv, TLS_CV_DANE);
    assert_int_equal(k.info.ocsp, TLS_OCSP_GOOD);
    fx_free(f);
}

/* ---- tests: session resumption ---- */

/* test_session_resumption - the second connection to a destination resumes */
static void
test_session_resumption(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    struct cli k;
    struct tls_conn_params p = {.names = mx_name,
                                .nnames = 1,
                                .verify = TLS_VERIFY_REQUIRE,
                                .session_key = "smtp|25|mx.example.test"};
    fx_ctx(f, NULL);
    srv_start(&f->srv, 4);
    assert_int_equal(connect_to(f, &p, &k), TLS_OK);
    assert_false(k.info.resumed);
    assert_true(tls_session_cache_size(f->ctx) >= 1);
    assert_int_equal(connect_to(f, &p, &k), TLS_OK);
    assert_true(k.info.resumed);
    assert_int_equal(k.info.cv, TLS_CV_YES);
    assert_string_equal(k.data, "hello\n");
    p.session_key = "smtp|25|other"; /* another destination: a full handshake */
    assert_int_equal(connect_to(f, &p, &k), TLS_OK);
    assert_false(k.info.resumed);
    p.session_key = "smtp|25|mx.example.test"; /* same key, other names: not resumed */
    p.nnames = 0;
    assert_int_equal(connect_to(f, &p, &k), TLS_OK);
    assert_false(k.info.resumed);
    srv_stop(&f->srv);
    fx_free(f);
}

/* test_session_dane_resumed - a resumed DANE session still reports CV=dane;
 * a required staple is never taken from a cached session */
static void
test_session_dane_resumed(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    struct cli k;
    uint8_t h[32];
    struct tls_tlsa t = {2, 1, 1, 32, h};
    struct tls_conn_params p = {
        .names = mx_name, .nnames = 1, .dane = 1, .tlsa = &t, .ntlsa = 1, .session_key = "d"};
    spki_sha256(path(f, "int.pem"), h);
    fx_ctx(f, NULL);
    snprintf(f->srv.staple, sizeof(f->srv.staple), "%s", path(f, "ocsp-good.der"));
    srv_start(&f->srv, 4);
    assert_int_equal(connect_to(f, &p, &k), TLS_OK);
    assert_int_equal(connect_to(f, &p, &k), TLS_OK);
    assert_true(k.info.resumed);
    assert_int_equal(k.info.cv, TLS_CV_DANE);
    assert_true(k.info.dane);
    assert_int_equal(k.info.tlsa_usage, 1u << 2);
    p.ocsp_require = 1;
    assert_int_equal(connect_to(f, &p, &k), TLS_OK);
    assert_false(k.info.resumed);
    assert_int_equal(k.info.ocsp, TLS_OCSP_GOOD);
    srv_stop(&f->srv);
    fx_free(f);
}

/* ---- tests: the name rule ---- */

/* test_name_rules - tls_name_matches, including malformed patterns */
static void
test_name_rules(void **state)
{
    (void)state;
    assert_true(tls_name_matches("mx.example.test", "mx.example.test"));
    assert_true(tls_name_matches("MX.Example.TEST", "mx.example.test"));
    assert_false(tls_name_matches("mx.example.test", "mx.example.test."));
    assert_false(tls_name_matches("mx.example.test", "mx2.example.test"));
    assert_true(tls_name_matches("*.example.test", "a.example.test"));
    assert_true(tls_name_matches("*.example.test", "A-1.EXAMPLE.test"));
    assert_false(tls_name_matches("*.example.test", "a.b.example.test"));
    assert_false(tls_name_matches("*.example.test", "example.test"));
    assert_false(tls_name_matches("*.example.test", ".example.test"));
    assert_false(tls_name_matches("*.test", "example.test"));              /* two labels only */
    assert_false(tls_name_matches("f*.example.test", "foo.example.test")); /* partial */
    assert_false(tls_name_matches("*o.example.test", "foo.example.test"));
    assert_false(tls_name_matches("a.*.example.test", "a.b.example.test"));
    assert_false(tls_name_matches("*.*.example.test", "a.b.example.test"));
    assert_false(tls_name_matches("*.example.test.", "a.example.test."));
    assert_false(tls_name_matches("*.-example.test", "a.-example.test"));
    assert_false(tls_name_matches("*.example-.test", "a.example-.test"));
    assert_false(tls_name_matches("*..test", "a..test"));
    assert_false(tls_name_matches("*.example.test", "a_b.example.test"));
    assert_true(tls_name_matches("*.example.test", "*.example.test"));
    assert_true(tls_name_matches("f*.example.test", "f*.example.test")); /* literal */
    assert_false(tls_name_matches("", "a"));
    assert_false(tls_name_matches("a", ""));
    assert_false(tls_name_matches(NULL, "a"));
    assert_false(tls_name_matches("a", NULL));
}

/* check_host - X509_check_host on a certificate with one SAN DNS name */
static int
check_host(const char *pattern, const char *host)
{
    X509 *x = X509_new();
    GENERAL_NAMES *gens = GENERAL_NAMES_new();
    GENERAL_NAME *g = GENERAL_NAME_new();
    ASN1_IA5STRING *s = ASN1_IA5STRING_new();
    int rc;
    ASN1_STRING_set(s, pattern, (int)strlen(pattern));
    GENERAL_NAME_set0_value(g, GEN_DNS, s);
    sk_GENERAL_NAME_push(gens, g);
    X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, 0);
    GENERAL_NAMES_free(gens);
    rc = X509_check_host(x, host, strlen(host), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL);
    X509_free(x);
    return rc == 1;
}

/* test_name_rule_is_openssls - the rule agrees with the check the handshake uses */
static void
test_name_rule_is_openssls(void **state)
{
    (void)state;
    static const char *const pats[] = {
        "*.example.test", "mx.example.test", "*.test", "f*.example.test", "*.a-b.test", "*.-a.test",
        "a.*.test",       "*.example.test.", "*",      "*.xn--a.test"};
    static const char *const hosts[] = {"a.example.test",   "A.EXAMPLE.TEST",   "mx.example.test",
                                        "x.test",           "foo.example.test", "b.a-b.test",
                                        "a.x.test",         "a.example.test.",  "example.test",
                                        "xn--z.xn--a.test", "*.example.test",   "a.b.example.test"};
    for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++)
        for (size_t j = 0; j < sizeof(hosts) / sizeof(hosts[0]); j++)
            if (tls_name_matches(pats[i], hosts[j]) != check_host(pats[i], hosts[j]))
                fail_msg("pattern %s host %s: rule %d, OpenSSL %d", pats[i], hosts[j],
                         tls_name_matches(pats[i], hosts[j]), check_host(pats[i], hosts[j]));
}

const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_verified_chain),
    cmocka_unit_test(test_second_name),
    cmocka_unit_test(test_wrong_name),
    cmocka_unit_test(test_wildcard),
    cmocka_unit_test(test_cn_only),
    cmocka_unit_test(test_expired),
    cmocka_unit_test(test_untrusted_ca),
    cmocka_unit_test(test_crl),
    cmocka_unit_test(test_client_cert),
    cmocka_unit_test(test_ctx_bad_files),
    cmocka_unit_test(test_dane_ee_match),
    cmocka_unit_test(test_dane_ee_mismatch),
    cmocka_unit_test(test_dane_ta_name),
    cmocka_unit_test(test_dane_none_usable),
    cmocka_unit_test(test_ocsp_good),
    cmocka_unit_test(test_ocsp_revoked),
    cmocka_unit_test(test_ocsp_missing),
    cmocka_unit_test(test_ocsp_expired),
    cmocka_unit_test(test_ocsp_unbound_and_garbage),
    cmocka_unit_test(test_ocsp_untrusted_responder),
    cmocka_unit_test(test_ocsp_under_dane_ta),
    cmocka_unit_test(test_session_resumption),
    cmocka_unit_test(test_session_dane_resumed),
    cmocka_unit_test(test_name_rules),
    cmocka_unit_test(test_name_rule_is_openssls),
};

int
main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
