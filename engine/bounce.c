/*
 * bounce.c - the plain failure notice sent to the envelope sender when
 *            recipients fail permanently (RFC 3464 DSNs replace it in their
 *            own module later). The notice quotes the original message up
 *            to bounce_return_size_limit bytes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/eng_internal.h"

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

/* rfc5322_date - the current time as an RFC 5322 date */
static void
rfc5322_date(char *out, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(out, len, "%a, %d %b %Y %H:%M:%S %z", &tm);
}

/* eng_bounce_build - the failure notice text, CRLF lines */
char *
eng_bounce_build(const struct cfg *cfg, const struct spool_msg *msg, const char *const *rcpts,
                 const char *const *whys, size_t n, const char *body, size_t body_len,
                 const char *notice_id, size_t *outlen)
{
    struct sbuf b = {0};
    char date[64];
    size_t limit = cfg->bounce_return_size_limit > 0 ? (size_t)cfg->bounce_return_size_limit : 0;

    rfc5322_date(date, sizeof(date));
    sb_printf(&b, "Received: from local by %s (spate) id %s; %s\r\n", cfg->primary_hostname,
              notice_id, date);
    sb_printf(&b, "From: Mail Delivery System <Mailer-Daemon@%s>\r\n", cfg->primary_hostname);
    sb_printf(&b, "To: %s\r\n", msg->sender);
    sb_printf(&b, "Subject: Mail delivery failed: returning message to sender\r\n");
    sb_printf(&b, "Date: %s\r\nMessage-ID: <%s@%s>\r\n", date, notice_id, cfg->primary_hostname);
    sb_printf(&b, "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n");
    sb_printf(&b, "Content-Type: text/plain; charset=us-ascii\r\n");
    sb_printf(&b, "X-Failed-Recipients: ");
    for (size_t i = 0; i < n; i++)
        sb_printf(&b, "%s%s", i ? ",\r\n  " : "", rcpts[i]);
    sb_printf(&b, "\r\n\r\n");
    sb_printf(&b, "This message was created automatically by mail delivery software.\r\n\r\n"
                  "A message that you sent could not be delivered to one or more of its\r\n"
                  "recipients. This is a permanent error. The following address(es) failed:\r\n"
                  "\r\n");
    for (size_t i = 0; i < n; i++)
        sb_printf(&b, "  %s\r\n    %s\r\n", rcpts[i], whys[i]);
    sb_printf(&b,
              "\r\n------ This is a copy of the message %s, including all the headers. "
              "------\r\n\r\n",
              msg->id);
    if (body != NULL) {
        size_t take = limit && body_len > limit ? limit : body_len;
        while (take > 0 && take < body_len && body[take - 1] != '\n')
            take--; /* cut at a line end */
        sb_add(&b, body, take);
        if (take < body_len)
            sb_printf(&b,
                      "\r\n------ The body of the message is %zu characters long; only the "
                      "first\r\n------ %zu or so are included here.\r\n",
                      body_len, take);
    }
    if (b.len < 2 || b.p[b.len - 1] != '\n')
        sb_add(&b, "\r\n", 2);
    *outlen = b.len;
    return b.p;
}
