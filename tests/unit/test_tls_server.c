/*
 * test_tls_server.c - unit tests for tls/'s server side: RSA and ECDSA
 *                     certificates served by signature algorithm, the
 *                     minimum version, the cipher list, client certificates
 *                     (none / try / require), the tls:cert hook, SNI, the
 *                     X= text and bad configurations.
 *
 * Each case makes a fresh test PKI (tlsfx.h) and runs a real handshake
 * between a server tls_conn and an OpenSSL client over a socketpair
 * (tlssrvfx.h).
 */
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tlssrvfx.h"

#include <cmocka.h>

/* client_chain - the client certificate followed by the intermediate */
static const char *
client_chain(struct fx *f)
{
    static char out[256];
    char cmd[768];
    snprintf(out, sizeof(out), "%s", path(f, "client-chain.pem"));
    snprintf(cmd, sizeof(cmd), "cat '%s' '%s' >'%s'", path(f, "client.pem"), path(f, "int.pem"),
             out);
    assert_int_equal(system(cmd), 0);
    return out;
}

/* test_srv_rsa_and_ecdsa - both certificates served, each to the client that can only take it */
static void
test_srv_rsa_and_ecdsa(void **state)
{
    (void)state;
    setenv("MKCERTS_RSA", "1", 1);
    struct fx *f = fx_new("right");
    struct tls_server_ctx *s = srv_ctx(f, "rsa,right", NULL);
    struct copt rsa = {.sigalgs = "rsa_pss_rsae_sha256:RSA+SHA256"};
    struct copt ec = {.sigalgs = "ecdsa_secp256r1_sha256"};
    struct copt rsa12 = {.sigalgs = "RSA+SHA256", .max_version = TLS1_2_VERSION};
    struct res r;
    assert_int_equal(run_pair(s, 0, &rsa, &r), TLS_OK);
    assert_int_equal(r.srv_key_type, EVP_PKEY_RSA);
    assert_string_equal(r.got, "hi");
    assert_int_equal(run_pair(s, 0, &ec, &r), TLS_OK);
    assert_int_equal(r.srv_key_type, EVP_PKEY_EC);
    assert_int_equal(run_pair(s, 0, &rsa12, &r), TLS_OK);
    assert_int_equal(r.srv_key_type, EVP_PKEY_RSA);
    assert_string_equal(r.info.version, "TLS1.2");
    tls_server_ctx_free(s);
    /* only the EC certificate: a client that takes only RSA fails */
    s = srv_ctx(f, "right", NULL);
    assert_int_equal(run_pair(s, 0, &rsa, &r), TLS_ERR);
    tls_server_ctx_free(s);
    fx_free(f);
}

/* test_srv_x_and_sni - X= as the client side writes it, SNI, no client certificate */
static void
test_srv_x_and_sni(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    struct tls_server_ctx *s = srv_ctx(f, "right", NULL);
    struct copt o = {.sni = "mx.example.test"};
    struct copt bad = {.sni = "mx.exa mple"};
    struct res r;
    assert_int_equal(run_pair(s, 0, &o, &r), TLS_OK);
    assert_string_equal(r.info.version, "TLS1.3");
    assert_string_equal(r.info.x, "TLS1.3:TLS_AES_256_GCM_SHA384:256");
    assert_int_equal(r.info.cv, TLS_CV_NO);
    assert_string_equal(r.si.sni, "mx.example.test");
    assert_int_equal(r.si.peer_cert, 0);
    assert_string_equal(r.si.peer_dn, "");
    assert_int_equal(r.si.ocsp, TLS_IN_OCSP_NOT_REQUESTED);
    assert_int_equal(run_pair(s, 0, &bad, &r), TLS_OK);
    assert_string_equal(r.si.sni, ""); /* not handed on */
    tls_server_ctx_free(s);
    fx_free(f);
}

/* test_srv_min_version - TLSv1.3 minimum refuses a TLS 1.2 client; the default takes it */
static void
test_srv_min_version(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    struct tls_server_params p13 = {.min_version = "TLSv1.3"};
    struct tls_server_ctx *s = srv_ctx(f, "right", &p13);
    struct copt c12 = {.max_version = TLS1_2_VERSION};
    struct res r;
    assert_int_equal(run_pair(s, 0, &c12, &r), TLS_ERR);
    assert_non_null(strstr(r.srv_err, "unsupported protocol"));
    tls_server_ctx_free(s);
    s = srv_ctx(f, "right", NULL);
    assert_int_equal(run_pair(s, 0, &c12, &r), TLS_OK);
    assert_string_equal(r.info.version, "TLS1.2");
    assert_int_equal(strncmp(r.info.x, "TLS1.2:ECDHE-ECDSA-", 19), 0);
    tls_server_ctx_free(s);
    fx_free(f);
}

/* test_srv_ciphers - tls_require_ciphers decides the TLS 1.2 cipher */
static void
test_srv_ciphers(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    struct tls_server_params p = {.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256"};
    struct tls_server_ctx *s = srv_ctx(f, "right", &p);
    struct copt any12 = {.max_version = TLS1_2_VERSION};
    struct copt other = {.max_version = TLS1_2_VERSION, .ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384"};
    struct res r;
    assert_int_equal(run_pair(s, 0, &any12, &r), TLS_OK);
    assert_string_equal(r.info.cipher, "ECDHE-ECDSA-AES128-GCM-SHA256");
    assert_string_equal(r.info.x, "TLS1.2:ECDHE-ECDSA-AES128-GCM-SHA256:128");
    assert_int_equal(run_pair(s, 0, &other, &r), TLS_ERR);
    tls_server_ctx_free(s);
    fx_free(f);
}

/* test_srv_bad_config - bad settings are refused with a reason */
static void
test_srv_bad_config(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    char err[320];
    const char *cert[] = {path(f, "srv-right-chain.pem")};
    const char *wrongkey[] = {path(f, "srv-wrong.key")};
    const char *missing[] = {path(f, "nope.pem")};
    struct tls_server_params p = {.certs = cert, .ncerts = 1, .keys = wrongkey};
    assert_null(tls_server_ctx_new(&p, err, sizeof(err)));
    assert_non_null(strstr(err, "tls_privatekey"));
    assert_non_null(strstr(err, "mismatch"));
    p.keys = NULL; /* the key is not in the certificate file */
    assert_null(tls_server_ctx_new(&p, err, sizeof(err)));
    assert_non_null(strstr(err, "tls_privatekey"));
    p.certs = missing;
    assert_null(tls_server_ctx_new(&p, err, sizeof(err)));
    assert_non_null(strstr(err, "tls_certificate"));
    struct tls_server_params v = {.min_version = "SSLv3"};
    err[0] = '\0';
    v.certs = cert;
    v.ncerts = 1;
    assert_null(tls_server_ctx_new(&v, err, sizeof(err)));
    assert_non_null(strstr(err, "tls_min_version"));
    struct tls_server_params c = {.certs = cert, .ncerts = 1, .ciphers = "NO-SUCH-CIPHER"};
    assert_null(tls_server_ctx_new(&c, err, sizeof(err)));
    assert_non_null(strstr(err, "tls_require_ciphers"));
    struct tls_server_params none = {0};
    assert_null(tls_server_ctx_new(&none, err, sizeof(err)));
    fx_free(f);
}

/* test_srv_client_none - no certificate requested: CV=no even when the client has one */
static void
test_srv_client_none(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    struct tls_server_ctx *s = srv_ctx(f, "right", NULL);
    struct copt o = {.cert = client_chain(f), .key = path(f, "client.key")};
    struct res r;
    assert_int_equal(run_pair(s, TLS_VERIFY_NONE, &o, &r), TLS_OK);
    assert_int_equal(r.info.cv, TLS_CV_NO);
    assert_int_equal(r.si.peer_cert, 0);
    tls_server_ctx_free(s);
    fx_free(f);
}

/* test_srv_client_try - requested, never required */
static void
test_srv_client_try(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    struct tls_server_ctx *s = srv_ctx(f, "right", NULL);
    struct copt none = {0};
    struct copt good = {.cert = client_chain(f), .key = path(f, "client.key")};
    struct copt self = {.cert = path(f, "self.pem"), .key = path(f, "self.key")};
    struct res r;
    assert_int_equal(run_pair(s, TLS_VERIFY_TRY, &none, &r), TLS_OK);
    assert_int_equal(r.info.cv, TLS_CV_NO);
    assert_int_equal(r.si.peer_cert, 0);
    assert_int_equal(run_pair(s, TLS_VERIFY_TRY, &good, &r), TLS_OK);
    assert_int_equal(r.info.cv, TLS_CV_YES);
    assert_int_equal(r.si.peer_cert, 1);
    assert_int_equal(r.si.peer_verified, 1);
    assert_string_equal(r.si.peer_dn, "CN=client.example.test");
    assert_int_equal(run_pair(s, TLS_VERIFY_TRY, &self, &r), TLS_OK);
    assert_int_equal(r.info.cv, TLS_CV_NO);
    assert_int_equal(r.si.peer_cert, 1);
    assert_int_equal(r.si.peer_verified, 0);
    assert_string_equal(r.si.peer_dn, "CN=self.example.test");
    tls_server_ctx_free(s);
    fx_free(f);
}

/* test_srv_client_require - no certificate, or one that does not verify, fails */
static void
test_srv_client_require(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    struct tls_server_ctx *s = srv_ctx(f, "right", NULL);
    struct copt none = {0};
    struct copt good = {.cert = client_chain(f), .key = path(f, "client.key")};
    struct copt self = {.cert = path(f, "self.pem"), .key = path(f, "self.key")};
    struct copt none12 = {.max_version = TLS1_2_VERSION};
    struct res r;
    assert_int_equal(run_pair(s, TLS_VERIFY_REQUIRE, &none, &r), TLS_ERR);
    assert_int_equal(run_pair(s, TLS_VERIFY_REQUIRE, &none12, &r), TLS_ERR);
    assert_int_equal(run_pair(s, TLS_VERIFY_REQUIRE, &self, &r), TLS_ERR);
    assert_non_null(strstr(r.srv_err, "verif"));
    assert_int_equal(run_pair(s, TLS_VERIFY_REQUIRE, &good, &r), TLS_OK);
    assert_int_equal(r.info.cv, TLS_CV_YES);
    assert_string_equal(r.si.peer_dn, "CN=client.example.test");
    tls_server_ctx_free(s);
    /* a CA store without the client's root: even a good chain fails */
    struct tls_server_params other = {.verify_certificates = path(f, "self.pem")};
    s = srv_ctx(f, "right", &other);
    assert_int_equal(run_pair(s, TLS_VERIFY_REQUIRE, &good, &r), TLS_ERR);
    tls_server_ctx_free(s);
    fx_free(f);
}

struct seen {
    int n, refuse_depth;
    int depth[8];
    char subject[8][128];
    int pem_ok;
};

/* on_cert - record each certificate; refuse at refuse_depth */
static int
on_cert(void *arg, int depth, const char *pem, const char *subject)
{
    struct seen *s = arg;
    if (s->n < 8) {
        s->depth[s->n] = depth;
        snprintf(s->subject[s->n], sizeof(s->subject[0]), "%s", subject);
        s->n++;
    }
    s->pem_ok += strncmp(pem, "-----BEGIN CERTIFICATE-----", 27) == 0;
    return depth == s->refuse_depth;
}

/* test_srv_on_cert - each certificate of the client's chain, top down; a refusal fails */
static void
test_srv_on_cert(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    struct seen ctxarg = {.refuse_depth = -1};
    struct tls_server_params p = {.on_cert = on_cert, .on_cert_arg = &ctxarg};
    struct tls_server_ctx *s = srv_ctx(f, "right", &p);
    struct copt good = {.cert = client_chain(f), .key = path(f, "client.key")};
    struct copt self = {.cert = path(f, "self.pem"), .key = path(f, "self.key")};
    struct res r;
    assert_int_equal(run_pair(s, TLS_VERIFY_TRY, &good, &r), TLS_OK);
    assert_int_equal(ctxarg.n, 3);
    assert_int_equal(ctxarg.depth[0], 2);
    assert_int_equal(ctxarg.depth[2], 0);
    assert_string_equal(ctxarg.subject[0], "CN=Spate Test Root");
    assert_string_equal(ctxarg.subject[1], "CN=Spate Test Intermediate");
    assert_string_equal(ctxarg.subject[2], "CN=client.example.test");
    assert_int_equal(ctxarg.pem_ok, 3);
    /* not called without a certificate request */
    ctxarg.n = 0;
    assert_int_equal(run_pair(s, TLS_VERIFY_NONE, &good, &r), TLS_OK);
    assert_int_equal(ctxarg.n, 0);
    /* a failing certificate is not offered (TRY goes on: CV=no) */
    assert_int_equal(run_pair(s, TLS_VERIFY_TRY, &self, &r), TLS_OK);
    assert_int_equal(ctxarg.n, 0);
    assert_int_equal(r.info.cv, TLS_CV_NO);
    tls_server_ctx_free(s);
    fx_free(f);
}

/* test_srv_on_cert_refuse - refusing at the leaf fails the handshake, under TRY too */
static void
test_srv_on_cert_refuse(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    struct seen ctxarg = {.refuse_depth = -1}, mine = {.refuse_depth = 0};
    struct seen top = {.refuse_depth = 2};
    struct tls_server_params p = {.on_cert = on_cert, .on_cert_arg = &ctxarg};
    struct tls_server_ctx *s = srv_ctx(f, "right", &p);
    struct copt good = {.cert = client_chain(f), .key = path(f, "client.key")};
    struct res r;
    int sv[2];
    char err[320];
    /* the per-connection argument replaces the context's */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct tls_conn *c = tls_conn_new_server(s, sv[0], TLS_VERIFY_TRY, err, sizeof(err));
    assert_non_null(c);
    tls_conn_set_cert_arg(c, &mine);
    tls_conn_free(c);
    close(sv[0]);
    close(sv[1]);
    assert_null(tls_conn_new_server(s, -1, 7, err, sizeof(err))); /* bad verify mode */
    tls_server_ctx_free(s);
    p.on_cert_arg = &mine;
    s = srv_ctx(f, "right", &p);
    assert_int_equal(run_pair(s, TLS_VERIFY_TRY, &good, &r), TLS_ERR);
    assert_int_equal(mine.n, 3);
    assert_non_null(strstr(r.srv_err, "refused at depth 0"));
    tls_server_ctx_free(s);
    p.on_cert_arg = &top;
    s = srv_ctx(f, "right", &p);
    assert_int_equal(run_pair(s, TLS_VERIFY_REQUIRE, &good, &r), TLS_ERR);
    assert_int_equal(top.n, 1); /* lower depths are not offered */
    assert_int_equal(ctxarg.n, 0);
    tls_server_ctx_free(s);
    fx_free(f);
}

/* test_srv_ctx_outlives_free - a connection keeps working after its context is freed */
static void
test_srv_ctx_outlives_free(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    struct tls_server_params p = {.ocsp_file = path(f, "ocsp-good.der")};
    struct tls_server_ctx *s = srv_ctx(f, "right", &p);
    int sv[2];
    char err[320];
    struct tls_conn *c;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    assert_non_null(c = tls_conn_new_server(s, sv[0], TLS_VERIFY_NONE, err, sizeof(err)));
    tls_server_ctx_free(s); /* the SIGHUP case: the connection holds the context */
    SSL_CTX *cc = SSL_CTX_new(TLS_client_method());
    SSL *ssl = SSL_new(cc);
    SSL_set_fd(ssl, sv[1]);
    SSL_set_connect_state(ssl);
    SSL_set_tlsext_status_type(ssl, TLSEXT_STATUSTYPE_ocsp);
    int srv = TLS_WANT_READ, cli = 0;
    for (int i = 0; i < 1000 && (srv != TLS_OK || cli != 1); i++) {
        if (srv != TLS_OK && srv != TLS_ERR)
            srv = tls_conn_handshake(c);
        if (cli != 1)
            cli = SSL_do_handshake(ssl);
    }
    if (srv != TLS_OK)
        fail_msg("server %d (%s), client %d/%d", srv, tls_conn_error(c), cli,
                 SSL_get_error(ssl, cli));
    const unsigned char *der = NULL;
    assert_true(SSL_get_tlsext_status_ocsp_resp(ssl, &der) > 0);
    SSL_free(ssl);
    SSL_CTX_free(cc);
    tls_conn_free(c); /* frees the context with it (ASan checks) */
    close(sv[0]);
    close(sv[1]);
    fx_free(f);
}

int
main(int argc, char **argv)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_srv_rsa_and_ecdsa),     cmocka_unit_test(test_srv_x_and_sni),
        cmocka_unit_test(test_srv_min_version),       cmocka_unit_test(test_srv_ciphers),
        cmocka_unit_test(test_srv_bad_config),        cmocka_unit_test(test_srv_client_none),
        cmocka_unit_test(test_srv_client_try),        cmocka_unit_test(test_srv_client_require),
        cmocka_unit_test(test_srv_on_cert),           cmocka_unit_test(test_srv_on_cert_refuse),
        cmocka_unit_test(test_srv_ctx_outlives_free),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
