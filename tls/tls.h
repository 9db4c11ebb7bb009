/*
 * tls.h - OpenSSL for spate: library set-up and version reporting.
 *
 * The outbound STARTTLS client, certificate name checks, DANE (OpenSSL's
 * DANE API) and OCSP live here as they are built; this header is the seam
 * the SMTP client and server will use.
 *
 * Thread rules: tls_init() once before threads start; the rest any thread.
 */
#ifndef SPATE_TLS_TLS_H
#define SPATE_TLS_TLS_H

/* tls_init - initialise OpenSSL; 0 or -1 */
int tls_init(void);
/* tls_version_text - the OpenSSL version spate runs with (static text) */
const char *tls_version_text(void);

#endif
