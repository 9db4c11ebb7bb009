/*
 * address.c - mail address syntax: RFC 5321 §4.1.2 paths and mailboxes,
 *             with the RFC 6531 extension to UTF-8 when it is allowed.
 *
 * Synopsis
 *   addr_parse_path()     "<...>" path (MAIL FROM / RCPT TO argument)
 *   addr_valid_mailbox()  "local@domain" as a whole string
 *   addr_domain(), addr_domain_lower()
 *
 * Grammar accepted
 *   Mailbox       = Local-part "@" ( Domain / address-literal )
 *   Local-part    = Dot-string / Quoted-string        (at most 64 octets)
 *   Domain        = sub-domain *("." sub-domain)      (at most 255 octets,
 *                   labels of letters, digits and inner hyphens, at most 63)
 *   address-literal = "[" IPv4 "]" / "[IPv6:" IPv6 "]" (checked with
 *                   inet_pton); general literals with other tags are refused
 *                   since none is registered.
 *   A path is at most 256 octets with its brackets; an obsolete source route
 *   "<@a,@b:u@d>" is checked and dropped.
 *   With allow_utf8, atoms, quoted strings and domain labels may also hold
 *   well-formed UTF-8 (no overlong forms, surrogates or code points beyond
 *   U+10FFFF); without it any octet above 127 is an error.
 *
 * Diagnostics: every failure sets *why to a short static text.
 *
 * Pure functions, any thread.
 */
#include "conf/address.h"

#include <arpa/inet.h>
#include <idn2.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define ADDR_LOCAL_MAX 64
#define ADDR_DOMAIN_MAX 255
#define ADDR_LABEL_MAX 63

/* utf8_len - length of the well-formed UTF-8 sequence at p (< e), or 0 */
static size_t
utf8_len(const unsigned char *p, const unsigned char *e)
{
    unsigned c = p[0];
    size_t n;
    unsigned lo = 0x80, hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        else if (c == 0xed)
            hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f; /* beyond U+10FFFF */
    } else
        return 0;
    if ((size_t)(e - p) < n)
        return 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return n;
}

/* is_alnum - ASCII letter or digit, whatever the locale */
static int
is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* is_atext - RFC 5322 atext (ASCII part) */
static int
is_atext(unsigned char c)
{
    return is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* scan_dot_string - Dot-string at p; returns its end or NULL */
static const unsigned char *
scan_dot_string(const unsigned char *p, const unsigned char *e, int utf8, const char **why)
{
    int atom = 0; /* octets in the current atom */

    while (p < e) {
        if (*p == '.') {
            if (atom == 0) {
                *why = "empty atom in local part (leading or double dot)";
                return NULL;
            }
            atom = 0;
            p++;
        } else if (*p < 0x80 && is_atext(*p)) {
            atom++;
            p++;
        } else if (*p >= 0x80) {
            size_t n = utf8 ? utf8_len(p, e) : 0;
            if (n == 0) {
                *why = utf8 ? "malformed UTF-8 in local part" : "non-ASCII local part";
                return NULL;
            }
            atom++;
            p += n;
        } else
            break;
    }
    if (atom == 0) {
        *why = "empty local part or trailing dot";
        return NULL;
    }
    return p;
}

/* scan_quoted - Quoted-string at p (starting with '"'); returns its end or NULL */
static const unsigned char *
scan_quoted(const unsigned char *p, const unsigned char *e, int utf8, const char **why)
{
    for (p++; p < e; p++) {
        if (*p == '"')
            return p + 1;
        if (*p == '\\') {
            if (p + 1 >= e || p[1] < 32 || p[1] > 126) {
                *why = "bad quoted pair in local part";
                return NULL;
            }
            p++;
        } else if (*p >= 0x80) {
            size_t n = utf8 ? utf8_len(p, e) : 0;
            if (n == 0) {
                *why = utf8 ? "malformed UTF-8 in local part" : "non-ASCII local part";
                return NULL;
            }
            p += n - 1;
        } else if (*p < 32 || *p == 127) {
            *why = "control character in quoted local part";
            return NULL;
        }
    }
    *why = "unbalanced quote in local part";
    return NULL;
}

/* literal_chars_ok - every octet of [p, e) is one the literal's grammar
 * allows (RFC 5321 §4.1.3): digits and dots for IPv4; hex digits, colons
 * and dots for IPv6. Checked before inet_pton(), which would stop at a NUL
 * and accept what lies before it. */
static int
literal_chars_ok(const unsigned char *p, const unsigned char *e, int v6)
{
    static const char hex[] = "0123456789abcdefABCDEF";
    for (; p < e; p++) {
        if (*p == '.' || (*p >= '0' && *p <= '9'))
            continue;
        if (!v6 || (*p != ':' && (*p == '\0' || strchr(hex, *p) == NULL)))
            return 0;
    }
    return 1;
}

/* literal_pton - the address text [p, e) of family af converts; 1 or 0 */
static int
literal_pton(int af, const unsigned char *p, const unsigned char *e)
{
    char buf[INET6_ADDRSTRLEN];
    unsigned char bin[16];
    size_t n = (size_t)(e - p);

    if (n == 0 || n >= sizeof(buf) || !literal_chars_ok(p, e, af == AF_INET6))
        return 0;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return inet_pton(af, buf, bin) == 1;
}

/* scan_literal - address literal at p (starting with '['); returns its end or NULL */
static const unsigned char *
scan_literal(const unsigned char *p, const unsigned char *e, const char **why)
{
    const unsigned char *q = p + 1, *close;
    int ok;

    close = memchr(q, ']', (size_t)(e - q));
    if (close == NULL) {
        *why = "unterminated address literal";
        return NULL;
    }
    if (close - q > 5 && strncasecmp((const char *)q, "IPv6:", 5) == 0)
        ok = literal_pton(AF_INET6, q + 5, close);
    else
        ok = literal_pton(AF_INET, q, close);
    if (!ok) {
        *why = "bad address literal";
        return NULL;
    }
    return close + 1;
}

/* scan_domain - Domain at p: LDH labels (U-labels with utf8); returns its end or NULL */
static const unsigned char *
scan_domain(const unsigned char *p, const unsigned char *e, int utf8, const char **why)
{
    const unsigned char *start = p;
    size_t label = 0;
    int last_hyphen = 0;

    if (p < e && *p == '[')
        return scan_literal(p, e, why);
    for (; p < e; p++) {
        if (*p == '.') {
            if (label == 0 || last_hyphen)
                goto bad;
            label = 0;
            continue;
        }
        if (*p == '-') {
            if (label == 0)
                goto bad;
            last_hyphen = 1;
        } else if (is_alnum(*p))
            last_hyphen = 0;
        else if (*p >= 0x80 && utf8) {
            size_t n = utf8_len(p, e);
            if (n == 0) {
                *why = "malformed UTF-8 in domain";
                return NULL;
            }
            p += n - 1;
            label += n - 1;
            last_hyphen = 0;
        } else if (*p >= 0x80) {
            *why = "non-ASCII domain";
            return NULL;
        } else
            break;
        if (++label > ADDR_LABEL_MAX) {
            *why = "domain label longer than 63 octets";
            return NULL;
        }
    }
    if (label == 0 || last_hyphen)
        goto bad;
    if ((size_t)(p - start) > ADDR_DOMAIN_MAX) {
        *why = "domain longer than 255 octets";
        return NULL;
    }
    return p;
bad:
    *why = p == start ? "missing domain" : "bad domain syntax";
    return NULL;
}

/* scan_mailbox - Local-part "@" domain at p; returns its end or NULL */
static const unsigned char *
scan_mailbox(const unsigned char *p, const unsigned char *e, int utf8, const char **why)
{
    const unsigned char *lp = p, *q;

    if (p >= e) {
        *why = "empty address";
        return NULL;
    }
    q = *p == '"' ? scan_quoted(p, e, utf8, why) : scan_dot_string(p, e, utf8, why);
    if (q == NULL)
        return NULL;
    if (q - lp > ADDR_LOCAL_MAX) {
        *why = "local part longer than 64 octets";
        return NULL;
    }
    if (q >= e || *q != '@') {
        *why = q >= e || *q == '>' ? "missing @domain" : "bad character in local part";
        return NULL;
    }
    return scan_domain(q + 1, e, utf8, why);
}

/* scan_route - obsolete source route "@a,@b:" at p; returns the end or NULL */
static const unsigned char *
scan_route(const unsigned char *p, const unsigned char *e, const char **why)
{
    while (p < e && *p == '@') {
        p = scan_domain(p + 1, e, 0, why);
        if (p == NULL)
            return NULL;
        if (p < e && *p == ':')
            return p + 1;
        if (p >= e || *p != ',') {
            *why = "bad source route";
            return NULL;
        }
        p++;
    }
    *why = "bad source route";
    return NULL;
}

/* addr_parse_path - parse "<mailbox>", "<>" or a source-routed path */
int
addr_parse_path(const char *s, size_t len, int allow_null, int allow_utf8, char *out, size_t outlen,
                const char **end, const char **why)
{
    const unsigned char *p = (const unsigned char *)s, *e = p + len, *mb, *q;
    const char *dummy;

    if (why == NULL)
        why = &dummy;
    if (len == 0 || *p != '<') {
        *why = "path must start with '<'";
        return -1;
    }
    p++;
    if (p < e && *p == '>') {
        if (!allow_null) {
            *why = "null path not allowed here";
            return -1;
        }
        if (outlen == 0)
            return -1;
        out[0] = '\0';
        if (end != NULL)
            *end = (const char *)p + 1;
        return 0;
    }
    if (p < e && *p == '@' && (p = scan_route(p, e, why)) == NULL)
        return -1;
    mb = p;
    q = scan_mailbox(mb, e, allow_utf8, why);
    if (q == NULL)
        return -1;
    if (q >= e || *q != '>') {
        *why = q >= e ? "missing '>'" : "unexpected character in path";
        return -1;
    }
    if (q + 1 - (const unsigned char *)s > ADDR_MAX) {
        *why = "path longer than 256 octets";
        return -1;
    }
    if ((size_t)(q - mb) >= outlen) {
        *why = "address too long";
        return -1;
    }
    memcpy(out, mb, (size_t)(q - mb));
    out[q - mb] = '\0';
    if (end != NULL)
        *end = (const char *)q + 1;
    return 0;
}

/* addr_valid_mailbox - the whole string is one RFC 5321 Mailbox */
int
addr_valid_mailbox(const char *addr, int allow_utf8, const char **why)
{
    const unsigned char *p = (const unsigned char *)addr, *e, *q;
    const char *dummy;

    if (why == NULL)
        why = &dummy;
    if (addr == NULL) {
        *why = "empty address";
        return 0;
    }
    e = p + strlen(addr);
    q = scan_mailbox(p, e, allow_utf8, why);
    if (q == NULL)
        return 0;
    if (q != e) {
        *why = "unexpected character after domain";
        return 0;
    }
    if (e - p > ADDR_MAX - 2) {
        *why = "address longer than 254 octets";
        return 0;
    }
    return 1;
}

/* addr_valid_literal - the whole string is one address literal */
int
addr_valid_literal(const char *s)
{
    const unsigned char *p = (const unsigned char *)s, *e = p + strlen(s);
    const char *why;

    return *p == '[' && scan_literal(p, e, &why) == e;
}

/* addr_domain - the text after the last '@' */
const char *
addr_domain(const char *addr)
{
    const char *at = strrchr(addr, '@');
    return at != NULL ? at + 1 : "";
}

/* lower_copy - d with ASCII letters lowered into out; 0 or -1 if too long */
static int
lower_copy(const char *d, char *out, size_t outlen)
{
    size_t n = strlen(d);

    if (n >= outlen)
        return -1;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)(d[i] >= 'A' && d[i] <= 'Z' ? d[i] - 'A' + 'a' : d[i]);
    out[n] = '\0';
    return 0;
}

/* addr_domain_lower - the domain, ASCII letters lowered, into out */
int
addr_domain_lower(const char *addr, char *out, size_t outlen)
{
    return lower_copy(addr_domain(addr), out, outlen);
}

/* has_8bit - any octet above 127 in s */
static int
has_8bit(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return 1;
    return 0;
}

/* addr_domain_ascii - lower-cased ASCII domain, U-labels made A-labels */
int
addr_domain_ascii(const char *d, char *out, size_t outlen, const char **why)
{
    char *a = NULL;
    int rc;

    if (!has_8bit(d)) {
        if (lower_copy(d, out, outlen) == 0)
            return 0;
        *why = "domain too long";
        return -1;
    }
    rc = idn2_to_ascii_8z(d, &a, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
    if (rc != IDN2_OK) {
        *why = idn2_strerror(rc);
        return -1;
    }
    rc = lower_copy(a, out, outlen);
    idn2_free(a);
    if (rc != 0)
        *why = "domain too long once converted to A-labels";
    return rc;
}

/* addr_literal_ip - the address inside "[IPv4]" or "[IPv6:IPv6]" */
int
addr_literal_ip(const char *d, char *out, size_t outlen)
{
    size_t n = strlen(d), skip = 1;

    if (!addr_valid_literal(d))
        return -1;
    if (strncasecmp(d, "[IPv6:", 6) == 0)
        skip = 6;
    if (n - skip - 1 >= outlen)
        return -1;
    memcpy(out, d + skip, n - skip - 1);
    out[n - skip - 1] = '\0';
    return 0;
}

/* addr_rcpt_check - literals only when allowed; U-labels that convert */
int
addr_rcpt_check(const char *addr, int allow_literals, const char **why)
{
    const char *d = addr_domain(addr);
    char buf[ADDR_MAX];

    if (d[0] == '[') {
        if (allow_literals)
            return 0;
        *why = "domain literals are not accepted";
        return 550;
    }
    if (addr_domain_ascii(d, buf, sizeof(buf), why) < 0)
        return 501;
    return 0;
}
