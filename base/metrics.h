/*
 * metrics.h - counters kept per thread, summed on read; gauges as atomics.
 *
 * Writers call metrics_inc()/metrics_add() on their own thread: the first call
 * on a thread registers a private slot (no lock on the hot path afterwards:
 * a relaxed atomic add to a cache line owned by that thread). Readers
 * (the stats endpoint) call metrics_snapshot(), which sums every slot.
 * Gauges are set by their single owner with metrics_gauge_set().
 *
 * Names are the Prometheus names without the "spate_" prefix; see
 * metrics_counter_name(). Counter names end in "_total" (the sample name of
 * text format 0.0.4), gauges do not. Add, never rename: operators'
 * dashboards use them.
 *
 * Slots of threads that have exited are kept (never freed), so their counts
 * stay in the sums. The commit latency histogram is usually fed by the spool
 * writer alone, but its updates are atomic, so any thread may record; a
 * snapshot taken during an update may see count and sum one observation
 * apart.
 */
#ifndef SPATE_BASE_METRICS_H
#define SPATE_BASE_METRICS_H

#include <stddef.h>
#include <stdint.h>

enum metrics_counter {
    MC_RECEIVED,          /* messages accepted onto the spool (SMTP + HTTP + notices) */
    MC_RECEIVED_SMTP,     /* of which over SMTP */
    MC_RECEIVED_HTTP,     /* of which over HTTP */
    MC_REJECTED,          /* messages or recipients refused at injection */
    MC_DELIVERED,         /* recipient deliveries that got a 2xx */
    MC_DEFERRED,          /* recipient deferrals (4xx, connection or DNS trouble) */
    MC_FAILED,            /* recipients failed permanently (5xx, null MX, timeout) */
    MC_BOUNCES_SENT,      /* failure notices generated */
    MC_COMPLETED,         /* messages whose every recipient reached a final state */
    MC_CONN_OPENED,       /* outbound SMTP connections established */
    MC_CONN_FAILED,       /* outbound connection attempts that failed */
    MC_CONN_REUSED,       /* messages sent on an already open (cached) connection */
    MC_SPOOL_COMMITS,     /* group commits (fsync batches) */
    MC_SPOOL_COMMIT_MSGS, /* messages written by those commits */
    MC_DNS_QUERIES,       /* DNS queries sent */
    MC_DNS_CACHE_HITS,    /* answers served from the DNS cache */
    MC_TLS_SESSIONS,      /* outbound TLS sessions established */
    MC_TLS_FAILED,        /* STARTTLS refused or handshakes that failed */
    MC_TLS_VERIFIED,      /* sessions whose certificate verified (CV=yes) */
    MC_DANE_VERIFIED,     /* sessions authenticated through DANE (CV=dane) */
    MC_DANE_FAILED,       /* hosts refused by DANE (bogus DNS, TLSA mismatch, no STARTTLS) */
    MC_OCSP_GOOD,         /* stapled OCSP responses that checked good */
    MC_OCSP_BAD,          /* staples revoked, expired, missing when required, or bad */
    MC_DKIM_SIGNED,       /* DKIM field sets computed: one per message and signing transport */
    MC__COUNT
};

enum metrics_gauge {
    MG_QUEUED,       /* messages on the spool, not yet completed */
    MG_QUEUED_RCPTS, /* recipients not yet in a final state */
    MG_CONN_OPEN,    /* outbound connections open now */
    MG_CONN_CACHED,  /* of which idle in a connection cache */
    MG__COUNT
};

/* Spool commit latency histogram buckets, seconds (upper bounds). */
#define METRICS_COMMIT_BUCKETS 10
extern const double metrics_commit_bounds[METRICS_COMMIT_BUCKETS];

/* Prometheus name (without "spate_") of the commit latency histogram */
#define METRICS_COMMIT_NAME "spool_commit_duration_seconds"

struct metrics_snapshot {
    uint64_t counter[MC__COUNT];
    int64_t gauge[MG__COUNT];
    /* per-bucket counts, not cumulative: [i] counts observations v with
     * bounds[i-1] < v <= bounds[i]; the last one those above every bound */
    uint64_t commit_bucket[METRICS_COMMIT_BUCKETS + 1];
    uint64_t commit_count;
    double commit_sum_s;
};

void metrics_inc(enum metrics_counter c);
void metrics_add(enum metrics_counter c, uint64_t n);
void metrics_gauge_set(enum metrics_gauge g, int64_t v);
void metrics_gauge_add(enum metrics_gauge g, int64_t delta);
/* metrics_commit_latency - record one spool commit that took seconds */
void metrics_commit_latency(double seconds);
/* metrics_snapshot - sum every thread's slot into out; any thread */
void metrics_snapshot(struct metrics_snapshot *out);
/* metrics_counter_name / metrics_gauge_name - Prometheus name without "spate_" */
const char *metrics_counter_name(enum metrics_counter c);
const char *metrics_gauge_name(enum metrics_gauge g);
const char *metrics_counter_help(enum metrics_counter c);
const char *metrics_gauge_help(enum metrics_gauge g);

/* metrics_process - resident set size (bytes, from /proc/self/statm) and CPU
 * time used (user + system seconds, getrusage); 0 or -errno (rss 0 then) */
int metrics_process(uint64_t *rss_bytes, double *cpu_seconds);

/* Latency histograms (metrics_dest.c): observations in seconds, any thread. */
enum metrics_hist {
    MH_DELIVERY_LATENCY, /* one delivery job: handed to a worker until its result came back */
    MH_QUEUE_TIME,       /* one recipient: message arrival until its final state */
    MH__COUNT
};
#define METRICS_HIST_BUCKETS 12
/* metrics_observe - record one observation of h (negative or NaN: 0) */
void metrics_observe(enum metrics_hist h, double seconds);

/* Per-destination series (metrics_dest.c). The scheduler reports each
 * destination's traffic and ready-queue depth by its key; the exposition
 * shows the METRICS_DEST_TOP busiest (delivered + deferred + failed) with a
 * label destination="KEY" and sums the rest into destination="other".
 * A destination with an empty queue and no traffic for METRICS_DEST_IDLE_S
 * is pruned (its counts leave the sums: Prometheus sees a counter reset).
 * At most METRICS_DEST_MAX destinations are tracked; beyond, counts go to
 * "other" directly. Any thread; a mutex guards the table (one short hold per
 * report, off the workers' path: the scheduler reports). */
#define METRICS_DEST_TOP 20
#define METRICS_DEST_MAX 4096
#define METRICS_DEST_IDLE_S 900
enum metrics_dest_event { MD_DELIVERED, MD_DEFERRED, MD_FAILED, MD__COUNT };
/* metrics_dest_count - one recipient outcome at destination key */
void metrics_dest_count(const char *key, enum metrics_dest_event e);
/* metrics_dest_queue - key's ready queue now holds depth jobs */
void metrics_dest_queue(const char *key, int64_t depth);
/* metrics__dest_text - the two latency histograms and the per-destination
 * families as exposition text (malloc'd; NULL out of memory); now_s: unix
 * seconds, for pruning. Internal to base: metrics_prometheus_text calls it. */
char *metrics__dest_text(int64_t now_s);

/* metrics_prometheus_text - every counter, gauge, the commit histogram and
 * the process figures in Prometheus text exposition format 0.0.4, each name
 * prefixed "spate_"; a malloc'd NUL-terminated string (*len bytes), NULL when
 * out of memory. */
char *metrics_prometheus_text(const struct metrics_snapshot *snap, size_t *len);

#endif
