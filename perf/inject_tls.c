/*
 * inject_tls.c - spate-inject's STARTTLS client (see inject_tls.h).
 */
#include "inject_tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

static SSL_CTX *ctx;

/* inj_tls_init - a TLS client context that verifies nothing */
int
inj_tls_init(void)
{
    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL)
        return -1;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return 0;
}

/* inj_tls_new - an SSL in connect state over fd */
void *
inj_tls_new(int fd)
{
    SSL *ssl = SSL_new(ctx);

    if (ssl == NULL)
        return NULL;
    if (SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_connect_state(ssl);
    return ssl;
}

/* tls_result - an SSL_read/SSL_write return value as read(2)/write(2) would give it */
static ssize_t
tls_result(SSL *ssl, int r, bool *want_read)
{
    if (r > 0)
        return r;
    switch (SSL_get_error(ssl, r)) {
    case SSL_ERROR_WANT_READ:
        *want_read = true;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        *want_read = false;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    default:
        ERR_clear_error();
        errno = EIO;
        return -1;
    }
}

ssize_t
inj_tls_read(void *ssl, char *buf, size_t n, bool *want_read)
{
    ERR_clear_error();
    return tls_result(ssl, SSL_read(ssl, buf, n > 1 << 30 ? 1 << 30 : (int)n), want_read);
}

ssize_t
inj_tls_write(void *ssl, const char *buf, size_t n, bool *want_read)
{
    ERR_clear_error();
    return tls_result(ssl, SSL_write(ssl, buf, n > 1 << 30 ? 1 << 30 : (int)n), want_read);
}

void
inj_tls_free(void *ssl)
{
    SSL_free(ssl);
}

void
inj_tls_done(void)
{
    SSL_CTX_free(ctx);
    ctx = NULL;
}
