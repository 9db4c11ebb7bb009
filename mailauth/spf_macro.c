/*
 * spf_macro.c - SPF macros (RFC 7208 §7): syntax, expansion, domain-spec
 *               checks.
 *
 * Synopsis
 *   rc = spf__macro_expand(&vals, "%{ir}.%{v}._spf.%{d}", len, 0, out, sizeof out);
 *
 * Description
 *   macro-expand = "%{" letter [digits] ["r"] *delimiter "}" / "%%" / "%_"
 *   / "%-". Letters s l o d i p h v everywhere, c r t in explanations only;
 *   an upper-case letter URL-escapes its value (RFC 3986 unreserved kept).
 *   The value is split on the delimiters (default "."), reversed with "r",
 *   cut to its rightmost DIGITS parts (nonzero), and joined with ".".
 *   Anything else after '%' is a syntax error, as is a character outside
 *   %x21-7E (a space is allowed in an explain-string). Pure.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mailauth/spf_int.h"

#define MAX_PARTS 128

/* macro_value - the value of letter (lower-cased) in m; NULL if unknown */
static const char *
macro_value(const struct spf__mvals *m, int letter, int exp)
{
    switch (letter) {
    case 's':
        return m->s;
    case 'l':
        return m->l;
    case 'o':
        return m->o;
    case 'd':
        return m->d;
    case 'i':
        return m->i;
    case 'p':
        return m->p;
    case 'h':
        return m->h;
    case 'v':
        return m->v;
    case 'c':
        return exp ? m->c : NULL;
    case 'r':
        return exp ? m->r : NULL;
    case 't':
        return exp ? m->t : NULL;
    }
    return NULL;
}

/* known_letter - is letter (any case) a macro letter here? */
static int
known_letter(int letter, int exp)
{
    letter = tolower(letter);
    if (letter != 0 && strchr("slodiphv", letter) != NULL)
        return 1;
    return exp && letter != 0 && strchr("crt", letter) != NULL;
}

/* struct mtok - one parsed %{...} */
struct mtok {
    int letter, upper, rev;
    unsigned digits; /* 0: all */
    char delims[8];
    size_t len; /* bytes consumed from '%' */
};

/* parse_braced - s points at "%{"; fill tok; 0 or -1 */
static int
parse_braced(const char *s, size_t len, int exp, struct mtok *tok)
{
    size_t i = 2, nd = 0;
    memset(tok, 0, sizeof *tok);
    if (i >= len || !known_letter(s[i], exp))
        return -1;
    tok->letter = tolower((unsigned char)s[i]);
    tok->upper = isupper((unsigned char)s[i]);
    i++;
    if (i < len && isdigit((unsigned char)s[i])) {
        unsigned v = 0;
        while (i < len && isdigit((unsigned char)s[i]) && v < 100000)
            v = v * 10 + (unsigned)(s[i++] - '0');
        if (v == 0)
            return -1;
        tok->digits = v;
    }
    if (i < len && (s[i] == 'r' || s[i] == 'R'))
        tok->rev = 1, i++;
    while (i < len && strchr(".-+,/_=", s[i]) != NULL && s[i] != '\0') {
        if (nd + 1 < sizeof tok->delims && strchr(tok->delims, s[i]) == NULL)
            tok->delims[nd++] = s[i];
        i++;
    }
    if (i >= len || s[i] != '}')
        return -1;
    tok->len = i + 1;
    return 0;
}

/* struct obuf - bounded output */
struct obuf {
    char *p;
    size_t len, cap;
    int over;
};

static void
oput(struct obuf *o, const char *s, size_t n)
{
    if (o->p == NULL)
        return; /* checking only */
    if (o->len + n >= o->cap) {
        o->over = 1;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

/* oput_escaped - URL-escape all but RFC 3986 unreserved characters */
static void
oput_escaped(struct obuf *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char hex[4];
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            oput(o, (const char *)&c, 1);
        } else {
            snprintf(hex, sizeof hex, "%%%02X", c);
            oput(o, hex, 3);
        }
    }
}

/* transform - split val on delims, reverse, keep the rightmost digits, join */
static void
transform(const struct mtok *t, const char *val, char *out, size_t outlen)
{
    const char *delims = t->delims[0] ? t->delims : ".";
    const char *part[MAX_PARTS];
    size_t plen[MAX_PARTS], n = 0, start = 0, first, k = 0;
    const char *p = val;
    for (;;) {
        size_t l = strcspn(p, delims);
        if (n < MAX_PARTS)
            part[n] = p, plen[n++] = l;
        if (p[l] == '\0')
            break;
        p += l + 1;
    }
    if (t->rev)
        for (size_t i = 0; i < n / 2; i++) {
            const char *tp = part[i];
            size_t tl = plen[i];
            part[i] = part[n - 1 - i], plen[i] = plen[n - 1 - i];
            part[n - 1 - i] = tp, plen[n - 1 - i] = tl;
        }
    if (t->digits && t->digits < n)
        start = n - t->digits;
    out[0] = '\0';
    for (first = start; first < n; first++) {
        if (k + plen[first] + 2 >= outlen)
            break;
        if (first > start)
            out[k++] = '.';
        memcpy(out + k, part[first], plen[first]);
        k += plen[first];
        out[k] = '\0';
    }
}

/* expand_one - a %{...} into o; 0, -1, or 1 (%{p} not known yet) */
static int
expand_one(const struct spf__mvals *m, const struct mtok *t, int exp, struct obuf *o)
{
    char buf[SPF__TEXT_MAX];
    const char *v = macro_value(m, t->letter, exp);
    if (v == NULL)
        return t->letter == 'p' ? 1 : -1;
    transform(t, v, buf, sizeof buf);
    if (t->upper)
        oput_escaped(o, buf, strlen(buf));
    else
        oput(o, buf, strlen(buf));
    return 0;
}

/* literal_ok - may c appear literally? */
static int
literal_ok(unsigned char c, int exp)
{
    return (c >= 0x21 && c <= 0x7e && c != '%') || (exp && c == ' ');
}

/* scan - expand (m set) or only check (m NULL) in[0..len) into o */
static int
scan(const struct spf__mvals *m, const char *in, size_t len, int exp, struct obuf *o)
{
    struct mtok t;
    for (size_t i = 0; i < len;) {
        if (in[i] != '%') {
            if (!literal_ok((unsigned char)in[i], exp))
                return -1;
            oput(o, in + i++, 1);
            continue;
        }
        if (i + 1 >= len)
            return -1;
        if (in[i + 1] == '%' || in[i + 1] == '_' || in[i + 1] == '-') {
            oput(o,
                 in[i + 1] == '%'   ? "%"
                 : in[i + 1] == '_' ? " "
                                    : "%20",
                 in[i + 1] == '-' ? 3 : 1);
            i += 2;
            continue;
        }
        if (in[i + 1] != '{' || parse_braced(in + i, len - i, exp, &t) < 0)
            return -1;
        if (m != NULL) {
            int rc = expand_one(m, &t, exp, o);
            if (rc != 0)
                return rc;
        }
        i += t.len;
    }
    return o->over ? -1 : 0;
}

/* spf__macro_expand - see spf_int.h */
int
spf__macro_expand(const struct spf__mvals *m, const char *in, size_t len, int exp, char *out,
                  size_t outlen)
{
    struct obuf o = {out, 0, outlen, 0};
    if (outlen == 0)
        return -1;
    out[0] = '\0';
    return scan(m, in, len, exp, &o);
}

/* spf__macro_valid - syntax only */
int
spf__macro_valid(const char *in, size_t len, int exp)
{
    struct obuf o = {NULL, 0, 0, 0};
    return scan(NULL, in, len, exp, &o) == 0 ? 0 : -1;
}

/* toplabel_ok - §7.1 toplabel: alphanumerics and '-', not at either end,
 * not all digits */
static int
toplabel_ok(const char *s, size_t len)
{
    int alpha = 0, dash = 0;
    if (len == 0 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[len - 1]))
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (isalpha((unsigned char)s[i]))
            alpha = 1;
        else if (s[i] == '-')
            dash = 1;
        else if (!isdigit((unsigned char)s[i]))
            return 0;
    }
    return alpha || dash;
}

/* ends_in_macro - does in[0..len) end with a macro-expand token? */
static int
ends_in_macro(const char *in, size_t len)
{
    int last = 0;
    struct mtok t;
    for (size_t i = 0; i < len;) {
        last = in[i] == '%';
        if (!last) {
            i++;
        } else if (i + 1 < len && in[i + 1] == '{' && parse_braced(in + i, len - i, 0, &t) == 0) {
            i += t.len;
        } else {
            i += 2;
        }
    }
    return last;
}

/* spf__domain_spec_valid - macro-string ending in a macro or "." toplabel */
int
spf__domain_spec_valid(const char *in, size_t len)
{
    size_t end = len, dot;
    if (len == 0 || spf__macro_valid(in, len, 0) < 0)
        return -1;
    if (ends_in_macro(in, len))
        return 0;
    if (in[end - 1] == '.')
        end--;
    for (dot = end; dot > 0 && in[dot - 1] != '.'; dot--)
        ;
    if (dot == 0)
        return -1;
    return toplabel_ok(in + dot, end - dot) ? 0 : -1;
}

/* spf__name_ok - labels of 1..63 octets, 253 in all, one trailing dot allowed */
int
spf__name_ok(const char *name)
{
    size_t len = strlen(name), label = 0;
    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0 || len > SPF__DOMAIN_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (name[i] == '.') {
            if (label == 0)
                return 0;
            label = 0;
        } else if (++label > 63) {
            return 0;
        }
    }
    return label > 0;
}

/* spf_macro_check - expand with sample values (tools, fuzzing) */
int
spf_macro_check(const char *in, size_t len, int exp, char *out, size_t outlen)
{
    static const struct spf__mvals sample = {"strong-bad@email.example.com",
                                             "strong-bad",
                                             "email.example.com",
                                             "email.example.com",
                                             "192.0.2.3",
                                             "unknown",
                                             "mx.example.org",
                                             "192.0.2.3",
                                             "unknown",
                                             "1700000000",
                                             "in-addr"};
    return spf__macro_expand(&sample, in, len, exp, out, outlen) == 0 ? 0 : -1;
}
