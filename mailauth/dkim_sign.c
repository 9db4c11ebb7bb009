/*
 * dkim_sign.c - the DKIM-Signature field for a message (RFC 6376 §5;
 *               RFC 8463 for Ed25519), and private keys loaded for it.
 */
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailauth/dkim_int.h"

#define FOLD_AT 72

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

/* dkim_privkey_load - PEM, base64 DER, or a base64 raw Ed25519 secret */
EVP_PKEY *
dkim_privkey_load(const char *text, size_t len, char *err, size_t errlen)
{
    EVP_PKEY *k = NULL;
    if (memmem(text, len, "-----BEGIN", 10)) {
        BIO *b = BIO_new_mem_buf(text, (int)len);
        k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
        BIO_free(b);
    } else {
        unsigned char *raw = NULL;
        long n = dkim__b64_decode(text, len, &raw);
        const unsigned char *q = raw;
        if (n == 32)
            k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw, 32);
        else if (n > 0)
            k = d2i_AutoPrivateKey(NULL, &q, n);
        free(raw);
    }
    if (k == NULL)
        fail(err, errlen, "not a PEM or base64 private key");
    return k;
}

/* dkim__sign_data - the signature over data (see dkim_int.h) */
static int
sign_data(EVP_PKEY *key, int ed, const struct dkim_buf *data, struct dkim_buf *b64)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char dg[EVP_MAX_MD_SIZE], *sig = NULL;
    const unsigned char *in = (const unsigned char *)data->p;
    size_t inlen = data->len, siglen = 0;
    unsigned dl = 0;
    int ok;
    if (ctx == NULL)
        abort();
    if (ed) {
        ok = EVP_Digest(data->p, data->len, dg, &dl, EVP_sha256(), NULL);
        in = dg;
        inlen = dl;
        ok = ok && EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1;
    } else {
        ok = EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1;
    }
    ok = ok && EVP_DigestSign(ctx, NULL, &siglen, in, inlen) == 1 &&
         (sig = malloc(siglen)) != NULL && EVP_DigestSign(ctx, sig, &siglen, in, inlen) == 1;
    if (ok)
        dkim__b64_encode(sig, siglen, b64);
    free(sig);
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

/* count_named - fields called name in m */
static size_t
count_named(const struct dkim_msg *m, const char *name)
{
    size_t c = 0;
    for (size_t k = 0; k < m->nh; k++)
        c += dkim__hdr_is(&m->h[k], name, strlen(name));
    return c;
}

/* add_name - one more h= entry */
static void
add_name(char ***names, size_t *n, const char *p, size_t len)
{
    if ((*names = realloc(*names, (*n + 1) * sizeof(char *))) == NULL ||
        ((*names)[*n] = strndup(p, len)) == NULL)
        abort();
    (*n)++;
}

/* pick_headers - the h= names from the sign_headers list (see dkim.h) */
static int
pick_headers(const struct dkim_msg *m, const char *list, char ***names, size_t *n)
{
    int from = 0;
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ':');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char pre = (*p == '+' || *p == '=') ? *p : 0;
        char *name = strndup(p + (pre != 0), len - (pre != 0));
        if (name == NULL)
            abort();
        size_t c = count_named(m, name), want = pre == '+' ? c + 1 : pre == '=' ? c : c > 0;
        int bad = name[0] == '\0' || strpbrk(name, " \t\r\n;") != NULL;
        from |= strcasecmp(name, "from") == 0;
        for (size_t i = 0; i < want && !bad; i++)
            add_name(names, n, name, strlen(name));
        free(name);
        if (bad)
            return -1;
        p += len + (e != NULL);
    }
    return from ? 0 : -1;
}

/* put_h - "h=a:b:c;" folded before a name that would pass FOLD_AT */
static void
put_h(struct dkim_buf *b, char *const *names, size_t n)
{
    size_t col = 3;
    dkim__buf_str(b, "\th=");
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(names[i]);
        if (i > 0 && col + l + 1 > FOLD_AT) {
            dkim__buf_str(b, "\r\n\t");
            col = 1;
        }
        dkim__buf_add(b, names[i], l);
        dkim__buf_str(b, i + 1 < n ? ":" : ";\r\n");
        col += l + 1;
    }
}

/* put_b64_folded - the base64 signature in lines of at most FOLD_AT */
static void
put_b64_folded(struct dkim_buf *b, const struct dkim_buf *sig)
{
    for (size_t i = 0; i < sig->len; i += FOLD_AT - 8) {
        size_t n = sig->len - i < FOLD_AT - 8 ? sig->len - i : FOLD_AT - 8;
        if (i > 0)
            dkim__buf_str(b, "\r\n\t ");
        dkim__buf_add(b, sig->p + i, n);
    }
    dkim__buf_str(b, "\r\n");
}

/* put_head - "DKIM-Signature: v=1; a=..; c=..; d=..; s=..; [t=..;] [i=..;]" */
static void
put_head(struct dkim_buf *b, const struct dkim_sign_params *p, int ed)
{
    char line[160];
    snprintf(line, sizeof(line), "DKIM-Signature: v=1; a=%s; c=%s/%s;",
             ed ? "ed25519-sha256" : "rsa-sha256",
             p->hcanon == DKIM_CANON_RELAXED ? "relaxed" : "simple",
             p->bcanon == DKIM_CANON_RELAXED ? "relaxed" : "simple");
    dkim__buf_str(b, line);
    dkim__buf_str(b, " d=");
    dkim__buf_str(b, p->domain);
    dkim__buf_str(b, "; s=");
    dkim__buf_str(b, p->selector);
    dkim__buf_str(b, ";\r\n");
    if (p->timestamp > 0 || p->identity) {
        dkim__buf_str(b, "\t");
        if (p->timestamp > 0) {
            snprintf(line, sizeof(line), "t=%lld;%s", (long long)p->timestamp,
                     p->identity ? " " : "");
            dkim__buf_str(b, line);
        }
        if (p->identity) {
            dkim__buf_str(b, "i=");
            dkim__buf_str(b, p->identity);
            dkim__buf_str(b, ";");
        }
        dkim__buf_str(b, "\r\n");
    }
}

/* check_params - what the signer needs; the key type (1: Ed25519) or -1 */
static int
check_params(const struct dkim_sign_params *p, char *err, size_t errlen)
{
    if (!p->domain || !*p->domain || !p->selector || !*p->selector || !p->key)
        return fail(err, errlen, "domain, selector and key are required");
    if (strpbrk(p->domain, " \t\r\n;") || strpbrk(p->selector, " \t\r\n;") ||
        (p->identity && strpbrk(p->identity, " \t\r\n;")))
        return fail(err, errlen, "white space or ';' in domain, selector or identity");
    int id = EVP_PKEY_get_base_id(p->key);
    if (id == EVP_PKEY_ED25519)
        return 1;
    if (id != EVP_PKEY_RSA)
        return fail(err, errlen, "the key is neither RSA nor Ed25519");
    if (EVP_PKEY_get_bits(p->key) < 1024)
        return fail(err, errlen, "RSA key under 1024 bits (RFC 8301)");
    return 0;
}

/* build - the field into out (names: the h= list) */
static int
build(const struct dkim_sign_params *p, int ed, const struct dkim_msg *m, char *const *names,
      size_t nn, struct dkim_buf *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    size_t clen;
    struct dkim_buf data = {0}, sig = {0};
    unsigned ml = dkim__body_hash(p->bcanon, DKIM_RSA_SHA256, m->body, m->body_len, -1, md, &clen);
    put_head(out, p, ed);
    put_h(out, names, nn);
    dkim__buf_str(out, "\tbh=");
    dkim__b64_encode(md, ml, out);
    dkim__buf_str(out, ";\r\n\tb=");
    dkim__header_data(m, p->hcanon, names, nn, out->p, out->len, &data);
    int rc = ml ? sign_data(p->key, ed, &data, &sig) : -1;
    if (rc == 0)
        put_b64_folded(out, &sig);
    free(data.p);
    free(sig.p);
    return rc;
}

/* dkim_sign - the DKIM-Signature field for msg */
int
dkim_sign(const struct dkim_sign_params *p, const char *msg, size_t len, char **hdr, char *err,
          size_t errlen)
{
    struct dkim_msg m;
    struct dkim_buf out = {0};
    char **names = NULL;
    size_t nn = 0;
    int ed = check_params(p, err, errlen), rc = -1;
    if (ed < 0)
        return -1;
    if (dkim__msg_split(msg, len, &m) < 0)
        return fail(err, errlen, "more than %d header fields", DKIM_MAX_HEADERS);
    if (pick_headers(&m, p->sign_headers ? p->sign_headers : DKIM_DEFAULT_SIGN_HEADERS, &names,
                     &nn) < 0)
        fail(err, errlen, "sign_headers is malformed or does not name From");
    else if ((rc = build(p, ed, &m, names, nn, &out)) < 0)
        fail(err, errlen, "signing failed (OpenSSL)");
    for (size_t i = 0; i < nn; i++)
        free(names[i]);
    free(names);
    free(m.h);
    if (rc < 0)
        free(out.p);
    else
        *hdr = out.p;
    return rc;
}
