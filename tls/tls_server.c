/*
 * tls_server.c - the server side of STARTTLS: the server context (several
 *                certificate/key pairs, client CA store, cipher list,
 *                minimum version, OCSP staple) and server connections, which
 *                are ordinary struct tls_conn driven by tls_conn.c. See tls.h.
 *
 * The struct tls_server_ctx hangs off its SSL_CTX as ex_data with a free
 * function, so the SSL_CTX reference count (one per SSL made from it) keeps
 * it alive for connections still running after tls_server_ctx_free().
 */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tls/tls_int.h"

static int ctx_index = -1;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;

/* ------------------------------------------------------------ context */

/* ctx_ex_free - OpenSSL frees the SSL_CTX: release our structure with it */
static void
ctx_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    struct tls_server_ctx *s = ptr;
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    if (s == NULL)
        return;
    tls__staple_free(s->staple);
    free(s);
}

/* ctx_index_init - the ex_data slot, once */
static void
ctx_index_init(void)
{
    ctx_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, ctx_ex_free);
}

/* srv_err - "what path: OpenSSL's first queued error" into err */
static int
srv_err(char *err, size_t errlen, const char *what, const char *path)
{
    char e[256] = "unknown error";
    unsigned long code = ERR_get_error();
    if (code != 0)
        ERR_error_string_n(code, e, sizeof(e));
    snprintf(err, errlen, "%s %s: %s", what, path ? path : "", e);
    ERR_clear_error();
    return -1;
}

/* parse_version - "TLSv1.2" to TLS1_2_VERSION; 0 if unknown */
static int
parse_version(const char *v)
{
    static const struct {
        const char *name;
        int version;
    } tab[] = {{"TLSv1", TLS1_VERSION},
               {"TLSv1.1", TLS1_1_VERSION},
               {"TLSv1.2", TLS1_2_VERSION},
               {"TLSv1.3", TLS1_3_VERSION}};
    if (v == NULL || *v == '\0')
        return TLS1_2_VERSION;
    for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
        if (strcmp(tab[i].name, v) == 0)
            return tab[i].version;
    return 0;
}

/* load_client_cas - CAs for client certificates, and the names sent in the
 * certificate request (from a file only) */
static int
load_client_cas(SSL_CTX *sc, const char *path, char *err, size_t errlen)
{
    struct stat st = {0};
    int ok;
    if (path == NULL || strcmp(path, "system") == 0)
        ok = SSL_CTX_set_default_verify_paths(sc);
    else if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        ok = SSL_CTX_load_verify_dir(sc, path);
    else
        ok = SSL_CTX_load_verify_file(sc, path);
    if (ok != 1)
        return srv_err(err, errlen, "tls_verify_certificates", path);
    if (path != NULL && strcmp(path, "system") != 0 && !S_ISDIR(st.st_mode)) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(path);
        if (names != NULL)
            SSL_CTX_set_client_CA_list(sc, names);
    }
    ERR_clear_error();
    return 0;
}

/* find_issuer - the certificate after leaf in its file that issued it, else
 * one from the CA store; a new reference or NULL */
static X509 *
find_issuer(SSL_CTX *sc, X509 *leaf, BIO *rest)
{
    X509 *x, *found = NULL;
    X509_STORE_CTX *xs;
    while (found == NULL && (x = PEM_read_bio_X509(rest, NULL, NULL, NULL)) != NULL) {
        if (X509_check_issued(x, leaf) == X509_V_OK)
            found = x;
        else
            X509_free(x);
    }
    ERR_clear_error();
    if (found != NULL || (xs = X509_STORE_CTX_new()) == NULL)
        return found;
    if (X509_STORE_CTX_init(xs, SSL_CTX_get_cert_store(sc), leaf, NULL) == 1 &&
        X509_STORE_CTX_get1_issuer(&found, xs, leaf) != 1)
        found = NULL;
    X509_STORE_CTX_free(xs);
    ERR_clear_error();
    return found;
}

/* staple_cert - tell the staple about the certificate in file and its issuer */
static int
staple_cert(struct tls_server_ctx *s, const char *file, char *err, size_t errlen)
{
    BIO *b = BIO_new_file(file, "r");
    X509 *leaf = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL, *issuer;
    int rc;
    if (leaf == NULL) {
        BIO_free(b);
        return srv_err(err, errlen, "tls_certificate", file);
    }
    issuer = find_issuer(s->sc, leaf, b);
    rc = tls__staple_add_cert(s->staple, leaf, issuer);
    X509_free(leaf);
    X509_free(issuer);
    BIO_free(b);
    if (rc < 0)
        snprintf(err, errlen, "out of memory");
    return rc;
}

/* load_cert - one certificate (with its chain) and its key */
static int
load_cert(struct tls_server_ctx *s, const char *cert, const char *key, char *err, size_t errlen)
{
    if (key == NULL || *key == '\0')
        key = cert;
    if (SSL_CTX_use_certificate_chain_file(s->sc, cert) != 1)
        return srv_err(err, errlen, "tls_certificate", cert);
    if (SSL_CTX_use_PrivateKey_file(s->sc, key, SSL_FILETYPE_PEM) != 1)
        return srv_err(err, errlen, "tls_privatekey", key);
    if (SSL_CTX_check_private_key(s->sc) != 1)
        return srv_err(err, errlen, "tls_privatekey does not match tls_certificate", key);
    return s->staple != NULL ? staple_cert(s, cert, err, errlen) : 0;
}

/* setup_ctx - protocol, ciphers, CAs, certificates and the staple */
static int
setup_ctx(struct tls_server_ctx *s, const struct tls_server_params *p, char *err, size_t errlen)
{
    int v = parse_version(p->min_version);
    if (v == 0) {
        snprintf(err, errlen, "tls_min_version: unknown version \"%.40s\"", p->min_version);
        return -1;
    }
    SSL_CTX_set_min_proto_version(s->sc, v);
    SSL_CTX_set_options(s->sc, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION |
                                   SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(s->sc, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (p->ciphers != NULL && SSL_CTX_set_cipher_list(s->sc, p->ciphers) != 1)
        return srv_err(err, errlen, "tls_require_ciphers", p->ciphers);
    if (load_client_cas(s->sc, p->verify_certificates, err, errlen) < 0)
        return -1;
    if (p->ocsp_file != NULL && *p->ocsp_file != '\0') {
        if ((s->staple = tls__staple_new(p->ocsp_file)) == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    SSL_CTX_set_tlsext_status_cb(s->sc, tls__staple_cb); /* also notes "asked, no file" */
    SSL_CTX_set_tlsext_status_arg(s->sc, s);
    if (p->ncerts == 0 || p->certs == NULL) {
        snprintf(err, errlen, "tls_certificate: no certificate");
        return -1;
    }
    for (size_t i = 0; i < p->ncerts; i++)
        if (load_cert(s, p->certs[i], p->keys ? p->keys[i] : NULL, err, errlen) < 0)
            return -1;
    return 0;
}

/* tls_server_ctx_new - a server context (see tls.h) */
struct tls_server_ctx *
tls_server_ctx_new(const struct tls_server_params *p, char *err, size_t errlen)
{
    struct tls_server_ctx *s;
    pthread_once(&ctx_once, ctx_index_init);
    if (ctx_index < 0 || (s = calloc(1, sizeof(*s))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ERR_clear_error();
    s->on_cert = p->on_cert;
    s->on_cert_arg = p->on_cert_arg;
    if ((s->sc = SSL_CTX_new(TLS_server_method())) == NULL) {
        srv_err(err, errlen, "SSL_CTX_new", NULL);
        free(s);
        return NULL;
    }
    if (SSL_CTX_set_ex_data(s->sc, ctx_index, s) != 1) {
        SSL_CTX_free(s->sc);
        free(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (setup_ctx(s, p, err, errlen) < 0) {
        SSL_CTX_free(s->sc); /* frees s too */
        return NULL;
    }
    return s;
}

/* tls_server_ctx_free - drop the caller's reference */
void
tls_server_ctx_free(struct tls_server_ctx *c)
{
    if (c != NULL)
        SSL_CTX_free(c->sc);
}

/* -------------------------------------------------------- connections */

/* offer_cert - on_cert for the certificate at the context's depth; 1 refused */
static int
offer_cert(struct tls_conn *c, X509_STORE_CTX *x)
{
    int depth = X509_STORE_CTX_get_error_depth(x);
    X509 *cert = X509_STORE_CTX_get_current_cert(x);
    char subject[256], *pem;
    int no;
    if (cert == NULL || depth < 0 || (depth < 64 && (c->seen & (1ull << depth))))
        return 0; /* offered once per depth */
    if (depth < 64)
        c->seen |= 1ull << depth;
    if ((pem = tls__pem_of(cert)) == NULL)
        return 1; /* cannot tell the hook: refuse rather than skip it */
    tls__name_text(X509_get_subject_name(cert), subject, sizeof(subject));
    no = c->srv->on_cert(c->hook_arg, depth, pem, subject);
    free(pem);
    if (no) {
        c->refused = 1;
        c->refused_depth = depth;
    }
    return no;
}

/* server_verify_cb - note failures (TRY goes on), offer the certificates that passed */
static int
server_verify_cb(int ok, X509_STORE_CTX *x)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct tls_conn *c = ssl != NULL ? SSL_get_app_data(ssl) : NULL;
    if (c == NULL)
        return ok;
    if (c->refused) {
        X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    if (!ok) {
        int depth = X509_STORE_CTX_get_error_depth(x);
        if (c->chain_error == 0)
            c->chain_error = X509_STORE_CTX_get_error(x);
        if (depth >= 0 && depth < 64)
            c->seen |= 1ull << depth; /* a failed certificate is never offered */
        return c->must_verify ? 0 : 1;
    }
    if (c->srv->on_cert != NULL && offer_cert(c, x)) {
        X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    return 1;
}

/* set_server_verify - verify mode, and a session context per mode so that a
 * session resumes only under the mode it was made with */
static int
set_server_verify(struct tls_conn *c, int verify)
{
    static const char *const sid[] = {"spate-in-none", "spate-in-try", "spate-in-require"};
    int mode = SSL_VERIFY_NONE;
    if (verify < TLS_VERIFY_NONE || verify > TLS_VERIFY_REQUIRE)
        return -1;
    c->verify = (enum tls_verify_mode)verify;
    c->must_verify = verify == TLS_VERIFY_REQUIRE;
    if (verify == TLS_VERIFY_TRY)
        mode = SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE;
    else if (verify == TLS_VERIFY_REQUIRE)
        mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT | SSL_VERIFY_CLIENT_ONCE;
    SSL_set_verify(c->ssl, mode, mode != SSL_VERIFY_NONE ? server_verify_cb : NULL);
    return SSL_set_session_id_context(c->ssl, (const unsigned char *)sid[verify],
                                      (unsigned)strlen(sid[verify])) == 1
               ? 0
               : -1;
}

/* tls_conn_new_server - a server connection over an accepted fd */
struct tls_conn *
tls_conn_new_server(struct tls_server_ctx *s, int fd, int verify, char *err, size_t errlen)
{
    struct tls_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ERR_clear_error();
    c->srv = s;
    c->hook_arg = s->on_cert_arg;
    if ((c->ssl = SSL_new(s->sc)) == NULL || SSL_set_fd(c->ssl, fd) != 1) {
        srv_err(err, errlen, "SSL_new", NULL);
        tls_conn_free(c);
        return NULL;
    }
    SSL_set_accept_state(c->ssl);
    SSL_set_app_data(c->ssl, c);
    if (set_server_verify(c, verify) < 0) {
        snprintf(err, errlen, "bad verify mode %d", verify);
        ERR_clear_error();
        tls_conn_free(c);
        return NULL;
    }
    return c;
}

/* tls_conn_set_cert_arg - on_cert's argument for this connection */
void
tls_conn_set_cert_arg(struct tls_conn *c, void *arg)
{
    c->hook_arg = arg;
}

/* sni_ok - a server name we are willing to hand on: [A-Za-z0-9._-]{1,255} */
static int
sni_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n < 256 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") == n;
}

/* tls_conn_server_info - SNI, client certificate, OCSP */
int
tls_conn_server_info(const struct tls_conn *c, struct tls_server_info *si)
{
    struct tls_info i;
    X509 *peer;
    const char *sni;
    memset(si, 0, sizeof(*si));
    if (c->srv == NULL || tls_conn_info(c, &i) < 0)
        return -1;
    sni = SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
    if (sni != NULL && sni_ok(sni))
        snprintf(si->sni, sizeof(si->sni), "%s", sni);
    peer = SSL_get0_peer_certificate(c->ssl);
    si->peer_cert = peer != NULL;
    si->peer_verified = i.cv == TLS_CV_YES;
    snprintf(si->peer_dn, sizeof(si->peer_dn), "%s", i.peer_subject);
    si->ocsp = SSL_session_reused(c->ssl) ? TLS_IN_OCSP_NOT_REQUESTED : c->in_ocsp;
    return 0;
}

/* tls_in_ocsp_text - a name for logs */
const char *
tls_in_ocsp_text(enum tls_in_ocsp o)
{
    switch (o) {
    case TLS_IN_OCSP_NOT_REQUESTED:
        return "not requested";
    case TLS_IN_OCSP_NOT_RESPONDING:
        return "not responding";
    case TLS_IN_OCSP_NOT_VERIFIED:
        return "not verified";
    case TLS_IN_OCSP_FAILED:
        return "failed verification";
    case TLS_IN_OCSP_VERIFIED:
        return "verified";
    }
    return "?";
}
