/*
 * wire.c - the CRLF wire form of a message body, written in one pass from
 *          raw octets or from a JSON string; see wire.h.
 *
 * Both loops look at 8 octets at a time (a 64-bit word, SWAR) and copy a
 * word whole when none of its octets needs attention: no CR or LF in raw
 * text; no quote, backslash, control character or non-ASCII octet in a
 * JSON string. Text with 78-octet lines thus costs about one word test and
 * one word copy per 8 octets.
 */
#include "api/wire.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ONES 0x0101010101010101ull
#define HIGH 0x8080808080808080ull

/* has_less - some octet of v is below c (c <= 128) */
static inline uint64_t
has_less(uint64_t v, unsigned c)
{
    return (v - ONES * c) & ~v & HIGH;
}

/* has_octet - some octet of v is c */
static inline uint64_t
has_octet(uint64_t v, unsigned c)
{
    return has_less(v ^ (ONES * c), 1);
}

/* first_flagged - how many octets of a word come before the first one
 * flagged in m (m not 0): exact, since the tests above can flag an octet
 * wrongly only above a rightly flagged one (a borrow runs upwards). Little
 * endian only; elsewhere 0, and the byte loop that follows finds it. */
static inline size_t
first_flagged(uint64_t m)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (size_t)__builtin_ctzll(m) / 8;
#else
    (void)m;
    return 0;
#endif
}

/* load8 - 8 octets at p as a word */
static inline uint64_t
load8(const char *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
    return v;
}

/* wire_room - make room for n more octets; 0 or -1 */
static int
wire_room(struct wire *w, size_t n)
{
    size_t cap = w->cap;
    char *p;

    if (n <= w->cap - w->len)
        return 0;
    if (n > SIZE_MAX / 4 - w->len)
        return -1;
    cap += cap / 2;
    if (cap < w->len + n)
        cap = w->len + n;
    p = realloc(w->buf, cap);
    if (p == NULL)
        return -1;
    w->buf = p;
    w->cap = cap;
    return 0;
}

/* wire_open - head room plus space for hint octets of text */
int
wire_open(struct wire *w, size_t head, size_t hint)
{
    memset(w, 0, sizeof(*w));
    if (head > SIZE_MAX / 4 || hint > SIZE_MAX / 4)
        return -1;
    w->cap = head + hint + 3;
    w->buf = malloc(w->cap);
    if (w->buf == NULL)
        return -1;
    w->len = w->head = head;
    return 0;
}

/* wire_put - raw octets, line ends made CRLF */
int
wire_put(struct wire *w, const char *p, size_t n)
{
    size_t i = 0;

    while (i < n) {
        size_t run = i;
        while (run + 8 <= n) {
            uint64_t v = load8(p + run), m = has_octet(v, '\r') | has_octet(v, '\n');
            if (m != 0) {
                run += first_flagged(m);
                break;
            }
            run += 8;
        }
        while (run < n && p[run] != '\r' && p[run] != '\n')
            run++;
        if (wire_room(w, run - i + 2) < 0)
            return -1;
        if (run > i) {
            memcpy(w->buf + w->len, p + i, run - i);
            w->len += run - i;
            w->cr = 0;
        }
        if (run == n)
            break;
        if (p[run] == '\n' && w->cr) { /* the LF of a CR LF split across pieces */
            w->cr = 0;
        } else {
            w->buf[w->len++] = '\r';
            w->buf[w->len++] = '\n';
            w->cr = p[run] == '\r';
        }
        i = run + 1;
    }
    return 0;
}

/* wire_end - final CRLF and NUL */
int
wire_end(struct wire *w)
{
    if (wire_room(w, 3) < 0)
        return -1;
    if (w->len > w->head && w->buf[w->len - 1] != '\n') {
        w->buf[w->len++] = '\r';
        w->buf[w->len++] = '\n';
    }
    w->buf[w->len] = '\0';
    return 0;
}

/* wire_free - release the buffer */
void
wire_free(struct wire *w)
{
    free(w->buf);
    w->buf = NULL;
    w->len = w->cap = 0;
}

/* wire_utf8_len - a well-formed UTF-8 sequence (RFC 3629) */
size_t
wire_utf8_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0], lo = 0x80, hi = 0xbf;
    size_t k;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        k = 2;
    else if (c >= 0xe0 && c <= 0xef)
        k = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        k = 4;
    else
        return 0;
    if (n < k)
        return 0;
    if (c == 0xe0)
        lo = 0xa0; /* overlong */
    else if (c == 0xed)
        hi = 0x9f; /* surrogates */
    else if (c == 0xf0)
        lo = 0x90; /* overlong */
    else if (c == 0xf4)
        hi = 0x8f; /* over U+10FFFF */
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < k; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return k;
}

/* json_end - the offset of the quote that ends the string at s, or -1:
 * the first quote not preceded by an odd run of backslashes (each run is
 * counted once, so this is linear) */
static long
json_end(const char *s, size_t n)
{
    const char *q = s, *e = s + n;

    while ((q = memchr(q, '"', (size_t)(e - q))) != NULL) {
        const char *b = q;
        while (b > s && b[-1] == '\\')
            b--;
        if ((q - b) % 2 == 0)
            return (long)(q - s);
        q++;
    }
    return -1;
}

/* hex4 - the value of 4 hex digits at p, or -1 */
static long
hex4(const char *p)
{
    long v = 0;

    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* json_escape - the code point of the escape at s[i] (a backslash; end is
 * the closing quote's offset) and its length in *k; -1 when jansson would
 * refuse it or it is \u0000 */
static long
json_escape(const char *s, size_t i, size_t end, size_t *k)
{
    long v, lo;

    if (i + 1 >= end)
        return -1;
    *k = 2;
    switch (s[i + 1]) {
    case '"':
    case '\\':
    case '/':
        return s[i + 1];
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'u':
        break;
    default:
        return -1;
    }
    if (i + 6 > end || (v = hex4(s + i + 2)) <= 0)
        return -1;
    *k = 6;
    if (v >= 0xdc00 && v <= 0xdfff)
        return -1; /* a low surrogate first */
    if (v < 0xd800 || v > 0xdbff)
        return v;
    if (i + 12 > end || s[i + 6] != '\\' || s[i + 7] != 'u' || (lo = hex4(s + i + 8)) < 0xdc00 ||
        lo > 0xdfff)
        return -1;
    *k = 12;
    return 0x10000 + ((v - 0xd800) << 10) + (lo - 0xdc00);
}

/* utf8_put - cp as UTF-8 at o; the octets written */
static size_t
utf8_put(char *o, long cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* wire_json - decode one JSON string. The output is never longer than the
 * string's text (an escape is at least as long as what it stands for, and
 * "\r" or "\n" become two octets), so room for it is made once, and a
 * word read from the text may be stored whole at o, which is never ahead
 * of it: octets after a flagged one are written over next. */
long
wire_json(struct wire *w, const char *s, size_t n, int crlf, size_t *declen)
{
    long end = json_end(s, n);
    size_t i = 0, dec = 0;
    int cr = w->cr;
    char *o;

    if (end < 0 || wire_room(w, (size_t)end + 3) < 0)
        return -1;
    o = w->buf + w->len;
    while (i < (size_t)end) {
        while (i + 8 <= (size_t)end) {
            uint64_t v = load8(s + i);
            uint64_t m = has_octet(v, '"') | has_octet(v, '\\') | has_less(v, 0x20) | (v & HIGH);
            size_t k = m != 0 ? first_flagged(m) : 8;
            memcpy(o, &v, 8);
            o += k, i += k, dec += k;
            cr = k > 0 ? 0 : cr;
            if (m != 0)
                break;
        }
        if (i == (size_t)end)
            break;
        unsigned char c = (unsigned char)s[i];
        size_t k = 1;
        if (c == '\\') {
            long cp = json_escape(s, i, (size_t)end, &k);
            if (cp < 0)
                return -1;
            if (crlf && (cp == '\r' || cp == '\n')) {
                if (cp == '\r' || !cr) {
                    *o++ = '\r';
                    *o++ = '\n';
                }
                cr = cp == '\r';
                dec++;
            } else {
                size_t u = utf8_put(o, cp);
                o += u, dec += u;
                cr = 0;
            }
        } else if (c < 0x20 || c == '"') {
            return -1;
        } else if (c < 0x80) {
            *o++ = (char)c;
            dec++;
            cr = 0;
        } else {
            if ((k = wire_utf8_len((const unsigned char *)s + i, (size_t)end - i)) == 0)
                return -1;
            memcpy(o, s + i, k);
            o += k, dec += k;
            cr = 0;
        }
        i += k;
    }
    w->len = (size_t)(o - w->buf);
    w->buf[w->len] = '\0';
    w->cr = cr;
    *declen = dec;
    return end;
}
