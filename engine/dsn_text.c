/*
 * dsn_text.c - the pieces of a delivery status notification that are text
 *              transformations: RFC 3463 status codes and the SMTP reply
 *              quoted in an explanation, RFC 3461 xtext, dates, and the
 *              built-in human-readable part. See dsn.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/dsn.h"

/* reply_at - is p the start of an SMTP reply ("ddd", then ' ', '-' or end)? */
static int
reply_at(const char *p)
{
    return p[0] >= '2' && p[0] <= '5' && isdigit((unsigned char)p[1]) &&
           isdigit((unsigned char)p[2]) && (p[3] == ' ' || p[3] == '-' || p[3] == '\0');
}

/* dsn_smtp_reply - where the remote reply starts in text, or NULL */
const char *
dsn_smtp_reply(const char *text)
{
    const char *p;
    if (text == NULL)
        return NULL;
    if (reply_at(text))
        return text;
    for (p = strstr(text, ": "); p != NULL; p = strstr(p + 1, ": "))
        if (reply_at(p + 2))
            return p + 2;
    return NULL;
}

/* enhanced_at - length of an RFC 3463 code "c.sss.ddd" at p, or 0 */
static size_t
enhanced_at(const char *p)
{
    size_t i = 1, n;
    if (p[0] < '2' || p[0] > '5' || p[1] != '.')
        return 0;
    for (int part = 0; part < 2; part++) {
        i++; /* the dot */
        for (n = 0; isdigit((unsigned char)p[i]) && n < 3; n++)
            i++;
        if (n == 0 || (part == 0 && p[i] != '.'))
            return 0;
    }
    return p[i] == ' ' || p[i] == '\0' || p[i] == '\r' || p[i] == '\n' ? i : 0;
}

/* dsn_status - the RFC 3463 status for a recipient */
void
dsn_status(enum dsn_kind kind, const char *text, char out[16])
{
    const char *r = dsn_smtp_reply(text);
    char cls = kind == DSN_FAILURE ? '5' : kind == DSN_DELAY ? '4' : '2';
    size_t n;
    if (r != NULL && (n = enhanced_at(r + 4)) > 0 && r[4] == cls) {
        snprintf(out, 16, "%.*s", (int)n, r + 4);
        return;
    }
    snprintf(out, 16, "%c.0.0", cls);
}

/* hexval - value of an upper-case hex digit, or -1 */
static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* dsn_xtext_decode - xtext to text */
int
dsn_xtext_decode(const char *in, char *out, size_t outlen)
{
    size_t o = 0;
    for (const char *p = in; *p; p++) {
        int c = (unsigned char)*p;
        if (c == '+') {
            int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
            if (lo < 0)
                return -1;
            c = hi * 16 + lo;
            p += 2;
            if (c < 0x20 || c == 0x7f)
                return -1;
        } else if (c < '!' || c > '~' || c == '=') {
            return -1;
        }
        if (o + 1 >= outlen)
            return -1;
        out[o++] = (char)c;
    }
    if (outlen == 0)
        return -1;
    out[o] = '\0';
    return (int)o;
}

/* dsn_date - an RFC 5322 date (local time) */
void
dsn_date(int64_t t, char *out, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    strftime(out, len, "%a, %d %b %Y %H:%M:%S %z", &tm);
}

struct tb {
    char *p;
    size_t len, cap;
};

/* tb_add - append a NUL-terminated string */
static void
tb_add(struct tb *b, const char *s)
{
    size_t n = strlen(s);
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        if ((b->p = realloc(b->p, b->cap)) == NULL)
            abort();
    }
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

static const char *const intro_failure =
    "A message that you sent could not be delivered to one or more of its\r\n"
    "recipients. This is a permanent error. The following address(es) failed:\r\n\r\n";
static const char *const intro_success =
    "Your message has been delivered to the following recipient(s). This is\r\n"
    "only a notice: no action is required on your part.\r\n\r\n";
static const char *const outro_delay =
    "\r\nNo action is required on your part. Delivery attempts will continue for\r\n"
    "some time, and this warning may be repeated at intervals if the message\r\n"
    "remains undelivered. Eventually the mail delivery software will give up,\r\n"
    "and when that happens, the message will be returned to you.\r\n";

/* rcpt_lines - "  address\r\n    why\r\n" for every recipient */
static void
rcpt_lines(struct tb *b, const struct dsn_report *r)
{
    char line[1400];
    for (size_t i = 0; i < r->n; i++) {
        const struct dsn_rcpt *rc = &r->rcpts[i];
        const char *why = rc->text && *rc->text                      ? rc->text
                          : r->kind == DSN_SUCCESS && rc->remote_mta ? rc->remote_mta
                                                                     : NULL;
        snprintf(line, sizeof(line), "  %s\r\n", rc->address);
        tb_add(b, line);
        if (why != NULL) {
            snprintf(line, sizeof(line), "    %s\r\n", why);
            tb_add(b, line);
        }
    }
}

/* dsn_rcpt_lines - the recipient lines alone */
char *
dsn_rcpt_lines(const struct dsn_report *r)
{
    struct tb b = {0};
    tb_add(&b, "");
    rcpt_lines(&b, r);
    return b.p;
}

/* dsn_human_default - the built-in text part */
char *
dsn_human_default(const struct cfg *cfg, const struct dsn_report *r)
{
    struct tb b = {0};
    char line[600];
    tb_add(&b, "This message was created automatically by mail delivery software.\r\n\r\n");
    if (r->kind == DSN_FAILURE) {
        tb_add(&b, intro_failure);
    } else if (r->kind == DSN_SUCCESS) {
        tb_add(&b, intro_success);
    } else {
        long mins = (long)((r->now - r->msg->arrival_us / 1000000) / 60);
        snprintf(line, sizeof(line),
                 "A message that you sent has not yet been delivered to one or more of its\r\n"
                 "recipients after more than %ld minute%s on the queue on %s.\r\n\r\n"
                 "The message identifier is:     %s\r\n\r\n"
                 "The address(es) to which delivery has not yet been made are:\r\n\r\n",
                 mins, mins == 1 ? "" : "s", cfg->primary_hostname, r->msg->id);
        tb_add(&b, line);
    }
    rcpt_lines(&b, r);
    if (r->kind == DSN_DELAY)
        tb_add(&b, outro_delay);
    return b.p;
}
