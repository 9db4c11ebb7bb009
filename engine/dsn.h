/*
 * dsn.h - delivery status notifications: the RFC 3464 report that spate
 *         sends to a message's envelope sender (engine-internal).
 *
 * A report is one MIME message, multipart/report; report-type=delivery-status
 * (RFC 6522), with three parts:
 *   1. text/plain, for people: the built-in wording, or the expansion of
 *      bounce_message_file / warn_message_file / success_message_file
 *      (expanded by the caller and handed over in dsn_report.human);
 *   2. message/delivery-status (RFC 3464 §2): per-message fields
 *      (Reporting-MTA, Original-Envelope-Id, Arrival-Date) then one block
 *      per recipient (Original-Recipient, Final-Recipient, Action, Status,
 *      Remote-MTA, Diagnostic-Code, Last-Attempt-Date, Will-Retry-Until);
 *      with dsn_extra_info also the seed's extra fields (Remote-MTA: X-ip,
 *      X-Remote-MTA-smtp-greeting, X-Remote-MTA-helo-response and
 *      X-Spate-Diagnostic, the seed's X-Exim-Diagnostic under our name);
 *   3. the original: message/rfc822 for a failure when RET is FULL or not
 *      given and the message is at most bounce_return_size_limit bytes,
 *      otherwise text/rfc822-headers (RET=HDRS, larger messages, and every
 *      delay and success report).
 * For a message that came with SMTPUTF8 the report is RFC 6533's:
 * message/global-delivery-status, message/global or message/global-headers,
 * and the text part in UTF-8.
 *
 * ENVID and ORCPT are kept on the spool as the client wrote them (xtext,
 * RFC 3461 §4); the report carries them decoded (dsn_xtext_decode). The
 * Final-Recipient is the address the client submitted, never a rewritten one.
 *
 * All functions are pure (no I/O, no globals): any thread.
 */
#ifndef SPATE_ENGINE_DSN_H
#define SPATE_ENGINE_DSN_H

#include <stddef.h>
#include <stdint.h>

#include "conf/config.h"
#include "spool/spool.h"

enum dsn_kind { DSN_FAILURE = 0, DSN_DELAY = 1, DSN_SUCCESS = 2 };

/* One recipient of a report. Strings are borrowed for the call; NULL
 * (or "") leaves the field out. */
struct dsn_rcpt {
    const char *address;       /* Final-Recipient: as the client submitted it */
    const char *orcpt;         /* ORCPT as written ("rfc822;xtext"), or NULL */
    const char *text;          /* the explanation, as logged ("SMTP error from remote
                                * mail server after RCPT TO:<a>: 550 5.1.1 unknown") */
    const char *remote_mta;    /* Remote-MTA: dns; the host name that answered */
    const char *remote_ip;     /* extra information: its address ... */
    const char *remote_port;   /* ... and port ("25" is left out) */
    const char *greeting;      /* extra information: its 220 greeting line */
    const char *helo_response; /* extra information: first line of its EHLO/HELO reply */
    int64_t last_attempt;      /* Last-Attempt-Date, unix s; 0 = none */
    int64_t retry_until;       /* Will-Retry-Until (delay reports), unix s; 0 = none */
    int relayed;               /* success report: Action relayed rather than delivered */
};

/* What one report says. */
struct dsn_report {
    enum dsn_kind kind;
    const struct spool_msg *msg; /* the original's envelope (sender, id, DSN request) */
    const struct dsn_rcpt *rcpts;
    size_t n;
    const char *body; /* the original message (CRLF wire form), or NULL */
    size_t body_len;
    const char *notice_id; /* the report's own message id */
    const char *human;     /* text part; NULL: the built-in wording */
    int extra_info;        /* dsn_extra_info: the seed's extra fields */
    int64_t now;           /* unix s: Date, and the delay in a warning */
};

/* dsn_build - the report as a malloc'd CRLF message (headers and body),
 * its length in *outlen. Never fails (out of memory aborts). */
char *dsn_build(const struct cfg *cfg, const struct dsn_report *r, size_t *outlen);

/* dsn_human_default - the built-in text part for r (malloc'd, CRLF lines) */
char *dsn_human_default(const struct cfg *cfg, const struct dsn_report *r);

/* dsn_rcpt_lines - "  address\r\n    explanation\r\n" per recipient, as in
 * the built-in text (malloc'd): $dsn_details of the templates */
char *dsn_rcpt_lines(const struct dsn_report *r);

/* dsn_status - the RFC 3463 status for a recipient: the enhanced code
 * that follows the SMTP reply code in text when its class agrees with the
 * outcome, else the class alone ("5.0.0", "4.0.0", "2.0.0"). kind picks the
 * class when text has none. out gets at most 15 characters. */
void dsn_status(enum dsn_kind kind, const char *text, char out[16]);

/* dsn_smtp_reply - where the remote server's reply starts in text (the
 * first "ddd " or "ddd-" after ": " or at the start, d a digit, first 2-5),
 * or NULL when text quotes none (a local failure: no Diagnostic-Code). */
const char *dsn_smtp_reply(const char *text);

/* dsn_xtext_decode - RFC 3461 §4 xtext to text into out (NUL-terminated).
 * Returns the length, or -1 when in is not valid xtext (a '+' not followed
 * by two upper-case hex digits, a character outside '!'..'~' or '=') or
 * does not fit. A decoded control character is refused (-1) too. */
int dsn_xtext_decode(const char *in, char *out, size_t outlen);

/* dsn_date - an RFC 5322 date for unix time t into out */
void dsn_date(int64_t t, char *out, size_t len);

#endif
