/*
 * metrics_dest.c - the delivery latency and queue time histograms, and the
 *                  bounded per-destination series (top N by traffic plus
 *                  "other", idle ones pruned). See metrics.h.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/metrics.h"

/* upper bounds, seconds */
static const double hist_bounds[MH__COUNT][METRICS_HIST_BUCKETS] = {
    {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
    {1, 5, 15, 60, 300, 900, 1800, 3600, 14400, 43200, 86400, 432000},
};
static const char *const hist_names[MH__COUNT] = {"delivery_duration_seconds",
                                                  "queue_time_seconds"};
static const char *const hist_help[MH__COUNT] = {
    "Time from handing a delivery job to a worker until its result came back.",
    "Time from a message's arrival until a recipient reached its final state.",
};
static _Atomic uint64_t hist_bucket[MH__COUNT][METRICS_HIST_BUCKETS + 1];
static _Atomic uint64_t hist_sum_us[MH__COUNT];

struct dest_row {
    char *key;
    uint64_t n[MD__COUNT];
    int64_t depth;
    int64_t last_s; /* last report */
};

static pthread_mutex_t dest_mu = PTHREAD_MUTEX_INITIALIZER;
static struct dest_row *dest_rows;
static size_t dest_n, dest_cap;
static struct dest_row dest_other; /* counts beyond METRICS_DEST_MAX */

/* metrics_observe - one observation of histogram h */
void
metrics_observe(enum metrics_hist h, double seconds)
{
    int i;
    if ((unsigned)h >= MH__COUNT)
        return;
    if (!(seconds >= 0))
        seconds = 0;
    for (i = 0; i < METRICS_HIST_BUCKETS; i++)
        if (seconds <= hist_bounds[h][i])
            break;
    atomic_fetch_add_explicit(&hist_bucket[h][i], 1, memory_order_relaxed);
    if (seconds > 1e9)
        seconds = 1e9;
    atomic_fetch_add_explicit(&hist_sum_us[h], (uint64_t)(seconds * 1e6 + 0.5),
                              memory_order_relaxed);
}

/* dest_find - the row of key, made when missing; &dest_other when full.
 * Called with dest_mu held. */
static struct dest_row *
dest_find(const char *key)
{
    for (size_t i = 0; i < dest_n; i++)
        if (strcmp(dest_rows[i].key, key) == 0)
            return &dest_rows[i];
    if (dest_n >= METRICS_DEST_MAX)
        return &dest_other;
    if (dest_n == dest_cap) {
        size_t cap = dest_cap ? dest_cap * 2 : 16;
        struct dest_row *r = realloc(dest_rows, cap * sizeof(*r));
        if (r == NULL)
            return &dest_other;
        dest_rows = r;
        dest_cap = cap;
    }
    char *k = strdup(key);
    if (k == NULL)
        return &dest_other;
    dest_rows[dest_n] = (struct dest_row){.key = k};
    return &dest_rows[dest_n++];
}

/* metrics_dest_count - one outcome at destination key */
void
metrics_dest_count(const char *key, enum metrics_dest_event e)
{
    if (key == NULL || (unsigned)e >= MD__COUNT)
        return;
    pthread_mutex_lock(&dest_mu);
    struct dest_row *r = dest_find(key);
    r->n[e]++;
    r->last_s = (int64_t)time(NULL);
    pthread_mutex_unlock(&dest_mu);
}

/* metrics_dest_queue - key's ready queue depth */
void
metrics_dest_queue(const char *key, int64_t depth)
{
    if (key == NULL)
        return;
    pthread_mutex_lock(&dest_mu);
    struct dest_row *r = dest_find(key);
    r->depth = r == &dest_other ? 0 : depth;
    r->last_s = (int64_t)time(NULL);
    pthread_mutex_unlock(&dest_mu);
}

/* traffic - what ranks a destination */
static uint64_t
traffic(const struct dest_row *r)
{
    return r->n[MD_DELIVERED] + r->n[MD_DEFERRED] + r->n[MD_FAILED];
}

/* by_traffic - qsort: busiest first, then by key */
static int
by_traffic(const void *a, const void *b)
{
    const struct dest_row *x = a, *y = b;
    uint64_t tx = traffic(x), ty = traffic(y);
    if (tx != ty)
        return tx > ty ? -1 : 1;
    return strcmp(x->key, y->key);
}

/* dest_prune - drop idle rows; called with dest_mu held */
static void
dest_prune(int64_t now_s)
{
    size_t k = 0;
    for (size_t i = 0; i < dest_n; i++) {
        if (dest_rows[i].depth == 0 && now_s - dest_rows[i].last_s > METRICS_DEST_IDLE_S)
            free(dest_rows[i].key);
        else
            dest_rows[k++] = dest_rows[i];
    }
    dest_n = k;
}

/* label_escape - key as a label value: backslash, quote and newline escaped */
static void
label_escape(const char *s, char *out, size_t cap)
{
    size_t k = 0;
    for (; *s != '\0' && k + 3 < cap; s++) {
        if (*s == '\\' || *s == '"' || *s == '\n') {
            out[k++] = '\\';
            out[k++] = *s == '\n' ? 'n' : *s;
        } else {
            out[k++] = *s;
        }
    }
    out[k] = '\0';
}

/* dest_series - the four per-destination families from rows[0..n) */
static void
dest_series(FILE *f, const struct dest_row *rows, size_t n, const struct dest_row *other)
{
    static const char *const names[MD__COUNT + 1] = {
        "destination_delivered_total", "destination_deferred_total", "destination_failed_total",
        "destination_queue_depth"};
    static const char *const help[MD__COUNT + 1] = {
        "Recipients delivered, per destination (top destinations, the rest as other).",
        "Recipient deferrals, per destination.", "Recipients failed for good, per destination.",
        "Delivery jobs waiting in the destination's ready queue."};
    char label[600];
    for (int fam = 0; fam <= MD__COUNT; fam++) {
        fprintf(f, "# HELP spate_%s %s\n# TYPE spate_%s %s\n", names[fam], help[fam], names[fam],
                fam == MD__COUNT ? "gauge" : "counter");
        for (size_t i = 0; i <= n; i++) {
            const struct dest_row *r = i < n ? &rows[i] : other;
            label_escape(i < n ? r->key : "other", label, sizeof(label));
            fprintf(f, "spate_%s{destination=\"%s\"} %" PRId64 "\n", names[fam], label,
                    fam == MD__COUNT ? r->depth : (int64_t)r->n[fam]);
        }
    }
}

/* hist_text - one latency histogram */
static void
hist_text(FILE *f, int h)
{
    uint64_t cum = 0;
    const char *n = hist_names[h];
    fprintf(f, "# HELP spate_%s %s\n# TYPE spate_%s histogram\n", n, hist_help[h], n);
    for (int i = 0; i < METRICS_HIST_BUCKETS; i++) {
        cum += atomic_load_explicit(&hist_bucket[h][i], memory_order_relaxed);
        fprintf(f, "spate_%s_bucket{le=\"%g\"} %" PRIu64 "\n", n, hist_bounds[h][i], cum);
    }
    cum += atomic_load_explicit(&hist_bucket[h][METRICS_HIST_BUCKETS], memory_order_relaxed);
    fprintf(f, "spate_%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", n, cum);
    fprintf(f, "spate_%s_sum %.6f\n", n,
            (double)atomic_load_explicit(&hist_sum_us[h], memory_order_relaxed) / 1e6);
    fprintf(f, "spate_%s_count %" PRIu64 "\n", n, cum);
}

/* metrics__dest_text - histograms and bounded per-destination series */
char *
metrics__dest_text(int64_t now_s)
{
    char *out = NULL;
    size_t outlen = 0;
    FILE *f = open_memstream(&out, &outlen);
    if (f == NULL)
        return NULL;
    for (int h = 0; h < MH__COUNT; h++)
        hist_text(f, h);
    pthread_mutex_lock(&dest_mu);
    dest_prune(now_s);
    size_t n = dest_n;
    struct dest_row *rows = malloc((n ? n : 1) * sizeof(*rows)), other = dest_other;
    if (rows != NULL) {
        if (n > 0)
            memcpy(rows, dest_rows, n * sizeof(*rows));
        qsort(rows, n, sizeof(*rows), by_traffic);
        for (size_t i = METRICS_DEST_TOP; i < n; i++) {
            for (int e = 0; e < MD__COUNT; e++)
                other.n[e] += rows[i].n[e];
            other.depth += rows[i].depth;
        }
        dest_series(f, rows, n < METRICS_DEST_TOP ? n : METRICS_DEST_TOP, &other);
    }
    pthread_mutex_unlock(&dest_mu); /* held while keys are printed */
    free(rows);
    if (fclose(f) != 0 || rows == NULL) {
        free(out);
        return NULL;
    }
    return out;
}
