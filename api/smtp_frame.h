/*
 * smtp_frame.h - SMTP server input framing: where command lines end, where
 *                the message text of DATA ends, dot-unstuffing, and bare
 *                <CR> / <LF> detection (RFC 5321 §2.3.8, §4.1.1.4, §4.5.2).
 *
 * Rules (the defence against SMTP smuggling, CVE-2023-51764/51765 class)
 *   - Only <CR><LF> ends a line. A bare <LF> or a bare <CR> (one without
 *     the other, RFC 5321 §2.3.8) is never a line end, in commands or in
 *     message text, so "<LF>.<LF>", "<CR><LF>.<LF>", "<LF>.<CR><LF>" and
 *     "<CR>.<CR>" never end DATA: only <CR><LF>.<CR><LF> does (§4.1.1.4).
 *     The <CR><LF> just before the final dot belongs to the message.
 *   - Commands: a line holding a bare <CR> or <LF> is refused as a whole:
 *     SMTP_FRAME_BARE_CR / SMTP_FRAME_BARE_LF is reported once, when it is
 *     seen, and everything up to the next <CR><LF> is discarded (never read
 *     as a command). A line with no <CR><LF> within SMTP_LINE_MAX_EXT octets
 *     (CRLF included, §4.5.3.1.4) is SMTP_FRAME_TOO_LONG, once, and is
 *     discarded the same way. NUL and other octets are left to the parser.
 *   - Message text: a line beginning with "." loses it (§4.5.2); text is
 *     returned unchanged otherwise, lines of any length, bare <CR>/<LF>
 *     included, and the bare ones seen are recorded in the END event's
 *     `bad` (SMTP_FRAME_BAD_*): the caller decides (smtp_in.c refuses the
 *     message).
 *
 * Shapes and ownership
 *   The caller owns a buffer of unprocessed input [p, p + n) and calls
 *   smtp_frame_cmd() or smtp_frame_data() (whichever state its session is
 *   in) with it. The return value is the number of octets consumed from p
 *   (drop them before the next call); 0 means nothing can be decided until
 *   more input arrives (keep the bytes and call again with more). out->kind
 *   says what was found; out->data / out->len point into [p, p + n) (no
 *   copy, valid while the caller keeps those bytes). The result does not
 *   depend on how the input was split into calls: the concatenated TEXT of
 *   one message, the LINEs and the events are the same for any split.
 *   Octets are counted in bytes; nothing is allocated; no errors besides
 *   the kinds below.
 *
 * Pure; one struct smtp_frame per connection, any thread.
 */
#ifndef SPATE_API_SMTP_FRAME_H
#define SPATE_API_SMTP_FRAME_H

#include <stddef.h>

enum smtp_frame_kind {
    SMTP_FRAME_NONE = 0, /* nothing to act on (octets may still be consumed) */
    SMTP_FRAME_LINE,     /* command line in data/len, without its CRLF, len <= 510 */
    SMTP_FRAME_TOO_LONG, /* command line over SMTP_LINE_MAX_EXT: refuse, rest is skipped */
    SMTP_FRAME_BARE_LF,  /* command line with a bare LF: refuse, rest is skipped */
    SMTP_FRAME_BARE_CR,  /* command line with a bare CR: refuse, rest is skipped */
    SMTP_FRAME_TEXT,     /* message text in data/len, unstuffed; CRLFs kept */
    SMTP_FRAME_END,      /* the final <CR><LF>.<CR><LF> of DATA; see bad */
};

#define SMTP_FRAME_BAD_LF 0x1u /* the message held a bare LF */
#define SMTP_FRAME_BAD_CR 0x2u /* the message held a bare CR */

struct smtp_frame {
    int skip;     /* commands: discarding up to the next CRLF */
    int bol;      /* DATA: at the beginning of a text line */
    unsigned bad; /* DATA: SMTP_FRAME_BAD_* seen in this message */
};

struct smtp_frame_out {
    enum smtp_frame_kind kind;
    const char *data;
    size_t len;
    unsigned bad; /* END: SMTP_FRAME_BAD_* of the message */
};

/* smtp_frame_init - a connection's framing state, reading commands */
void smtp_frame_init(struct smtp_frame *f);

/* smtp_frame_data_begin - after 354: message text starts at a line beginning */
void smtp_frame_data_begin(struct smtp_frame *f);

/* smtp_frame_cmd - the next command line; octets consumed (0: need more) */
size_t smtp_frame_cmd(struct smtp_frame *f, const char *p, size_t n, struct smtp_frame_out *out);

/* smtp_frame_data - the next piece of message text or the final dot;
 * octets consumed (0: need more). After END the caller reads commands. */
size_t smtp_frame_data(struct smtp_frame *f, const char *p, size_t n, struct smtp_frame_out *out);

#endif
