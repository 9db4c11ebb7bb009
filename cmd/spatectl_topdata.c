/*
 * spatectl_topdata.c - the data side of "spatectl top": the Prometheus
 *                      text reader, rates, the frame and its text. See
 *                      spatectl_top.h for the contract.
 *
 * The reader is strict about the shape of a sample line (text format
 * 0.0.4): a metric name, optional well-formed labels, one value that must
 * parse whole, an optional integer timestamp. A line of any other shape
 * makes the whole answer malformed: top then says so rather than showing
 * figures read from something that is not what it expects.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmd/spatectl_top.h"

static const char *const top_names[TOP__COUNT] = {
    [TOP_RECEIVED] = "messages_received_total",
    [TOP_DELIVERED] = "recipients_delivered_total",
    [TOP_DEFERRED] = "recipients_deferred_total",
    [TOP_FAILED] = "recipients_failed_total",
    [TOP_BOUNCED] = "bounces_sent_total",
    [TOP_QUEUED] = "queue_messages",
    [TOP_RCPTS] = "queue_recipients",
    [TOP_CONNS] = "connections_open",
};

/* the keys of "totals" and "rates" */
static const char *const top_keys[TOP__COUNTERS] = {"received", "delivered", "deferred", "failed",
                                                    "bounced"};

/* prom_blank - skip spaces and tabs */
static const char *
prom_blank(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* prom_name - length of the metric or label name at p ([a-zA-Z_:][a-zA-Z0-9_:]*;
 * colons only when colon_ok); 0 when there is none */
static size_t
prom_name(const char *p, const char *end, int colon_ok)
{
    size_t n = 0;

    while (p + n < end && (isalpha((unsigned char)p[n]) || p[n] == '_' ||
                           (colon_ok && p[n] == ':') || (n > 0 && isdigit((unsigned char)p[n]))))
        n++;
    return n;
}

/* prom_label_value - past the quoted label value at p; NULL when malformed */
static const char *
prom_label_value(const char *p, const char *end)
{
    if (p >= end || *p != '"')
        return NULL;
    for (p++; p < end; p++) {
        if (*p == '"')
            return p + 1;
        if (*p == '\n')
            return NULL;
        if (*p == '\\' && (++p >= end || (*p != '\\' && *p != '"' && *p != 'n')))
            return NULL;
    }
    return NULL;
}

/* prom_labels - past the "{...}" at p (p at '{'); NULL when malformed */
static const char *
prom_labels(const char *p, const char *end)
{
    size_t n;

    for (p = prom_blank(p + 1, end); p < end && *p != '}'; p = prom_blank(p, end)) {
        n = prom_name(p, end, 0);
        if (n == 0)
            return NULL;
        p = prom_blank(p + n, end);
        if (p >= end || *p != '=')
            return NULL;
        p = prom_label_value(prom_blank(p + 1, end), end);
        if (p == NULL)
            return NULL;
        p = prom_blank(p, end);
        if (p < end && *p == ',')
            p++;
        else if (p >= end || *p != '}')
            return NULL;
    }
    return p < end ? p + 1 : NULL;
}

/* prom_token - the blank-delimited word at p copied into buf; its length,
 * 0 when there is none or it does not fit */
static size_t
prom_token(const char *p, const char *end, char *buf, size_t cap)
{
    size_t n = 0;

    while (p + n < end && p[n] != ' ' && p[n] != '\t' && p[n] != '\r')
        n++;
    if (n == 0 || n >= cap)
        return 0;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return n;
}

/* prom_value - the sample value and optional timestamp after the name;
 * 0 or -1 when they are malformed or something else follows */
static int
prom_value(const char *p, const char *end, double *v)
{
    char buf[64], *e;
    size_t n = prom_token(p, end, buf, sizeof(buf));

    if (n == 0)
        return -1;
    *v = strtod(buf, &e);
    if (*e != '\0')
        return -1;
    p = prom_blank(p + n, end);
    if (p < end && *p != '\r' && (n = prom_token(p, end, buf, sizeof(buf))) != 0) {
        (void)strtoll(buf, &e, 10);
        if (*e != '\0' || !(isdigit((unsigned char)buf[0]) || buf[0] == '-'))
            return -1;
        p = prom_blank(p + n, end);
    }
    return p == end || (*p == '\r' && p + 1 == end) ? 0 : -1;
}

/* prom_line - one line (no newline): 1 a sample (fn called), 0 nothing, -1 malformed */
static int
prom_line(const char *p, const char *end, top_prom_fn fn, void *arg)
{
    const char *name, *lab = "", *lend;
    size_t n;
    double v;

    p = prom_blank(p, end);
    if (p == end || *p == '#' || (*p == '\r' && p + 1 == end))
        return 0;
    name = p;
    n = prom_name(p, end, 1);
    if (n == 0)
        return -1;
    p += n;
    lend = lab;
    if (p < end && *p == '{') {
        lab = p + 1;
        if ((p = prom_labels(p, end)) == NULL)
            return -1;
        lend = p - 1;
    }
    if (p >= end || (*p != ' ' && *p != '\t') || prom_value(prom_blank(p, end), end, &v) < 0)
        return -1;
    if (fn != NULL)
        fn(arg, name, n, lab, (size_t)(lend - lab), v);
    return 1;
}

/* top_prom_each - call fn per sample; the count, or -(line) of the first bad line */
long
top_prom_each(const char *text, size_t len, top_prom_fn fn, void *arg)
{
    const char *p = text, *end = text + len, *nl;
    long count = 0, line = 0;
    int r;

    while (p < end) {
        nl = memchr(p, '\n', (size_t)(end - p));
        line++;
        r = prom_line(p, nl != NULL ? nl : end, fn, arg);
        if (r < 0)
            return -line;
        count += r;
        p = nl != NULL ? nl + 1 : end;
    }
    return count;
}

/* fill_one - top_prom_each callback: keep the unlabelled figures top shows */
static void
fill_one(void *arg, const char *name, size_t nlen, const char *labels, size_t llen, double value)
{
    struct top_sample *s = arg;

    (void)labels;
    if (llen != 0 || nlen <= 6 || memcmp(name, "spate_", 6) != 0 || !isfinite(value))
        return;
    for (int i = 0; i < TOP__COUNT; i++) {
        if (strlen(top_names[i]) == nlen - 6 && memcmp(name + 6, top_names[i], nlen - 6) == 0) {
            s->v[i] = value;
            s->have |= 1u << i;
        }
    }
}

/* top_prom_fill - the figures of one metrics text into s */
int
top_prom_fill(const char *text, size_t len, struct top_sample *s)
{
    s->have = 0;
    return top_prom_each(text, len, fill_one, s) < 0 ? -1 : 0;
}

/* top_rate - per second; a counter that went back counts as no change */
double
top_rate(double prev, double cur, double dt)
{
    if (!(dt > 0) || !(cur >= prev) || !isfinite(cur - prev))
        return 0;
    return (cur - prev) / dt;
}

/* utf8_len - length of the valid UTF-8 sequence at p (at most n bytes),
 * 0 when invalid; *cp its code point */
static size_t
utf8_len(const unsigned char *p, size_t n, unsigned *cp)
{
    size_t len = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : 2;
    static const unsigned min[5] = {0, 0, 0x80, 0x800, 0x10000};

    if (p[0] < 0xc2 || p[0] > 0xf4 || len > n)
        return 0;
    *cp = p[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        *cp = (*cp << 6) | (p[i] & 0x3f);
    }
    if (*cp < min[len] || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
        return 0;
    return len;
}

/* top_scrub - text safe for a terminal: controls and bad UTF-8 as '?' */
size_t
top_scrub(const char *in, char *out, size_t cap, int cols)
{
    const unsigned char *p = (const unsigned char *)(in ? in : "");
    size_t o = 0, chars = 0, n, left = strlen((const char *)p);
    unsigned cp;

    while (*p != '\0' && (cols < 0 || chars < (size_t)cols)) {
        n = *p < 0x80 ? 1 : utf8_len(p, left, &cp);
        if (n <= 1 || (cp >= 0x80 && cp <= 0x9f)) {
            if (o + 1 >= cap)
                break;
            out[o++] = *p >= 0x20 && *p < 0x7f ? (char)*p : '?';
            n = n == 0 ? 1 : n;
        } else {
            if (o + n >= cap)
                break;
            memcpy(out + o, p, n);
            o += n;
        }
        p += n;
        left -= n;
        chars++;
    }
    out[o] = '\0';
    return chars;
}

/* top_sample_clear - release what s holds */
void
top_sample_clear(struct top_sample *s)
{
    json_decref(s->dests);
    json_decref(s->errors);
    memset(s, 0, sizeof(*s));
}

/* as_int - a sample's value as a JSON integer: NaN is 0, and values past
 * +-2^53 (where doubles stop counting exactly) are held there, never cast
 * out of range */
static json_int_t
as_int(double v)
{
    const double lim = 9007199254740992.0; /* 2^53 */
    if (v != v)
        return 0;
    return (json_int_t)(v > lim ? lim : v < -lim ? -lim : v);
}

/* frame_counters - "totals" (and "rates" when prev) of the counters served */
static void
frame_counters(json_t *f, const struct top_sample *prev, const struct top_sample *cur)
{
    json_t *tot = json_object(), *rates = prev ? json_object() : json_null();
    double dt = prev ? cur->mono - prev->mono : 0;

    for (int i = 0; i < TOP__COUNTERS; i++) {
        if (!(cur->have & (1u << i)))
            continue;
        json_object_set_new(tot, top_keys[i], json_integer(as_int(cur->v[i])));
        if (prev != NULL)
            json_object_set_new(
                rates, top_keys[i],
                json_real(prev->have & (1u << i) ? top_rate(prev->v[i], cur->v[i], dt) : 0.0));
    }
    json_object_set_new(f, "totals", tot);
    json_object_set_new(f, "rates", rates);
    json_object_set_new(f, "interval_s", prev ? json_real(dt) : json_null());
}

/* frame_gauge - gauge i of s, else fallback */
static json_int_t
frame_gauge(const struct top_sample *s, int i, json_int_t fallback)
{
    return s->have & (1u << i) ? as_int(s->v[i]) : fallback;
}

/* frame_queue - "queue": messages, recipients, connections */
static void
frame_queue(json_t *f, const struct top_sample *cur)
{
    json_int_t m = json_integer_value(json_object_get(cur->dests, "messages"));
    json_int_t r = json_integer_value(json_object_get(cur->dests, "recipients"));

    json_object_set_new(f, "queue",
                        json_pack("{s:I, s:I, s:I}", "messages", frame_gauge(cur, TOP_QUEUED, m),
                                  "recipients", frame_gauge(cur, TOP_RCPTS, r), "connections",
                                  frame_gauge(cur, TOP_CONNS, 0)));
}

/* mentions_domain - text names an address at domain ("@domain" not
 * followed by more of a domain name) */
static int
mentions_domain(const char *text, const char *domain)
{
    size_t n = strlen(domain);

    for (const char *at = strchr(text, '@'); n > 0 && at != NULL; at = strchr(at + 1, '@')) {
        char next = at[1 + strnlen(at + 1, n)];
        if (strncasecmp(at + 1, domain, n) == 0 && !isalnum((unsigned char)next) && next != '.' &&
            next != '-')
            return 1;
    }
    return 0;
}

/* last_error - the newest error text naming an address at domain, or NULL */
static const char *
last_error(json_t *errors, const char *domain)
{
    json_t *e;
    size_t i;

    if (domain == NULL)
        return NULL;
    json_array_foreach(errors, i, e)
    {
        const char *t = json_string_value(json_object_get(e, "text"));
        if (t != NULL && mentions_domain(t, domain))
            return t;
    }
    return NULL;
}

/* find_dest - the destination with key in dests' "destinations", or NULL */
static json_t *
find_dest(json_t *dests, const char *key)
{
    json_t *d;
    size_t i;

    json_array_foreach(json_object_get(dests, "destinations"), i, d)
    {
        const char *k = json_string_value(json_object_get(d, "destination"));
        if (k != NULL && key != NULL && strcmp(k, key) == 0)
            return d;
    }
    return NULL;
}

/* dest_row - the frame's view of destination d */
static json_t *
dest_row(json_t *d, const struct top_sample *prev, const struct top_sample *cur)
{
    static const char *const keep[] = {"destination", "domain",   "ready",         "scheduled",
                                       "connections", "idle",     "backoff_until", "suspended",
                                       "delivered",   "deferred", "failed"};
    const char *key = json_string_value(json_object_get(d, "destination"));
    json_t *row = json_object(), *old = prev ? find_dest(prev->dests, key) : NULL, *v;
    /* the daemon's own last error of the destination, else the newest of
     * /api/v1/errors naming its domain */
    const char *err = json_string_value(json_object_get(json_object_get(d, "last_error"), "text"));
    if (err == NULL)
        err = last_error(cur->errors, json_string_value(json_object_get(d, "domain")));

    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
        if ((v = json_object_get(d, keep[i])) != NULL)
            json_object_set(row, keep[i], v);
    v = json_null();
    if (old != NULL)
        v = json_real(top_rate(json_number_value(json_object_get(old, "delivered")),
                               json_number_value(json_object_get(d, "delivered")),
                               cur->mono - prev->mono));
    json_object_set_new(row, "rate", v);
    json_object_set_new(row, "last_error", err ? json_string(err) : json_null());
    return row;
}

/* dest_cmp - most ready jobs first, then by key */
static int
dest_cmp(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    json_int_t rx = json_integer_value(json_object_get(x, "ready"));
    json_int_t ry = json_integer_value(json_object_get(y, "ready"));
    const char *kx = json_string_value(json_object_get(x, "destination"));
    const char *ky = json_string_value(json_object_get(y, "destination"));

    if (rx != ry)
        return rx > ry ? -1 : 1;
    return strcmp(kx ? kx : "", ky ? ky : "");
}

/* frame_dests - "destinations", sorted */
static void
frame_dests(json_t *f, const struct top_sample *prev, const struct top_sample *cur)
{
    json_t *src = json_object_get(cur->dests, "destinations"), *out = json_array(), *d;
    size_t n = json_array_size(src), i;
    json_t **rows = calloc(n + 1, sizeof(*rows));

    if (rows == NULL) {
        json_object_set_new(f, "destinations", out);
        return;
    }
    json_array_foreach(src, i, d) rows[i] = dest_row(d, prev, cur);
    qsort(rows, n, sizeof(*rows), dest_cmp);
    for (i = 0; i < n; i++)
        json_array_append_new(out, rows[i]);
    free(rows);
    json_object_set_new(f, "destinations", out);
}

/* frame_errors - "errors": the newest max of them */
static void
frame_errors(json_t *f, const struct top_sample *cur, size_t max)
{
    json_t *out = json_array(), *e;
    size_t i;

    json_array_foreach(cur->errors, i, e)
    {
        if (i >= max)
            break;
        json_array_append(out, e);
    }
    json_object_set_new(f, "errors", out);
}

/* top_frame - the frame for cur, rates against prev */
json_t *
top_frame(const struct top_sample *prev, const struct top_sample *cur, size_t max_errors)
{
    json_t *f = json_object();
    struct tm tm;
    char when[32];

    if (f == NULL)
        return NULL;
    gmtime_r(&cur->wall, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_object_set_new(f, "time", json_string(when));
    frame_counters(f, prev, cur);
    frame_queue(f, cur);
    frame_dests(f, prev, cur);
    frame_errors(f, cur, max_errors);
    return f;
}
