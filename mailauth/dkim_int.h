/*
 * dkim_int.h - internals shared by the mailauth/dkim*.c files: a growable
 *              buffer, the message split into header fields and body, the
 *              tag-list reader and base64 through OpenSSL.
 */
#ifndef SPATE_MAILAUTH_DKIM_INT_H
#define SPATE_MAILAUTH_DKIM_INT_H

#include <stddef.h>

#include "mailauth/dkim.h"

/* A growable byte buffer; p is NUL-terminated after every add. */
struct dkim_buf {
    char *p;
    size_t len, cap;
};
void dkim__buf_add(struct dkim_buf *b, const void *p, size_t n);
void dkim__buf_str(struct dkim_buf *b, const char *s);

/* One header field as it stands in the message: p..p+len spans the name,
 * the colon, the value and any continuation lines, without the final line
 * end; name_len is the length of the name (before any WSP and the colon). */
struct dkim_hdr {
    const char *p;
    size_t len, name_len;
};

/* The message: header fields top to bottom and the body (after the empty
 * line; NULL/0 when there is none). Lines end in LF or CRLF. */
struct dkim_msg {
    struct dkim_hdr *h;
    size_t nh;
    const char *body;
    size_t body_len;
};
/* dkim__msg_split - split msg; 0, or -1 when there are more than
 * DKIM_MAX_HEADERS fields. m->h is malloc'd (free it). A line in the header
 * block that is neither a field nor a continuation ends the header block
 * there (it and what follows are the body). */
int dkim__msg_split(const char *msg, size_t len, struct dkim_msg *m);
#define DKIM_MAX_HEADERS 1000

/* dkim__hdr_is - is h named name (case-insensitive)? */
int dkim__hdr_is(const struct dkim_hdr *h, const char *name, size_t nlen);

/* dkim__canon_header_n - append the canonical form of one header field
 * (p, len as in struct dkim_hdr) to out, without the final CRLF */
void dkim__canon_header_n(enum dkim_canon c, const char *p, size_t len, struct dkim_buf *out);

/* dkim__body_hash - hash of the canonical body, the first limit octets only
 * when limit >= 0; digest into md (EVP_MAX_MD_SIZE), its length returned,
 * 0 on a crypto error. *canon_len gets the canonical body's full length. */
unsigned dkim__body_hash(enum dkim_canon c, enum dkim_algo a, const char *body, size_t len,
                         long long limit, unsigned char *md, size_t *canon_len);

/* A tag of a tag-list (RFC 6376 §3.2): name and value with surrounding
 * FWS removed; vstart..vend is the raw value span (after '=', up to ';'). */
struct dkim_tag {
    const char *name, *val;
    size_t nlen, vlen;
    size_t vstart, vend;
};
/* dkim__tags - read a tag list into tags (at most max); the count, or -1
 * on a syntax error or a repeated tag */
int dkim__tags(const char *s, size_t n, struct dkim_tag *tags, int max);
/* dkim__tag - the tag named name in tags, or NULL */
const struct dkim_tag *dkim__tag(const struct dkim_tag *tags, int n, const char *name);

/* dkim__b64_decode - base64 (white space ignored) to malloc'd bytes; the
 * length, or -1 when not valid base64 */
long dkim__b64_decode(const char *s, size_t n, unsigned char **out);
/* dkim__b64_encode - append base64 of p to out */
void dkim__b64_encode(const unsigned char *p, size_t n, struct dkim_buf *out);

/* dkim__md - the EVP digest of an algorithm */
const void *dkim__md(enum dkim_algo a);

/* dkim__headers_hash_input - the header data a signature covers, in the
 * order of names (h=): each field bottom-up, unused instances only, missing
 * ones as nothing; then the signature header sig (b= emptied, no CRLF). */
void dkim__header_data(const struct dkim_msg *m, enum dkim_canon c, char *const *names,
                       size_t nnames, const char *sig, size_t sig_len, struct dkim_buf *out);

/* dkim__sign_data / dkim__verify_data - the signature over header data:
 * RSA with the algorithm's digest; Ed25519 (RFC 8463) over the SHA-256
 * digest of the data. 0 ok, -1 error / mismatch. */
int dkim__verify_data(EVP_PKEY *key, enum dkim_algo a, const struct dkim_buf *data,
                      const unsigned char *sig, size_t siglen);

#endif
