/*
 * sasl.h - the client's side of an SMTP AUTH exchange, decoded: the PLAIN
 *          (RFC 4616) and LOGIN mechanisms as RFC 4954 carries them (an
 *          optional initial response on the AUTH line, then "334" challenges
 *          answered by one base64 line each, "*" cancelling).
 *
 * Contract
 *   - Pure functions: no I/O, no allocation, no global state; any thread.
 *     The caller (the SMTP server) sends the reply lines these functions
 *     write, reads the client's next line, and hands the decoded parts to
 *     auth_check() (conf/auth.h).
 *   - Lines are given without their CRLF. Base64 is the RFC 4648 alphabet
 *     with padding, strictly: a length that is a multiple of 4, '=' only as
 *     the last one or two characters, no white space, zero bits after the
 *     data (the canonical form, RFC 4648 §3.5). The decoding itself is
 *     OpenSSL's (EVP_DecodeBlock).
 *   - Replies are complete SMTP reply lines (code, RFC 3463 enhanced code,
 *     text) without CRLF, at most SASL_REPLY_MAX bytes with the NUL:
 *       334 <base64 prompt>  a challenge (SASL_MORE)
 *       501 5.7.0            the client cancelled with "*" (SASL_CANCEL)
 *       501 5.5.2            bad base64, a PLAIN response that is not
 *                            exactly authzid NUL user NUL password, an empty
 *                            user name or password, a control character
 *                            (below 0x20, or 0x7f) in a user name or the
 *                            authzid, a NUL in a LOGIN field (SASL_BAD)
 *       500 5.5.6            a line over SASL_LINE_MAX, or a field over
 *                            SASL_FIELD_MAX bytes once decoded (SASL_BAD)
 *   - A password may hold any byte but NUL; user names may hold UTF-8.
 *   - Parts once done (SASL_DONE), as auth_check() wants them ($auth1..):
 *       PLAIN  part[0] authzid (may be empty), part[1] user, part[2] password
 *       LOGIN  part[0] user, part[1] password
 *     The caller should wipe struct sasl (OPENSSL_cleanse) when done with it.
 */
#ifndef SPATE_API_SASL_H
#define SPATE_API_SASL_H

#include <stddef.h>

#define SASL_FIELD_MAX 1024 /* bytes of one decoded field, NUL excluded */
/* the longest base64 line accepted: a PLAIN response of three full fields */
#define SASL_LINE_MAX (((SASL_FIELD_MAX * 3 + 2) + 2) / 3 * 4)
#define SASL_REPLY_MAX 160

enum sasl_mech { SASL_PLAIN = 0, SASL_LOGIN = 1 };

enum sasl_rc {
    SASL_DONE = 0,   /* parts complete (s->nparts of them) */
    SASL_MORE = 1,   /* reply is a 334 challenge: feed the client's next line to sasl_step */
    SASL_CANCEL = 2, /* the client sent "*": reply is the 501 to send */
    SASL_BAD = -1,   /* malformed: reply is the 501 / 500 to send */
};

/* One exchange in progress. Initialise it with sasl_start(). */
struct sasl {
    enum sasl_mech mech;
    int done;               /* fields received so far */
    const char *prompts[2]; /* borrowed from the caller for the exchange's life */
    size_t nparts;
    char part[3][SASL_FIELD_MAX + 1];
};

/* sasl_mech_from_name - "PLAIN" / "LOGIN" (any case) to *out; 0, or -1 for others */
int sasl_mech_from_name(const char *name, enum sasl_mech *out);

/* sasl_start - after "AUTH MECH [initial]". prompts: the plain-text prompts
 * (PLAIN uses prompts[0], normally ""; LOGIN prompts[0] for the user name
 * and prompts[1] for the password); NULL entries mean "". initial: the
 * initial response as written (NULL: none; "=": an empty one, RFC 4954 §4).
 * Returns SASL_DONE, SASL_MORE or SASL_BAD with reply set. */
int sasl_start(struct sasl *s, enum sasl_mech mech, const char *const prompts[2],
               const char *initial, char *reply, size_t replylen);

/* sasl_step - the client's answer to a 334 challenge. Returns SASL_DONE,
 * SASL_MORE, SASL_CANCEL or SASL_BAD with reply set; SASL_BAD also when the
 * exchange is already over. */
int sasl_step(struct sasl *s, const char *line, char *reply, size_t replylen);

/* sasl_plain_decode - one base64 PLAIN response into part[0..2] (see
 * above); SASL_DONE or SASL_BAD with reply set. */
int sasl_plain_decode(const char *b64, char (*part)[SASL_FIELD_MAX + 1], char *reply,
                      size_t replylen);

/* sasl_login_decode - one base64 LOGIN field into out; is_user: the user
 * name (no control characters). SASL_DONE or SASL_BAD with reply set. */
int sasl_login_decode(const char *b64, int is_user, char out[SASL_FIELD_MAX + 1], char *reply,
                      size_t replylen);

/* sasl_b64_decode - strict base64 (see above) into out (outsz bytes);
 * 0 with *outlen, or -1 (bad base64, or more than outsz bytes) */
int sasl_b64_decode(const char *b64, size_t len, unsigned char *out, size_t outsz, size_t *outlen);

/* sasl_challenge - "334 " and text in base64 (empty text: "334 "); 0, or
 * -1 when it does not fit in reply */
int sasl_challenge(const char *text, char *reply, size_t replylen);

#endif
