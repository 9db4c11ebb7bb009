/*
 * dkim_canon.c - the message split into header fields and body, and the
 *                canonicalization algorithms of RFC 6376 §3.4 (simple and
 *                relaxed, for header fields and for the body).
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailauth/dkim_int.h"

/* dkim__buf_add - append n bytes, keeping a NUL after them */
void
dkim__buf_add(struct dkim_buf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        if ((b->p = realloc(b->p, cap)) == NULL)
            abort();
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* dkim__buf_str - append a C string */
void
dkim__buf_str(struct dkim_buf *b, const char *s)
{
    dkim__buf_add(b, s, strlen(s));
}

/* line_end - the end of the line at p (the LF, or end) */
static const char *
line_end(const char *p, const char *end)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    return nl ? nl : end;
}

/* content_end - where the line's content ends (before CR LF or LF) */
static const char *
content_end(const char *p, const char *nl)
{
    return (nl > p && nl[-1] == '\r') ? nl - 1 : nl;
}

/* field_name_len - the length of a field name starting the line, or 0 when
 * the line does not start a field (RFC 5322 §2.2: printable, no colon) */
static size_t
field_name_len(const char *p, const char *e)
{
    const char *q = p;
    while (q<e && * q> 32 && *q < 127 && *q != ':')
        q++;
    size_t n = (size_t)(q - p);
    while (q < e && (*q == ' ' || *q == '\t'))
        q++;
    return (n > 0 && q < e && *q == ':') ? n : 0;
}

/* push_hdr - add a field to m */
static int
push_hdr(struct dkim_msg *m, const char *p, size_t len, size_t name_len)
{
    if (m->nh >= DKIM_MAX_HEADERS)
        return -1;
    if (m->nh % 32 == 0 && (m->h = realloc(m->h, (m->nh + 32) * sizeof(*m->h))) == NULL)
        abort();
    m->h[m->nh++] = (struct dkim_hdr){p, len, name_len};
    return 0;
}

/* dkim__msg_split - header fields and body */
int
dkim__msg_split(const char *msg, size_t len, struct dkim_msg *m)
{
    const char *p = msg, *end = msg + len, *cur = NULL, *cur_end = NULL;
    size_t cur_name = 0;
    memset(m, 0, sizeof(*m));
    while (p < end) {
        const char *nl = line_end(p, end), *ce = content_end(p, nl);
        if (cur && (*p == ' ' || *p == '\t')) {
            cur_end = ce;
        } else {
            if (cur && push_hdr(m, cur, (size_t)(cur_end - cur), cur_name) < 0)
                return -1;
            cur = NULL;
            if (ce == p) { /* the empty line */
                m->body = nl < end ? nl + 1 : end;
                break;
            }
            if ((cur_name = field_name_len(p, ce)) == 0) {
                m->body = p; /* not a field: the body starts here */
                break;
            }
            cur = p;
            cur_end = ce;
        }
        p = nl < end ? nl + 1 : end;
    }
    if (cur && push_hdr(m, cur, (size_t)(cur_end - cur), cur_name) < 0)
        return -1;
    m->body_len = m->body ? (size_t)(end - m->body) : 0;
    return 0;
}

/* dkim__hdr_is - case-insensitive name comparison */
int
dkim__hdr_is(const struct dkim_hdr *h, const char *name, size_t nlen)
{
    return h->name_len == nlen && strncasecmp(h->p, name, nlen) == 0;
}

/* canon_simple - the field as it is, every line end made CRLF */
static void
canon_simple(const char *p, size_t len, struct dkim_buf *out)
{
    const char *end = p + len;
    while (p < end) {
        const char *nl = line_end(p, end), *ce = content_end(p, nl);
        dkim__buf_add(out, p, (size_t)(ce - p));
        if (nl < end)
            dkim__buf_add(out, "\r\n", 2);
        p = nl < end ? nl + 1 : end;
    }
}

/* canon_relaxed - lower-case name, unfolded, WSP runs as one SP, none
 * around the colon or at the end (RFC 6376 §3.4.2) */
static void
canon_relaxed(const char *p, size_t len, struct dkim_buf *out)
{
    const char *end = p + len, *colon = memchr(p, ':', len);
    const char *ne = colon;
    while (ne > p && (ne[-1] == ' ' || ne[-1] == '\t'))
        ne--;
    for (const char *q = p; q < ne; q++) {
        char c = (*q >= 'A' && *q <= 'Z') ? (char)(*q + 32) : *q;
        dkim__buf_add(out, &c, 1);
    }
    dkim__buf_add(out, ":", 1);
    int wsp = 0, any = 0;
    for (const char *q = colon + 1; q < end; q++) {
        if (*q == '\r' || *q == '\n')
            continue;
        if (*q == ' ' || *q == '\t') {
            wsp = 1;
            continue;
        }
        if (wsp && any)
            dkim__buf_add(out, " ", 1);
        wsp = 0;
        any = 1;
        dkim__buf_add(out, q, 1);
    }
}

/* dkim__canon_header_n - one field, canonical, no final CRLF */
void
dkim__canon_header_n(enum dkim_canon c, const char *p, size_t len, struct dkim_buf *out)
{
    if (c == DKIM_CANON_RELAXED && memchr(p, ':', len))
        canon_relaxed(p, len, out);
    else
        canon_simple(p, len, out);
}

/* relax_line - a body line with WSP runs as one SP and none at the end */
static void
relax_line(const char *p, const char *e, struct dkim_buf *out)
{
    while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    int wsp = 0;
    for (; p < e; p++) {
        if (*p == ' ' || *p == '\t') {
            wsp = 1;
            continue;
        }
        if (wsp)
            dkim__buf_add(out, " ", 1);
        wsp = 0;
        dkim__buf_add(out, p, 1);
    }
}

/* blank_line - does the line canonicalize to nothing? */
static int
blank_line(enum dkim_canon c, const char *p, const char *e)
{
    if (c == DKIM_CANON_SIMPLE)
        return p == e;
    for (; p < e; p++)
        if (*p != ' ' && *p != '\t')
            return 0;
    return 1;
}

/* canon_body - the canonical body (RFC 6376 §3.4.3, §3.4.4) into out */
static void
canon_body(enum dkim_canon c, const char *p, size_t len, struct dkim_buf *out)
{
    const char *end = p + len;
    size_t empty = 0; /* empty lines held back: they count only before content */
    while (p < end) {
        const char *nl = line_end(p, end), *ce = content_end(p, nl);
        if (blank_line(c, p, ce)) {
            empty++;
        } else {
            for (; empty > 0; empty--)
                dkim__buf_add(out, "\r\n", 2);
            if (c == DKIM_CANON_RELAXED)
                relax_line(p, ce, out);
            else
                dkim__buf_add(out, p, (size_t)(ce - p));
            dkim__buf_add(out, "\r\n", 2);
        }
        p = nl < end ? nl + 1 : end;
    }
    if (out->len == 0 && c == DKIM_CANON_SIMPLE)
        dkim__buf_add(out, "\r\n", 2);
}

/* dkim__md - the digest of an algorithm */
const void *
dkim__md(enum dkim_algo a)
{
    return a == DKIM_RSA_SHA1 ? EVP_sha1() : EVP_sha256();
}

/* dkim__body_hash - hash of the canonical body (first limit octets) */
unsigned
dkim__body_hash(enum dkim_canon c, enum dkim_algo a, const char *body, size_t len, long long limit,
                unsigned char *md, size_t *canon_len)
{
    struct dkim_buf b = {0};
    unsigned mdlen = 0;
    canon_body(c, body ? body : "", body ? len : 0, &b);
    *canon_len = b.len;
    size_t n = (limit >= 0 && (unsigned long long)limit < b.len) ? (size_t)limit : b.len;
    if (!EVP_Digest(b.p ? b.p : "", n, md, &mdlen, dkim__md(a), NULL))
        mdlen = 0;
    free(b.p);
    return mdlen;
}
