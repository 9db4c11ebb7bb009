/*
 * tls.c - OpenSSL set-up. See tls.h.
 */
#include "tls/tls.h"

#include <openssl/crypto.h>
#include <openssl/ssl.h>

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
