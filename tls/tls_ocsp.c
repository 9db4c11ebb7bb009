/*
 * tls_ocsp.c - the client's check of a stapled OCSP response (RFC 6960,
 *              RFC 6066 §8): present, successful, signed by a responder that
 *              verifies, about this server's certificate, good, and current.
 *              See tls.h for what each outcome means.
 *
 * The responder is verified first against the context's CA store, then -
 * when the server's chain itself verified - against the verified chain as a
 * partial-chain trust store, so a DANE-TA anchor or an intermediate works.
 * Certificates carried in the staple itself are used as untrusted helpers
 * by OCSP_basic_verify, so an intermediate supplied in the staple is
 * accepted as long as it chains to one of those trust stores.
 */
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls/tls_int.h"

#define OCSP_LEEWAY_S 300

/* find_issuer - the leaf's issuer: from the verified chain, else from the
 * certificates the server sent or stapled */
static X509 *
find_issuer(SSL *ssl, X509 *leaf, OCSP_BASICRESP *bs)
{
    STACK_OF(X509) *vc = SSL_get0_verified_chain(ssl);
    STACK_OF(X509) *pc = SSL_get_peer_cert_chain(ssl);
    const STACK_OF(X509) *rc = OCSP_resp_get0_certs(bs);
    if (vc != NULL && sk_X509_num(vc) > 1 &&
        X509_check_issued(sk_X509_value(vc, 1), leaf) == X509_V_OK)
        return sk_X509_value(vc, 1);
    for (int i = 0; pc != NULL && i < sk_X509_num(pc); i++)
        if (sk_X509_value(pc, i) != leaf &&
            X509_check_issued(sk_X509_value(pc, i), leaf) == X509_V_OK)
            return sk_X509_value(pc, i);
    for (int i = 0; rc != NULL && i < sk_X509_num(rc); i++)
        if (X509_check_issued(sk_X509_value(rc, i), leaf) == X509_V_OK)
            return sk_X509_value(rc, i);
    return NULL;
}

/* verify_via_chain - responder check with the verified chain as anchors */
static int
verify_via_chain(SSL *ssl, OCSP_BASICRESP *bs, STACK_OF(X509) * untrusted)
{
    STACK_OF(X509) *vc = SSL_get0_verified_chain(ssl);
    X509_STORE *st;
    int ok;
    if (vc == NULL || sk_X509_num(vc) < 2 || SSL_get_verify_result(ssl) != X509_V_OK)
        return 0;
    if ((st = X509_STORE_new()) == NULL)
        return 0;
    for (int i = 1; i < sk_X509_num(vc); i++)
        X509_STORE_add_cert(st, sk_X509_value(vc, i));
    X509_STORE_set_flags(st, X509_V_FLAG_PARTIAL_CHAIN);
    ok = OCSP_basic_verify(bs, untrusted, st, 0) > 0;
    X509_STORE_free(st);
    return ok;
}

/* responder_ok - is the response signed by a responder we can verify? */
static int
responder_ok(SSL *ssl, OCSP_BASICRESP *bs)
{
    X509_STORE *st = SSL_CTX_get_cert_store(SSL_get_SSL_CTX(ssl));
    STACK_OF(X509) *untrusted = SSL_get_peer_cert_chain(ssl);
    if (OCSP_basic_verify(bs, untrusted, st, 0) > 0)
        return 1;
    ERR_clear_error();
    if (verify_via_chain(ssl, bs, untrusted))
        return 1;
    ERR_clear_error();
    return 0;
}

/* judge - status of the leaf in a verified basic response */
static enum tls_ocsp
judge(SSL *ssl, OCSP_BASICRESP *bs, X509 *leaf)
{
    X509 *issuer = find_issuer(ssl, leaf, bs);
    OCSP_CERTID *id;
    ASN1_GENERALIZEDTIME *thisupd = NULL, *nextupd = NULL, *rev = NULL;
    int status = -1, reason = -1, found;
    if (issuer == NULL || (id = OCSP_cert_to_id(NULL, leaf, issuer)) == NULL)
        return TLS_OCSP_NOT_BOUND;
    found = OCSP_resp_find_status(bs, id, &status, &reason, &rev, &thisupd, &nextupd);
    OCSP_CERTID_free(id);
    if (found != 1)
        return TLS_OCSP_NOT_BOUND;
    if (status == V_OCSP_CERTSTATUS_REVOKED)
        return TLS_OCSP_REVOKED;
    if (status != V_OCSP_CERTSTATUS_GOOD)
        return TLS_OCSP_NOT_BOUND;
    /* OCSP_check_validity accepts a missing nextUpdate: a proof without an
     * end would be good forever, so refuse it */
    if (nextupd == NULL || OCSP_check_validity(thisupd, nextupd, OCSP_LEEWAY_S, -1) != 1)
        return TLS_OCSP_EXPIRED;
    return TLS_OCSP_GOOD;
}

/* tls__ocsp_check - judge the stapled response of ssl's peer */
enum tls_ocsp
tls__ocsp_check(SSL *ssl)
{
    const unsigned char *p = NULL;
    long len = SSL_get_tlsext_status_ocsp_resp(ssl, &p);
    X509 *leaf = SSL_get0_peer_certificate(ssl);
    OCSP_RESPONSE *rsp;
    OCSP_BASICRESP *bs = NULL;
    enum tls_ocsp out = TLS_OCSP_BAD_SIGNATURE;
    if (len <= 0 || p == NULL)
        return TLS_OCSP_MISSING;
    if (leaf == NULL || (rsp = d2i_OCSP_RESPONSE(NULL, &p, len)) == NULL) {
        ERR_clear_error();
        return TLS_OCSP_BAD_SIGNATURE;
    }
    if (OCSP_response_status(rsp) == OCSP_RESPONSE_STATUS_SUCCESSFUL &&
        (bs = OCSP_response_get1_basic(rsp)) != NULL && responder_ok(ssl, bs))
        out = judge(ssl, bs, leaf);
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(rsp);
    ERR_clear_error();
    return out;
}
