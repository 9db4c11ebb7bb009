/*
 * dsn.c - the delivery status notification as a MIME message (RFC 3464,
 *         RFC 6522's multipart/report, RFC 6533 for SMTPUTF8 mail): the
 *         envelope headers, the text part, the machine-readable part and the
 *         returned original. See dsn.h for what goes where.
 */
#include "engine/dsn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sbuf {
    char *p;
    size_t len, cap;
};

/* sb_add - append bytes */
static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        if ((b->p = realloc(b->p, cap)) == NULL)
            abort();
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* sb_printf - append formatted text */
static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
sb_printf(struct sbuf *b, const char *fmt, ...)
{
    char tmp[2048];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        sb_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* field - "Name: prefix value\r\n" with the value's control characters
 * (a remote server's text) turned into spaces; nothing when value is empty */
static void
field(struct sbuf *b, const char *name, const char *prefix, const char *value)
{
    char clean[1100];
    size_t i;
    if (value == NULL || *value == '\0')
        return;
    for (i = 0; value[i] && i + 1 < sizeof(clean); i++)
        clean[i] = (unsigned char)value[i] < 0x20 || value[i] == 0x7f ? ' ' : value[i];
    clean[i] = '\0';
    sb_printf(b, "%s: %s%s\r\n", name, prefix, clean);
}

/* is_ascii - no octet above 127 */
static int
is_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s > 127)
            return 0;
    return 1;
}

/* subject - the report's Subject */
static void
subject(struct sbuf *b, const struct dsn_report *r)
{
    long mins = (long)((r->now - r->msg->arrival_us / 1000000) / 60);
    if (r->kind == DSN_FAILURE)
        sb_printf(b, "Subject: Mail delivery failed: returning message to sender\r\n");
    else if (r->kind == DSN_DELAY)
        sb_printf(b, "Subject: Warning: message %s delayed %ld minute%s\r\n", r->msg->id, mins,
                  mins == 1 ? "" : "s");
    else
        sb_printf(b, "Subject: Delivery Status Notification (success)\r\n");
}

/* envelope_headers - the report's own header section */
static void
envelope_headers(struct sbuf *b, const struct cfg *cfg, const struct dsn_report *r)
{
    char date[64];
    dsn_date(r->now, date, sizeof(date));
    sb_printf(b, "Received: from local by %s (spate) id %s; %s\r\n", cfg->primary_hostname,
              r->notice_id, date);
    sb_printf(b, "From: Mail Delivery System <Mailer-Daemon@%s>\r\n", cfg->primary_hostname);
    sb_printf(b, "To: %s\r\n", r->msg->sender);
    subject(b, r);
    sb_printf(b, "Date: %s\r\nMessage-ID: <%s@%s>\r\n", date, r->notice_id, cfg->primary_hostname);
    sb_printf(b, "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n");
    if (r->kind == DSN_FAILURE) {
        sb_printf(b, "X-Failed-Recipients: ");
        for (size_t i = 0; i < r->n; i++)
            sb_printf(b, "%s%s", i ? ",\r\n  " : "", r->rcpts[i].address);
        sb_printf(b, "\r\n");
    }
    sb_printf(b,
              "Content-Type: multipart/report; report-type=delivery-status;\r\n"
              "  boundary=\"%s/%s\"\r\n\r\n",
              r->notice_id, cfg->primary_hostname);
}

/* decoded - xtext s decoded into out, or NULL when it is not valid xtext */
static const char *
decoded(const char *s, char *out, size_t len)
{
    return s != NULL && dsn_xtext_decode(s, out, len) >= 0 ? out : NULL;
}

/* per_message - the delivery-status part's per-message fields */
static void
per_message(struct sbuf *b, const struct cfg *cfg, const struct dsn_report *r)
{
    char date[64], envid[200];
    field(b, "Reporting-MTA", "dns; ", cfg->primary_hostname);
    field(b, "Original-Envelope-Id", "", decoded(r->msg->dsn_envid, envid, sizeof(envid)));
    dsn_date(r->msg->arrival_us / 1000000, date, sizeof(date));
    field(b, "Arrival-Date", "", date);
}

/* orcpt_field - Original-Recipient: "type; decoded address" */
static void
orcpt_field(struct sbuf *b, const char *orcpt)
{
    char type[32], addr[600];
    const char *semi = orcpt ? strchr(orcpt, ';') : NULL;
    if (semi == NULL || semi == orcpt || (size_t)(semi - orcpt) >= sizeof(type))
        return;
    snprintf(type, sizeof(type), "%.*s; ", (int)(semi - orcpt), orcpt);
    field(b, "Original-Recipient", type, decoded(semi + 1, addr, sizeof(addr)));
}

/* extra_info - the seed's "DSN extra information" fields */
static void
extra_info(struct sbuf *b, const struct dsn_rcpt *rc)
{
    char ipport[100];
    if (rc->remote_ip && *rc->remote_ip) {
        int std = rc->remote_port == NULL || *rc->remote_port == '\0' ||
                  strcmp(rc->remote_port, "25") == 0;
        snprintf(ipport, sizeof(ipport), "[%s]%s%s", rc->remote_ip, std ? "" : ":",
                 std ? "" : rc->remote_port);
        field(b, "Remote-MTA", "X-ip; ", ipport);
    }
    field(b, "X-Remote-MTA-smtp-greeting", "X-str; ", rc->greeting);
    field(b, "X-Remote-MTA-helo-response", "X-str; ", rc->helo_response);
}

/* per_rcpt - one recipient's block (a blank line before it) */
static void
per_rcpt(struct sbuf *b, const struct dsn_report *r, const struct dsn_rcpt *rc)
{
    static const char *const action[] = {"failed", "delayed", "delivered"};
    char status[16], date[64];
    dsn_status(r->kind, rc->text, status);
    sb_add(b, "\r\n", 2);
    orcpt_field(b, rc->orcpt);
    field(b, "Final-Recipient", is_ascii(rc->address) ? "rfc822; " : "utf-8; ", rc->address);
    field(b, "Action", "", r->kind == DSN_SUCCESS && rc->relayed ? "relayed" : action[r->kind]);
    field(b, "Status", "", status);
    field(b, "Remote-MTA", "dns; ", rc->remote_mta);
    if (r->extra_info)
        extra_info(b, rc);
    field(b, "Diagnostic-Code", "smtp; ", dsn_smtp_reply(rc->text));
    if (r->extra_info)
        field(b, "X-Spate-Diagnostic", "X-str; ", rc->text);
    if (rc->last_attempt > 0) {
        dsn_date(rc->last_attempt, date, sizeof(date));
        field(b, "Last-Attempt-Date", "", date);
    }
    if (r->kind == DSN_DELAY && rc->retry_until > 0) {
        dsn_date(rc->retry_until, date, sizeof(date));
        field(b, "Will-Retry-Until", "", date);
    }
}

/* header_len - bytes of body's header section, its blank line included */
static size_t
header_len(const char *body, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (body[i] != '\n')
            continue;
        if (body[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && body[i + 1] == '\r' && body[i + 2] == '\n')
            return i + 3;
    }
    return len;
}

/* original - the third part: the whole message or its headers */
static void
original(struct sbuf *b, const struct cfg *cfg, const struct dsn_report *r, const char *bnd)
{
    int utf8 = (r->msg->flags & SPOOL_F_SMTPUTF8) != 0;
    size_t limit = cfg->bounce_return_size_limit > 0 ? (size_t)cfg->bounce_return_size_limit : 0;
    int full = r->kind == DSN_FAILURE && r->msg->dsn_ret != SPOOL_RET_HDRS &&
               (limit == 0 || r->body_len <= limit);
    size_t take = full ? r->body_len : header_len(r->body, r->body_len);
    if (r->body == NULL)
        return;
    sb_printf(b, "--%s\r\nContent-Type: %s\r\n", bnd,
              full ? (utf8 ? "message/global" : "message/rfc822")
                   : (utf8 ? "message/global-headers" : "text/rfc822-headers"));
    if (!utf8 && (r->msg->flags & SPOOL_F_8BITMIME))
        sb_printf(b, "Content-Transfer-Encoding: 8bit\r\n");
    sb_printf(b, "\r\n");
    sb_add(b, r->body, take);
    if (take == 0 || r->body[take - 1] != '\n')
        sb_add(b, "\r\n", 2);
}

/* dsn_build - the whole report */
char *
dsn_build(const struct cfg *cfg, const struct dsn_report *r, size_t *outlen)
{
    struct sbuf b = {0};
    char bnd[300];
    int utf8 = (r->msg->flags & SPOOL_F_SMTPUTF8) != 0;
    char *human = r->human ? NULL : dsn_human_default(cfg, r);

    snprintf(bnd, sizeof(bnd), "%s/%s", r->notice_id, cfg->primary_hostname);
    envelope_headers(&b, cfg, r);
    sb_printf(&b, "This is a MIME-encapsulated delivery status notification.\r\n\r\n");
    sb_printf(&b, "--%s\r\nContent-Type: text/plain; charset=%s\r\n", bnd,
              utf8 || !is_ascii(r->human ? r->human : human) ? "utf-8" : "us-ascii");
    sb_printf(&b, "Content-Description: Notification\r\n\r\n");
    sb_add(&b, r->human ? r->human : human, strlen(r->human ? r->human : human));
    sb_printf(&b, "\r\n--%s\r\nContent-Type: %s\r\n", bnd,
              utf8 ? "message/global-delivery-status" : "message/delivery-status");
    sb_printf(&b, "Content-Description: Delivery report\r\n\r\n");
    per_message(&b, cfg, r);
    for (size_t i = 0; i < r->n; i++)
        per_rcpt(&b, r, &r->rcpts[i]);
    sb_add(&b, "\r\n", 2);
    original(&b, cfg, r, bnd);
    sb_printf(&b, "--%s--\r\n", bnd);
    free(human);
    *outlen = b.len;
    return b.p;
}
