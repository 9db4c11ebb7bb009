/*
 * auth_crypt.c - the crypteq condition (Exim's): a password against a
 *                stored hash, "{md5}", "{sha1}", "{sha256}" digests in hex
 *                or base64, "{crypt}" / "{crypt16}" / bare crypt(3) strings
 *                through libxcrypt's crypt_r. Comparisons are constant-time
 *                (CRYPTO_memcmp). Contract in auth.h. Uses nothing else of
 *                the project, so the expansion evaluator may call it.
 */
#include <crypt.h>
#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/auth.h"

/* hex_decode - exactly 2*n hex digits (any case) into out; 0 or -1 */
static int
hex_decode(const char *s, unsigned char *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            int c = tolower((unsigned char)s[2 * i + k]);
            if (!isxdigit(c))
                return -1;
            v = v * 16 + (unsigned)(isdigit(c) ? c - '0' : c - 'a' + 10);
        }
        out[i] = (unsigned char)v;
    }
    return 0;
}

/* b64_digest - base64 of exactly n bytes into out; 0 or -1 */
static int
b64_digest(const char *s, size_t len, unsigned char *out, size_t n)
{
    unsigned char buf[EVP_MAX_MD_SIZE + 3];
    size_t pad = (len > 0 && s[len - 1] == '=') + (len > 1 && s[len - 2] == '=');
    int got;

    if (len != (n + 2) / 3 * 4 || len > sizeof buf / 3 * 4)
        return -1;
    got = EVP_DecodeBlock(buf, (const unsigned char *)s, (int)len);
    if (got < 0 || (size_t)got - pad != n) /* the padding comes back as zero bytes */
        return -1;
    memcpy(out, buf, n);
    return 0;
}

/* digest_eq - the digest of password against the hex or base64 text */
static int
digest_eq(const EVP_MD *md, const char *password, const char *text)
{
    unsigned char want[EVP_MAX_MD_SIZE], got[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    size_t len = strlen(text), dlen = (size_t)EVP_MD_get_size(md);

    if (len == dlen * 2) {
        if (hex_decode(text, want, dlen) < 0)
            return 0;
    } else if (b64_digest(text, len, want, dlen) < 0) {
        return 0;
    }
    if (!EVP_Digest(password, strlen(password), got, &n, md, NULL) || n != dlen)
        return 0;
    return CRYPTO_memcmp(want, got, dlen) == 0;
}

/* crypt_eq - crypt(3) of password with hash as its setting, against hash */
static int
crypt_eq(const char *password, const char *hash, size_t len)
{
    struct crypt_data *cd;
    const char *r;
    int eq = 0;

    if (len == 0 || hash[0] == '*' || hash[0] == '!')
        return 0;
    cd = calloc(1, sizeof *cd); /* about 32 KB: not on a worker's stack */
    if (cd == NULL)
        abort();
    r = crypt_r(password, hash, cd);
    if (r != NULL && r[0] != '*' && strlen(r) == len)
        eq = CRYPTO_memcmp(r, hash, len) == 0;
    OPENSSL_cleanse(cd, sizeof *cd);
    free(cd);
    return eq;
}

/* crypt16_eq - Exim's crypt16: DES of the first 8 characters with the
 * salt, then of the next 8 with the first block's first two characters as
 * salt; 24 characters. Other lengths are crypt(3) strings. */
static int
crypt16_eq(const char *password, const char *hash)
{
    char first[14], salt2[3], tail[14];
    size_t len = strlen(hash);

    if (len != 24 || hash[0] == '$')
        return crypt_eq(password, hash, len);
    snprintf(first, sizeof first, "%.13s", hash);
    if (strlen(password) <= 8) /* Exim pads with zeros: never 24 characters */
        return 0;
    char head[9];
    snprintf(head, sizeof head, "%.8s", password);
    if (!crypt_eq(head, first, 13))
        return 0;
    memcpy(salt2, hash + 2, 2);
    salt2[2] = '\0';
    snprintf(tail, sizeof tail, "%s%.11s", salt2, hash + 13);
    return crypt_eq(password + 8, tail, 13);
}

/* auth_crypteq - the crypteq condition */
int
auth_crypteq(const char *password, const char *hash, char *err, size_t errlen)
{
    static const struct {
        const char *type;
        int kind; /* 0 md5, 1 sha1, 2 sha256, 3 crypt, 4 crypt16 */
    } types[] = {{"{md5}", 0}, {"{sha1}", 1}, {"{sha256}", 2}, {"{crypt}", 3}, {"{crypt16}", 4}};

    if (hash[0] != '{')
        return crypt_eq(password, hash, strlen(hash));
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        size_t n = strlen(types[i].type);
        if (strncasecmp(hash, types[i].type, n) != 0)
            continue;
        const char *rest = hash + n;
        switch (types[i].kind) {
        case 0:
            return digest_eq(EVP_md5(), password, rest);
        case 1:
            return digest_eq(EVP_sha1(), password, rest);
        case 2:
            return digest_eq(EVP_sha256(), password, rest);
        case 3:
            return crypt_eq(password, rest, strlen(rest));
        default:
            return crypt16_eq(password, rest);
        }
    }
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "crypteq: unknown encryption type in \"%.*s\"",
                 (int)strcspn(hash, "}") + 1, hash);
    return -1;
}
