/*
 * test_tls.c - unit tests for tls/: the client context, non-blocking
 *              connections driven by the engine loop, certificate name
 *              checks, DANE (usages 2 and 3), CRLs, client certificates and
 *              session resumption, the certificate hook (OCSP staples:
 *              test_tls_ocsp.c).
 *
 * Each case makes a fresh test PKI and runs a small OpenSSL server thread
 * of its own (tlsfx.h); every wait is bounded.
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
/* ---- tests: the certificate hook (tls:cert) ---- */

/* What the hook saw, and where it refuses (-1: nowhere). */
struct hook_log {
    int refuse_at;
    int n;
    int depth[8];
    char subject[8][128];
};

/* hook - record the depth and the certificate's subject; refuse at refuse_at */
static int
hook(void *arg, int depth, const char *pem)
{
    struct hook_log *h = arg;
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    assert_non_null(x);
    assert_true(h->n < 8);
    h->depth[h->n] = depth;
    X509_NAME_oneline(X509_get_subject_name(x), h->subject[h->n], sizeof(h->subject[0]));
    h->n++;
    X509_free(x);
    BIO_free(b);
    return depth == h->refuse_at;
}

/* hook_conn - one connection with the hook, refusing at depth refuse_at */
static int
hook_conn(struct fx *f, enum tls_verify_mode mode, int refuse_at, struct hook_log *h,
          struct cli *k)
{
    struct tls_conn_params p = {.sni = "mx.example.test",
                                .names = mx_name,
                                .nnames = 1,
                                .verify = mode,
                                .cert_hook = hook,
                                .cert_arg = h};
    memset(h, 0, sizeof(*h));
    h->refuse_at = refuse_at;
    return one_conn(f, &p, k);
}

/* test_cert_hook_chain - called once per certificate, root (2) to leaf (0),
 * each with its own certificate; no refusal: verification as usual */
static void
test_cert_hook_chain(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    struct hook_log h;
    struct cli k;
    fx_ctx(f, NULL);
    assert_int_equal(hook_conn(f, TLS_VERIFY_REQUIRE, -1, &h, &k), TLS_OK);
    assert_int_equal(k.info.cv, TLS_CV_YES);
    assert_int_equal(h.n, 3);
    assert_int_equal(h.depth[0], 2);
    assert_int_equal(h.depth[1], 1);
    assert_int_equal(h.depth[2], 0);
    assert_non_null(strstr(h.subject[0], "Root"));
    assert_non_null(strstr(h.subject[1], "Intermediate"));
    assert_non_null(strstr(h.subject[2], "CN=mx.example.test"));
    /* verification not required: the same calls, the same outcome */
    assert_int_equal(hook_conn(f, TLS_VERIFY_NONE, -1, &h, &k), TLS_OK);
    assert_int_equal(k.info.cv, TLS_CV_YES);
    assert_int_equal(h.n, 3);
    fx_free(f);
}

/* test_cert_hook_refusal - required: the handshake fails, naming the depth;
 * tried: goes on unverified (CV=no); no lower depth is offered after it */
static void
test_cert_hook_refusal(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    struct hook_log h;
    struct cli k;
    fx_ctx(f, NULL);
    assert_int_equal(hook_conn(f, TLS_VERIFY_REQUIRE, 0, &h, &k), TLS_ERR);
    assert_non_null(strstr(k.err, "refused at depth 0"));
    assert_int_equal(h.n, 3);
    assert_int_equal(hook_conn(f, TLS_VERIFY_TRY, 0, &h, &k), TLS_OK);
    assert_string_equal(k.data, "hello\n");
    assert_int_equal(k.info.cv, TLS_CV_NO);
    assert_int_equal(hook_conn(f, TLS_VERIFY_TRY, 1, &h, &k), TLS_OK);
    assert_int_equal(k.info.cv, TLS_CV_NO);
    assert_int_equal(h.n, 2); /* root, intermediate (refused): not the leaf */
    assert_int_equal(hook_conn(f, TLS_VERIFY_REQUIRE, 2, &h, &k), TLS_ERR);
    assert_int_equal(h.n, 1);
    fx_free(f);
}

/* test_cert_hook_dane - a refusal fails DANE even when the TLSA record matches */
static void
test_cert_hook_dane(void **state)
{
    (void)state;
    static const char *const base[] = {"mx.example.test"};
    struct fx *f = fx_new("self");
    struct hook_log h = {.refuse_at = 0};
    struct cli k;
    uint8_t d[32];
    struct tls_tlsa t[1] = {{3, 1, 1, 32, d}};
    struct tls_conn_params p = {.sni = "mx.example.test",
                                .names = base,
                                .nnames = 1,
                                .dane = 1,
                                .tlsa = t,
                                .ntlsa = 1,
                                .cert_hook = hook,
                                .cert_arg = &h};
    spki_sha256(path(f, "self.pem"), d);
    fx_ctx(f, NULL);
    assert_int_equal(one_conn(f, &p, &k), TLS_ERR);
    assert_non_null(strstr(k.err, "DANE verification failed"));
    assert_int_equal(h.n, 1);
    assert_int_equal(h.depth[0], 0);
    h = (struct hook_log){.refuse_at = -1};
    assert_int_equal(one_conn(f, &p, &k), TLS_OK);
    assert_int_equal(k.info.cv, TLS_CV_DANE);
    assert_int_equal(h.n, 1);
    fx_free(f);
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
    cmocka_unit_test(test_session_resumption),
    cmocka_unit_test(test_session_dane_resumed),
    cmocka_unit_test(test_name_rules),
    cmocka_unit_test(test_name_rule_is_openssls),
    cmocka_unit_test(test_cert_hook_chain),
    cmocka_unit_test(test_cert_hook_refusal),
    cmocka_unit_test(test_cert_hook_dane),
};

int
main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
