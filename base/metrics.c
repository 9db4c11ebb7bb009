/*
 * metrics.c - counters kept per thread and summed on read, gauges as global
 *             atomics, and the spool commit latency histogram. See metrics.h.
 *
 * Each thread that counts gets a slot: a cache-line aligned array of atomic
 * counters reached through a thread-local pointer. The slot is allocated on
 * the thread's first increment and linked into a global list under a mutex;
 * that is the only time the mutex is taken by a writer. Increments are
 * relaxed atomic adds to the thread's own cache lines, so threads never
 * contend. metrics_snapshot() walks the list under the mutex and sums.
 * Slots are never freed: the counts of a thread that has exited must stay in
 * the totals (and the list only grows by the number of threads ever run).
 *
 * The exposition text follows Prometheus text format 0.0.4: "# HELP", "#
 * TYPE", then samples; counters carry their "_total" sample name in both.
 *
 * Diagnostics: out of memory while registering a slot is fatal (abort), as
 * everywhere in the engine.
 */
#include "base/metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define METRICS_CACHE_LINE 64

struct metrics_slot {
    _Alignas(METRICS_CACHE_LINE) _Atomic uint64_t c[MC__COUNT];
    struct metrics_slot *next;
};

static _Thread_local struct metrics_slot *metrics_self;
static struct metrics_slot *metrics_slots; /* guarded by metrics_mu */
static pthread_mutex_t metrics_mu = PTHREAD_MUTEX_INITIALIZER;

static _Atomic int64_t metrics_gauges[MG__COUNT];
static _Atomic uint64_t metrics_hist[METRICS_COMMIT_BUCKETS + 1];
static _Atomic uint64_t metrics_hist_count;
static _Atomic uint64_t metrics_hist_sum_ns;

const double metrics_commit_bounds[METRICS_COMMIT_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
};

static const char *const counter_names[MC__COUNT] = {
    [MC_RECEIVED] = "messages_received_total",
    [MC_RECEIVED_SMTP] = "messages_received_smtp_total",
    [MC_RECEIVED_HTTP] = "messages_received_http_total",
    [MC_REJECTED] = "injections_rejected_total",
    [MC_DELIVERED] = "recipients_delivered_total",
    [MC_DEFERRED] = "recipients_deferred_total",
    [MC_FAILED] = "recipients_failed_total",
    [MC_BOUNCES_SENT] = "bounces_sent_total",
    [MC_COMPLETED] = "messages_completed_total",
    [MC_CONN_OPENED] = "connections_opened_total",
    [MC_CONN_FAILED] = "connections_failed_total",
    [MC_CONN_REUSED] = "connections_reused_total",
    [MC_SPOOL_COMMITS] = "spool_commits_total",
    [MC_SPOOL_COMMIT_MSGS] = "spool_committed_messages_total",
    [MC_DNS_QUERIES] = "dns_queries_total",
    [MC_DNS_CACHE_HITS] = "dns_cache_hits_total",
    [MC_TLS_SESSIONS] = "tls_sessions_total",
    [MC_TLS_FAILED] = "tls_failures_total",
    [MC_TLS_VERIFIED] = "tls_verified_total",
    [MC_DANE_VERIFIED] = "dane_verified_total",
    [MC_DANE_FAILED] = "dane_failed_total",
    [MC_OCSP_GOOD] = "ocsp_good_total",
    [MC_OCSP_BAD] = "ocsp_bad_total",
    [MC_DKIM_SIGNED] = "dkim_signed_messages_total",
};

static const char *const counter_help[MC__COUNT] = {
    [MC_RECEIVED] = "Messages accepted onto the spool (SMTP, HTTP and notices).",
    [MC_RECEIVED_SMTP] = "Messages accepted onto the spool over SMTP.",
    [MC_RECEIVED_HTTP] = "Messages accepted onto the spool over the HTTP API.",
    [MC_REJECTED] = "Messages, recipients or requests refused at injection.",
    [MC_DELIVERED] = "Recipient deliveries answered with 2xx.",
    [MC_DEFERRED] = "Recipient deferrals (4xx, connection or DNS trouble).",
    [MC_FAILED] = "Recipients failed permanently.",
    [MC_BOUNCES_SENT] = "Failure notices generated.",
    [MC_COMPLETED] = "Messages whose every recipient reached a final state.",
    [MC_CONN_OPENED] = "Outbound SMTP connections established.",
    [MC_CONN_FAILED] = "Outbound SMTP connection attempts that failed.",
    [MC_CONN_REUSED] = "Messages sent on an already open (cached) connection.",
    [MC_SPOOL_COMMITS] = "Spool group commits.",
    [MC_SPOOL_COMMIT_MSGS] = "Messages written by spool group commits.",
    [MC_DNS_QUERIES] = "DNS queries sent.",
    [MC_DNS_CACHE_HITS] = "DNS answers served from the cache.",
    [MC_TLS_SESSIONS] = "Outbound TLS sessions established (STARTTLS).",
    [MC_TLS_FAILED] = "Outbound STARTTLS attempts that failed or were refused.",
    [MC_TLS_VERIFIED] = "Outbound TLS sessions whose certificate verified (CV=yes).",
    [MC_DANE_VERIFIED] = "Outbound TLS sessions authenticated through DANE (CV=dane).",
    [MC_DANE_FAILED] = ("Hosts refused by DANE: bogus or failed DNSSEC lookups, TLSA mismatch, "
                        "no STARTTLS."),
    [MC_OCSP_GOOD] = "Stapled OCSP responses that checked good.",
    [MC_OCSP_BAD] = "OCSP staples revoked, expired, badly signed, or missing when required.",
    [MC_DKIM_SIGNED] = "Messages DKIM-signed (once per message and signing transport).",
};

static const char *const gauge_names[MG__COUNT] = {
    [MG_QUEUED] = "queue_messages",
    [MG_QUEUED_RCPTS] = "queue_recipients",
    [MG_CONN_OPEN] = "connections_open",
    [MG_CONN_CACHED] = "connections_cached",
};

static const char *const gauge_help[MG__COUNT] = {
    [MG_QUEUED] = "Messages on the spool not yet completed.",
    [MG_QUEUED_RCPTS] = "Recipients not yet in a final state.",
    [MG_CONN_OPEN] = "Outbound SMTP connections open now.",
    [MG_CONN_CACHED] = "Outbound SMTP connections idle in a connection cache.",
};

/* metrics_register - allocate this thread's slot and link it in */
static struct metrics_slot *
metrics_register(void)
{
    struct metrics_slot *s;

    s = aligned_alloc(METRICS_CACHE_LINE, sizeof(*s));
    if (s == NULL)
        abort();
    memset(s, 0, sizeof(*s));
    for (int i = 0; i < MC__COUNT; i++)
        atomic_init(&s->c[i], 0);
    pthread_mutex_lock(&metrics_mu);
    s->next = metrics_slots;
    metrics_slots = s;
    pthread_mutex_unlock(&metrics_mu);
    metrics_self = s;
    return s;
}

/* metrics_add - add n to counter c on this thread's slot */
void
metrics_add(enum metrics_counter c, uint64_t n)
{
    struct metrics_slot *s = metrics_self;

    if ((unsigned)c >= MC__COUNT)
        return;
    if (s == NULL)
        s = metrics_register();
    atomic_fetch_add_explicit(&s->c[c], n, memory_order_relaxed);
}

/* metrics_inc - add one to counter c */
void
metrics_inc(enum metrics_counter c)
{
    metrics_add(c, 1);
}

/* metrics_gauge_set - set gauge g to v */
void
metrics_gauge_set(enum metrics_gauge g, int64_t v)
{
    if ((unsigned)g < MG__COUNT)
        atomic_store_explicit(&metrics_gauges[g], v, memory_order_relaxed);
}

/* metrics_gauge_add - move gauge g by delta */
void
metrics_gauge_add(enum metrics_gauge g, int64_t delta)
{
    if ((unsigned)g < MG__COUNT)
        atomic_fetch_add_explicit(&metrics_gauges[g], delta, memory_order_relaxed);
}

/* metrics_commit_latency - record one spool commit of the given duration */
void
metrics_commit_latency(double seconds)
{
    int i;

    if (!(seconds >= 0)) /* negative or NaN: a clock step; count it as zero */
        seconds = 0;
    for (i = 0; i < METRICS_COMMIT_BUCKETS; i++)
        if (seconds <= metrics_commit_bounds[i])
            break;
    atomic_fetch_add_explicit(&metrics_hist[i], 1, memory_order_relaxed);
    if (seconds > 1e9) /* keep the nanosecond sum from overflowing */
        seconds = 1e9;
    atomic_fetch_add_explicit(&metrics_hist_sum_ns, (uint64_t)(seconds * 1e9 + 0.5),
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&metrics_hist_count, 1, memory_order_relaxed);
}

/* metrics_snapshot - sum every slot, read gauges and the histogram */
void
metrics_snapshot(struct metrics_snapshot *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&metrics_mu);
    for (struct metrics_slot *s = metrics_slots; s != NULL; s = s->next)
        for (int i = 0; i < MC__COUNT; i++)
            out->counter[i] += atomic_load_explicit(&s->c[i], memory_order_relaxed);
    pthread_mutex_unlock(&metrics_mu);
    for (int i = 0; i < MG__COUNT; i++)
        out->gauge[i] = atomic_load_explicit(&metrics_gauges[i], memory_order_relaxed);
    for (int i = 0; i <= METRICS_COMMIT_BUCKETS; i++)
        out->commit_bucket[i] = atomic_load_explicit(&metrics_hist[i], memory_order_relaxed);
    out->commit_count = atomic_load_explicit(&metrics_hist_count, memory_order_relaxed);
    out->commit_sum_s =
        (double)atomic_load_explicit(&metrics_hist_sum_ns, memory_order_relaxed) / 1e9;
}

/* metrics_counter_name - Prometheus name of counter c, without "spate_" */
const char *
metrics_counter_name(enum metrics_counter c)
{
    return (unsigned)c < MC__COUNT ? counter_names[c] : NULL;
}

/* metrics_gauge_name - Prometheus name of gauge g, without "spate_" */
const char *
metrics_gauge_name(enum metrics_gauge g)
{
    return (unsigned)g < MG__COUNT ? gauge_names[g] : NULL;
}

/* metrics_counter_help - one-sentence description of counter c */
const char *
metrics_counter_help(enum metrics_counter c)
{
    return (unsigned)c < MC__COUNT ? counter_help[c] : NULL;
}

/* metrics_gauge_help - one-sentence description of gauge g */
const char *
metrics_gauge_help(enum metrics_gauge g)
{
    return (unsigned)g < MG__COUNT ? gauge_help[g] : NULL;
}

/* metrics_process - resident memory and CPU time of this process */
int
metrics_process(uint64_t *rss_bytes, double *cpu_seconds)
{
    struct rusage ru;
    unsigned long long size = 0, resident = 0;
    long page = sysconf(_SC_PAGESIZE);
    FILE *f;
    int rc = 0;

    *rss_bytes = 0;
    *cpu_seconds = 0;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        *cpu_seconds = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    f = fopen("/proc/self/statm", "re");
    if (f == NULL)
        return -errno;
    if (fscanf(f, "%llu %llu", &size, &resident) != 2)
        rc = -EINVAL;
    fclose(f);
    if (rc == 0 && page > 0)
        *rss_bytes = (uint64_t)resident * (uint64_t)page;
    return rc;
}

/* A growing text buffer; a failed allocation sets failed and stops output. */
struct metrics_buf {
    char *p;
    size_t len, cap;
    int failed;
};

/* metrics_printf - append formatted text to b */
static void __attribute__((format(printf, 2, 3)))
metrics_printf(struct metrics_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->failed)
        return;
    for (int tries = 0; tries < 2; tries++) {
        va_start(ap, fmt);
        n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    b->failed = 1;
}

/* metrics_family - HELP and TYPE lines of one metric */
static void
metrics_family(struct metrics_buf *b, const char *name, const char *type, const char *help)
{
    metrics_printf(b, "# HELP spate_%s %s\n# TYPE spate_%s %s\n", name, help, name, type);
}

/* metrics_text_histogram - the commit latency histogram as exposition text */
static void
metrics_text_histogram(struct metrics_buf *b, const struct metrics_snapshot *snap)
{
    const char *n = METRICS_COMMIT_NAME;
    uint64_t cum = 0;

    metrics_family(b, n, "histogram", "Time taken by spool group commits (write, fsync).");
    for (int i = 0; i < METRICS_COMMIT_BUCKETS; i++) {
        cum += snap->commit_bucket[i];
        metrics_printf(b, "spate_%s_bucket{le=\"%g\"} %" PRIu64 "\n", n, metrics_commit_bounds[i],
                       cum);
    }
    cum += snap->commit_bucket[METRICS_COMMIT_BUCKETS];
    /* +Inf must equal _count; take the larger so a racing update cannot
     * make the buckets inconsistent */
    if (snap->commit_count > cum)
        cum = snap->commit_count;
    metrics_printf(b, "spate_%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", n, cum);
    metrics_printf(b, "spate_%s_sum %.9f\n", n, snap->commit_sum_s);
    metrics_printf(b, "spate_%s_count %" PRIu64 "\n", n, cum);
}

/* metrics_prometheus_text - the whole exposition text */
char *
metrics_prometheus_text(const struct metrics_snapshot *snap, size_t *len)
{
    struct metrics_buf b = {.cap = 8192};
    uint64_t rss;
    double cpu;

    b.p = malloc(b.cap);
    if (b.p == NULL)
        return NULL;
    for (int i = 0; i < MC__COUNT; i++) {
        metrics_family(&b, counter_names[i], "counter", counter_help[i]);
        metrics_printf(&b, "spate_%s %" PRIu64 "\n", counter_names[i], snap->counter[i]);
    }
    for (int i = 0; i < MG__COUNT; i++) {
        metrics_family(&b, gauge_names[i], "gauge", gauge_help[i]);
        metrics_printf(&b, "spate_%s %" PRId64 "\n", gauge_names[i], snap->gauge[i]);
    }
    metrics_text_histogram(&b, snap);
    char *dest = metrics__dest_text((int64_t)time(NULL));
    if (dest == NULL)
        b.failed = 1;
    else
        metrics_printf(&b, "%s", dest);
    free(dest);
    metrics_process(&rss, &cpu);
    metrics_family(&b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    metrics_printf(&b, "spate_process_resident_memory_bytes %" PRIu64 "\n", rss);
    metrics_family(&b, "process_cpu_seconds_total", "counter",
                   "User and system CPU time spent in seconds.");
    metrics_printf(&b, "spate_process_cpu_seconds_total %.6f\n", cpu);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}
