/*
 * smtp_parse.h - one SMTP command line into a verb, an argument and the
 *                ESMTP parameters (RFC 5321 §4.1, RFC 1870 SIZE, RFC 6152
 *                8BITMIME, RFC 6531 SMTPUTF8, RFC 3461 DSN).
 *
 * Contract
 *   - smtp_parse() takes one line without its CRLF. It knows nothing of the
 *     session: sequence errors (503) are the caller's. Verbs are matched
 *     case-insensitively; "MAIL FROM: <a@b>" (a space after the colon) is
 *     tolerated.
 *   - Success returns 0. Failure returns the reply code and writes the
 *     complete reply line (RFC 5321 code, RFC 3463 enhanced code, text,
 *     no CRLF) into cmd->reply:
 *       500 5.5.2  line too long (over 512 octets with CRLF; a MAIL line may
 *                  be longer by its ENVID parameter, a RCPT line by its
 *                  ORCPT parameter, RFC 3461 §4), NUL in line,
 *                  unrecognized command
 *       501 5.5.2  malformed MAIL FROM: / RCPT TO: (missing colon, brackets)
 *       501 5.1.7  bad sender address; 501 5.1.3 bad recipient address
 *       553 5.6.7  non-ASCII address without SMTPUTF8
 *       501 5.5.4  bad or missing argument, bad parameter value (SIZE not
 *                  digits, bad xtext, duplicate parameter, NOTIFY=NEVER with
 *                  another value, an ORCPT whose decoded address holds a
 *                  control character, ENVID over 100 or ORCPT over 500)
 *       555 5.5.4  unknown MAIL/RCPT parameter
 *     An unrecognized command sets cmd->unknown (the caller counts them).
 *   - ENVID and ORCPT are kept as written (xtext); smtp_xtext_decode()
 *     decodes them. NOTIFY/RET are parsed into their values.
 *   - Pure; any thread.
 */
#ifndef SPATE_API_SMTP_PARSE_H
#define SPATE_API_SMTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "conf/address.h"

#define SMTP_LINE_MAX 512 /* RFC 5321 §4.5.3.1.4, CRLF included */
/* the longest line framed as a command: RCPT with ORCPT (RFC 3461 §4: a
 * RCPT line may be 500 octets longer for ORCPT, a MAIL line 100 for ENVID) */
#define SMTP_LINE_MAX_EXT (SMTP_LINE_MAX + 500)
#define SMTP_TEXTLINE_MAX 1000 /* RFC 5321 §4.5.3.1.6, CRLF included */
#define SMTP_ENVID_MAX 100     /* RFC 3461 §4.4 */
#define SMTP_ORCPT_MAX 500     /* RFC 3461 §4.2 */
#define SMTP_ARG_MAX 512
#define SMTP_REPLY_MAX 160

enum smtp_verb {
    SMTP_V_EHLO = 1,
    SMTP_V_HELO,
    SMTP_V_MAIL,
    SMTP_V_RCPT,
    SMTP_V_DATA,
    SMTP_V_RSET,
    SMTP_V_NOOP,
    SMTP_V_QUIT,
    SMTP_V_VRFY,
    SMTP_V_HELP,
    SMTP_V_STARTTLS,
    SMTP_V_BDAT, /* RFC 3030: size in cmd->size, LAST in cmd->bdat_last */
    SMTP_V_AUTH, /* RFC 4954: "mechanism [initial-response]" in cmd->arg */
};

enum smtp_body { SMTP_BODY_NONE = 0, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME };
enum smtp_ret { SMTP_RET_NONE = 0, SMTP_RET_FULL, SMTP_RET_HDRS };

#define SMTP_NOTIFY_NEVER 0x1u
#define SMTP_NOTIFY_SUCCESS 0x2u
#define SMTP_NOTIFY_FAILURE 0x4u
#define SMTP_NOTIFY_DELAY 0x8u

/* smtp_parse flags */
#define SMTP_PARSE_UTF8 0x1u /* RCPT: the transaction's MAIL had SMTPUTF8 */

struct smtp_cmd {
    enum smtp_verb verb;
    /* EHLO/HELO: the domain or address literal; MAIL/RCPT: the mailbox
     * without brackets ("" for the null path); NOOP/HELP/VRFY: the text */
    char arg[SMTP_ARG_MAX];
    int nparams; /* ESMTP parameters given on MAIL/RCPT */
    /* MAIL parameters */
    int has_size;
    uint64_t size; /* UINT64_MAX when the number overflows; BDAT: the chunk size */
    int bdat_last; /* BDAT ... LAST */
    enum smtp_body body;
    int smtputf8;
    int prdr; /* MAIL ... PRDR (draft-hall-prdr-00) */
    enum smtp_ret ret;
    char envid[SMTP_ENVID_MAX + 1]; /* xtext as written, "" if none */
    /* RCPT parameters */
    unsigned notify;                /* SMTP_NOTIFY_*, 0 if none */
    char orcpt[SMTP_ORCPT_MAX + 1]; /* "addr-type;xtext" as written, "" if none */
    /* on failure */
    int unknown; /* the command word is not one of the verbs */
    char reply[SMTP_REPLY_MAX];
};

/* smtp_parse - parse one command line (no CRLF); 0 or the reply code */
int smtp_parse(const char *line, size_t len, unsigned flags, struct smtp_cmd *cmd);

/* smtp_xtext_valid - RFC 3461 §4 xtext: 1 valid, 0 not */
int smtp_xtext_valid(const char *s, size_t len);

/* smtp_xtext_encode - s as RFC 3461 xtext (every octet outside "!".."~",
 * and '+' and '=', as +HH); malloc'd, NULL when out of memory */
char *smtp_xtext_encode(const char *s);
/* smtp_orcpt_encode - "type;address" (the address as text) to the wire
 * form "type;xtext"; malloc'd, NULL without ';' or out of memory */
char *smtp_orcpt_encode(const char *orcpt);
/* smtp_xtext_decode - decode xtext into out (NUL-terminated); its length or -1 */
int smtp_xtext_decode(const char *s, char *out, size_t outlen);

#endif
