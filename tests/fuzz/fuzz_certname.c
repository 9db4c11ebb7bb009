/*
 * fuzz_certname.c - tls_name_matches() against OpenSSL's X509_check_host
 *                   (X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS), the check the
 *                   handshake really uses: they must agree on every input.
 *
 * Input: "pattern\nhost" (the first newline splits; NULs end each part).
 * Also checked: case does not matter, and a pattern always matches itself
 * when it has no '*'.
 */
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls/tls.h"

/* openssl_says - X509_check_host on a certificate whose only SAN is pattern */
static int
openssl_says(const char *pattern, const char *host)
{
    X509 *x = X509_new();
    GENERAL_NAMES *gens = GENERAL_NAMES_new();
    GENERAL_NAME *g = GENERAL_NAME_new();
    ASN1_IA5STRING *s = ASN1_IA5STRING_new();
    int rc;
    ASN1_STRING_set(s, pattern, (int)strlen(pattern));
    GENERAL_NAME_set0_value(g, GEN_DNS, s);
    sk_GENERAL_NAME_push(gens, g);
    X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, 0);
    GENERAL_NAMES_free(gens);
    rc = X509_check_host(x, host, strlen(host), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL);
    X509_free(x);
    return rc == 1;
}

/* upper - ASCII upper-case copy */
static void
upper(const char *in, char *out)
{
    for (; *in; in++, out++)
        *out = (*in >= 'a' && *in <= 'z') ? (char)(*in - 32) : *in;
    *out = '\0';
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char buf[300], pat[300], host[300], up[300];
    const char *nl;
    if (size >= sizeof(buf))
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    if ((nl = memchr(buf, '\n', size)) == NULL)
        return 0;
    snprintf(pat, sizeof(pat), "%.*s", (int)(nl - buf), buf);
    snprintf(host, sizeof(host), "%s", nl + 1);
    int mine = tls_name_matches(pat, host);
    /* a host starting with '.' asks OpenSSL for any sub-domain: not our case */
    if (host[0] != '\0' && host[0] != '.' && pat[0] != '\0' && mine != openssl_says(pat, host)) {
        fprintf(stderr, "pattern [%s] host [%s]: rule %d, OpenSSL %d\n", pat, host, mine, !mine);
        abort();
    }
    upper(host, up);
    if (tls_name_matches(pat, up) != mine)
        abort();
    if (pat[0] != '\0' && strchr(pat, '*') == NULL && !tls_name_matches(pat, pat))
        abort();
    return 0;
}
