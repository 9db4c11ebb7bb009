/*
 * tls_name.c - the certificate name rule (seed "Certificate name checking",
 *              RFC 6125 §6.4, RFC 7672 §3.2.3) stated for one pattern, and
 *              log texts.
 *
 * The handshake itself checks names with OpenSSL (X509_check_host with
 * X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, subjectAltName DNS names, else the
 * Subject CN). tls_name_matches() is the same rule, written out so that it
 * can be tested and fuzzed against OpenSSL's:
 *   - no wildcard: equal, ignoring ASCII case; a NUL in the pattern never
 *     matches;
 *   - "*." followed by at least two labels, the whole pattern made of
 *     letters, digits and hyphens (no label starting or ending with a
 *     hyphen, no empty label, no trailing dot): the host is one non-empty
 *     label of letters, digits and hyphens (or a literal "*") followed by
 *     the rest of the pattern, ignoring case;
 *   - any other '*' makes the pattern literal (it then matches only itself).
 */
#include <string.h>
#include <strings.h>

#include "tls/tls.h"

/* ldh - letter, digit or hyphen? */
static int
ldh(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

/* lower - ASCII-only lower case */
static unsigned char
lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* equal_nocase - same length, equal ignoring ASCII case, no NUL in p */
static int
equal_nocase(const char *p, size_t plen, const char *h, size_t hlen)
{
    if (plen != hlen)
        return 0;
    for (size_t i = 0; i < plen; i++) {
        if (p[i] == '\0' || lower((unsigned char)p[i]) != lower((unsigned char)h[i]))
            return 0;
    }
    return 1;
}

/* wildcard_ok - is "*.rest" a valid full-label wildcard of 3+ labels? */
static int
wildcard_ok(const char *p, size_t len)
{
    size_t dots = 0, lab = 0;
    int hy = 0;
    if (len < 2 || p[0] != '*' || p[1] != '.')
        return 0;
    for (size_t i = 1; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '.') {
            if (i > 1 && (lab == 0 || hy))
                return 0;
            dots++;
            lab = 0;
            hy = 0;
        } else if (ldh(c)) {
            if (c == '-' && lab == 0)
                return 0;
            hy = c == '-';
            lab++;
        } else {
            return 0;
        }
    }
    return lab > 0 && !hy && dots >= 2;
}

/* tls_name_matches - does pattern (from a certificate) match host? */
int
tls_name_matches(const char *pattern, const char *host)
{
    size_t plen, hlen, slen, wlen;
    if (pattern == NULL || host == NULL)
        return 0;
    plen = strlen(pattern);
    hlen = strlen(host);
    if (plen == 0 || hlen == 0)
        return 0;
    if (!wildcard_ok(pattern, plen))
        return equal_nocase(pattern, plen, host, hlen);
    slen = plen - 1; /* ".rest" */
    if (hlen <= slen || !equal_nocase(pattern + 1, slen, host + hlen - slen, slen))
        return 0;
    wlen = hlen - slen;
    if (wlen == 1 && host[0] == '*')
        return 1;
    for (size_t i = 0; i < wlen; i++)
        if (!ldh((unsigned char)host[i]))
            return 0;
    return 1;
}

/* tls_cv_text - the CV= value */
const char *
tls_cv_text(enum tls_cv cv)
{
    return cv == TLS_CV_DANE ? "dane" : cv == TLS_CV_YES ? "yes" : "no";
}

/* tls_ocsp_text - an OCSP outcome for logs */
const char *
tls_ocsp_text(enum tls_ocsp o)
{
    static const char *const t[] = {"not requested", "good",      "revoked", "missing",
                                    "bad signature", "not bound", "expired"};
    return (unsigned)o < sizeof(t) / sizeof(t[0]) ? t[o] : "?";
}
