/*
 * test_tls_server_ocsp.c - unit tests for the OCSP staple the server sends
 *                          (tls_ocsp_file): a good response is stapled
 *                          (delegated responder or the issuer itself);
 *                          expired, without nextUpdate, not yet valid, for
 *                          another certificate, wrongly signed, revoked,
 *                          garbage and missing files are not, with one
 *                          warning each; an atomic rename is picked up by the
 *                          next connection; with RSA and ECDSA certificates
 *                          the response goes only with its own certificate.
 *
 * Each case makes a fresh test PKI (tlsfx.h, mkcerts.sh) and runs real
 * handshakes between a server tls_conn and an OpenSSL client asking for
 * status (tlssrvfx.h). Responses mkcerts.sh does not make are built here
 * with OpenSSL's OCSP API.
 */
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tlssrvfx.h"

#include <cmocka.h>

#define DAY (86400L)

/* read_x509 - a PEM certificate from the fixture directory */
static X509 *
read_x509(struct fx *f, const char *name)
{
    FILE *fp = fopen(path(f, name), "r");
    X509 *x;
    assert_non_null(fp);
    x = PEM_read_X509(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(x);
    return x;
}

/* read_key - a PEM key from the fixture directory */
static EVP_PKEY *
read_key(struct fx *f, const char *name)
{
    FILE *fp = fopen(path(f, name), "r");
    EVP_PKEY *k;
    assert_non_null(fp);
    k = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(k);
    return k;
}

/* write_file - bytes to DIR/name */
static void
write_file(struct fx *f, const char *name, const void *data, size_t n)
{
    FILE *fp = fopen(path(f, name), "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    fclose(fp);
}

/* make_ocsp - a response for srv-right with status good, thisUpdate and
 * nextUpdate offsets from now (next_s 0: none), signed by signer (NAME.pem /
 * NAME.key), written to DIR/out */
static void
make_ocsp(struct fx *f, const char *out, long this_s, long next_s, const char *signer)
{
    char sp[64], kp[64];
    X509 *leaf = read_x509(f, "srv-right.pem"), *issuer = read_x509(f, "int.pem"), *sx;
    EVP_PKEY *key;
    OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
    OCSP_RESPONSE *rsp;
    ASN1_TIME *thisupd = X509_gmtime_adj(NULL, this_s);
    ASN1_TIME *nextupd = next_s ? X509_gmtime_adj(NULL, next_s) : NULL;
    OCSP_CERTID *id = OCSP_cert_to_id(NULL, leaf, issuer);
    unsigned char *der = NULL;
    int n;
    snprintf(sp, sizeof(sp), "%s.pem", signer);
    snprintf(kp, sizeof(kp), "%s.key", signer);
    sx = read_x509(f, sp);
    key = read_key(f, kp);
    assert_non_null(id);
    assert_non_null(
        OCSP_basic_add1_status(bs, id, V_OCSP_CERTSTATUS_GOOD, 0, NULL, thisupd, nextupd));
    assert_int_equal(OCSP_basic_sign(bs, sx, key, EVP_sha256(), NULL, 0), 1);
    assert_non_null(rsp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs));
    assert_true((n = i2d_OCSP_RESPONSE(rsp, &der)) > 0);
    write_file(f, out, der, (size_t)n);
    OPENSSL_free(der);
    OCSP_CERTID_free(id);
    OCSP_RESPONSE_free(rsp);
    OCSP_BASICRESP_free(bs);
    ASN1_TIME_free(thisupd);
    ASN1_TIME_free(nextupd);
    X509_free(leaf);
    X509_free(issuer);
    X509_free(sx);
    EVP_PKEY_free(key);
}

/* same_as_file - was what the client saw exactly DIR/name? */
static int
same_as_file(struct fx *f, const struct res *r, const char *name)
{
    unsigned char buf[8192];
    FILE *fp = fopen(path(f, name), "rb");
    size_t n;
    assert_non_null(fp);
    n = fread(buf, 1, sizeof(buf), fp);
    fclose(fp);
    return r->staple_len == (long)n && memcmp(buf, r->staple, n) == 0;
}

/* ocsp_ctx - a server context for srv-right stapling DIR/file */
static struct tls_server_ctx *
ocsp_ctx(struct fx *f, const char *file)
{
    struct tls_server_params p = {.ocsp_file = path(f, file)};
    log_to(f);
    return srv_ctx(f, "right", &p);
}

/* refused - nothing stapled over two connections, one warning holding why */
static void
refused(struct fx *f, const char *file, enum tls_in_ocsp state, const char *why)
{
    struct tls_server_ctx *s = ocsp_ctx(f, file);
    struct copt ask = {.status = 1};
    struct res r;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(run_pair(s, 0, &ask, &r), TLS_OK);
        assert_int_equal(r.staple_len, 0);
        assert_int_equal(r.si.ocsp, state);
    }
    assert_int_equal(log_count(f, "tls_ocsp_file"), 1);
    assert_int_equal(log_count(f, why), 1);
    assert_int_equal(log_count(f, "CN=mx.example.test"), 1);
    tls_server_ctx_free(s);
}

/* test_staple_good - stapled when asked (delegated responder), not otherwise */
static void
test_staple_good(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    struct tls_server_ctx *s = ocsp_ctx(f, "ocsp-good.der");
    struct copt ask = {.status = 1}, quiet = {0};
    struct res r;
    assert_int_equal(run_pair(s, 0, &ask, &r), TLS_OK);
    assert_true(same_as_file(f, &r, "ocsp-good.der"));
    assert_int_equal(r.si.ocsp, TLS_IN_OCSP_VERIFIED);
    assert_int_equal(run_pair(s, 0, &quiet, &r), TLS_OK);
    assert_int_equal(r.staple_len, 0);
    assert_int_equal(r.si.ocsp, TLS_IN_OCSP_NOT_REQUESTED);
    struct copt ask12 = {.status = 1, .max_version = TLS1_2_VERSION};
    assert_int_equal(run_pair(s, 0, &ask12, &r), TLS_OK);
    assert_true(same_as_file(f, &r, "ocsp-good.der"));
    assert_int_equal(log_count(f, "tls_ocsp_file"), 0);
    tls_server_ctx_free(s);
    fx_free(f);
}

/* test_staple_by_issuer - a response the issuer signed itself is stapled */
static void
test_staple_by_issuer(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    struct copt ask = {.status = 1};
    struct res r;
    make_ocsp(f, "ca-signed.der", -60, 2 * DAY, "int");
    struct tls_server_ctx *s = ocsp_ctx(f, "ca-signed.der");
    assert_int_equal(run_pair(s, 0, &ask, &r), TLS_OK);
    assert_true(same_as_file(f, &r, "ca-signed.der"));
    assert_int_equal(log_count(f, "tls_ocsp_file"), 0);
    tls_server_ctx_free(s);
    fx_free(f);
}

/* test_staple_expired - nextUpdate has passed */
static void
test_staple_expired(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    make_ocsp(f, "expired.der", -10 * DAY, -3 * DAY, "ocsp");
    refused(f, "expired.der", TLS_IN_OCSP_FAILED, "nextUpdate has passed");
    fx_free(f);
}

/* test_staple_noend - no nextUpdate (openssl ocsp without -ndays) */
static void
test_staple_noend(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    refused(f, "ocsp-noend.der", TLS_IN_OCSP_FAILED, "no nextUpdate");
    fx_free(f);
}

/* test_staple_future - thisUpdate an hour ahead (beyond the 5 minutes of skew) */
static void
test_staple_future(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    make_ocsp(f, "future.der", 3600, 2 * DAY, "ocsp");
    refused(f, "future.der", TLS_IN_OCSP_FAILED, "thisUpdate is in the future");
    make_ocsp(f, "skew.der", 120, 2 * DAY, "ocsp"); /* within the skew: stapled */
    struct tls_server_ctx *s = ocsp_ctx(f, "skew.der");
    struct copt ask = {.status = 1};
    struct res r;
    assert_int_equal(run_pair(s, 0, &ask, &r), TLS_OK);
    assert_true(same_as_file(f, &r, "skew.der"));
    tls_server_ctx_free(s);
    fx_free(f);
}

/* test_staple_other - a response about another certificate */
static void
test_staple_other(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    refused(f, "ocsp-other.der", TLS_IN_OCSP_FAILED, "for another certificate");
    fx_free(f);
}

/* test_staple_badsig - signed by an unrelated key, or by a sibling without the OCSP EKU */
static void
test_staple_badsig(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    refused(f, "ocsp-badsig.der", TLS_IN_OCSP_FAILED, "not signed by the issuer");
    assert_int_equal(rename(path(f, "srv-wrong.pem"), path(f, "sibling.pem")), 0);
    assert_int_equal(rename(path(f, "srv-wrong.key"), path(f, "sibling.key")), 0);
    make_ocsp(f, "sibling.der", -60, 2 * DAY, "sibling");
    unlink(path(f, "log"));
    refused(f, "sibling.der", TLS_IN_OCSP_FAILED, "not signed by the issuer");
    fx_free(f);
}

/* test_staple_revoked - status revoked */
static void
test_staple_revoked(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    refused(f, "ocsp-revoked.der", TLS_IN_OCSP_FAILED, "revoked");
    fx_free(f);
}

/* test_staple_garbage - not DER, an empty file, a truncated response */
static void
test_staple_garbage(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    unsigned char buf[8192];
    FILE *fp = fopen(path(f, "ocsp-good.der"), "rb");
    size_t n = fread(buf, 1, sizeof(buf), fp);
    fclose(fp);
    write_file(f, "garbage.der", "this is not DER\n", 16);
    refused(f, "garbage.der", TLS_IN_OCSP_FAILED, "not a DER OCSP response");
    write_file(f, "cut.der", buf, n - 10);
    unlink(path(f, "log"));
    refused(f, "cut.der", TLS_IN_OCSP_FAILED, "not a DER OCSP response");
    write_file(f, "empty.der", "", 0);
    unlink(path(f, "log"));
    refused(f, "empty.der", TLS_IN_OCSP_NOT_RESPONDING, "cannot read the file");
    fx_free(f);
}

/* test_staple_missing - the file does not exist; none configured */
static void
test_staple_missing(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    refused(f, "nope.der", TLS_IN_OCSP_NOT_RESPONDING, "No such file");
    struct tls_server_ctx *s = srv_ctx(f, "right", NULL);
    struct copt ask = {.status = 1};
    struct res r;
    assert_int_equal(run_pair(s, 0, &ask, &r), TLS_OK);
    assert_int_equal(r.si.ocsp, TLS_IN_OCSP_NOT_RESPONDING);
    assert_int_equal(r.staple_len, 0);
    tls_server_ctx_free(s);
    fx_free(f);
}

/* test_staple_rename - an atomic replace is served from the next connection */
static void
test_staple_rename(void **state)
{
    (void)state;
    struct fx *f = fx_new("right");
    struct copt ask = {.status = 1};
    struct res r;
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", path(f, "ocsp-revoked.der"), path(f, "live.der"));
    assert_int_equal(system(cmd), 0);
    struct tls_server_ctx *s = ocsp_ctx(f, "live.der");
    assert_int_equal(run_pair(s, 0, &ask, &r), TLS_OK);
    assert_int_equal(r.staple_len, 0);
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s.tmp'", path(f, "ocsp-good.der"), path(f, "live.der"));
    assert_int_equal(system(cmd), 0);
    assert_int_equal(rename(path(f, "live.der.tmp"), path(f, "live.der")), 0);
    assert_int_equal(run_pair(s, 0, &ask, &r), TLS_OK);
    assert_true(same_as_file(f, &r, "ocsp-good.der"));
    assert_int_equal(r.si.ocsp, TLS_IN_OCSP_VERIFIED);
    make_ocsp(f, "live.der.tmp", -10 * DAY, -3 * DAY, "ocsp");
    assert_int_equal(rename(path(f, "live.der.tmp"), path(f, "live.der")), 0);
    assert_int_equal(run_pair(s, 0, &ask, &r), TLS_OK);
    assert_int_equal(r.staple_len, 0);
    assert_int_equal(run_pair(s, 0, &ask, &r), TLS_OK);
    assert_int_equal(log_count(f, "tls_ocsp_file"), 2); /* revoked, then expired */
    assert_int_equal(log_count(f, "revoked"), 1);
    assert_int_equal(log_count(f, "nextUpdate has passed"), 1);
    tls_server_ctx_free(s);
    fx_free(f);
}

/* test_staple_dual - RSA + ECDSA: the response (for the ECDSA one) goes only with it */
static void
test_staple_dual(void **state)
{
    (void)state;
    setenv("MKCERTS_RSA", "1", 1);
    struct fx *f = fx_new("right");
    struct tls_server_params p = {.ocsp_file = path(f, "ocsp-good.der")};
    struct copt ec = {.status = 1, .sigalgs = "ecdsa_secp256r1_sha256"};
    struct copt rsa = {.status = 1, .sigalgs = "rsa_pss_rsae_sha256:RSA+SHA256"};
    struct res r;
    log_to(f);
    struct tls_server_ctx *s = srv_ctx(f, "rsa,right", &p);
    assert_int_equal(run_pair(s, 0, &ec, &r), TLS_OK);
    assert_int_equal(r.srv_key_type, EVP_PKEY_EC);
    assert_true(same_as_file(f, &r, "ocsp-good.der"));
    for (int i = 0; i < 2; i++) {
        assert_int_equal(run_pair(s, 0, &rsa, &r), TLS_OK);
        assert_int_equal(r.srv_key_type, EVP_PKEY_RSA);
        assert_int_equal(r.staple_len, 0);
        assert_int_equal(r.si.ocsp, TLS_IN_OCSP_FAILED);
    }
    assert_int_equal(run_pair(s, 0, &ec, &r), TLS_OK);
    assert_true(r.staple_len > 0);
    assert_int_equal(log_count(f, "tls_ocsp_file"), 1);
    assert_int_equal(log_count(f, "for another certificate"), 1);
    tls_server_ctx_free(s);
    fx_free(f);
}

int
main(int argc, char **argv)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_staple_good),    cmocka_unit_test(test_staple_by_issuer),
        cmocka_unit_test(test_staple_expired), cmocka_unit_test(test_staple_noend),
        cmocka_unit_test(test_staple_future),  cmocka_unit_test(test_staple_other),
        cmocka_unit_test(test_staple_badsig),  cmocka_unit_test(test_staple_revoked),
        cmocka_unit_test(test_staple_garbage), cmocka_unit_test(test_staple_missing),
        cmocka_unit_test(test_staple_rename),  cmocka_unit_test(test_staple_dual),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
