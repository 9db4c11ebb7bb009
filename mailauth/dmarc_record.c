/*
 * dmarc_record.c - the DMARC record parser (RFC 7489 §6.3, §6.4, §6.6.3;
 *                  DMARCbis np, psd, t) and the choice among one name's TXT
 *                  records.
 *
 * The tag-list follows DKIM's (RFC 6376 §3.2): a tag named twice makes the
 * whole list invalid, as does a tag without "=" or a bad tag name. Unknown
 * tags are ignored; a known tag with a bad value takes its default (§6.3),
 * except p= and sp=, handled as §6.6.3 step 6 says.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailauth/dmarc.h"

/* parse state: the current tag's name and value */
struct tagv {
    const char *name, *val;
    size_t nlen, vlen;
};

/* bit per known tag, for duplicates of known tags */
static const char *const known[] = {"v",   "p",   "sp", "np", "pct", "adkim", "aspf",
                                    "rua", "ruf", "fo", "rf", "ri",  "psd",   "t"};
#define NKNOWN (sizeof(known) / sizeof(known[0]))

/* is_wsp - whitespace inside a record (folding included) */
static int
is_wsp(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* trim - strip whitespace from both ends of [*s, *s + *n) */
static void
trim(const char **s, size_t *n)
{
    while (*n > 0 && is_wsp(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_wsp((*s)[*n - 1]))
        (*n)--;
}

/* eq - value equals word, ASCII case-insensitively */
static int
eq(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

/* split_tag - one "name = value" segment; 0, or -1 when malformed */
static int
split_tag(const char *s, size_t n, struct tagv *t)
{
    const char *e = memchr(s, '=', n);
    size_t i;

    if (e == NULL)
        return -1;
    t->name = s;
    t->nlen = (size_t)(e - s);
    t->val = e + 1;
    t->vlen = n - t->nlen - 1;
    trim(&t->name, &t->nlen);
    trim(&t->val, &t->vlen);
    if (t->nlen == 0 || !isalpha((unsigned char)t->name[0]))
        return -1;
    for (i = 1; i < t->nlen; i++)
        if (!isalnum((unsigned char)t->name[i]) && t->name[i] != '_')
            return -1;
    return 0;
}

/* policy_of - p/sp/np value; UNSET when not a policy word */
static enum dmarc_policy
policy_of(const char *s, size_t n)
{
    if (eq(s, n, "none"))
        return DMARC_POLICY_NONE;
    if (eq(s, n, "quarantine"))
        return DMARC_POLICY_QUARANTINE;
    if (eq(s, n, "reject"))
        return DMARC_POLICY_REJECT;
    return DMARC_POLICY_UNSET;
}

/* number - 1*digits within max; -1 when not */
static long
number(const char *s, size_t n, long max)
{
    long v = 0;
    size_t i;

    if (n == 0 || n > 10)
        return -1;
    for (i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v <= max ? v : -1;
}

/* uri_ok - one dmarc-uri: scheme ":" rest, optional "!" size[kmgt] */
static int
uri_ok(const char *s, size_t n)
{
    const char *colon = memchr(s, ':', n), *bang;
    size_t i;

    if (colon == NULL || colon == s || !isalpha((unsigned char)s[0]))
        return 0;
    for (i = 0; s + i < colon; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("+-.", s[i]))
            return 0;
    if ((size_t)(colon - s) + 1 >= n)
        return 0;
    for (i = 0; i < n; i++)
        if (is_wsp(s[i]) || s[i] == ';' || (unsigned char)s[i] < 0x21)
            return 0;
    bang = memchr(colon, '!', n - (size_t)(colon - s));
    if (bang != NULL) {
        size_t k = n - (size_t)(bang - s) - 1;
        if (k > 0 && strchr("kmgtKMGT", bang[k]))
            k--;
        if (number(bang + 1, k, 0x7fffffffL) < 0)
            return 0;
    }
    return 1;
}

/* uri_list - rua/ruf: comma-separated URIs, all valid, copied into out */
static void
uri_list(const char *s, size_t n, char *out)
{
    size_t start = 0, i;

    out[0] = '\0';
    if (n == 0 || n >= DMARC_URI_MAX)
        return;
    for (i = 0; i <= n; i++) {
        if (i < n && s[i] != ',')
            continue;
        const char *u = s + start;
        size_t ul = i - start;
        trim(&u, &ul);
        if (!uri_ok(u, ul))
            return;
        start = i + 1;
    }
    memcpy(out, s, n);
    out[n] = '\0';
}

/* word_list - fo/rf: colon-separated words each in allowed; copied or dflt */
static void
word_list(const char *s, size_t n, const char *const *allowed, char *out, size_t outlen,
          const char *dflt)
{
    size_t start = 0, i, k;

    snprintf(out, outlen, "%s", dflt);
    if (n == 0 || n >= outlen)
        return;
    for (i = 0; i <= n; i++) {
        if (i < n && s[i] != ':')
            continue;
        const char *w = s + start;
        size_t wl = i - start;
        trim(&w, &wl);
        for (k = 0; allowed[k] != NULL && !eq(w, wl, allowed[k]); k++)
            ;
        if (allowed[k] == NULL)
            return;
        start = i + 1;
    }
    for (i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[n] = '\0';
}

/* defaults - a record before its tags */
static void
defaults(struct dmarc_record *r)
{
    memset(r, 0, sizeof(*r));
    r->pct = 100;
    r->psd = 'u';
    r->ri = 86400;
    strcpy(r->fo, "0");
    strcpy(r->rf, "afrf");
}

/* apply_more - the tags after the policy ones */
static void
apply_more(struct dmarc_record *r, const struct tagv *t)
{
    static const char *const fo_words[] = {"0", "1", "d", "s", NULL};
    static const char *const rf_words[] = {"afrf", "iodef", NULL};
    long v;

    if (eq(t->name, t->nlen, "ri")) {
        if ((v = number(t->val, t->vlen, 0xffffffffL)) >= 0)
            r->ri = (unsigned long)v;
    } else if (eq(t->name, t->nlen, "fo")) {
        word_list(t->val, t->vlen, fo_words, r->fo, sizeof(r->fo), "0");
    } else if (eq(t->name, t->nlen, "rf")) {
        word_list(t->val, t->vlen, rf_words, r->rf, sizeof(r->rf), "afrf");
    } else if (eq(t->name, t->nlen, "psd")) {
        if (t->vlen == 1 && strchr("ynuYNU", t->val[0]))
            r->psd = (char)tolower((unsigned char)t->val[0]);
    } else if (eq(t->name, t->nlen, "t")) {
        r->testing = eq(t->val, t->vlen, "y");
    } else if (eq(t->name, t->nlen, "rua")) {
        uri_list(t->val, t->vlen, r->rua);
    } else if (eq(t->name, t->nlen, "ruf")) {
        uri_list(t->val, t->vlen, r->ruf);
    }
}

/* apply - one tag into the record; *bad_sp set for an invalid sp= */
static void
apply(struct dmarc_record *r, const struct tagv *t, int *bad_sp)
{
    long v;

    if (eq(t->name, t->nlen, "p")) {
        r->p = policy_of(t->val, t->vlen);
    } else if (eq(t->name, t->nlen, "sp")) {
        r->sp = policy_of(t->val, t->vlen);
        *bad_sp = r->sp == DMARC_POLICY_UNSET;
    } else if (eq(t->name, t->nlen, "np")) {
        r->np = policy_of(t->val, t->vlen);
    } else if (eq(t->name, t->nlen, "pct")) {
        if ((v = number(t->val, t->vlen, 100)) >= 0)
            r->pct = (unsigned)v;
    } else if (eq(t->name, t->nlen, "adkim") || eq(t->name, t->nlen, "aspf")) {
        enum dmarc_align a = eq(t->val, t->vlen, "s") ? DMARC_ALIGN_STRICT : DMARC_ALIGN_RELAXED;
        *(t->name[1] == 'd' || t->name[1] == 'D' ? &r->adkim : &r->aspf) = a;
    } else {
        apply_more(r, t);
    }
}

/* seen_before - mark a known tag seen; 1 when it already was */
static int
seen_before(const struct tagv *t, unsigned *seen)
{
    size_t k;

    for (k = 0; k < NKNOWN; k++) {
        if (eq(t->name, t->nlen, known[k])) {
            if (*seen & (1u << k))
                return 1;
            *seen |= 1u << k;
            return 0;
        }
    }
    return 0; /* unknown tags: ignored, repeats included */
}

/* version_first - the list starts with v=DMARC1 (exact case for DMARC1) */
static int
version_first(const char *s, size_t n)
{
    const char *semi = memchr(s, ';', n);
    struct tagv t;
    size_t seg = semi ? (size_t)(semi - s) : n;

    if (split_tag(s, seg, &t) < 0)
        return 0;
    return eq(t.name, t.nlen, "v") && t.vlen == 6 && memcmp(t.val, "DMARC1", 6) == 0;
}

/* parse_tags - every segment; 0, or -1 for a broken tag-list */
static int
parse_tags(const char *s, size_t n, struct dmarc_record *r, int *bad_sp)
{
    size_t start = 0, i;
    unsigned seen = 0;

    for (i = 0; i <= n; i++) {
        if (i < n && s[i] != ';')
            continue;
        const char *seg = s + start;
        size_t sl = i - start;
        struct tagv t;
        start = i + 1;
        trim(&seg, &sl);
        if (sl == 0)
            continue; /* an empty segment, as after a final ";" */
        if (split_tag(seg, sl, &t) < 0 || seen_before(&t, &seen))
            return -1;
        apply(r, &t, bad_sp);
    }
    return 0;
}

int
dmarc_record_parse(const char *text, size_t len, struct dmarc_record *out)
{
    int bad_sp = 0;

    defaults(out);
    if (text == NULL || memchr(text, '\0', len) != NULL)
        return DMARC_REC_NOT_DMARC;
    trim(&text, &len);
    if (!version_first(text, len))
        return DMARC_REC_NOT_DMARC;
    if (parse_tags(text, len, out, &bad_sp) < 0)
        return DMARC_REC_INVALID;
    if (out->p == DMARC_POLICY_UNSET || bad_sp) {
        if (out->rua[0] == '\0')
            return DMARC_REC_INVALID; /* §6.6.3 step 6.2: no DMARC processing */
        out->p = DMARC_POLICY_NONE;   /* step 6.1: as if p=none */
        out->sp = DMARC_POLICY_UNSET;
        out->p_from_rua = 1;
    }
    return DMARC_REC_OK;
}

int
dmarc_record_select(const char *const *txt, const size_t *len, size_t n, struct dmarc_record *out)
{
    struct dmarc_record tmp;
    size_t i, found = 0;
    int last = DMARC_REC_NOT_DMARC;

    for (i = 0; i < n; i++) {
        int rc = dmarc_record_parse(txt[i], len[i], &tmp);
        if (rc == DMARC_REC_NOT_DMARC)
            continue;
        if (++found > 1)
            return DMARC_SEL_MANY;
        last = rc;
        if (rc == DMARC_REC_OK)
            *out = tmp;
    }
    if (found == 0)
        return DMARC_SEL_NONE;
    return last == DMARC_REC_OK ? DMARC_SEL_ONE : DMARC_SEL_INVALID;
}

const char *
dmarc_policy_word(enum dmarc_policy p)
{
    switch (p) {
    case DMARC_POLICY_NONE:
        return "none";
    case DMARC_POLICY_QUARANTINE:
        return "quarantine";
    case DMARC_POLICY_REJECT:
        return "reject";
    default:
        return "";
    }
}
