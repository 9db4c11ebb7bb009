/*
 * spatectl_top.h - the data side of "spatectl top" (spatectl_topdata.c):
 *                  a strict reader of the Prometheus text of GET /metrics,
 *                  per-second rates from two counter samples, the frame
 *                  (one JSON object) built from two samples, its text
 *                  rendering, and the scrubbing of text for a terminal.
 *                  spatectl_top.c does the fetching, timing and terminal.
 *
 * Nothing here does I/O but top_render's writes to the FILE it is given;
 * nothing keeps state between calls; any thread may call it.
 */
#ifndef SPATE_CMD_SPATECTL_TOP_H
#define SPATE_CMD_SPATECTL_TOP_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

/* The figures top takes from /metrics (names without "spate_"). */
enum top_metric {
    TOP_RECEIVED,  /* messages_received_total (counter) */
    TOP_DELIVERED, /* recipients_delivered_total (counter) */
    TOP_DEFERRED,  /* recipients_deferred_total (counter) */
    TOP_FAILED,    /* recipients_failed_total (counter) */
    TOP_BOUNCED,   /* bounces_sent_total (counter; shown only when served) */
    TOP_QUEUED,    /* queue_messages (gauge) */
    TOP_RCPTS,     /* queue_recipients (gauge) */
    TOP_CONNS,     /* connections_open (gauge) */
    TOP__COUNT
};
#define TOP__COUNTERS (TOP_BOUNCED + 1) /* the first ones are counters */

/* One reading of the daemon. */
struct top_sample {
    double mono;          /* CLOCK_MONOTONIC seconds when it was taken */
    time_t wall;          /* wall-clock time, for the header */
    double v[TOP__COUNT]; /* values (finite); meaningful where have has bit 1 << i */
    unsigned have;        /* which of v were in the metrics text */
    json_t *dests;        /* GET /api/v1/admin/destinations (owned, may be NULL) */
    json_t *errors;       /* the "errors" array of GET /api/v1/errors (owned, may be NULL) */
};

/* top_prom_each - call fn once per sample line of Prometheus text (text
 * format 0.0.4): blank lines and "#" lines are skipped; a sample is
 * "name value [timestamp]" or "name{labels} value [timestamp]", labels
 * being name="value" pairs whose values may hold \\, \" and \n escapes.
 * fn gets the name, the label text between the braces ("" when none) and
 * the value (NaN, +Inf and -Inf are values). Returns the number of samples,
 * or -(line number) of the first malformed line (fn is not called for it
 * nor for any line after it). text need not be NUL-terminated. */
typedef void (*top_prom_fn)(void *arg, const char *name, size_t nlen, const char *labels,
                            size_t llen, double value);
long top_prom_each(const char *text, size_t len, top_prom_fn fn, void *arg);

/* top_prom_fill - s->v and s->have from the unlabelled spate_* samples of
 * the metrics text; 0, or -1 when the text is malformed (top_prom_each) */
int top_prom_fill(const char *text, size_t len, struct top_sample *s);

/* top_rate - per-second rate of a counter read as prev then cur, dt
 * seconds apart: 0 when dt <= 0 or the counter went back (a restart
 * resets it: the rate over the reset is unknown, shown as zero) */
double top_rate(double prev, double cur, double dt);

/* top_scrub - in as text safe for a terminal into out (cap bytes, NUL
 * included; cap >= 1): control characters (C0, DEL and the C1 range
 * U+0080..U+009F) and bytes that are not valid UTF-8 become '?', so no
 * escape sequence of the daemon's text reaches the terminal; at most
 * cols characters are kept (cols < 0: no limit). in may be NULL ("").
 * Returns the number of characters written. */
size_t top_scrub(const char *in, char *out, size_t cap, int cols);

/* top_frame - the frame for cur, rates against prev (NULL: the first
 * sample, rates null): a new object {"time", "interval_s", "queue":
 * {messages, recipients, connections}, "totals": {...}, "rates": {...} |
 * null, "destinations": [...sorted by ready jobs, most first, each with
 * "rate" (deliveries a second, or null) and "last_error"], "errors":
 * [...newest first, at most max_errors]}. Counters absent from the
 * metrics are left out of totals and rates. NULL when out of memory. */
json_t *top_frame(const struct top_sample *prev, const struct top_sample *cur, size_t max_errors);

/* top_render - the frame as text on f, every daemon-supplied string
 * scrubbed (top_scrub); lines cut at cols characters and the output kept
 * to rows lines (rows or cols <= 0: no limit) */
void top_render(FILE *f, json_t *frame, int rows, int cols);

/* top_sample_clear - release what s holds and zero it */
void top_sample_clear(struct top_sample *s);

#endif
