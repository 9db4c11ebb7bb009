/*
 * smtp_frame.c - SMTP server input framing; the contract is in smtp_frame.h.
 */
#include "api/smtp_frame.h"

#include <string.h>

#include "api/smtp_parse.h"

/* longest command line without its CRLF (RFC 5321 §4.5.3.1.4) */
#define CMD_TEXT_MAX (SMTP_LINE_MAX_EXT - 2) /* smtp_parse holds most verbs to SMTP_LINE_MAX */

/* smtp_frame_init - a connection's framing state, reading commands */
void
smtp_frame_init(struct smtp_frame *f)
{
    memset(f, 0, sizeof(*f));
}

/* smtp_frame_data_begin - after 354: message text starts at a line beginning */
void
smtp_frame_data_begin(struct smtp_frame *f)
{
    f->skip = 0;
    f->bol = 1;
    f->bad = 0;
}

/* set - fill in an event */
static size_t
set(struct smtp_frame_out *out, enum smtp_frame_kind kind, const char *data, size_t len,
    size_t used)
{
    out->kind = kind;
    out->data = data;
    out->len = len;
    return used;
}

/* skip_line - discard up to and including the next CRLF; a trailing CR is
 * kept, it may be the first half of one */
static size_t
skip_line(struct smtp_frame *f, const char *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (p[i] == '\r' && p[i + 1] == '\n') {
            f->skip = 0;
            return i + 2;
        }
    return n > 0 && p[n - 1] == '\r' ? n - 1 : n;
}

/* smtp_frame_cmd - the next command line; octets consumed (0: need more) */
size_t
smtp_frame_cmd(struct smtp_frame *f, const char *p, size_t n, struct smtp_frame_out *out)
{
    size_t lim = n < CMD_TEXT_MAX + 1 ? n : CMD_TEXT_MAX + 1, i;
    const char *lf, *cr;

    out->bad = 0;
    set(out, SMTP_FRAME_NONE, p, 0, 0);
    if (f->skip)
        return skip_line(f, p, n);
    lf = memchr(p, '\n', lim);
    i = lf != NULL ? (size_t)(lf - p) : lim;
    cr = memchr(p, '\r', i);
    if (cr != NULL) {
        i = (size_t)(cr - p);
        if (i + 1 == n)
            return 0; /* CR LF, or a bare CR: the next octet tells */
        if (p[i + 1] == '\n')
            return set(out, SMTP_FRAME_LINE, p, i, i + 2);
        f->skip = 1;
        return set(out, SMTP_FRAME_BARE_CR, p, 0, i + 1);
    }
    if (lf != NULL) {
        f->skip = 1;
        return set(out, SMTP_FRAME_BARE_LF, p, 0, i + 1);
    }
    if (n > CMD_TEXT_MAX) { /* CMD_TEXT_MAX + 1 octets and no line end */
        f->skip = 1;
        return set(out, SMTP_FRAME_TOO_LONG, p, 0, lim);
    }
    return 0;
}

/* data_dot - a text line starting with ".": the end, or a stuffed dot */
static size_t
data_dot(struct smtp_frame *f, const char *p, size_t n, struct smtp_frame_out *out)
{
    if (n < 2 || (p[1] == '\r' && n < 3))
        return 0;
    if (p[1] == '\r' && p[2] == '\n') {
        out->bad = f->bad;
        f->bol = 0;
        return set(out, SMTP_FRAME_END, p, 0, 3);
    }
    f->bol = 0; /* dot-unstuffing (RFC 5321 §4.5.2) */
    return set(out, SMTP_FRAME_NONE, p, 0, 1);
}

/* smtp_frame_data - the next piece of message text or the final dot */
size_t
smtp_frame_data(struct smtp_frame *f, const char *p, size_t n, struct smtp_frame_out *out)
{
    const char *lf, *cr;
    size_t i;

    out->bad = 0;
    set(out, SMTP_FRAME_NONE, p, 0, 0);
    if (n == 0)
        return 0;
    if (f->bol && p[0] == '.')
        return data_dot(f, p, n, out);
    lf = memchr(p, '\n', n);
    i = lf != NULL ? (size_t)(lf - p) : n;
    cr = memchr(p, '\r', i);
    i = cr != NULL ? (size_t)(cr - p) : i; /* the first CR or LF, or n */
    if (i + 1 == n && p[i] == '\r' && i == 0)
        return 0; /* a CR whose partner has not arrived yet */
    f->bol = 0;
    if (i == n)
        return set(out, SMTP_FRAME_TEXT, p, n, n);
    if (p[i] == '\n') {
        f->bad |= SMTP_FRAME_BAD_LF;
        return set(out, SMTP_FRAME_TEXT, p, i + 1, i + 1);
    }
    if (i + 1 == n) /* the text before a CR whose partner has not arrived */
        return set(out, SMTP_FRAME_TEXT, p, i, i);
    if (p[i + 1] == '\n') {
        f->bol = 1;
        return set(out, SMTP_FRAME_TEXT, p, i + 2, i + 2);
    }
    f->bad |= SMTP_FRAME_BAD_CR;
    return set(out, SMTP_FRAME_TEXT, p, i + 1, i + 1);
}
