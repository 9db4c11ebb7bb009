/*
 * smtp_reply.c - the SMTP client's reply parser (smtp_reply.h): lines and
 *                codes, replies of several lines, EHLO keywords.
 *
 * Thread rules: pure functions on the caller's structures; any thread.
 */
#include "engine/smtp_reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* smtp_reply_init - no line read yet */
void
smtp_reply_init(struct smtp_reply *r)
{
    memset(r, 0, sizeof(*r));
}

/* smtp_reply_code - "ddd-text" or "ddd text" or "ddd": the code, or -1 */
int
smtp_reply_code(const char *line, size_t n, int *more)
{
    if (n < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' ||
        line[2] < '0' || line[2] > '9' || (n > 3 && line[3] != ' ' && line[3] != '-'))
        return -1;
    *more = n > 3 && line[3] == '-';
    return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

/* smtp_reply_feed - the next complete line of buf into r */
enum smtp_reply_rc
smtp_reply_feed(struct smtp_reply *r, const char *buf, size_t len, size_t *used)
{
    const char *nl = memchr(buf, '\n', len);
    size_t n;
    int more = 0;
    *used = 0;
    if (nl == NULL)
        return len >= SMTP_REPLY_LINE_MAX ? SMTP_REPLY_TOO_LONG : SMTP_REPLY_PARTIAL;
    n = (size_t)(nl - buf);
    *used = n + 1;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    if (!r->more)
        r->nlines = 0; /* the line begins a new reply */
    r->nlines++;
    snprintf(r->text, sizeof(r->text), "%.*s", (int)n, buf);
    r->code = smtp_reply_code(buf, n, &more);
    r->more = more; /* stays 0 for a malformed line */
    if (r->code < 0)
        return SMTP_REPLY_BAD;
    return more ? SMTP_REPLY_MORE : SMTP_REPLY_DONE;
}

/* smtp_reply_rest - what follows "ddd " or "ddd-" */
const char *
smtp_reply_rest(const struct smtp_reply *r)
{
    return strlen(r->text) > 4 ? r->text + 4 : "";
}

/* word_is - does kw begin with the keyword name, alone or before a space? */
static int
word_is(const char *kw, const char *name, size_t n)
{
    return strncasecmp(kw, name, n) == 0 && (kw[n] == '\0' || kw[n] == ' ');
}

/* smtp_ehlo_keyword - which extension kw names */
unsigned
smtp_ehlo_keyword(const char *kw, uint64_t *size)
{
    if (word_is(kw, "PIPELINING", 10))
        return SMTP_EXT_PIPELINING;
    if (strncasecmp(kw, "8BITMIME", 8) == 0)
        return SMTP_EXT_8BITMIME;
    if (strncasecmp(kw, "SMTPUTF8", 8) == 0)
        return SMTP_EXT_SMTPUTF8;
    if (word_is(kw, "SIZE", 4)) {
        *size = strtoull(kw + 4, NULL, 10);
        return SMTP_EXT_SIZE;
    }
    if (word_is(kw, "STARTTLS", 8))
        return SMTP_EXT_STARTTLS;
    if (strncasecmp(kw, "CHUNKING", 8) == 0)
        return SMTP_EXT_CHUNKING;
    if (word_is(kw, "DSN", 3))
        return SMTP_EXT_DSN;
    if (word_is(kw, "PRDR", 4))
        return SMTP_EXT_PRDR;
    return 0;
}

/* smtp_ehlo_line - note the extension a line of the EHLO reply names */
void
smtp_ehlo_line(struct smtp_ehlo *e, const struct smtp_reply *r)
{
    uint64_t size = 0;
    unsigned x;
    if (r->nlines < 2)
        return; /* the first line: the server's name and greeting */
    x = smtp_ehlo_keyword(smtp_reply_rest(r), &size);
    if (x & SMTP_EXT_SIZE)
        e->size = size;
    e->ext |= x;
}
