/*
 * sink_tls.c - spate-sink: the TLS server context from the TLS options
 * (certificate, key, chain, OCSP staple, client certificate request).
 */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#include "sink.h"

/* tls_die - a TLS set-up error with OpenSSL's reason, exit 1 */
static void
tls_die(const char *what, const char *file)
{
    char why[256] = "unknown error";
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, why, sizeof(why));
    die("%s %s: %s", what, file, why);
}

/* staple_cb - the client asked for certificate status: staple the OCSP response */
static int
staple_cb(SSL *ssl, void *arg)
{
    (void)arg;
    unsigned char *der = OPENSSL_memdup(g.staple, g.staple_len);
    if (!der)
        return SSL_TLSEXT_ERR_NOACK;
    SSL_set_tlsext_status_ocsp_resp(ssl, der, (long)g.staple_len); /* ssl owns der */
    return SSL_TLSEXT_ERR_OK;
}

/* accept_any_cb - --tls-ask-client-cert: note the client's certificate, never refuse */
static int
accept_any_cb(int ok, X509_STORE_CTX *ctx)
{
    (void)ok;
    (void)ctx;
    return 1;
}

/* load_staple - read the DER OCSP response of --ocsp-staple into g.staple */
static void
load_staple(void)
{
    FILE *f = fopen(g.ocsp_file, "rb");
    if (!f)
        die("%s: %s", g.ocsp_file, strerror(errno));
    g.staple = xmalloc(1 << 20);
    g.staple_len = fread(g.staple, 1, 1 << 20, f);
    bool bad = ferror(f) || g.staple_len == 0 || g.staple_len == 1 << 20;
    fclose(f);
    if (bad)
        die("%s: cannot read an OCSP response (empty, unreadable or over 1 MB)", g.ocsp_file);
}

/* load_chain - add every certificate of a PEM file to the chain sent */
static void
load_chain(SSL_CTX *ctx, const char *file)
{
    FILE *f = fopen(file, "r");
    X509 *x;
    int n = 0;
    if (!f)
        die("%s: %s", file, strerror(errno));
    while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
        if (SSL_CTX_add0_chain_cert(ctx, x) != 1)
            tls_die("adding a chain certificate from", file);
        n++;
    }
    fclose(f);
    ERR_clear_error(); /* the read that ended the loop */
    if (n == 0)
        die("%s: no PEM certificate", file);
}

/* tls_setup - build the server context from the TLS options (none: no TLS) */
void
tls_setup(void)
{
    if (!g.tls_cert) {
        if (g.tls_key || g.tls_chain || g.ocsp_file || g.ask_client_cert)
            die("the TLS options need --tls-cert");
        return;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        tls_die("creating the TLS context for", g.tls_cert);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"spate-sink", 10);
    if (SSL_CTX_use_certificate_chain_file(ctx, g.tls_cert) != 1)
        tls_die("loading the certificate", g.tls_cert);
    const char *key = g.tls_key ? g.tls_key : g.tls_cert;
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
        tls_die("loading the key", key);
    if (SSL_CTX_check_private_key(ctx) != 1)
        tls_die("the key does not match the certificate:", key);
    if (g.tls_chain)
        load_chain(ctx, g.tls_chain);
    if (g.ocsp_file) {
        load_staple();
        SSL_CTX_set_tlsext_status_cb(ctx, staple_cb);
    }
    if (g.ask_client_cert)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any_cb);
    g.tls_ctx = ctx;
}
