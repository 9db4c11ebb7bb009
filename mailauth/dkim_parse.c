/*
 * dkim_parse.c - the DKIM-Signature field (RFC 6376 §3.5) and the key
 *                record (§3.6.1; RFC 8463 §4 for k=ed25519) parsed into
 *                struct dkim_sig and struct dkim_key.
 */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailauth/dkim_int.h"

#define MAX_TAGS 32

/* fail - format err, return -1 */
static int __attribute__((format(printf, 3, 4)))
fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* dupn - a NUL-terminated copy */
static char *
dupn(const char *p, size_t n)
{
    char *s = strndup(p, n);
    if (s == NULL)
        abort();
    return s;
}

/* is_eq - does the tag's value equal word (case-insensitive)? */
static int
is_eq(const struct dkim_tag *t, const char *word)
{
    return t->vlen == strlen(word) && strncasecmp(t->val, word, t->vlen) == 0;
}

/* parse_num - a decimal of at most 18 digits, or -1 */
static long long
parse_num(const struct dkim_tag *t)
{
    long long v = 0;
    if (t->vlen == 0 || t->vlen > 18)
        return -1;
    for (size_t i = 0; i < t->vlen; i++) {
        if (t->val[i] < '0' || t->val[i] > '9')
            return -1;
        v = v * 10 + (t->val[i] - '0');
    }
    return v;
}

/* parse_canon_word - "simple" or "relaxed" */
static int
parse_canon_word(const char *p, size_t n, enum dkim_canon *c)
{
    if (n == 6 && strncasecmp(p, "simple", 6) == 0)
        *c = DKIM_CANON_SIMPLE;
    else if (n == 7 && strncasecmp(p, "relaxed", 7) == 0)
        *c = DKIM_CANON_RELAXED;
    else
        return -1;
    return 0;
}

/* parse_canon - c= "header[/body]"; the body defaults to simple */
static int
parse_canon(const struct dkim_tag *t, struct dkim_sig *s)
{
    const char *slash = memchr(t->val, '/', t->vlen);
    size_t hn = slash ? (size_t)(slash - t->val) : t->vlen;
    if (parse_canon_word(t->val, hn, &s->hcanon) < 0)
        return -1;
    if (!slash)
        return 0;
    return parse_canon_word(slash + 1, t->vlen - hn - 1, &s->bcanon);
}

/* parse_algo - a= */
static int
parse_algo(const struct dkim_tag *t, struct dkim_sig *s)
{
    if (is_eq(t, "rsa-sha256"))
        s->algo = DKIM_RSA_SHA256;
    else if (is_eq(t, "rsa-sha1"))
        s->algo = DKIM_RSA_SHA1;
    else if (is_eq(t, "ed25519-sha256"))
        s->algo = DKIM_ED25519_SHA256;
    else
        return -1;
    return 0;
}

/* parse_h - the colon-separated names of h=, FWS around them dropped */
static int
parse_h(const struct dkim_tag *t, struct dkim_sig *s)
{
    const char *p = t->val, *end = t->val + t->vlen;
    int from = 0;
    while (p <= end) {
        const char *c = memchr(p, ':', (size_t)(end - p));
        const char *e = c ? c : end, *a = p;
        while (a < e && strchr(" \t\r\n", *a))
            a++;
        while (e > a && strchr(" \t\r\n", e[-1]))
            e--;
        if (a == e)
            return -1;
        if ((s->h = realloc(s->h, (s->nh + 1) * sizeof(char *))) == NULL)
            abort();
        s->h[s->nh++] = dupn(a, (size_t)(e - a));
        from |= (e - a == 4 && strncasecmp(a, "from", 4) == 0);
        p = (c ? c : end) + 1;
    }
    return from ? 0 : -1;
}

/* check_auid - i= must be in d= or below it (§3.5) */
static int
check_auid(const struct dkim_sig *s)
{
    const char *at = strrchr(s->i, '@');
    if (at == NULL)
        return -1;
    const char *dom = at + 1;
    size_t dl = strlen(dom), sl = strlen(s->d);
    if (strcasecmp(dom, s->d) == 0)
        return 0;
    return (dl > sl && dom[dl - sl - 1] == '.' && strcasecmp(dom + dl - sl, s->d) == 0) ? 0 : -1;
}

/* sig_required - the tags every signature has */
static int
sig_required(const struct dkim_tag *tg, int n, char *err, size_t errlen)
{
    static const char *const req[] = {"v", "a", "b", "bh", "d", "h", "s"};
    for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++)
        if (!dkim__tag(tg, n, req[i]))
            return fail(err, errlen, "missing %s= tag", req[i]);
    if (!is_eq(dkim__tag(tg, n, "v"), "1"))
        return fail(err, errlen, "v= is not 1");
    return 0;
}

/* sig_blobs - b= and bh= decoded */
static int
sig_blobs(const struct dkim_tag *tg, int n, struct dkim_sig *s, char *err, size_t errlen)
{
    const struct dkim_tag *b = dkim__tag(tg, n, "b"), *bh = dkim__tag(tg, n, "bh");
    long bl = dkim__b64_decode(b->val, b->vlen, &s->b);
    long bhl = dkim__b64_decode(bh->val, bh->vlen, &s->bh);
    if (bl <= 0 || bhl <= 0)
        return fail(err, errlen, "%s= is not base64", bl <= 0 ? "b" : "bh");
    s->b_len = (size_t)bl;
    s->bh_len = (size_t)bhl;
    return 0;
}

/* sig_numbers - l=, t=, x= */
static int
sig_numbers(const struct dkim_tag *tg, int n, struct dkim_sig *s, char *err, size_t errlen)
{
    const struct dkim_tag *l = dkim__tag(tg, n, "l"), *t = dkim__tag(tg, n, "t"),
                          *x = dkim__tag(tg, n, "x");
    s->l = s->t = s->x = -1;
    if ((l && (s->l = parse_num(l)) < 0) || (t && (s->t = parse_num(t)) < 0) ||
        (x && (s->x = parse_num(x)) < 0))
        return fail(err, errlen, "bad number in l=, t= or x=");
    if (s->t >= 0 && s->x >= 0 && s->x < s->t)
        return fail(err, errlen, "x= is before t=");
    return 0;
}

/* sig_fill - the tags into s */
static int
sig_fill(const struct dkim_tag *tg, int n, struct dkim_sig *s, char *err, size_t errlen)
{
    const struct dkim_tag *c = dkim__tag(tg, n, "c"), *q = dkim__tag(tg, n, "q"),
                          *i = dkim__tag(tg, n, "i");
    if (sig_required(tg, n, err, errlen) < 0)
        return -1;
    if (parse_algo(dkim__tag(tg, n, "a"), s) < 0)
        return fail(err, errlen, "unknown algorithm");
    if (c && parse_canon(c, s) < 0)
        return fail(err, errlen, "unknown canonicalization");
    if (q && !is_eq(q, "dns/txt"))
        return fail(err, errlen, "q= other than dns/txt");
    if (parse_h(dkim__tag(tg, n, "h"), s) < 0)
        return fail(err, errlen, "h= is malformed or does not name From");
    s->d = dupn(dkim__tag(tg, n, "d")->val, dkim__tag(tg, n, "d")->vlen);
    s->s = dupn(dkim__tag(tg, n, "s")->val, dkim__tag(tg, n, "s")->vlen);
    if (!*s->d || !*s->s || strpbrk(s->d, " \t\r\n;") || strpbrk(s->s, " \t\r\n;"))
        return fail(err, errlen, "empty or malformed d= or s=");
    if (i) {
        s->i = dupn(i->val, i->vlen);
    } else if (asprintf(&s->i, "@%s", s->d) < 0) {
        abort();
    }
    if (check_auid(s) < 0)
        return fail(err, errlen, "i= is not within d=");
    if (sig_blobs(tg, n, s, err, errlen) < 0)
        return -1;
    return sig_numbers(tg, n, s, err, errlen);
}

/* dkim_sig_parse - a DKIM-Signature value into *out */
int
dkim_sig_parse(const char *value, size_t len, struct dkim_sig **out, char *err, size_t errlen)
{
    struct dkim_tag tg[MAX_TAGS];
    int n = dkim__tags(value, len, tg, MAX_TAGS);
    struct dkim_sig *s;
    if (n < 0)
        return fail(err, errlen, "not a valid tag list");
    if ((s = calloc(1, sizeof(*s))) == NULL)
        abort();
    if (sig_fill(tg, n, s, err, errlen) < 0) {
        dkim_sig_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

/* dkim_sig_free - release a parsed signature */
void
dkim_sig_free(struct dkim_sig *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->nh; i++)
        free(s->h[i]);
    free(s->h);
    free(s->d);
    free(s->s);
    free(s->i);
    free(s->b);
    free(s->bh);
    free(s);
}

/* dkim_key_name - selector._domainkey.domain */
int
dkim_key_name(const struct dkim_sig *s, char *buf, size_t n)
{
    int r = snprintf(buf, n, "%s._domainkey.%s", s->s, s->d);
    return (r < 0 || (size_t)r >= n) ? -1 : 0;
}

/* list_has - does a colon-separated tag value list word? */
static int
list_has(const struct dkim_tag *t, const char *word)
{
    const char *p = t->val, *end = t->val + t->vlen;
    size_t wl = strlen(word);
    while (p < end) {
        const char *c = memchr(p, ':', (size_t)(end - p)), *e = c ? c : end, *a = p;
        while (a < e && strchr(" \t\r\n", *a))
            a++;
        while (e > a && strchr(" \t\r\n", e[-1]))
            e--;
        if ((size_t)(e - a) == wl && strncasecmp(a, word, wl) == 0)
            return 1;
        p = (c ? c : end) + 1;
    }
    return 0;
}

/* Decoded public keys by their p= text: OpenSSL 3's decoders cost tens of
 * microseconds a key, more than the RSA verification itself, and a
 * sender's key signs thousands of messages in a row. A ring of KEY_CACHE
 * entries under one mutex (any thread verifies); keys are shared with
 * EVP_PKEY_up_ref (read-only use is thread-safe). */
#define KEY_CACHE 64
struct keycache_ent {
    char *p; /* the p= value as written */
    size_t plen;
    int ed25519;
    EVP_PKEY *pkey;
};
static struct keycache_ent keycache[KEY_CACHE];
static unsigned keycache_next;
static pthread_mutex_t keycache_mu = PTHREAD_MUTEX_INITIALIZER;

/* keycache_get - a reference to the cached key for p=, or NULL */
static EVP_PKEY *
keycache_get(const struct dkim_tag *p, int ed25519)
{
    EVP_PKEY *k = NULL;
    pthread_mutex_lock(&keycache_mu);
    for (unsigned i = 0; i < KEY_CACHE && k == NULL; i++) {
        const struct keycache_ent *e = &keycache[i];
        if (e->pkey && e->ed25519 == ed25519 && e->plen == p->vlen &&
            memcmp(e->p, p->val, p->vlen) == 0 && EVP_PKEY_up_ref(e->pkey) == 1)
            k = e->pkey;
    }
    pthread_mutex_unlock(&keycache_mu);
    return k;
}

/* keycache_put - remember pkey for p= (the oldest entry goes) */
static void
keycache_put(const struct dkim_tag *p, int ed25519, EVP_PKEY *pkey)
{
    char *copy = malloc(p->vlen + 1);
    if (copy == NULL || EVP_PKEY_up_ref(pkey) != 1)
        abort();
    memcpy(copy, p->val, p->vlen);
    copy[p->vlen] = '\0';
    pthread_mutex_lock(&keycache_mu);
    struct keycache_ent *e = &keycache[keycache_next++ % KEY_CACHE];
    free(e->p);
    EVP_PKEY_free(e->pkey);
    *e = (struct keycache_ent){.p = copy, .plen = p->vlen, .ed25519 = ed25519, .pkey = pkey};
    pthread_mutex_unlock(&keycache_mu);
}

/* key_decode - p= as an EVP_PKEY: SubjectPublicKeyInfo (or a bare
 * RSAPublicKey) for RSA, the raw 32 octets for Ed25519 */
static int
key_decode(const struct dkim_tag *p, struct dkim_key *k, char *err, size_t errlen)
{
    unsigned char *der = NULL;
    long n = dkim__b64_decode(p->val, p->vlen, &der);
    const unsigned char *q = der;
    if (n < 0)
        return fail(err, errlen, "p= is not base64");
    if (k->ed25519)
        k->pkey = n == 32 ? EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, der, 32) : NULL;
    else if ((k->pkey = d2i_PUBKEY(NULL, &q, n)) == NULL) {
        q = der;
        k->pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &q, n);
    }
    free(der);
    if (k->pkey == NULL || (!k->ed25519 && EVP_PKEY_get_base_id(k->pkey) != EVP_PKEY_RSA))
        return fail(err, errlen, "p= is not a %s key", k->ed25519 ? "ed25519" : "rsa");
    k->bits = EVP_PKEY_get_bits(k->pkey);
    return 0;
}

/* key_material - p= as an EVP_PKEY (cached by its text) */
static int
key_material(const struct dkim_tag *p, struct dkim_key *k, char *err, size_t errlen)
{
    if ((k->pkey = keycache_get(p, k->ed25519)) != NULL) {
        k->bits = EVP_PKEY_get_bits(k->pkey);
        return 0;
    }
    if (key_decode(p, k, err, errlen) < 0)
        return -1;
    keycache_put(p, k->ed25519, k->pkey);
    return 0;
}

/* key_fill - the tags into k */
static int
key_fill(const struct dkim_tag *tg, int n, struct dkim_key *k, char *err, size_t errlen)
{
    const struct dkim_tag *v = dkim__tag(tg, n, "v"), *kt = dkim__tag(tg, n, "k"),
                          *h = dkim__tag(tg, n, "h"), *t = dkim__tag(tg, n, "t"),
                          *s = dkim__tag(tg, n, "s"), *p = dkim__tag(tg, n, "p");
    if (v && (v != &tg[0] || !is_eq(v, "DKIM1")))
        return fail(err, errlen, "v= is not DKIM1 or not first");
    if (kt && !is_eq(kt, "rsa") && !is_eq(kt, "ed25519"))
        return fail(err, errlen, "unknown key type");
    k->ed25519 = kt && is_eq(kt, "ed25519");
    k->sha1_ok = !h || list_has(h, "sha1");
    k->sha256_ok = !h || list_has(h, "sha256");
    k->testing = t && list_has(t, "y");
    k->strict = t && list_has(t, "s");
    if (s && !list_has(s, "*") && !list_has(s, "email"))
        return fail(err, errlen, "key not for email (s=)");
    if (p == NULL)
        return fail(err, errlen, "missing p= tag");
    return p->vlen == 0 ? 0 : key_material(p, k, err, errlen);
}

/* dkim_key_parse - a key record into *out */
int
dkim_key_parse(const char *txt, size_t len, struct dkim_key **out, char *err, size_t errlen)
{
    struct dkim_tag tg[MAX_TAGS];
    int n = dkim__tags(txt, len, tg, MAX_TAGS);
    struct dkim_key *k;
    if (n < 0)
        return fail(err, errlen, "not a valid tag list");
    if ((k = calloc(1, sizeof(*k))) == NULL)
        abort();
    if (key_fill(tg, n, k, err, errlen) < 0) {
        dkim_key_free(k);
        return -1;
    }
    *out = k;
    return 0;
}

/* dkim_key_free - release a parsed key */
void
dkim_key_free(struct dkim_key *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_free(k->pkey);
    free(k);
}
