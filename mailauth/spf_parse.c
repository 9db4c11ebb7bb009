/*
 * spf_parse.c - SPF record syntax (RFC 7208 §4.5, §4.6, §5, §6, §7.1):
 *               record selection, terms, CIDR lengths, domain-specs.
 *
 * Synopsis
 *   if (spf__is_spf1(txt, len)) spf__record_parse(txt, len, &rec, err, sizeof err);
 *
 * Description
 *   The whole record is parsed before anything is evaluated (§4.6: a syntax
 *   error anywhere is a permerror). Only printable ASCII and spaces are
 *   allowed (§3.1, §4.6.1: terms are separated by spaces, not by other
 *   white space). Mechanism names and the redirect/exp modifiers are
 *   case-insensitive; unknown modifiers are checked for syntax and ignored.
 *   Pure: no I/O, no globals.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailauth/spf_int.h"

/* xmalloc - allocation that aborts on failure */
static void *
xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        abort();
    return p;
}

/* perr - set err and return -1 */
static int
perr(char *err, size_t errlen, const char *what, const char *at, size_t len)
{
    snprintf(err, errlen, "%s: '%.*s'", what, (int)(len > 64 ? 64 : len), at);
    return -1;
}

/* spf__is_spf1 - "v=spf1" (any case) then a space or the end */
int
spf__is_spf1(const char *txt, size_t len)
{
    if (len < 6 || strncasecmp(txt, "v=spf1", 6) != 0)
        return 0;
    return len == 6 || txt[6] == ' ';
}

/* cidr_len - "/N": 0..max without leading zeros; N or -1 */
static int
cidr_len(const char *s, size_t len, int max)
{
    int v = 0;
    if (len == 0 || len > 3 || (s[0] == '0' && len > 1))
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v > max ? -1 : v;
}

/* digits_back - length of the run of digits ending at s[len) */
static size_t
digits_back(const char *s, size_t len)
{
    size_t k = 0;
    while (k < len && isdigit((unsigned char)s[len - 1 - k]))
        k++;
    return k;
}

/* spec_end - where a domain-spec in s[0..len) ends: before a trailing
 * dual-cidr-length ("/N", "//N" or "/N//N"); a domain-spec may itself hold
 * '/' and ':' (macro-literals) */
static size_t
spec_end(const char *s, size_t len)
{
    size_t d = digits_back(s, len);
    if (d == 0 || d == len || s[len - d - 1] != '/')
        return len;
    len -= d + 1; /* "/N" */
    if (len > 0 && s[len - 1] == '/') {
        size_t d4;
        len--; /* "//N" */
        d4 = digits_back(s, len);
        if (d4 > 0 && d4 < len && s[len - d4 - 1] == '/')
            len -= d4 + 1;
    }
    return len;
}

/* dual_cidr - [ "/" ip4-cidr ] [ "//" ip6-cidr ] covering all of s */
static int
dual_cidr(struct spf__term *t, const char *s, size_t len)
{
    size_t i = 0, j;
    if (len > 0 && !(len >= 2 && s[1] == '/')) {
        for (j = 1; j < len && s[j] != '/'; j++)
            ;
        if ((t->cidr4 = cidr_len(s + 1, j - 1, 32)) < 0)
            return -1;
        i = j;
    }
    if (i < len) {
        if (len - i < 3 || s[i] != '/' || s[i + 1] != '/')
            return -1;
        if ((t->cidr6 = cidr_len(s + i + 2, len - i - 2, 128)) < 0)
            return -1;
    }
    return 0;
}

/* ip_net - "ip4:" or "ip6:" network with an optional "/N" */
static int
ip_net(struct spf__term *t, const char *s, size_t len)
{
    char buf[64];
    size_t j;
    int six = t->mech == SPF__IP6;
    for (j = 0; j < len && s[j] != '/'; j++)
        ;
    if (j == 0 || j >= sizeof buf)
        return -1;
    memcpy(buf, s, j);
    buf[j] = '\0';
    if (inet_pton(six ? AF_INET6 : AF_INET, buf, t->net) != 1)
        return -1;
    if (j == len)
        return 0;
    int v = cidr_len(s + j + 1, len - j - 1, six ? 128 : 32);
    if (v < 0)
        return -1;
    if (six)
        t->cidr6 = v;
    else
        t->cidr4 = v;
    return 0;
}

static const struct {
    const char *name;
    int mech;
} mechs[] = {{"all", SPF__ALL}, {"include", SPF__INCLUDE}, {"a", SPF__A},
             {"mx", SPF__MX},   {"ptr", SPF__PTR},         {"ip4", SPF__IP4},
             {"ip6", SPF__IP6}, {"exists", SPF__EXISTS}};

/* mech_lookup - the mechanism named s[0..len), or -1 */
static int
mech_lookup(const char *s, size_t len)
{
    for (size_t i = 0; i < sizeof mechs / sizeof mechs[0]; i++)
        if (strlen(mechs[i].name) == len && strncasecmp(mechs[i].name, s, len) == 0)
            return mechs[i].mech;
    return -1;
}

/* mech_args - the part after the name: ":" spec and/or CIDR per mechanism */
static int
mech_args(struct spf__term *t, const char *s, size_t len)
{
    int m = t->mech;
    if (m == SPF__ALL)
        return len == 0 ? 0 : -1;
    if (m == SPF__IP4 || m == SPF__IP6)
        return (len > 1 && s[0] == ':') ? ip_net(t, s + 1, len - 1) : -1;
    if (len > 0 && s[0] == ':') {
        size_t e = (m == SPF__A || m == SPF__MX) ? spec_end(s + 1, len - 1) : len - 1;
        if (e == 0 || spf__domain_spec_valid(s + 1, e) < 0)
            return -1;
        t->spec = s + 1, t->speclen = e;
        s += 1 + e, len -= 1 + e;
    } else if (m == SPF__INCLUDE || m == SPF__EXISTS) {
        return -1;
    }
    if (len == 0)
        return 0;
    return (m == SPF__A || m == SPF__MX) ? dual_cidr(t, s, len) : -1;
}

/* parse_mech - one directive: [qualifier] mechanism */
static int
parse_mech(struct spf__term *t, const char *s, size_t len)
{
    size_t j = 0;
    memset(t, 0, sizeof *t);
    t->text = s, t->textlen = len;
    t->qual = SPF_RESULT_PASS, t->cidr4 = 32, t->cidr6 = 128;
    if (len > 0 && strchr("+-~?", s[0]) != NULL) {
        t->qual = s[0] == '-'   ? SPF_RESULT_FAIL
                  : s[0] == '~' ? SPF_RESULT_SOFTFAIL
                  : s[0] == '?' ? SPF_RESULT_NEUTRAL
                                : SPF_RESULT_PASS;
        s++, len--;
    }
    while (j < len && s[j] != ':' && s[j] != '/')
        j++;
    if ((t->mech = mech_lookup(s, j)) < 0)
        return -1;
    return mech_args(t, s + j, len - j);
}

/* modifier_name_len - length of a modifier name followed by '=', or 0 */
static size_t
modifier_name_len(const char *s, size_t len)
{
    size_t j = 1;
    if (len == 0 || !isalpha((unsigned char)s[0]))
        return 0;
    while (j < len && (isalnum((unsigned char)s[j]) || strchr("-_.", s[j]) != NULL))
        j++;
    return (j < len && s[j] == '=') ? j : 0;
}

/* parse_modifier - redirect=, exp= (once each), or an unknown one */
static int
parse_modifier(struct spf__record *r, char *s, size_t len, size_t nl, char *err, size_t errlen)
{
    const char *v = s + nl + 1;
    size_t vl = len - nl - 1;
    const char **slot = NULL;
    if (nl == 8 && strncasecmp(s, "redirect", 8) == 0)
        slot = &r->redirect;
    else if (nl == 3 && strncasecmp(s, "exp", 3) == 0)
        slot = &r->exp;
    if (slot == NULL)
        return spf__macro_valid(v, vl, 0) < 0 ? perr(err, errlen, "bad modifier", s, len) : 0;
    if (*slot != NULL)
        return perr(err, errlen, "repeated modifier", s, len);
    if (vl == 0 || spf__domain_spec_valid(v, vl) < 0)
        return perr(err, errlen, "bad domain-spec", s, len);
    *slot = v;
    s[len] = '\0'; /* the term ends at a space or the record's end */
    return 0;
}

/* parse_term - a modifier or a directive */
static int
parse_term(struct spf__record *r, char *s, size_t len, char *err, size_t errlen)
{
    size_t nl = modifier_name_len(s, len);
    if (nl > 0)
        return parse_modifier(r, s, len, nl, err, errlen);
    if (parse_mech(&r->t[r->n], s, len) < 0)
        return perr(err, errlen, "bad mechanism", s, len);
    r->n++;
    return 0;
}

/* ascii_ok - printable ASCII and spaces only (§3.1, §4.6.1) */
static int
ascii_ok(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return 0;
    return 1;
}

/* spf__record_parse - the terms of a "v=spf1" record */
int
spf__record_parse(const char *rec, size_t len, struct spf__record *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!spf__is_spf1(rec, len))
        return perr(err, errlen, "not an SPF record", rec, len);
    if (!ascii_ok(rec, len))
        return perr(err, errlen, "non-ASCII or control character in record", rec, len);
    out->buf = xmalloc(len + 1);
    memcpy(out->buf, rec, len);
    out->buf[len] = '\0';
    out->t = xmalloc((len / 2 + 1) * sizeof *out->t);
    for (size_t i = 6; i < len;) {
        size_t j = i;
        while (j < len && out->buf[j] != ' ')
            j++;
        if (j > i && parse_term(out, out->buf + i, j - i, err, errlen) < 0) {
            spf__record_free(out);
            return -1;
        }
        i = j + 1;
    }
    return 0;
}

/* spf__record_free - release what spf__record_parse allocated */
void
spf__record_free(struct spf__record *r)
{
    free(r->buf);
    free(r->t);
    memset(r, 0, sizeof *r);
}

/* spf_record_check - public syntax check */
int
spf_record_check(const char *rec, size_t len, char *err, size_t errlen)
{
    struct spf__record r;
    if (spf__record_parse(rec, len, &r, err, errlen) < 0)
        return -1;
    spf__record_free(&r);
    return 0;
}
