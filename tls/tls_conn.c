/*
 * tls_conn.c - one outbound TLS connection over a caller-owned non-blocking
 *              fd: verification set-up (CA + names, or DANE through
 *              SSL_dane_*), OCSP request, session resumption, the non-blocking
 *              handshake and I/O, and the outcome for the log. See tls.h.
 *
 * DANE follows the pattern of OpenSSL's SSL_CTX_dane_enable(3) example (and
 * Postfix): SSL_dane_enable with the base domain, no name checks for
 * DANE-EE, no partial wildcards, SSL_add1_host for the other reference
 * names, records added with SSL_dane_tlsa_add (usages 0/1 skipped), and
 * SSL_VERIFY_PEER only when at least one record was accepted.
 */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls/tls_int.h"

/* ------------------------------------------------------------ set-up */

/* cache_key - destination key salted with everything that decides the
 * verification outcome, so that a resumed session means the same thing */
static char *
cache_key(const struct tls_conn_params *p)
{
    unsigned char md[32];
    char hex[65], *key;
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    unsigned char flags[4] = {(unsigned char)p->verify, (unsigned char)!!p->dane,
                              (unsigned char)!!p->ocsp_request, 0};
    if (m == NULL || EVP_DigestInit_ex(m, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(m);
        return NULL;
    }
    EVP_DigestUpdate(m, flags, sizeof(flags));
    EVP_DigestUpdate(m, p->sni ? p->sni : "", p->sni ? strlen(p->sni) + 1 : 1);
    for (size_t i = 0; i < p->nnames; i++)
        EVP_DigestUpdate(m, p->names[i], strlen(p->names[i]) + 1);
    for (size_t i = 0; p->dane && i < p->ntlsa; i++) {
        const struct tls_tlsa *t = &p->tlsa[i];
        unsigned char h[5] = {t->usage, t->selector, t->mtype, (unsigned char)(t->len >> 8),
                              (unsigned char)t->len};
        EVP_DigestUpdate(m, h, sizeof(h));
        EVP_DigestUpdate(m, t->data, t->len);
    }
    EVP_DigestFinal_ex(m, md, NULL);
    EVP_MD_CTX_free(m);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    if (asprintf(&key, "%s|%s", p->session_key, hex) < 0)
        return NULL;
    return key;
}

/* setup_names - reference names for the certificate check */
static int
setup_names(struct tls_conn *c, const struct tls_conn_params *p, size_t first)
{
    SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    for (size_t i = first; i < p->nnames; i++) {
        if (p->names[i] == NULL || p->names[i][0] == '\0')
            continue;
        if (SSL_add1_host(c->ssl, p->names[i]) != 1)
            return -1;
    }
    return 0;
}

/* tls__pem_of - a certificate in PEM, malloc'd; NULL on failure */
char *
tls__pem_of(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *out = NULL;
    long n;
    if (b == NULL)
        return NULL;
    if (PEM_write_bio_X509(b, x) == 1 && (n = BIO_get_mem_data(b, &data)) > 0 &&
        (out = malloc((size_t)n + 1)) != NULL) {
        memcpy(out, data, (size_t)n);
        out[n] = '\0';
    }
    BIO_free(b);
    return out;
}

/* offer_cert - the hook for the certificate at the context's depth; 1 refused */
static int
offer_cert(struct tls_conn *c, X509_STORE_CTX *x)
{
    int depth = X509_STORE_CTX_get_error_depth(x);
    X509 *cert = X509_STORE_CTX_get_current_cert(x);
    char *pem;
    int no;
    if (cert == NULL || depth < 0)
        return 0;
    if (depth < 64 && (c->seen & (1ull << depth)))
        return 0; /* offered once per depth */
    if (depth < 64)
        c->seen |= 1ull << depth;
    if ((pem = tls__pem_of(cert)) == NULL)
        return 1; /* cannot tell the hook: refuse rather than skip it */
    no = c->hook(c->hook_arg, depth, pem);
    free(pem);
    if (no) {
        c->refused = 1;
        c->refused_depth = depth;
    }
    return no;
}

/* verify_cb - OpenSSL's verify callback: note failures, offer each
 * certificate that passed to the hook (see tls.h, cert_hook) */
static int
verify_cb(int ok, X509_STORE_CTX *x)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct tls_conn *c = ssl != NULL ? SSL_get_app_data(ssl) : NULL;
    if (c == NULL || c->hook == NULL)
        return ok;
    if (c->refused) {
        X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    if (!ok) {
        if (c->chain_error == 0)
            c->chain_error = X509_STORE_CTX_get_error(x);
        return c->must_verify ? 0 : 1; /* under NONE/TRY: go on, for the lower depths */
    }
    if (offer_cert(c, x)) {
        X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    return 1;
}

/* set_verify - SSL_set_verify with the hook's callback when there is one */
static void
set_verify(struct tls_conn *c, int peer)
{
    c->must_verify = peer;
    SSL_set_verify(c->ssl, peer ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
                   c->hook != NULL ? verify_cb : NULL);
}

/* setup_dane - DANE mode: base domain, names, the usable TLSA records */
static int
setup_dane(struct tls_conn *c, const struct tls_conn_params *p)
{
    const char *base = p->nnames > 0 ? p->names[0] : p->sni;
    if (SSL_dane_enable(c->ssl, base) <= 0)
        return -1;
    SSL_dane_set_flags(c->ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
    if (setup_names(c, p, 1) < 0)
        return -1;
    for (size_t i = 0; i < p->ntlsa; i++) {
        const struct tls_tlsa *t = &p->tlsa[i];
        int rc;
        if (t->usage != 2 && t->usage != 3) /* PKIX-TA/EE: unusable for SMTP (§3.1.3) */
            continue;
        rc = SSL_dane_tlsa_add(c->ssl, t->usage, t->selector, t->mtype, t->data, t->len);
        if (rc < 0)
            return -1;
        if (rc > 0) {
            c->nusable++;
            c->usage_bits |= 1u << t->usage;
        }
    }
    ERR_clear_error(); /* rejected records leave errors behind */
    set_verify(c, c->nusable > 0);
    return 0;
}

/* setup_pkix - no DANE: CA store, names, verify mode */
static int
setup_pkix(struct tls_conn *c, const struct tls_conn_params *p)
{
    if (p->nnames > 0) {
        if (SSL_set1_host(c->ssl, p->names[0]) != 1 || setup_names(c, p, 1) < 0)
            return -1;
    }
    set_verify(c, p->verify == TLS_VERIFY_REQUIRE);
    return 0;
}

/* offer_session - resume the cached session for this key, if any */
static void
offer_session(struct tls_conn *c)
{
    SSL_SESSION *s = tls__cache_get(c->ctx, c->cache_key, &c->saved);
    if (s == NULL)
        return;
    if (SSL_set_session(c->ssl, s) == 1)
        c->have_saved = 1;
    SSL_SESSION_free(s);
}

/* tls_conn_new - a client connection over fd, set up per p */
struct tls_conn *
tls_conn_new(struct tls_client_ctx *ctx, int fd, const struct tls_conn_params *p)
{
    struct tls_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    ERR_clear_error();
    c->ctx = ctx;
    c->dane = p->dane;
    c->verify = p->verify;
    c->ocsp_require = p->ocsp_require;
    c->hook = p->cert_hook;
    c->hook_arg = p->cert_arg;
    if ((c->ssl = SSL_new(ctx->ssl_ctx)) == NULL || SSL_set_fd(c->ssl, fd) != 1)
        goto fail;
    SSL_set_connect_state(c->ssl);
    SSL_set_app_data(c->ssl, c);
    if (p->sni != NULL && p->sni[0] != '\0' && SSL_set_tlsext_host_name(c->ssl, p->sni) != 1)
        goto fail;
    if ((p->dane ? setup_dane(c, p) : setup_pkix(c, p)) < 0)
        goto fail;
    if (p->ocsp_request || p->ocsp_require) {
        SSL_set_tlsext_status_type(c->ssl, TLSEXT_STATUSTYPE_ocsp);
        c->ocsp = TLS_OCSP_MISSING;
    }
    if (p->session_key != NULL && !p->ocsp_require) {
        if ((c->cache_key = cache_key(p)) == NULL)
            goto fail;
        offer_session(c);
    }
    return c;
fail:
    ERR_clear_error();
    tls_conn_free(c);
    return NULL;
}

/* tls_conn_free - release the connection (the fd stays open) */
void
tls_conn_free(struct tls_conn *c)
{
    if (c == NULL)
        return;
    if (c->ssl)
        SSL_set_app_data(c->ssl, NULL);
    SSL_free(c->ssl);
    free(c->cache_key);
    free(c);
}

/* ----------------------------------------------------- verification */

/* outcome_now - CV and DANE state of the finished (or finishing) handshake */
static struct tls__outcome
outcome_now(const struct tls_conn *c)
{
    struct tls__outcome o = {.cv = TLS_CV_NO, .dane_depth = -1, .ocsp = c->ocsp};
    long vr = SSL_get_verify_result(c->ssl);
    o.tlsa_usage = c->usage_bits;
    if (c->refused || c->chain_error != 0)
        return o; /* refused by the hook, or a check failed (and was let pass) */
    if (c->dane && c->nusable > 0) {
        o.dane_depth = SSL_get0_dane_authority(c->ssl, NULL, NULL);
        if (vr == X509_V_OK && o.dane_depth >= 0) {
            o.cv = TLS_CV_DANE;
            o.dane = 1;
        }
    } else if (!c->dane && vr == X509_V_OK && SSL_get0_peer_certificate(c->ssl) != NULL) {
        o.cv = TLS_CV_YES;
    }
    return o;
}

/* tls__new_session_cb - store a new session under the connection's key */
int
tls__new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
    struct tls_conn *c = SSL_get_app_data(ssl);
    struct tls__outcome o;
    if (c == NULL || c->cache_key == NULL)
        return 0;
    o = outcome_now(c);
    if (c->dane && c->nusable > 0 && o.cv != TLS_CV_DANE)
        return 0; /* never remember an unauthenticated DANE session */
    tls__cache_put(c->ctx, c->cache_key, sess, &o);
    return 1; /* the cache keeps the reference */
}

/* tls__ocsp_cb - judge the staple; with hosts_require_ocsp fail unless good */
int
tls__ocsp_cb(SSL *ssl, void *arg)
{
    struct tls_conn *c = SSL_get_app_data(ssl);
    (void)arg;
    if (c == NULL || SSL_get_tlsext_status_type(ssl) != TLSEXT_STATUSTYPE_ocsp)
        return 1;
    c->ocsp = tls__ocsp_check(ssl);
    return c->ocsp_require && c->ocsp != TLS_OCSP_GOOD ? 0 : 1;
}

/* policy_check - after the handshake: is the peer acceptable? 0 or -1 with c->err */
static int
policy_check(struct tls_conn *c)
{
    long vr = SSL_get_verify_result(c->ssl);
    struct tls_info i;
    tls_conn_info(c, &i);
    if (c->refused && (c->dane || c->verify == TLS_VERIFY_REQUIRE)) {
        snprintf(c->err, sizeof(c->err), "%s verification failed: certificate refused at depth %d",
                 c->dane ? "DANE" : "certificate", c->refused_depth);
        return -1;
    }
    if (c->dane && c->nusable > 0 && i.cv != TLS_CV_DANE) {
        snprintf(c->err, sizeof(c->err), "DANE verification failed: %s",
                 vr != X509_V_OK ? X509_verify_cert_error_string(vr) : "no TLSA record matched");
        return -1;
    }
    if (!c->dane && c->verify == TLS_VERIFY_REQUIRE && i.cv != TLS_CV_YES) {
        snprintf(c->err, sizeof(c->err), "certificate verification failed: %s",
                 X509_verify_cert_error_string(vr));
        return -1;
    }
    if (c->ocsp_require && i.ocsp != TLS_OCSP_GOOD) {
        snprintf(c->err, sizeof(c->err), "OCSP status %s", tls_ocsp_text(i.ocsp));
        return -1;
    }
    return 0;
}

/* handshake_error - why SSL_do_handshake failed */
static void
handshake_error(struct tls_conn *c, int sslerr)
{
    long vr = SSL_get_verify_result(c->ssl);
    unsigned long e = ERR_peek_error();
    char buf[200] = "";
    if (c->refused) {
        snprintf(c->err, sizeof(c->err), "%s verification failed: certificate refused at depth %d",
                 c->dane && c->nusable ? "DANE" : "certificate", c->refused_depth);
    } else if (c->ocsp_require && c->ocsp != TLS_OCSP_GOOD &&
               ERR_GET_REASON(e) == SSL_R_INVALID_STATUS_RESPONSE) {
        snprintf(c->err, sizeof(c->err), "OCSP status %s", tls_ocsp_text(c->ocsp));
    } else if (vr != X509_V_OK && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        snprintf(c->err, sizeof(c->err), "%s verification failed: %s",
                 c->dane && c->nusable ? "DANE" : "certificate", X509_verify_cert_error_string(vr));
    } else if (e != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        snprintf(c->err, sizeof(c->err), "TLS handshake failed: %s", buf);
    } else if (sslerr == SSL_ERROR_SYSCALL) {
        snprintf(c->err, sizeof(c->err), "TLS handshake failed: %s",
                 errno ? strerror(errno) : "connection closed by the peer");
    } else {
        snprintf(c->err, sizeof(c->err), "TLS handshake failed (error %d)", sslerr);
    }
    ERR_clear_error();
}

/* tls_conn_handshake - advance the handshake */
int
tls_conn_handshake(struct tls_conn *c)
{
    int rc, e;
    if (c->done)
        return TLS_OK;
    ERR_clear_error();
    errno = 0;
    rc = SSL_do_handshake(c->ssl);
    if (rc == 1) {
        c->done = 1;
        if (policy_check(c) < 0) {
            c->done = 0;
            return TLS_ERR;
        }
        return TLS_OK;
    }
    e = SSL_get_error(c->ssl, rc);
    if (e == SSL_ERROR_WANT_READ)
        return TLS_WANT_READ;
    if (e == SSL_ERROR_WANT_WRITE)
        return TLS_WANT_WRITE;
    handshake_error(c, e);
    return TLS_ERR;
}

/* ------------------------------------------------------------------ I/O */

/* io_result - map an SSL_read/SSL_write failure */
static ssize_t
io_result(struct tls_conn *c, int rc, const char *what)
{
    int e = SSL_get_error(c->ssl, rc);
    char buf[200] = "";
    switch (e) {
    case SSL_ERROR_WANT_READ:
        return TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        snprintf(c->err, sizeof(c->err), "TLS %s: %s", what,
                 errno ? strerror(errno) : "connection closed");
        break;
    default:
        ERR_error_string_n(ERR_peek_error(), buf, sizeof(buf));
        snprintf(c->err, sizeof(c->err), "TLS %s: %s", what, buf);
    }
    ERR_clear_error();
    return TLS_ERR;
}

/* tls_conn_read - read decrypted bytes */
ssize_t
tls_conn_read(struct tls_conn *c, void *buf, size_t len)
{
    int rc;
    if (!c->done) {
        snprintf(c->err, sizeof(c->err), "TLS read before the handshake");
        return TLS_ERR;
    }
    ERR_clear_error();
    errno = 0;
    rc = SSL_read(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    return rc > 0 ? rc : io_result(c, rc, "read");
}

/* tls_conn_write - write bytes (possibly fewer than len) */
ssize_t
tls_conn_write(struct tls_conn *c, const void *buf, size_t len)
{
    int rc;
    if (!c->done) {
        snprintf(c->err, sizeof(c->err), "TLS write before the handshake");
        return TLS_ERR;
    }
    if (len == 0)
        return 0;
    ERR_clear_error();
    errno = 0;
    rc = SSL_write(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    return rc > 0 ? rc : io_result(c, rc, "write");
}

/* tls_conn_pending - decrypted bytes waiting inside OpenSSL */
size_t
tls_conn_pending(const struct tls_conn *c)
{
    int n = SSL_pending(c->ssl);
    return n > 0 ? (size_t)n : 0;
}

/* tls_conn_shutdown - one non-blocking try at close_notify */
int
tls_conn_shutdown(struct tls_conn *c)
{
    int rc;
    if (!c->done)
        return TLS_OK;
    ERR_clear_error();
    rc = SSL_shutdown(c->ssl);
    ERR_clear_error();
    return rc >= 0 ? TLS_OK : TLS_ERR;
}

/* tls_conn_error - the last failure's text */
const char *
tls_conn_error(const struct tls_conn *c)
{
    return c->err;
}

/* ------------------------------------------------------------ outcome */

/* tls__name_text - a distinguished name in RFC 2253 form */
void
tls__name_text(const X509_NAME *n, char *out, size_t len)
{
    BIO *b = BIO_new(BIO_s_mem());
    int k = 0;
    out[0] = '\0';
    if (b == NULL)
        return;
    if (X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253) >= 0)
        k = BIO_read(b, out, (int)len - 1);
    out[k > 0 ? k : 0] = '\0';
    BIO_free(b);
}

/* tls_conn_ocsp - the OCSP outcome so far, also after a failed handshake */
enum tls_ocsp
tls_conn_ocsp(const struct tls_conn *c)
{
    return c->ocsp;
}

/* tls_conn_info - the negotiated parameters and outcomes (see tls.h) */
int
tls_conn_info(const struct tls_conn *c, struct tls_info *i)
{
    const SSL_CIPHER *ci = SSL_get_current_cipher(c->ssl);
    const char *v = SSL_get_version(c->ssl);
    X509 *leaf = SSL_get0_peer_certificate(c->ssl);
    struct tls__outcome o;
    memset(i, 0, sizeof(*i));
    if (!c->done)
        return -1;
    i->resumed = SSL_session_reused(c->ssl);
    o = i->resumed && c->have_saved ? c->saved : outcome_now(c);
    if (i->resumed && c->have_saved)
        o.tlsa_usage = c->usage_bits;
    if (strncmp(v, "TLSv", 4) == 0)
        snprintf(i->version, sizeof(i->version), "TLS%s", v + 4);
    else
        snprintf(i->version, sizeof(i->version), "%s", v);
    snprintf(i->cipher, sizeof(i->cipher), "%s", ci ? SSL_CIPHER_get_name(ci) : "none");
    i->bits = ci ? SSL_CIPHER_get_bits(ci, NULL) : 0;
    snprintf(i->x, sizeof(i->x), "%s:%s:%d", i->version, i->cipher, i->bits);
    i->cv = o.cv;
    i->dane = o.dane;
    i->tlsa_usage = o.tlsa_usage;
    i->dane_depth = o.dane_depth;
    i->ocsp = i->resumed ? o.ocsp : c->ocsp;
    i->verify_error = SSL_get_verify_result(c->ssl);
    snprintf(i->verify_text, sizeof(i->verify_text), "%s",
             X509_verify_cert_error_string(i->verify_error));
    if (leaf != NULL) {
        tls__name_text(X509_get_subject_name(leaf), i->peer_subject, sizeof(i->peer_subject));
        tls__name_text(X509_get_issuer_name(leaf), i->peer_issuer, sizeof(i->peer_issuer));
    }
    return 0;
}

/* tls_conn_dane_usable - TLSA records OpenSSL accepted */
size_t
tls_conn_dane_usable(const struct tls_conn *c)
{
    return c->nusable;
}

/* tls_conn_peer_chain_len - certificates the peer sent */
size_t
tls_conn_peer_chain_len(const struct tls_conn *c)
{
    STACK_OF(X509) *sk = SSL_get_peer_cert_chain(c->ssl);
    return sk ? (size_t)sk_X509_num(sk) : 0;
}

/* tls_conn_peer_cert_pem - the leaf in PEM */
char *
tls_conn_peer_cert_pem(const struct tls_conn *c)
{
    X509 *leaf = SSL_get0_peer_certificate(c->ssl);
    return leaf != NULL ? tls__pem_of(leaf) : NULL;
}

/* tls_conn_peer_cert_der - one certificate of the peer's chain, DER */
ssize_t
tls_conn_peer_cert_der(const struct tls_conn *c, size_t depth, unsigned char **der)
{
    STACK_OF(X509) *sk = SSL_get_peer_cert_chain(c->ssl);
    unsigned char *p = NULL;
    int n;
    *der = NULL;
    if (sk == NULL || depth >= (size_t)sk_X509_num(sk))
        return -1;
    n = i2d_X509(sk_X509_value(sk, (int)depth), &p);
    if (n <= 0)
        return -1;
    if ((*der = malloc((size_t)n)) == NULL) {
        OPENSSL_free(p);
        return -1;
    }
    memcpy(*der, p, (size_t)n);
    OPENSSL_free(p);
    return n;
}
