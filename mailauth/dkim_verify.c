/*
 * dkim_verify.c - verification of a message's DKIM-Signature fields
 *                 (RFC 6376 §6) given each signature's key record; the
 *                 header data both signer and verifier hash (§3.7).
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailauth/dkim_int.h"

struct vsig {
    size_t hdr;           /* index into msg.h */
    struct dkim_sig *sig; /* NULL when it did not parse */
    char err[96];
};

struct dkim_verify {
    struct dkim_msg msg;
    struct vsig *v;
    size_t n;
};

#define SIG_NAME "DKIM-Signature"

/* dkim__header_data - what the signature's header hash covers */
void
dkim__header_data(const struct dkim_msg *m, enum dkim_canon c, char *const *names, size_t nnames,
                  const char *sig, size_t sig_len, struct dkim_buf *out)
{
    unsigned char *used = calloc(m->nh + 1, 1);
    if (used == NULL)
        abort();
    for (size_t i = 0; i < nnames; i++) {
        size_t nl = strlen(names[i]);
        for (size_t k = m->nh; k-- > 0;) {
            if (used[k] || !dkim__hdr_is(&m->h[k], names[i], nl))
                continue;
            used[k] = 1;
            dkim__canon_header_n(c, m->h[k].p, m->h[k].len, out);
            dkim__buf_add(out, "\r\n", 2);
            break;
        }
    }
    free(used);
    dkim__canon_header_n(c, sig, sig_len, out);
}

/* dkim__verify_data - check sig over data with key */
int
dkim__verify_data(EVP_PKEY *key, enum dkim_algo a, const struct dkim_buf *data,
                  const unsigned char *sig, size_t siglen)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char dg[EVP_MAX_MD_SIZE];
    unsigned dl = 0;
    int ok = 0;
    if (ctx == NULL)
        abort();
    if (a == DKIM_ED25519_SHA256) {
        ok = EVP_Digest(data->p ? data->p : "", data->len, dg, &dl, EVP_sha256(), NULL) &&
             EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
             EVP_DigestVerify(ctx, sig, siglen, dg, dl) == 1;
    } else {
        ok = EVP_DigestVerifyInit(ctx, NULL, dkim__md(a), NULL, key) == 1 &&
             EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)(data->p ? data->p : ""),
                              data->len) == 1;
    }
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

/* parse_one - the signature in field k of the message */
static void
parse_one(struct dkim_verify *v, size_t k)
{
    const struct dkim_hdr *h = &v->msg.h[k];
    const char *colon = memchr(h->p, ':', h->len);
    struct vsig *s = &v->v[v->n++];
    s->hdr = k;
    s->sig = NULL;
    if (dkim_sig_parse(colon + 1, h->len - (size_t)(colon + 1 - h->p), &s->sig, s->err,
                       sizeof(s->err)) < 0)
        s->sig = NULL;
}

/* dkim_verify_begin - split the message, parse its signatures */
struct dkim_verify *
dkim_verify_begin(const char *msg, size_t len, size_t max_sigs)
{
    struct dkim_verify *v = calloc(1, sizeof(*v));
    if (v == NULL)
        return NULL;
    if (dkim__msg_split(msg, len, &v->msg) < 0)
        return v; /* too many fields: treated as unsigned */
    size_t n = 0;
    for (size_t k = 0; k < v->msg.nh; k++)
        n += dkim__hdr_is(&v->msg.h[k], SIG_NAME, strlen(SIG_NAME));
    if (n > max_sigs)
        n = max_sigs;
    if (n && (v->v = calloc(n, sizeof(*v->v))) == NULL)
        abort();
    for (size_t k = 0; k < v->msg.nh && v->n < n; k++)
        if (dkim__hdr_is(&v->msg.h[k], SIG_NAME, strlen(SIG_NAME)))
            parse_one(v, k);
    return v;
}

/* dkim_verify_count - number of signatures */
size_t
dkim_verify_count(const struct dkim_verify *v)
{
    return v->n;
}

/* dkim_verify_sig - parsed signature k */
const struct dkim_sig *
dkim_verify_sig(const struct dkim_verify *v, size_t k, const char **err)
{
    if (k >= v->n)
        return NULL;
    if (err)
        *err = v->v[k].err;
    return v->v[k].sig;
}

/* dkim_verify_free - release v */
void
dkim_verify_free(struct dkim_verify *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->n; i++)
        dkim_sig_free(v->v[i].sig);
    free(v->v);
    free(v->msg.h);
    free(v);
}

/* set - fill a result; the status returned so callers may chain */
static void __attribute__((format(printf, 4, 5)))
set(struct dkim_result *r, enum dkim_status st, const char *reason, const char *fmt, ...)
{
    va_list ap;
    r->status = st;
    r->reason = reason;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
    va_end(ap);
}

/* key_usable - the key fits the signature (type, hash, size, strictness) */
static int
key_usable(const struct dkim_key *k, const struct dkim_sig *s, struct dkim_result *r)
{
    int ed = s->algo == DKIM_ED25519_SHA256;
    if (k->pkey == NULL)
        set(r, DKIM_INVALID, "pubkey_unavailable", "key revoked");
    else if (ed != k->ed25519)
        set(r, DKIM_INVALID, "algorithm_mismatch", "key type does not match a=");
    else if (s->algo == DKIM_RSA_SHA1 ? !k->sha1_ok : !k->sha256_ok)
        set(r, DKIM_INVALID, "algorithm_mismatch", "hash not allowed by the key's h=");
    else if (!ed && k->bits < 1024)
        set(r, DKIM_INVALID, "key_too_small", "%d-bit RSA key", k->bits);
    else if (k->strict && strcasecmp(strrchr(s->i, '@') + 1, s->d) != 0)
        set(r, DKIM_INVALID, "signature_syntax", "i= differs from d= under t=s");
    else
        return 1;
    return 0;
}

/* sig_header_blanked - the signature field with its b= value removed */
static void
sig_header_blanked(const struct dkim_hdr *h, struct dkim_buf *out)
{
    const char *colon = memchr(h->p, ':', h->len), *val = colon + 1;
    size_t vlen = h->len - (size_t)(val - h->p);
    struct dkim_tag tg[32];
    int n = dkim__tags(val, vlen, tg, 32);
    const struct dkim_tag *b = dkim__tag(tg, n, "b");
    dkim__buf_add(out, h->p, (size_t)(val - h->p) + b->vstart);
    dkim__buf_add(out, val + b->vend, vlen - b->vend);
}

/* check_hashes - body hash, then the header signature */
static void
check_hashes(const struct dkim_verify *v, const struct vsig *vs, EVP_PKEY *key,
             struct dkim_result *r)
{
    const struct dkim_sig *s = vs->sig;
    unsigned char md[EVP_MAX_MD_SIZE];
    size_t clen;
    unsigned ml =
        dkim__body_hash(s->bcanon, s->algo, v->msg.body, v->msg.body_len, s->l, md, &clen);
    if (s->l >= 0 && (unsigned long long)s->l > clen) {
        set(r, DKIM_FAIL, "bodyhash_mismatch", "l=%lld beyond the body (%zu)", s->l, clen);
        return;
    }
    if (ml == 0 || ml != s->bh_len || CRYPTO_memcmp(md, s->bh, ml) != 0) {
        set(r, DKIM_FAIL, "bodyhash_mismatch", "body hash mismatch");
        return;
    }
    struct dkim_buf sh = {0}, data = {0};
    sig_header_blanked(&v->msg.h[vs->hdr], &sh);
    dkim__header_data(&v->msg, s->hcanon, s->h, s->nh, sh.p, sh.len, &data);
    if (dkim__verify_data(key, s->algo, &data, s->b, s->b_len) < 0)
        set(r, DKIM_FAIL, "signature_incorrect", "signature did not verify");
    else
        set(r, DKIM_PASS, "", "good signature");
    free(sh.p);
    free(data.p);
}

/* key_lookup - the key record as looked up; NULL with r set when unusable */
static struct dkim_key *
key_lookup(enum dkim_dns dns, const char *txt, size_t len, struct dkim_result *r)
{
    struct dkim_key *k = NULL;
    char err[96];
    if (dns != DKIM_DNS_OK) {
        r->temporary = dns == DKIM_DNS_TEMPFAIL;
        set(r, DKIM_INVALID, "pubkey_unavailable", "key record %s",
            r->temporary ? "lookup failed temporarily" : "not found");
        return NULL;
    }
    if (dkim_key_parse(txt, len, &k, err, sizeof(err)) < 0) {
        set(r, DKIM_INVALID,
            strncmp(err, "p= ", 3) == 0 ? "pubkey_der_syntax" : "pubkey_dns_syntax", "%s", err);
        return NULL;
    }
    return k;
}

/* dkim_verify_one - the verdict on signature k */
void
dkim_verify_one(const struct dkim_verify *v, size_t k, enum dkim_dns dns, const char *txt,
                size_t txt_len, time_t now, struct dkim_result *r)
{
    memset(r, 0, sizeof(*r));
    if (k >= v->n) {
        set(r, DKIM_NONE, "", "no signature");
        return;
    }
    const struct vsig *vs = &v->v[k];
    if (vs->sig == NULL) {
        set(r, DKIM_INVALID, "signature_syntax", "%s", vs->err);
        return;
    }
    if (vs->sig->x >= 0 && (long long)now > vs->sig->x) {
        set(r, DKIM_INVALID, "signature_expired", "expired at %lld", vs->sig->x);
        return;
    }
    struct dkim_key *key = key_lookup(dns, txt, txt_len, r);
    if (key == NULL)
        return;
    r->testing = key->testing;
    r->key_bits = key->bits;
    if (key_usable(key, vs->sig, r))
        check_hashes(v, vs, key->pkey, r);
    dkim_key_free(key);
}

/* dkim_status_word - Exim's word for a status */
const char *
dkim_status_word(enum dkim_status s)
{
    static const char *const w[] = {"none", "pass", "fail", "invalid"};
    return (unsigned)s < 4 ? w[s] : "invalid";
}

/* dkim_algo_name - the a= word */
const char *
dkim_algo_name(enum dkim_algo a)
{
    return a == DKIM_RSA_SHA1         ? "rsa-sha1"
           : a == DKIM_ED25519_SHA256 ? "ed25519-sha256"
                                      : "rsa-sha256";
}
