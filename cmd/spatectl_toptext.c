/*
 * spatectl_toptext.c - "spatectl top" frames as text (top_render, see
 *                      spatectl_top.h): a header with the queue, the rates
 *                      and totals, the destinations table, the recent
 *                      errors. Every line goes through top_scrub before it
 *                      is written, so nothing the daemon sent can move the
 *                      cursor or change the terminal; lines are cut to the
 *                      width, and the table and the errors share the height.
 */
#include <stdarg.h>
#include <string.h>

#include "cmd/spatectl_top.h"

#define TXT_LINE 4096    /* bytes of one line, NUL included */
#define TXT_ERRORS 5     /* error lines shown at most */
#define TXT_MIN_DESTS 3  /* destination rows kept before error lines */
#define TXT_KEY_MAX 40   /* characters of the destination column at most */
#define TXT_ERR_WIDTH 60 /* characters of "last error" with no width limit */

/* Where the text goes and how much of it may. */
struct txt {
    FILE *f;
    int rows; /* lines left; < 0 no limit */
    int cols; /* characters per line; < 0 no limit */
};

/* txt_str - the string member key of o, "" when there is none */
static const char *
txt_str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s != NULL ? s : "";
}

/* txt_line - one line, scrubbed and cut, unless the height is used up */
static void txt_line(struct txt *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
txt_line(struct txt *t, const char *fmt, ...)
{
    char raw[TXT_LINE], safe[TXT_LINE];
    va_list ap;

    if (t->rows == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    top_scrub(raw, safe, sizeof(safe), t->cols);
    for (size_t n = strlen(safe); n > 0 && safe[n - 1] == ' ';)
        safe[--n] = '\0'; /* the last column's padding */
    fprintf(t->f, "%s\n", safe);
    if (t->rows > 0)
        t->rows--;
}

/* txt_cell - s scrubbed, cut to width characters and padded to it */
static const char *
txt_cell(const char *s, int width, char *buf, size_t cap)
{
    size_t n = top_scrub(s ? s : "-", buf, cap, width), len = strlen(buf);

    while (n < (size_t)width && len + 1 < cap) {
        buf[len++] = ' ';
        n++;
    }
    buf[len] = '\0';
    return buf;
}

/* txt_counters - "LABEL  received N  delivered N ..." from an object */
static void
txt_counters(struct txt *t, const char *label, json_t *o, int rates)
{
    char line[512];
    size_t off = (size_t)snprintf(line, sizeof(line), "%-8s", label);
    const char *k;
    json_t *v;

    if (!json_is_object(o)) {
        txt_line(t, "%s  - (two samples are needed)", line);
        return;
    }
    json_object_foreach(o, k, v)
    {
        if (off >= sizeof(line))
            break;
        if (rates)
            off += (size_t)snprintf(line + off, sizeof(line) - off, "  %s %.1f", k,
                                    json_number_value(v));
        else
            off += (size_t)snprintf(line + off, sizeof(line) - off, "  %s %lld", k,
                                    (long long)json_integer_value(v));
    }
    txt_line(t, "%s", line);
}

/* txt_header - time, queue, rates and totals */
static void
txt_header(struct txt *t, json_t *f)
{
    json_t *q = json_object_get(f, "queue"), *iv = json_object_get(f, "interval_s");
    char every[48] = "";

    if (json_is_number(iv))
        snprintf(every, sizeof(every), "  (over %.1f s)", json_number_value(iv));
    txt_line(t, "spatectl top  %s  queue %lld messages, %lld recipients  connections %lld%s",
             json_string_value(json_object_get(f, "time")),
             (long long)json_integer_value(json_object_get(q, "messages")),
             (long long)json_integer_value(json_object_get(q, "recipients")),
             (long long)json_integer_value(json_object_get(q, "connections")), every);
    txt_counters(t, "rates/s", json_object_get(f, "rates"), 1);
    txt_counters(t, "totals", json_object_get(f, "totals"), 0);
}

/* Column widths of the destinations table. */
struct txt_cols {
    int key, err;
};

/* txt_widths - the destination column fits the longest key (within
 * limits); "last error" takes what the line has left */
static struct txt_cols
txt_widths(json_t *dests, int cols)
{
    struct txt_cols w = {.key = (int)strlen("DESTINATION")};
    enum { FIXED = 7 + 7 + 5 + 5 + 7 + 8 + 4 + 8 * 2 }; /* the numeric columns, separators */
    json_t *d;
    size_t i;

    json_array_foreach(dests, i, d)
    {
        int n = (int)strlen(txt_str(d, "destination"));
        w.key = n > w.key ? (n > TXT_KEY_MAX ? TXT_KEY_MAX : n) : w.key;
    }
    w.err = cols < 0 ? TXT_ERR_WIDTH : cols - w.key - FIXED - 2;
    if (w.err < 10)
        w.err = 10;
    return w;
}

/* txt_backoff - "HH:MM:SS" of an RFC 3339 back-off end, "-" when none */
static const char *
txt_backoff(json_t *v, char *buf, size_t cap)
{
    const char *s = json_string_value(v);

    if (s == NULL || strlen(s) < 19)
        return "-";
    snprintf(buf, cap, "%.8s", s + 11);
    return buf;
}

/* txt_reason - what the table shows of an error line: the text after its
 * last ": " (the remote reply or the system error), else all of it */
static const char *
txt_reason(const char *text)
{
    const char *r = NULL;

    for (const char *p = text; p != NULL && (p = strstr(p, ": ")) != NULL; p += 2)
        r = p + 2;
    return r != NULL && *r != '\0' ? r : text;
}

/* txt_dest - one row of the destinations table */
static void
txt_dest(struct txt *t, json_t *d, struct txt_cols w)
{
    char key[TXT_LINE / 4], err[TXT_LINE / 2], rate[32] = "-", bo[16];
    json_t *r = json_object_get(d, "rate");

    if (json_is_number(r))
        snprintf(rate, sizeof(rate), "%.1f", json_number_value(r));
    txt_line(
        t, "%s  %7lld  %7lld  %5lld  %5lld  %7s  %8s  %4s  %s",
        txt_cell(json_string_value(json_object_get(d, "destination")), w.key, key, sizeof(key)),
        (long long)json_integer_value(json_object_get(d, "ready")),
        (long long)json_integer_value(json_object_get(d, "scheduled")),
        (long long)json_integer_value(json_object_get(d, "connections")),
        (long long)json_integer_value(json_object_get(d, "idle")), rate,
        txt_backoff(json_object_get(d, "backoff_until"), bo, sizeof(bo)),
        json_is_true(json_object_get(d, "suspended")) ? "yes" : "no",
        txt_cell(txt_reason(json_string_value(json_object_get(d, "last_error"))), w.err, err,
                 sizeof(err)));
}

/* txt_dests - the table, in at most max rows (< 0: all) */
static void
txt_dests(struct txt *t, json_t *dests, int max)
{
    struct txt_cols w = txt_widths(dests, t->cols);
    size_t n = json_array_size(dests), shown = n;
    char key[TXT_LINE / 4];

    txt_line(t, "%s  %7s  %7s  %5s  %5s  %7s  %8s  %4s  %s",
             txt_cell("DESTINATION", w.key, key, sizeof(key)), "READY", "SCHED", "CONNS", "IDLE",
             "DLV/s", "BACKOFF", "SUSP", "LAST ERROR");
    if (max >= 0 && n > (size_t)max)
        shown = max > 0 ? (size_t)max - 1 : 0;
    for (size_t i = 0; i < shown; i++)
        txt_dest(t, json_array_get(dests, i), w);
    if (shown < n)
        txt_line(t, "... %zu more", n - shown);
    if (n == 0)
        txt_line(t, "(no destinations)");
}

/* txt_errors - the newest errors, at most max lines */
static void
txt_errors(struct txt *t, json_t *errors, size_t max)
{
    json_t *e;
    size_t i;

    if (max == 0)
        return;
    txt_line(t, "%s", "");
    txt_line(t, "recent errors");
    json_array_foreach(errors, i, e)
    {
        if (i >= max)
            break;
        txt_line(t, "%s  %-5s  %s", txt_str(e, "time"), txt_str(e, "kind"), txt_str(e, "text"));
    }
}

/* top_render - the frame as text: the header, the table, the errors */
void
top_render(FILE *f, json_t *frame, int rows, int cols)
{
    struct txt t = {.f = f, .rows = rows > 0 ? rows : -1, .cols = cols > 0 ? cols : -1};
    json_t *dests = json_object_get(frame, "destinations");
    json_t *errors = json_object_get(frame, "errors");
    size_t nerr = json_array_size(errors);
    int room, ndest = (int)json_array_size(dests);

    nerr = nerr > TXT_ERRORS ? TXT_ERRORS : nerr;
    txt_header(&t, frame);
    txt_line(&t, "%s", "");
    room = t.rows - 1; /* below the table's heading */
    if (t.rows >= 0) {
        int keep = ndest < TXT_MIN_DESTS ? (ndest > 0 ? ndest : 1) : TXT_MIN_DESTS;
        int spare = room - keep - 2;
        nerr = spare <= 0 ? 0 : (size_t)spare < nerr ? (size_t)spare : nerr;
        room -= nerr > 0 ? (int)nerr + 2 : 0;
    }
    txt_dests(&t, dests, t.rows >= 0 ? (room > 0 ? room : 0) : -1);
    txt_errors(&t, errors, nerr);
}
