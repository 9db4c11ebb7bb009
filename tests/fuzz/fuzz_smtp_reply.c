/*
 * fuzz_smtp_reply.c - libFuzzer target for the SMTP client's reply parser
 *                     (engine/smtp_reply.c): any octets as what a server
 *                     sends, read the way a delivery session reads them
 *                     (a buffer of SMTP_REPLY_LINE_MAX octets, filled by
 *                     reads, every complete line taken, the rest moved to
 *                     the front; a malformed or overlong line ends it),
 *                     every line also read as part of a reply to EHLO.
 *
 * The input's length picks the size of the reads; the same input read all
 * at once must give the same lines, codes and extensions. Every result must
 * keep the parser's promises: the octets taken end at the first LF, codes
 * are 200..599 and match the text, the text is a NUL-terminated prefix of
 * the line. Each keyword is also parsed from an exact-size copy, so that
 * AddressSanitizer sees any read past its end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/smtp_reply.h"

/* What one line gave, for comparing two ways of reading the input. */
struct seen {
    int rc, code, more, nlines;
    uint32_t text_hash;
    unsigned ext;
    uint64_t size;
};

struct run {
    struct seen *log;
    size_t n, cap;
};

/* hash - FNV-1a of a string */
static uint32_t
hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

/* check_line - the promises of a MORE, DONE or BAD result for buf */
static void
check_line(const struct smtp_reply *r, enum smtp_reply_rc rc, const char *buf, size_t len,
           size_t used)
{
    size_t tl;
    if (used < 1 || used > len || buf[used - 1] != '\n' || memchr(buf, '\n', used - 1) != NULL)
        abort();
    if (memchr(r->text, '\0', sizeof(r->text)) == NULL)
        abort();
    tl = strlen(r->text);
    if (tl > used - 1 || memcmp(r->text, buf, tl) != 0 || r->nlines < 1)
        abort();
    if (rc == SMTP_REPLY_BAD) {
        if (r->code != -1 || r->more)
            abort();
        return;
    }
    if (r->code < 200 || r->code > 599 || tl < 3 || r->more != (rc == SMTP_REPLY_MORE))
        abort();
    if (r->text[0] - '0' != r->code / 100 || r->text[1] - '0' != r->code / 10 % 10 ||
        r->text[2] - '0' != r->code % 10)
        abort();
}

/* check_keyword - the line's keyword from an exact-size copy */
static void
check_keyword(const struct smtp_reply *r)
{
    const char *rest = smtp_reply_rest(r);
    size_t n = strlen(rest);
    char *kw = malloc(n + 1);
    uint64_t size = 0;
    unsigned x;
    if (kw == NULL)
        return;
    if (rest != r->text + 4 && *rest != '\0')
        abort();
    memcpy(kw, rest, n + 1);
    x = smtp_ehlo_keyword(kw, &size);
    if (x & (x - 1)) /* one extension at most */
        abort();
    free(kw);
}

/* note - record what a line gave */
static void
note(struct run *run, const struct smtp_reply *r, int rc, const struct smtp_ehlo *e)
{
    struct seen *s;
    if (run->n == run->cap) {
        run->cap = run->cap ? run->cap * 2 : 64;
        if ((run->log = realloc(run->log, run->cap * sizeof(*run->log))) == NULL)
            abort();
    }
    s = &run->log[run->n++];
    memset(s, 0, sizeof(*s));
    s->rc = rc;
    s->code = r->code;
    s->more = r->more;
    s->nlines = r->nlines;
    s->text_hash = hash(r->text);
    s->ext = e->ext;
    s->size = e->size;
}

/* take_lines - every complete line of buf[0..*len); 0 when one ended the
 * reading (malformed, too long), else 1 with the rest moved to the front */
static int
take_lines(struct run *run, struct smtp_reply *r, struct smtp_ehlo *e, char *buf, size_t *len)
{
    size_t off = 0, used;
    for (;;) {
        enum smtp_reply_rc rc = smtp_reply_feed(r, buf + off, *len - off, &used);
        if (rc == SMTP_REPLY_PARTIAL || rc == SMTP_REPLY_TOO_LONG) {
            if (used != 0 || memchr(buf + off, '\n', *len - off) != NULL ||
                (rc == SMTP_REPLY_TOO_LONG) != (*len - off >= SMTP_REPLY_LINE_MAX))
                abort();
            if (rc == SMTP_REPLY_TOO_LONG) {
                note(run, r, rc, e);
                return 0;
            }
            break;
        }
        check_line(r, rc, buf + off, *len - off, used);
        off += used;
        smtp_ehlo_line(e, r);
        check_keyword(r);
        note(run, r, rc, e);
        if (rc == SMTP_REPLY_BAD)
            return 0;
        if (rc == SMTP_REPLY_DONE)
            memset(e, 0, sizeof(*e)); /* as if the next reply answered a new EHLO */
    }
    memmove(buf, buf + off, *len - off);
    *len -= off;
    return 1;
}

/* read_all - read data in pieces of at most piece octets (0: as much as
 * the buffer takes) */
static void
read_all(struct run *run, char *buf, const uint8_t *data, size_t size, size_t piece)
{
    struct smtp_reply r;
    struct smtp_ehlo e = {0};
    size_t len = 0, fed = 0;
    smtp_reply_init(&r);
    while (fed < size) {
        size_t k = SMTP_REPLY_LINE_MAX - len;
        if (piece != 0 && k > piece)
            k = piece;
        if (k > size - fed)
            k = size - fed;
        memcpy(buf + len, data + fed, k);
        len += k;
        fed += k;
        if (!take_lines(run, &r, &e, buf, &len))
            return;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct run a = {0}, b = {0};
    char *buf;
    if ((buf = malloc(SMTP_REPLY_LINE_MAX)) == NULL)
        return 0;
    read_all(&a, buf, data, size, 1 + size % 29u);
    read_all(&b, buf, data, size, 0);
    if (a.n != b.n || (a.n > 0 && memcmp(a.log, b.log, a.n * sizeof(*a.log)) != 0))
        abort();
    free(a.log);
    free(b.log);
    free(buf);
    return 0;
}
