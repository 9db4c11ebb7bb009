/*
 * export.c - the spool export format (docs/spool-export.md): one message,
 *            its envelope and per-recipient state as "key: value" text
 *            lines, a blank line, then the body octets. Written by the
 *            queuefile transport, read back by requeue. Pure: no I/O.
 *
 *   spate-export 1
 *   id: 1a2B3c4D5e6-0001
 *   origin: 1a2B3c4D5e5-0007        (only when given)
 *   arrival: 1700000000123456
 *   flags: 0
 *   proto: esmtp
 *   host: [192.0.2.1]:40000
 *   helo: client.example
 *   sender: a@example.org
 *   ret: hdrs                       (only when given)
 *   envid: QQ+2B1                   (only when given)
 *   rcpt: pending success,failure rfc822;b@example.net b@example.net
 *   size: 1234
 *
 *   <size octets of body>
 *
 * A recipient line is "STATE NOTIFY ORCPT ADDRESS": STATE pending,
 * delivered or failed; NOTIFY "-" (not given) or a comma list of never,
 * success, failure, delay; ORCPT "-" or the xtext as stored (no blanks);
 * the address runs to the end of the line. Lines end in LF; no value holds
 * CR, LF or NUL (the encoder refuses such a message).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spool/spool.h"

#define EXPORT_MAGIC "spate-export 1"

static const char *const state_names[] = {"pending", "delivered", "failed"};
static const struct {
    const char *name;
    uint8_t bit;
} notify_names[] = {{"never", SPOOL_NOTIFY_NEVER},
                    {"success", SPOOL_NOTIFY_SUCCESS},
                    {"failure", SPOOL_NOTIFY_FAILURE},
                    {"delay", SPOOL_NOTIFY_DELAY}};

/* ---------------------------------------------------------- encoding */

struct ebuf {
    char *p;
    size_t len, cap;
    int bad; /* a value could not be written */
};

/* eb_put - append n octets */
static void
eb_put(struct ebuf *b, const void *d, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        if ((b->p = realloc(b->p, cap)) == NULL)
            abort();
        b->cap = cap;
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* eb_fmt - append a formatted piece */
__attribute__((format(printf, 2, 3))) static void
eb_fmt(struct ebuf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    eb_put(b, tmp, n < 0 ? 0 : (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* eb_value - append a value, refusing CR, LF and (blank: also ' ', '\t') */
static void
eb_value(struct ebuf *b, const char *v, int noblank)
{
    const char *stop = noblank ? "\r\n \t" : "\r\n";
    if (v[strcspn(v, stop)] != '\0')
        b->bad = 1;
    eb_put(b, v, strlen(v));
}

/* eb_line - "key: value\n" */
static void
eb_line(struct ebuf *b, const char *key, const char *v)
{
    eb_put(b, key, strlen(key));
    eb_put(b, ": ", 2);
    eb_value(b, v ? v : "", 0);
    eb_put(b, "\n", 1);
}

/* eb_notify - the NOTIFY word: "-" or a comma list */
static void
eb_notify(struct ebuf *b, uint8_t bits)
{
    int any = 0;
    for (size_t i = 0; i < sizeof(notify_names) / sizeof(notify_names[0]); i++) {
        if (!(bits & notify_names[i].bit))
            continue;
        eb_fmt(b, "%s%s", any ? "," : "", notify_names[i].name);
        any = 1;
    }
    if (!any)
        eb_put(b, "-", 1);
}

/* eb_rcpt - one "rcpt:" line */
static void
eb_rcpt(struct ebuf *b, const struct spool_rcpt *r)
{
    if (r->state > SPOOL_RCPT_FAILED || r->address == NULL || r->address[0] == '\0' ||
        (r->dsn_orcpt != NULL && (r->dsn_orcpt[0] == '\0' || strcmp(r->dsn_orcpt, "-") == 0)))
        b->bad = 1;
    eb_fmt(b, "rcpt: %s ", state_names[r->state <= SPOOL_RCPT_FAILED ? r->state : 0]);
    eb_notify(b, r->dsn_notify);
    eb_put(b, " ", 1);
    eb_value(b, r->dsn_orcpt ? r->dsn_orcpt : "-", 1);
    eb_put(b, " ", 1);
    eb_value(b, r->address ? r->address : "", 0);
    eb_put(b, "\n", 1);
}

/* spool_export_encode - the export text of msg with body */
void *
spool_export_encode(const struct spool_msg *m, const char *origin, const char *body,
                    size_t body_len, size_t *len)
{
    struct ebuf b = {0};
    eb_put(&b, EXPORT_MAGIC "\n", sizeof(EXPORT_MAGIC));
    eb_line(&b, "id", m->id);
    if (origin != NULL)
        eb_line(&b, "origin", origin);
    eb_fmt(&b, "arrival: %" PRId64 "\nflags: %" PRIu32 "\n", m->arrival_us, m->flags);
    eb_line(&b, "proto", m->proto);
    eb_line(&b, "host", m->host);
    eb_line(&b, "helo", m->helo);
    eb_line(&b, "sender", m->sender);
    if (m->dsn_ret == SPOOL_RET_FULL || m->dsn_ret == SPOOL_RET_HDRS)
        eb_line(&b, "ret", m->dsn_ret == SPOOL_RET_FULL ? "full" : "hdrs");
    if (m->dsn_envid != NULL) {
        eb_put(&b, "envid: ", 7);
        eb_value(&b, m->dsn_envid, 1);
        eb_put(&b, "\n", 1);
    }
    for (uint32_t i = 0; i < m->nrcpt; i++)
        eb_rcpt(&b, &m->rcpt[i]);
    eb_fmt(&b, "size: %zu\n\n", body_len);
    eb_put(&b, body, body_len);
    if (b.bad || m->nrcpt == 0 || !spool_export_id_ok(m->id) ||
        (origin != NULL && !spool_export_id_ok(origin))) {
        free(b.p);
        errno = EINVAL;
        return NULL;
    }
    *len = b.len;
    return b.p;
}

/* ---------------------------------------------------------- decoding */

struct dctx {
    const char *p, *end;
    struct spool_export *x;
    char *err;
    size_t errlen;
    unsigned seen; /* one bit per single-valued key */
    int have_size;
    uint64_t size;
};

/* fail - set the error text; -1 */
__attribute__((format(printf, 2, 3))) static int
fail(struct dctx *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (d->errlen > 0)
        vsnprintf(d->err, d->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* xstrndup - a NUL-terminated copy of n octets */
static char *
xstrndup(const char *s, size_t n)
{
    char *c = malloc(n + 1);
    if (c == NULL)
        abort();
    memcpy(c, s, n);
    c[n] = '\0';
    return c;
}

/* parse_u64 - a whole decimal number (no sign, no blanks) */
static int
parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (*s == '\0')
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

/* parse_notify - "-" or a comma list of NOTIFY words */
static int
parse_notify(const char *s, uint8_t *bits)
{
    *bits = 0;
    if (strcmp(s, "-") == 0)
        return 0;
    while (*s) {
        size_t n = strcspn(s, ","), i;
        for (i = 0; i < sizeof(notify_names) / sizeof(notify_names[0]); i++)
            if (strlen(notify_names[i].name) == n && strncmp(s, notify_names[i].name, n) == 0)
                break;
        if (i == sizeof(notify_names) / sizeof(notify_names[0]) || (*bits & notify_names[i].bit))
            return -1;
        *bits |= notify_names[i].bit;
        s += n;
        if (*s == ',' && *++s == '\0')
            return -1;
    }
    return *bits ? 0 : -1;
}

/* cut_word - the next blank-terminated word of *s (NULL when none) */
static char *
cut_word(char **s)
{
    char *w = *s, *e = strchr(w, ' ');
    if (e == NULL || e == w)
        return NULL;
    *e = '\0';
    *s = e + 1;
    return w;
}

/* add_rcpt - a "rcpt:" value */
static int
add_rcpt(struct dctx *d, char *v)
{
    struct spool_msg *m = d->x->msg;
    char *st = cut_word(&v), *nt = st ? cut_word(&v) : NULL, *oc = nt ? cut_word(&v) : NULL;
    struct spool_rcpt r = {0};
    size_t i;
    if (oc == NULL || *v == '\0')
        return fail(d, "rcpt: expected \"STATE NOTIFY ORCPT ADDRESS\"");
    for (i = 0; i < 3 && strcmp(st, state_names[i]) != 0; i++)
        ;
    if (i == 3)
        return fail(d, "rcpt: unknown state \"%.32s\"", st);
    r.state = (uint8_t)i;
    if (parse_notify(nt, &r.dsn_notify) < 0)
        return fail(d, "rcpt: bad NOTIFY \"%.64s\"", nt);
    if (strchr(oc, '\t') != NULL)
        return fail(d, "rcpt: ORCPT holds a blank");
    if (m->nrcpt >= SPOOL_EXPORT_MAX_RCPT)
        return fail(d, "too many recipients");
    if ((m->rcpt = realloc(m->rcpt, (m->nrcpt + 1) * sizeof(*m->rcpt))) == NULL)
        abort();
    r.dsn_orcpt = strcmp(oc, "-") == 0 ? NULL : xstrndup(oc, strlen(oc));
    r.address = xstrndup(v, strlen(v));
    m->rcpt[m->nrcpt++] = r;
    return 0;
}

/* set_str - a single-valued string key into *dst */
static int
set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = xstrndup(v, strlen(v));
    return 0;
}

/* set_num - arrival, flags and size */
static int
set_num(struct dctx *d, const char *key, const char *v)
{
    uint64_t n;
    struct spool_msg *m = d->x->msg;
    if (parse_u64(v, &n) < 0)
        return fail(d, "%s: not a number", key);
    if (strcmp(key, "arrival") == 0 && n <= INT64_MAX)
        m->arrival_us = (int64_t)n;
    else if (strcmp(key, "flags") == 0 && n <= UINT32_MAX)
        m->flags = (uint32_t)n;
    else if (strcmp(key, "size") == 0)
        d->size = n, d->have_size = 1;
    else
        return fail(d, "%s: out of range", key);
    return 0;
}

/* set_key - one header line's key and value */
static int
set_key(struct dctx *d, const char *key, char *v)
{
    static const char *const single[] = {"id",     "arrival", "flags", "proto", "host",  "helo",
                                         "sender", "ret",     "envid", "size",  "origin"};
    struct spool_msg *m = d->x->msg;
    size_t i;
    if (strcmp(key, "rcpt") == 0)
        return add_rcpt(d, v);
    for (i = 0; i < sizeof(single) / sizeof(single[0]) && strcmp(key, single[i]) != 0; i++)
        ;
    if (i == sizeof(single) / sizeof(single[0]))
        return fail(d, "unknown key \"%.32s\"", key);
    if (d->seen & (1u << i))
        return fail(d, "%s: given twice", key);
    d->seen |= 1u << i;
    if ((i == 0 || i == 10) && !spool_export_id_ok(v))
        return fail(d, "%s: not a message id", key);
    if (i == 0 || i == 10)
        return memcpy(i == 0 ? m->id : d->x->origin, v, SPOOL_ID_SIZE), 0;
    if (i == 1 || i == 2 || i == 9)
        return set_num(d, key, v);
    if (i == 7 && strcmp(v, "full") != 0 && strcmp(v, "hdrs") != 0)
        return fail(d, "ret: expected full or hdrs");
    if (i == 7)
        return m->dsn_ret = strcmp(v, "full") == 0 ? SPOOL_RET_FULL : SPOOL_RET_HDRS, 0;
    if (i == 8 && (*v == '\0' || v[strcspn(v, " \t")] != '\0'))
        return fail(d, "envid: empty or with blanks");
    char **dst[] = {&m->proto, &m->host, &m->helo, &m->sender, NULL, &m->dsn_envid};
    return set_str(dst[i - 3], v);
}

/* next_line - the next LF-terminated line as a string (NULL at the end,
 * or when it holds a NUL) */
static char *
next_line(struct dctx *d)
{
    const char *nl = memchr(d->p, '\n', (size_t)(d->end - d->p));
    char *line;
    if (nl == NULL || memchr(d->p, '\0', (size_t)(nl - d->p)) != NULL)
        return NULL;
    line = xstrndup(d->p, (size_t)(nl - d->p));
    d->p = nl + 1;
    return line;
}

/* header_line - one "key: value" line; 1 at the blank line */
static int
header_line(struct dctx *d, char *line)
{
    char *colon;
    if (*line == '\0')
        return 1;
    if (strchr(line, '\r') != NULL)
        return fail(d, "a header line holds CR");
    if ((colon = strstr(line, ": ")) == NULL || colon == line)
        return fail(d, "expected \"key: value\"");
    *colon = '\0';
    return set_key(d, line, colon + 2);
}

/* decode_header - from the version line to the blank line */
static int
decode_header(struct dctx *d)
{
    char *line = next_line(d);
    int rc = 0;
    if (line == NULL || strcmp(line, EXPORT_MAGIC) != 0) {
        free(line);
        return fail(d, "not a spool export (version line \"%s\" expected)", EXPORT_MAGIC);
    }
    free(line);
    while (rc == 0) {
        if ((line = next_line(d)) == NULL)
            return fail(d, "the header has no end (blank line) or holds a NUL");
        rc = header_line(d, line);
        free(line);
    }
    return rc < 0 ? -1 : 0;
}

/* check_header - the keys every export carries */
static int
check_header(struct dctx *d)
{
    struct spool_msg *m = d->x->msg;
    if (!(d->seen & 1u))
        return fail(d, "no id");
    if (m->sender == NULL)
        return fail(d, "no sender");
    if (!d->have_size)
        return fail(d, "no size");
    if (m->nrcpt == 0)
        return fail(d, "no recipient");
    if (d->size != (uint64_t)(d->end - d->p))
        return fail(d, "the body has %zu octets, size says %" PRIu64, (size_t)(d->end - d->p),
                    d->size);
    return 0;
}

/* fill_defaults - optional strings that were not given */
static void
fill_defaults(struct spool_msg *m)
{
    char **opt[] = {&m->proto, &m->host, &m->helo};
    for (size_t i = 0; i < 3; i++)
        if (*opt[i] == NULL)
            *opt[i] = xstrndup(i == 0 ? "local" : "", i == 0 ? 5 : 0);
}

/* spool_export_decode - parse an export; 0, or -1 with err */
int
spool_export_decode(const void *buf, size_t len, struct spool_export *x, char *err, size_t errlen)
{
    struct dctx d = {
        .p = buf, .end = (const char *)buf + len, .x = x, .err = err, .errlen = errlen};
    memset(x, 0, sizeof(*x));
    if ((x->msg = calloc(1, sizeof(*x->msg))) == NULL)
        abort();
    if (decode_header(&d) < 0 || check_header(&d) < 0) {
        spool_export_clear(x);
        return -1;
    }
    fill_defaults(x->msg);
    x->body_len = d.size;
    x->body = xstrndup(d.p, x->body_len);
    x->msg->body_len = x->body_len;
    return 0;
}

/* spool_export_clear - free what a decoded export holds */
void
spool_export_clear(struct spool_export *x)
{
    spool_msg_free(x->msg);
    free(x->body);
    memset(x, 0, sizeof(*x));
}

/* spool_export_id_ok - 11 base-62 digits, '-', 4 base-62 digits */
int
spool_export_id_ok(const char *id)
{
    static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    if (strlen(id) != SPOOL_ID_LEN || id[11] != '-')
        return 0;
    for (int i = 0; i < SPOOL_ID_LEN; i++)
        if (i != 11 && (id[i] == '\0' || strchr(b62, id[i]) == NULL))
            return 0;
    return 1;
}
