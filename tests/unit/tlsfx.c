/*
 * tlsfx.c - the shared fixture of the tls/ unit programs: see tlsfx.h.
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

#include "tlsfx.h"

#include <cmocka.h>
/* ---- the server thread ---- */

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
void
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
void
srv_stop(struct srv *s)
{
    shutdown(s->lfd, SHUT_RDWR);
    pthread_join(s->th, NULL);
    close(s->lfd);
    SSL_CTX_free(s->ctx);
}

/* ---- fixture ---- */

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
const char *
path(struct fx *f, const char *name)
{
    static char buf[8][256];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof(buf[k]), "%s/%s", f->dir, name);
    return buf[k];
}

/* fx_new - a fresh PKI; the server will use chain NAME (srv-NAME-chain.pem) */
struct fx *
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
void
fx_ctx(struct fx *f, const struct tls_client_opts *o)
{
    struct tls_client_opts def = {.verify_certificates = path(f, "ca.pem")};
    char err[256] = "";
    f->ctx = tls_client_ctx_new(o ? o : &def, err, sizeof(err));
    if (f->ctx == NULL)
        fail_msg("tls_client_ctx_new: %s", err);
}

/* fx_free - stop everything, remove the files */
void
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
int
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
int
one_conn(struct fx *f, const struct tls_conn_params *p, struct cli *k)
{
    int rc;
    srv_start(&f->srv, 1);
    rc = connect_to(f, p, k);
    srv_stop(&f->srv);
    return rc;
}

/* spki_sha256 - SHA-256 of a certificate file's public key (TLSA x 1 1) */
void
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

const char *const mx_name[] = {"mx.example.test"};