/*
 * inject_tls.h - spate-inject's STARTTLS client: OpenSSL, non-verifying
 *                (a benchmark talks to a self-signed test server).
 *
 * One SSL_CTX for the process (inj_tls_init, once, before any connection);
 * one SSL per connection, made after the server's 220 to STARTTLS
 * (RFC 3207) on a non-blocking socket. The handshake runs implicitly inside
 * the first inj_tls_read / inj_tls_write. Both return what read(2)/write(2)
 * would: octets moved, 0 at the peer's close (read), or -1 with errno set;
 * EAGAIN when the socket must become readable (*want_read set to true) or
 * writable (*want_read false) first. Single-threaded use only.
 */
#ifndef SPATE_PERF_INJECT_TLS_H
#define SPATE_PERF_INJECT_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* inj_tls_init - the client context; -1 when OpenSSL cannot make one */
int inj_tls_init(void);
/* inj_tls_new - a client SSL over fd, in connect state; NULL on failure */
void *inj_tls_new(int fd);
/* inj_tls_read - up to n octets of plaintext into buf */
ssize_t inj_tls_read(void *ssl, char *buf, size_t n, bool *want_read);
/* inj_tls_write - up to n octets of buf (partial writes allowed; buf may move
 * between a retry and the next call) */
ssize_t inj_tls_write(void *ssl, const char *buf, size_t n, bool *want_read);
/* inj_tls_free - forget the session (no close_notify is sent); NULL is fine */
void inj_tls_free(void *ssl);
/* inj_tls_done - free the context (after every session is freed); fine without init */
void inj_tls_done(void);

#endif
