/*
 * dkim.h - DomainKeys Identified Mail: signing and verification as pure
 *          functions (RFC 6376; RFC 8463 ed25519-sha256; RFC 8301 limits).
 *
 * Nothing here does DNS or I/O. A verifier splits the message with
 * dkim_verify_begin(), asks its own resolver for the TXT record named by
 * dkim_key_name() for each signature, and hands the record text (the
 * strings of one TXT record concatenated) to dkim_verify_one(). A signer
 * loads its private key once (dkim_privkey_load) and calls dkim_sign() per
 * message; the result is the DKIM-Signature header to put in front of it.
 *
 * Messages are given whole (header fields, empty line, body) with lines
 * ending in CRLF or LF (a bare LF counts as CRLF for hashing, as it does on
 * the wire when the message is sent). Canonicalization: "simple" and
 * "relaxed" for header and body (RFC 6376 §3.4). Algorithms: rsa-sha256,
 * ed25519-sha256; rsa-sha1 is verified and reported as such (RFC 8301
 * §3.1: never signed).
 *
 * sign_headers (Exim's dkim_sign_headers): a colon-separated list of field
 * names. A plain name signs the bottom-most field of that name when one is
 * present; "=name" signs every field of that name; "+name" signs every
 * field of that name and lists the name once more, so that a field of that
 * name added later breaks the signature (oversigning, RFC 6376 §8.15).
 * Names are matched case-insensitively. NULL: DKIM_DEFAULT_SIGN_HEADERS.
 *
 * Thread rules: no shared state; an EVP_PKEY may be used from several
 * threads at once for signing (OpenSSL 3 keys are read-only once loaded).
 * Ownership: every returned pointer is malloc'd and belongs to the caller
 * unless said otherwise.
 */
#ifndef SPATE_MAILAUTH_DKIM_H
#define SPATE_MAILAUTH_DKIM_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum dkim_canon { DKIM_CANON_SIMPLE, DKIM_CANON_RELAXED };
enum dkim_algo { DKIM_RSA_SHA256, DKIM_RSA_SHA1, DKIM_ED25519_SHA256 };

#define DKIM_DEFAULT_SIGN_HEADERS                                                                  \
    "From:Sender:Reply-To:Subject:Date:Message-ID:To:Cc:MIME-Version:Content-Type:"                \
    "Content-Transfer-Encoding:Content-ID:Content-Description:Resent-Date:Resent-From:"            \
    "Resent-Sender:Resent-To:Resent-Cc:Resent-Message-ID:In-Reply-To:References:List-Id:"          \
    "List-Help:List-Unsubscribe:List-Subscribe:List-Post:List-Owner:List-Archive"

/* ---- parsed DKIM-Signature (RFC 6376 §3.5) ---- */
struct dkim_sig {
    enum dkim_algo algo;
    enum dkim_canon hcanon, bcanon; /* c=, default simple/simple */
    char *d, *s, *i;                /* domain, selector, AUID ("@d" when absent) */
    char **h;                       /* h= names as written, nh of them */
    size_t nh;
    unsigned char *bh, *b; /* decoded body hash and signature */
    size_t bh_len, b_len;
    long long l;    /* l= body length, -1 when absent */
    long long t, x; /* t= and x= (seconds since the epoch), -1 when absent */
};
/* dkim_sig_parse - parse the value of a DKIM-Signature field (after the
 * colon). 0 and *out, or -1 with a reason in err (missing or malformed
 * tag, v= not 1, unknown algorithm or canonicalization, From not in h=,
 * i= outside d=, x= before t=). */
int dkim_sig_parse(const char *value, size_t len, struct dkim_sig **out, char *err, size_t errlen);
void dkim_sig_free(struct dkim_sig *s);
/* dkim_key_name - "selector._domainkey.domain" into buf; -1 if it does not fit */
int dkim_key_name(const struct dkim_sig *s, char *buf, size_t n);

/* ---- parsed key record (RFC 6376 §3.6.1, RFC 8463 §4) ---- */
struct dkim_key {
    EVP_PKEY *pkey; /* NULL when revoked (empty p=) */
    int ed25519;    /* k=ed25519, else k=rsa */
    int sha1_ok;    /* h= absent or lists sha1 */
    int sha256_ok;  /* h= absent or lists sha256 */
    int testing;    /* t=y */
    int strict;     /* t=s: i= must be exactly d= */
    int bits;       /* key size */
};
/* dkim_key_parse - parse a TXT record; 0 and *out, or -1 with err (not a
 * tag list, v= other than DKIM1, unknown k=, s= excluding email, p= not a
 * key of type k=). A revoked key (p= empty) parses, with pkey NULL. */
int dkim_key_parse(const char *txt, size_t len, struct dkim_key **out, char *err, size_t errlen);
void dkim_key_free(struct dkim_key *k);

/* ---- signing ---- */
struct dkim_sign_params {
    const char *domain;   /* d= */
    const char *selector; /* s= */
    EVP_PKEY *key;        /* RSA (at least 1024 bits) or Ed25519; borrowed */
    enum dkim_canon hcanon, bcanon;
    const char *sign_headers; /* see above; NULL: the default list */
    const char *identity;     /* i=, NULL: none */
    time_t timestamp;         /* t=, 0: none */
};
/* dkim_privkey_load - a private key from PEM text (PKCS#8 or PKCS#1, RSA or
 * Ed25519) or from the base64 of a raw 32-byte Ed25519 secret; NULL with
 * err when it is neither. The caller frees it with EVP_PKEY_free. */
EVP_PKEY *dkim_privkey_load(const char *text, size_t len, char *err, size_t errlen);
/* dkim_sign - the DKIM-Signature field for msg, folded, ending in CRLF, in
 * *hdr. The algorithm follows the key (rsa-sha256 or ed25519-sha256).
 * 0, or -1 with err (bad parameters, a key too small or of another type,
 * malformed sign_headers, a crypto failure). */
int dkim_sign(const struct dkim_sign_params *p, const char *msg, size_t len, char **hdr, char *err,
              size_t errlen);

/* ---- verification ---- */
/* Exim's $dkim_verify_status words */
enum dkim_status { DKIM_NONE, DKIM_PASS, DKIM_FAIL, DKIM_INVALID };
/* what became of the key lookup */
enum dkim_dns { DKIM_DNS_OK, DKIM_DNS_NOTFOUND, DKIM_DNS_TEMPFAIL };

struct dkim_result {
    enum dkim_status status;
    const char *reason; /* Exim's $dkim_verify_reason: "", "pubkey_unavailable",
                         * "pubkey_dns_syntax", "pubkey_der_syntax",
                         * "bodyhash_mismatch", "signature_incorrect", or for an
                         * invalid signature "signature_syntax", "signature_expired",
                         * "algorithm_mismatch", "key_too_small"; static text */
    int temporary;      /* the key lookup failed temporarily (RFC 8601 temperror) */
    int testing;        /* the key record says t=y */
    int key_bits;
    char detail[128]; /* a human-readable explanation */
};

struct dkim_verify; /* a message split for verification */
/* dkim_verify_begin - split msg and parse its DKIM-Signature fields (the
 * first max_sigs of them, top to bottom). msg must stay alive and
 * unchanged until dkim_verify_free. NULL only when out of memory. */
struct dkim_verify *dkim_verify_begin(const char *msg, size_t len, size_t max_sigs);
/* dkim_verify_count - how many DKIM-Signature fields were found */
size_t dkim_verify_count(const struct dkim_verify *v);
/* dkim_verify_sig - the parsed signature k, or NULL when it did not parse
 * (then err gets why, when err is not NULL); owned by v */
const struct dkim_sig *dkim_verify_sig(const struct dkim_verify *v, size_t k, const char **err);
/* dkim_verify_one - check signature k with the key record txt (the result
 * of the lookup of dkim_key_name, per dns) at time now */
void dkim_verify_one(const struct dkim_verify *v, size_t k, enum dkim_dns dns, const char *txt,
                     size_t txt_len, time_t now, struct dkim_result *res);
void dkim_verify_free(struct dkim_verify *v);

/* dkim_status_word - "none", "pass", "fail", "invalid" */
const char *dkim_status_word(enum dkim_status s);
/* dkim_algo_name - "rsa-sha256", "rsa-sha1", "ed25519-sha256" */
const char *dkim_algo_name(enum dkim_algo a);

#endif
