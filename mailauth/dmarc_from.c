/*
 * dmarc_from.c - the RFC5322.From domain for DMARC (RFC 7489 §6.6.1): one
 *                From field holding one mailbox (RFC 5322 §3.4, §3.6.2),
 *                with comments, quoted strings, folding and obs-route
 *                understood. Several fields, several mailboxes, a group, a
 *                domain literal or no domain: no From domain ("nofrom").
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "mailauth/dmarc.h"

#define FIELD_MAX 4096 /* a From field longer than this is not evaluated */

/* strip_comments - copy value without comments (comments become a space);
 * quoted strings are kept with their quotes. 0, or -1 when unbalanced. */
static int
strip_comments(const char *s, size_t n, char *out, size_t outlen)
{
    size_t i, o = 0;
    int depth = 0, quoted = 0;

    for (i = 0; i < n; i++) {
        char ch = s[i];
        if (o + 3 >= outlen || ch == '\0')
            return -1;
        if (depth > 0) {
            if (ch == '\\')
                i++;
            else if (ch == '(')
                depth++;
            else if (ch == ')' && --depth == 0)
                out[o++] = ' ';
            continue;
        }
        if (!quoted && ch == '(') {
            depth = 1;
            continue;
        }
        if (ch == '"') {
            quoted = !quoted;
        } else if (quoted && ch == '\\' && i + 1 < n) {
            out[o++] = ch; /* a quoted-pair stays whole */
            ch = s[++i];
            if (ch == '\0')
                return -1;
        }
        out[o++] = (ch == '\r' || ch == '\n') ? ' ' : ch;
    }
    out[o] = '\0';
    return depth == 0 && !quoted ? 0 : -1;
}

/* find_addr - the mailbox's addr-spec within the cleaned value: the one
 * angle-addr, or the whole value. Commas or a colon outside quotes and
 * angles (several mailboxes, a group) fail. */
static int
find_addr(char *s, char **start, char **end)
{
    char *lt = NULL, *gt = NULL, *p;
    int quoted = 0;

    for (p = s; *p; p++) {
        if (*p == '\\' && quoted && p[1]) {
            p++;
            continue;
        }
        if (*p == '"')
            quoted = !quoted;
        if (quoted || (lt != NULL && gt == NULL && *p != '>'))
            continue;
        if (*p == '<' && lt == NULL)
            lt = p;
        else if (*p == '>' && lt != NULL && gt == NULL)
            gt = p;
        else if (*p == '<' || *p == '>' || *p == ',' || *p == ':' || *p == ';')
            return -1;
        else if (gt != NULL && !isspace((unsigned char)*p))
            return -1; /* text after the angle-addr */
    }
    if (lt != NULL && gt == NULL)
        return -1;
    *start = lt ? lt + 1 : s;
    *end = lt ? gt : p;
    return 0;
}

/* domain_ok - LDH (and "_", and UTF-8) labels, none empty */
static int
domain_ok(const char *d, size_t n)
{
    size_t i, label = 0;

    if (n == 0 || n > 253)
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)d[i];
        if (ch == '.') {
            if (label == 0)
                return 0;
            label = 0;
        } else if (isalnum(ch) || ch == '-' || ch == '_' || ch >= 0x80) {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return label > 0;
}

/* addr_domain - the domain after the last unquoted "@" of [a, e) */
static int
addr_domain(char *a, char *e, char *out, size_t outlen)
{
    char *at = NULL, *p, *colon;
    int quoted = 0;
    size_t n, i;

    *e = '\0';
    if ((colon = strrchr(a, ':')) != NULL && a[strspn(a, " \t")] == '@')
        a = colon + 1; /* obs-route "@x,@y:" */
    for (p = a; *p; p++) {
        if (*p == '\\' && quoted && p[1])
            p++;
        else if (*p == '"')
            quoted = !quoted;
        else if (*p == '@' && !quoted)
            at = p;
    }
    if (at == NULL || at == a + strspn(a, " \t"))
        return -1; /* no "@", or no local part */
    p = at + 1 + strspn(at + 1, " \t");
    for (n = strlen(p); n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'); n--)
        ;
    if (n > 0 && p[n - 1] == '.')
        n--;
    if (!domain_ok(p, n) || n >= outlen)
        return -1;
    for (i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)p[i]);
    out[n] = '\0';
    return 0;
}

int
dmarc_from_field_domain(const char *value, size_t len, char *out, size_t outlen)
{
    char buf[FIELD_MAX], *a, *e;

    if (value == NULL || out == NULL || outlen == 0)
        return -1;
    if (strip_comments(value, len, buf, sizeof(buf)) < 0)
        return -1;
    if (find_addr(buf, &a, &e) < 0)
        return -1;
    return addr_domain(a, e, out, outlen);
}

/* line_end - the end of the line at p (its LF, or end) */
static const char *
line_end(const char *p, const char *end)
{
    const char *lf = memchr(p, '\n', (size_t)(end - p));
    return lf ? lf : end;
}

/* is_from - does the field line start with "From" [WSP] ":"? Its value then. */
static const char *
is_from(const char *p, const char *le)
{
    if (le - p < 5 || strncasecmp(p, "from", 4) != 0)
        return NULL;
    p += 4;
    while (p < le && (*p == ' ' || *p == '\t'))
        p++;
    return p < le && *p == ':' ? p + 1 : NULL;
}

int
dmarc_from_domain(const char *headers, size_t len, char *out, size_t outlen)
{
    const char *p = headers, *end = headers + len, *val = NULL, *vend = NULL;
    int count = 0;

    if (headers == NULL)
        return -1;
    while (p < end) {
        const char *le = line_end(p, end);
        if (le == p || (le == p + 1 && *p == '\r'))
            break; /* the empty line: end of the header section */
        if (*p != ' ' && *p != '\t') {
            const char *v = is_from(p, le);
            if (vend == NULL && val != NULL)
                vend = p; /* the From field ended here */
            if (v != NULL && ++count == 1)
                val = v;
        }
        p = le < end ? le + 1 : end;
    }
    if (count != 1)
        return -1;
    if (vend == NULL)
        vend = p;
    return dmarc_from_field_domain(val, (size_t)(vend - val), out, outlen);
}
