/*
 * tls.c - OpenSSL set-up, the client context (CA store, CRLs, client
 *         certificate) and its TLS session cache. See tls.h.
 *
 * The session cache maps a key (the destination key salted with the
 * connection's verification parameters, see tls_conn.c) to one SSL_SESSION
 * and the outcome of the handshake that made it. It is a chained hash table
 * under a mutex, bounded by opts.session_cache_max, evicting the oldest
 * entry first; a key stored again replaces its entry.
 */
#include "tls/tls.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tls/tls_int.h"

#define SESS_MAX_DEFAULT 10000

/* tls_init - load OpenSSL's strings and algorithms */
int
tls_init(void)
{
    return OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS,
                            NULL) == 1
               ? 0
               : -1;
}

/* tls_version_text - OpenSSL's version string */
const char *
tls_version_text(void)
{
    return OpenSSL_version(OPENSSL_VERSION);
}

/* ssl_err - "what: OpenSSL's first queued error" into err */
static void
ssl_err(char *err, size_t errlen, const char *what, const char *path)
{
    char e[256] = "unknown error";
    unsigned long code = ERR_get_error();
    if (code != 0)
        ERR_error_string_n(code, e, sizeof(e));
    snprintf(err, errlen, "%s %s: %s", what, path ? path : "", e);
    ERR_clear_error();
}

/* is_dir - is path a directory? */
static int
is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* load_cas - tls_verify_certificates: a file, a directory or the system default */
static int
load_cas(SSL_CTX *sc, const char *path, char *err, size_t errlen)
{
    int ok;
    if (path == NULL || strcmp(path, "system") == 0)
        ok = SSL_CTX_set_default_verify_paths(sc);
    else if (is_dir(path))
        ok = SSL_CTX_load_verify_dir(sc, path);
    else
        ok = SSL_CTX_load_verify_file(sc, path);
    if (ok != 1) {
        ssl_err(err, errlen, "tls_verify_certificates", path);
        return -1;
    }
    return 0;
}

/* load_crls - tls_crl: a PEM file (one or more CRLs) or a hashed directory */
static int
load_crls(SSL_CTX *sc, const char *path, char *err, size_t errlen)
{
    X509_STORE *st = SSL_CTX_get_cert_store(sc);
    X509_LOOKUP *lu;
    int ok;
    if (path == NULL)
        return 0;
    if (is_dir(path)) {
        lu = X509_STORE_add_lookup(st, X509_LOOKUP_hash_dir());
        ok = lu != NULL && X509_LOOKUP_add_dir(lu, path, X509_FILETYPE_PEM) == 1;
    } else {
        lu = X509_STORE_add_lookup(st, X509_LOOKUP_file());
        ok = lu != NULL && X509_load_crl_file(lu, path, X509_FILETYPE_PEM) > 0;
    }
    if (!ok) {
        ssl_err(err, errlen, "tls_crl", path);
        return -1;
    }
    X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    return 0;
}

/* load_client_cert - tls_certificate / tls_privatekey */
static int
load_client_cert(SSL_CTX *sc, const struct tls_client_opts *o, char *err, size_t errlen)
{
    const char *key = o->privatekey ? o->privatekey : o->certificate;
    if (o->certificate == NULL)
        return 0;
    if (SSL_CTX_use_certificate_chain_file(sc, o->certificate) != 1) {
        ssl_err(err, errlen, "tls_certificate", o->certificate);
        return -1;
    }
    if (SSL_CTX_use_PrivateKey_file(sc, key, SSL_FILETYPE_PEM) != 1) {
        ssl_err(err, errlen, "tls_privatekey", key);
        return -1;
    }
    if (SSL_CTX_check_private_key(sc) != 1) {
        ssl_err(err, errlen, "tls_privatekey does not match tls_certificate", key);
        return -1;
    }
    return 0;
}

/* make_ssl_ctx - the OpenSSL client context with spate's settings */
static SSL_CTX *
make_ssl_ctx(const struct tls_client_opts *o, char *err, size_t errlen)
{
    SSL_CTX *sc = SSL_CTX_new(TLS_client_method());
    if (sc == NULL) {
        ssl_err(err, errlen, "SSL_CTX_new", NULL);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(sc, TLS1_2_VERSION);
    /* SMTP replies are line-framed; a peer that closes without close_notify
     * is not a truncation risk, so read it as an ordinary close */
    SSL_CTX_set_options(sc, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(sc, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (load_cas(sc, o->verify_certificates, err, errlen) < 0 ||
        load_crls(sc, o->crl, err, errlen) < 0 || load_client_cert(sc, o, err, errlen) < 0)
        goto fail;
    if (SSL_CTX_dane_enable(sc) <= 0) {
        ssl_err(err, errlen, "SSL_CTX_dane_enable", NULL);
        goto fail;
    }
    SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(sc, tls__new_session_cb);
    SSL_CTX_set_tlsext_status_cb(sc, tls__ocsp_cb);
    return sc;
fail:
    SSL_CTX_free(sc);
    return NULL;
}

/* tls_client_ctx_new - a context per transport configuration */
struct tls_client_ctx *
tls_client_ctx_new(const struct tls_client_opts *o, char *err, size_t errlen)
{
    static const struct tls_client_opts none;
    struct tls_client_ctx *ctx = calloc(1, sizeof(*ctx));
    if (o == NULL)
        o = &none;
    if (ctx == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ERR_clear_error();
    if ((ctx->ssl_ctx = make_ssl_ctx(o, err, errlen)) == NULL) {
        free(ctx);
        return NULL;
    }
    ctx->max = o->session_cache_max ? o->session_cache_max : SESS_MAX_DEFAULT;
    ctx->tabsize = 64;
    while (ctx->tabsize < ctx->max && ctx->tabsize < (1u << 20))
        ctx->tabsize *= 2;
    if ((ctx->tab = calloc(ctx->tabsize, sizeof(*ctx->tab))) == NULL) {
        SSL_CTX_free(ctx->ssl_ctx);
        free(ctx);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&ctx->lock, NULL);
    return ctx;
}

/* tls_client_ctx_free - release the context and every cached session */
void
tls_client_ctx_free(struct tls_client_ctx *ctx)
{
    if (ctx == NULL)
        return;
    tls__cache_clear(ctx);
    free(ctx->tab);
    pthread_mutex_destroy(&ctx->lock);
    SSL_CTX_free(ctx->ssl_ctx);
    free(ctx);
}
