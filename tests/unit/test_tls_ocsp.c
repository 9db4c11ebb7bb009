/*
 * test_tls_ocsp.c - unit tests for tls/: stapled OCSP responses (good,
 *                   revoked, missing, expired, unbound, garbage, untrusted
 *                   responder, a responder verified through a DANE-TA anchor).
 *
 * Each case makes a fresh test PKI and runs a small OpenSSL server thread
 * of its own (tlsfx.h), which staples the response file it is given.
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

const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_ocsp_good),
    cmocka_unit_test(test_ocsp_revoked),
    cmocka_unit_test(test_ocsp_missing),
    cmocka_unit_test(test_ocsp_expired),
    cmocka_unit_test(test_ocsp_unbound_and_garbage),
    cmocka_unit_test(test_ocsp_untrusted_responder),
    cmocka_unit_test(test_ocsp_under_dane_ta),
};

int
main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
