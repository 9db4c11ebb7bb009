/*
 * sasl.c - decoding of SMTP AUTH PLAIN and LOGIN exchanges (RFC 4954,
 *          RFC 4616): strict base64 through OpenSSL, field validation, the
 *          334 challenges. Pure functions; the contract is in sasl.h.
 */
#include "api/sasl.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define R_CANCEL "501 5.7.0 Authentication cancelled"
#define R_BAD64 "501 5.5.2 Cannot decode the base64 data"
#define R_LONG "500 5.5.6 Authentication exchange line is too long"
#define R_PLAIN "501 5.5.2 Malformed PLAIN response (want authzid NUL user NUL password)"
#define R_NUL "501 5.5.2 NUL byte in a LOGIN response"
#define R_NOUSER "501 5.5.2 Empty user name"
#define R_NOPASS "501 5.5.2 Empty password"
#define R_CTL "501 5.5.2 Control character in the user name"
#define R_OVER "501 5.5.2 Authentication exchange already complete"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* set_reply - copy a fixed reply line; returns rc */
static int
set_reply(char *reply, size_t replylen, const char *text, int rc)
{
    if (replylen > 0)
        snprintf(reply, replylen, "%s", text);
    return rc;
}

/* b64_valid - strict RFC 4648 shape: whole quanta, padding only at the end */
static int
b64_valid(const char *b64, size_t len)
{
    size_t pad = 0;
    if (len % 4 != 0)
        return 0;
    while (pad < 2 && pad < len && b64[len - 1 - pad] == '=')
        pad++;
    for (size_t i = 0; i < len - pad; i++)
        if (b64[i] == '\0' || strchr(b64_alphabet, b64[i]) == NULL)
            return 0;
    if (pad == 0)
        return 1;
    /* canonical form only (RFC 4648 3.5): the bits after the data are zero */
    size_t v = (size_t)(strchr(b64_alphabet, b64[len - 1 - pad]) - b64_alphabet);
    return (v & (pad == 2 ? 0x0f : 0x03)) == 0;
}

/* sasl_b64_decode - strict base64 into out; 0 with *outlen, or -1 */
int
sasl_b64_decode(const char *b64, size_t len, unsigned char *out, size_t outsz, size_t *outlen)
{
    unsigned char buf[SASL_LINE_MAX / 4 * 3];
    size_t pad;
    int n;

    *outlen = 0;
    if (!b64_valid(b64, len) || len > SASL_LINE_MAX)
        return -1;
    if (len == 0)
        return 0;
    pad = (b64[len - 1] == '=') + (b64[len - 2] == '=');
    /* EVP_DecodeBlock counts the padding as zero bytes: drop them */
    n = EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)len);
    if (n < 0 || (size_t)n < pad || (size_t)n - pad > outsz)
        return -1;
    memcpy(out, buf, (size_t)n - pad);
    *outlen = (size_t)n - pad;
    OPENSSL_cleanse(buf, sizeof buf);
    return 0;
}

/* sasl_challenge - "334 " and text in base64 */
int
sasl_challenge(const char *text, char *reply, size_t replylen)
{
    size_t n = text != NULL ? strlen(text) : 0;
    size_t need = 4 + (n + 2) / 3 * 4 + 1;

    if (replylen < need)
        return -1;
    memcpy(reply, "334 ", 4);
    EVP_EncodeBlock((unsigned char *)reply + 4, (const unsigned char *)text, (int)n);
    reply[need - 1] = '\0';
    return 0;
}

/* has_ctl - a control octet (below 0x20, or DEL) in s */
static int
has_ctl(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

/* decode_line - base64 into buf; SASL_DONE, or SASL_BAD with reply */
static int
decode_line(const char *b64, unsigned char *buf, size_t bufsz, size_t *n, char *reply,
            size_t replylen)
{
    size_t len = strlen(b64);
    if (len > SASL_LINE_MAX)
        return set_reply(reply, replylen, R_LONG, SASL_BAD);
    if (!b64_valid(b64, len))
        return set_reply(reply, replylen, R_BAD64, SASL_BAD);
    if (sasl_b64_decode(b64, len, buf, bufsz, n) < 0)
        return set_reply(reply, replylen, R_BAD64, SASL_BAD);
    return SASL_DONE;
}

/* plain_split - authzid NUL authcid NUL passwd, each bounded; SASL_DONE or SASL_BAD */
static int
plain_split(const unsigned char *buf, size_t n, char (*part)[SASL_FIELD_MAX + 1], char *reply,
            size_t replylen)
{
    size_t start = 0, k = 0;

    for (size_t i = 0; i <= n; i++) {
        if (i < n && buf[i] != '\0')
            continue;
        if (k == 3)
            return set_reply(reply, replylen, R_PLAIN, SASL_BAD);
        if (i - start > SASL_FIELD_MAX)
            return set_reply(reply, replylen, R_LONG, SASL_BAD);
        memcpy(part[k], buf + start, i - start);
        part[k++][i - start] = '\0';
        start = i + 1;
    }
    if (k != 3)
        return set_reply(reply, replylen, R_PLAIN, SASL_BAD);
    if (part[1][0] == '\0')
        return set_reply(reply, replylen, R_NOUSER, SASL_BAD);
    if (part[2][0] == '\0')
        return set_reply(reply, replylen, R_NOPASS, SASL_BAD);
    if (has_ctl(part[0]) || has_ctl(part[1]))
        return set_reply(reply, replylen, R_CTL, SASL_BAD);
    return SASL_DONE;
}

/* sasl_plain_decode - one base64 PLAIN response into part[0..2] */
int
sasl_plain_decode(const char *b64, char (*part)[SASL_FIELD_MAX + 1], char *reply, size_t replylen)
{
    unsigned char buf[SASL_LINE_MAX / 4 * 3];
    size_t n;
    int rc = decode_line(b64, buf, sizeof buf, &n, reply, replylen);

    if (rc == SASL_DONE)
        rc = plain_split(buf, n, part, reply, replylen);
    OPENSSL_cleanse(buf, sizeof buf);
    if (rc != SASL_DONE)
        OPENSSL_cleanse(part, sizeof(char[3][SASL_FIELD_MAX + 1]));
    return rc;
}

/* sasl_login_decode - one base64 LOGIN field into out */
int
sasl_login_decode(const char *b64, int is_user, char out[SASL_FIELD_MAX + 1], char *reply,
                  size_t replylen)
{
    unsigned char buf[SASL_LINE_MAX / 4 * 3];
    size_t n;
    int rc = decode_line(b64, buf, sizeof buf, &n, reply, replylen);

    if (rc == SASL_DONE && n > SASL_FIELD_MAX)
        rc = set_reply(reply, replylen, R_LONG, SASL_BAD);
    else if (rc == SASL_DONE && memchr(buf, '\0', n) != NULL)
        rc = set_reply(reply, replylen, R_NUL, SASL_BAD);
    else if (rc == SASL_DONE && n == 0)
        rc = set_reply(reply, replylen, is_user ? R_NOUSER : R_NOPASS, SASL_BAD);
    if (rc == SASL_DONE) {
        memcpy(out, buf, n);
        out[n] = '\0';
        if (is_user && has_ctl(out))
            rc = set_reply(reply, replylen, R_CTL, SASL_BAD);
    }
    OPENSSL_cleanse(buf, sizeof buf);
    return rc;
}

/* sasl_mech_from_name - "PLAIN" / "LOGIN" (any case) */
int
sasl_mech_from_name(const char *name, enum sasl_mech *out)
{
    if (strcasecmp(name, "PLAIN") == 0)
        *out = SASL_PLAIN;
    else if (strcasecmp(name, "LOGIN") == 0)
        *out = SASL_LOGIN;
    else
        return -1;
    return 0;
}

/* challenge - the 334 for prompt number i */
static int
challenge(struct sasl *s, int i, char *reply, size_t replylen)
{
    if (sasl_challenge(s->prompts[i], reply, replylen) < 0)
        return set_reply(reply, replylen, "454 4.7.0 Temporary authentication failure", SASL_BAD);
    return SASL_MORE;
}

/* feed - one base64 response: the next field(s) of the exchange */
static int
feed(struct sasl *s, const char *b64, char *reply, size_t replylen)
{
    int rc;

    if (s->mech == SASL_PLAIN) {
        rc = sasl_plain_decode(b64, s->part, reply, replylen);
        s->nparts = rc == SASL_DONE ? 3 : 0;
        s->done = 1;
        return rc;
    }
    rc = sasl_login_decode(b64, s->done == 0, s->part[s->done], reply, replylen);
    if (rc != SASL_DONE) {
        s->done = 2;
        return rc;
    }
    s->nparts = (size_t)++s->done;
    return s->done == 2 ? SASL_DONE : challenge(s, 1, reply, replylen);
}

/* sasl_start - after "AUTH MECH [initial]" */
int
sasl_start(struct sasl *s, enum sasl_mech mech, const char *const prompts[2], const char *initial,
           char *reply, size_t replylen)
{
    memset(s, 0, sizeof *s);
    s->mech = mech;
    for (int i = 0; i < 2; i++)
        s->prompts[i] = prompts != NULL && prompts[i] != NULL ? prompts[i] : "";
    if (initial == NULL)
        return challenge(s, 0, reply, replylen);
    return feed(s, strcmp(initial, "=") == 0 ? "" : initial, reply, replylen);
}

/* sasl_step - the client's answer to a 334 challenge */
int
sasl_step(struct sasl *s, const char *line, char *reply, size_t replylen)
{
    if (s->done >= (s->mech == SASL_PLAIN ? 1 : 2))
        return set_reply(reply, replylen, R_OVER, SASL_BAD);
    if (strcmp(line, "*") == 0) {
        s->done = 2;
        return set_reply(reply, replylen, R_CANCEL, SASL_CANCEL);
    }
    return feed(s, line, reply, replylen);
}
