/*
 * smtp_reply.h - the SMTP client's reading of server replies (RFC 5321
 *                4.2): reply lines "ddd text" / "ddd-text" / "ddd", replies
 *                of several lines, and the service extensions named in the
 *                reply to EHLO. Pure functions on caller-owned structures:
 *                no I/O, no allocation, safe from any thread.
 *
 * A line ends at LF; a CR before the LF is dropped, a CR anywhere else is
 * part of the line. The code's first digit is 2 to 5, the others 0 to 9,
 * and a fourth octet, when there is one, is a space (the final line) or a
 * hyphen (a continuation). The final line's code is the reply's; codes that
 * differ between lines are not checked.
 */
#ifndef SPATE_ENGINE_SMTP_REPLY_H
#define SPATE_ENGINE_SMTP_REPLY_H

#include <stddef.h>
#include <stdint.h>

#define SMTP_REPLY_LINE_MAX 16384 /* octets buffered for one line, LF included */
#define SMTP_REPLY_TEXT_MAX 1024  /* of a line kept as text (longer lines are cut) */

/* One reply being read. */
struct smtp_reply {
    int code;                       /* of the last line read: 200..599 (-1 for a malformed line) */
    int more;                       /* the last line was a continuation: the reply goes on */
    int nlines;                     /* lines of the reply so far, the last one included */
    char text[SMTP_REPLY_TEXT_MAX]; /* the last line without CR LF, cut at
                                     * its first NUL and to fit */
};

enum smtp_reply_rc {
    SMTP_REPLY_PARTIAL,  /* no complete line yet: read more */
    SMTP_REPLY_MORE,     /* a continuation line: the reply goes on */
    SMTP_REPLY_DONE,     /* the final line: r->code is the reply's */
    SMTP_REPLY_BAD,      /* a malformed line (r->text holds it) */
    SMTP_REPLY_TOO_LONG, /* SMTP_REPLY_LINE_MAX octets without an LF */
};

/* smtp_reply_init - before the first line */
void smtp_reply_init(struct smtp_reply *r);

/* smtp_reply_code - one line of n octets (no CR LF): its code, or -1 when
 * malformed; *more set for a continuation line */
int smtp_reply_code(const char *line, size_t n, int *more);

/* smtp_reply_feed - read the next line of buf[0..len) into r: *used is set
 * to the octets taken (through the LF; 0 for PARTIAL and TOO_LONG). After
 * DONE the next call starts a new reply. */
enum smtp_reply_rc smtp_reply_feed(struct smtp_reply *r, const char *buf, size_t len, size_t *used);

/* smtp_reply_rest - the text after the code and its separator ("" for a
 * line of three octets) */
const char *smtp_reply_rest(const struct smtp_reply *r);

/* Service extensions (RFC 5321 4.1.1.1) the client acts on. */
enum smtp_ext {
    SMTP_EXT_PIPELINING = 1u << 0, /* RFC 2920 */
    SMTP_EXT_8BITMIME = 1u << 1,   /* RFC 6152 */
    SMTP_EXT_SMTPUTF8 = 1u << 2,   /* RFC 6531 */
    SMTP_EXT_SIZE = 1u << 3,       /* RFC 1870 */
    SMTP_EXT_STARTTLS = 1u << 4,   /* RFC 3207 */
    SMTP_EXT_CHUNKING = 1u << 5,   /* RFC 3030 */
    SMTP_EXT_DSN = 1u << 6,        /* RFC 3461 */
    SMTP_EXT_PRDR = 1u << 7,       /* draft-hall-prdr-00 */
};

/* What the reply to one EHLO offered. */
struct smtp_ehlo {
    unsigned ext;  /* enum smtp_ext bits */
    uint64_t size; /* SIZE's value, the last one given; 0: none or no limit */
};

/* smtp_ehlo_keyword - the extension one keyword line names (0: none we
 * use); for SIZE, *size gets its value */
unsigned smtp_ehlo_keyword(const char *kw, uint64_t *size);

/* smtp_ehlo_line - after each line of the reply to EHLO (MORE or DONE):
 * the first line names the server, every later one an extension */
void smtp_ehlo_line(struct smtp_ehlo *e, const struct smtp_reply *r);

#endif
