/*
 * dkim_tags.c - tag lists (RFC 6376 §3.2) and base64: the readers under the
 *               DKIM-Signature and key-record parsers.
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "mailauth/dkim_int.h"

/* is_fws - folding white space: SP, HTAB, CR, LF */
static int
is_fws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* is_tagchar - ALPHA / DIGIT / "_" (the first one must be ALPHA) */
static int
is_tagchar(char c, int first)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return !first && ((c >= '0' && c <= '9') || c == '_');
}

/* read_tag - one "name = value" from s[*pos], up to ';' or the end */
static int
read_tag(const char *s, size_t n, size_t *pos, struct dkim_tag *t)
{
    size_t i = *pos;
    while (i < n && is_fws(s[i]))
        i++;
    t->name = s + i;
    if (i >= n || !is_tagchar(s[i], 1))
        return -1;
    while (i < n && is_tagchar(s[i], 0))
        i++;
    t->nlen = (size_t)(s + i - t->name);
    while (i < n && is_fws(s[i]))
        i++;
    if (i >= n || s[i] != '=')
        return -1;
    t->vstart = ++i;
    while (i < n && s[i] != ';')
        i++;
    t->vend = i;
    size_t a = t->vstart, b = t->vend;
    while (a < b && is_fws(s[a]))
        a++;
    while (b > a && is_fws(s[b - 1]))
        b--;
    t->val = s + a;
    t->vlen = b - a;
    *pos = i < n ? i + 1 : n;
    return 0;
}

/* only_fws - nothing but FWS from s+i to s+n? */
static int
only_fws(const char *s, size_t i, size_t n)
{
    for (; i < n; i++)
        if (!is_fws(s[i]))
            return 0;
    return 1;
}

/* dkim__tags - read a whole tag list; a trailing ';' is allowed */
int
dkim__tags(const char *s, size_t n, struct dkim_tag *tags, int max)
{
    size_t pos = 0;
    int k = 0;
    while (!only_fws(s, pos, n)) {
        if (k >= max || read_tag(s, n, &pos, &tags[k]) < 0)
            return -1;
        for (int j = 0; j < k; j++)
            if (tags[j].nlen == tags[k].nlen &&
                memcmp(tags[j].name, tags[k].name, tags[k].nlen) == 0)
                return -1; /* §3.2: a repeated tag makes the list invalid */
        k++;
    }
    return k;
}

/* dkim__tag - a tag by name (tag names are case-sensitive) */
const struct dkim_tag *
dkim__tag(const struct dkim_tag *tags, int n, const char *name)
{
    size_t len = strlen(name);
    for (int i = 0; i < n; i++)
        if (tags[i].nlen == len && memcmp(tags[i].name, name, len) == 0)
            return &tags[i];
    return NULL;
}

/* dkim__b64_decode - base64, white space ignored, padding checked */
long
dkim__b64_decode(const char *s, size_t n, unsigned char **out)
{
    char *clean = malloc(n + 1);
    size_t m = 0, pad = 0;
    if (clean == NULL)
        abort();
    for (size_t i = 0; i < n; i++)
        if (!is_fws(s[i]))
            clean[m++] = s[i];
    clean[m] = '\0';
    if (m % 4 != 0) {
        free(clean);
        return -1;
    }
    while (pad < 2 && pad < m && clean[m - 1 - pad] == '=')
        pad++;
    *out = malloc(m / 4 * 3 + 1);
    int r = EVP_DecodeBlock(*out, (unsigned char *)clean, (int)m);
    free(clean);
    if (*out == NULL || r < 0) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return (long)r - (long)pad;
}

/* dkim__b64_encode - append the base64 of p */
void
dkim__b64_encode(const unsigned char *p, size_t n, struct dkim_buf *out)
{
    unsigned char *tmp = malloc(4 * ((n + 2) / 3) + 1);
    if (tmp == NULL)
        abort();
    int r = EVP_EncodeBlock(tmp, p, (int)n);
    dkim__buf_add(out, tmp, (size_t)r);
    free(tmp);
}
