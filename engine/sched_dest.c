/*
 * sched_dest.c - destinations: the resolved host set (and port) that jobs go
 *                to, their ready queues, connection ramp-up, max_message_rate
 *                spacing, the idle session cache and back-off after
 *                connection failures; lending jobs to workers.
 *
 * Scheduler thread only. Calls sched_state.c, and sch.settle for messages
 * whose recipients it defers.
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/metrics.h"
#include "engine/retry.h"
#include "engine/sched_int.h"

/* Another connection is opened only when more jobs wait than this many per
 * open session: connections ramp up with the backlog instead of jumping to
 * max_connections for a handful of messages (each new connection costs the
 * receiver a process or a slot, and us a handshake). */
#define DEST_QUEUE_PER_CONN 8
/* ... and at most one new connection per destination this often: a backlog
 * that the open sessions clear quickly (a near, fast receiver) never ramps up,
 * one that lasts (a far or slow one) reaches max_connections in about a second */
#define DEST_RAMP_MS 50
#define DEST_BACKLOG_MS 1000    /* more work than this at the current rate: add a connection */
#define DEST_RATE_WINDOW_MS 250 /* how often the delivery rate is measured */

/* A destination whose new connections take this long to deliver their first
 * job (a slow greeting, a tarpit, a far host) is slow to start: set-up time,
 * not the receiver's throughput, limits it, so connections are opened in
 * parallel up to max_connections while the backlog lasts */
#define DEST_SLOW_SETUP_MS 1000

static void on_rate_timer(eng_loop *loop, struct eng_timer *t);
static void on_ramp_timer(eng_loop *loop, struct eng_timer *t);

/* hash_str - FNV-1a */
static uint32_t
hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s)
        h = (h ^ (uint8_t)*s++) * 16777619u;
    return h;
}

/* cmp_name - qsort on host names */
static int
cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* dest_key - "transport|port|sorted,host,names" */
char *
dest_key(const struct cfg_transport *tp, uint16_t port, const struct dns_result *res)
{
    const char **names = calloc(res->nhosts, sizeof(char *));
    size_t len = strlen(tp->name) + 16, off;
    char *key;
    if (names == NULL)
        abort();
    for (size_t i = 0; i < res->nhosts; i++) {
        names[i] = res->hosts[i].name;
        len += strlen(names[i]) + 1;
    }
    qsort(names, res->nhosts, sizeof(char *), cmp_name);
    if ((key = malloc(len)) == NULL)
        abort();
    off = (size_t)snprintf(key, len, "%s|%u|", tp->name, port);
    for (size_t i = 0; i < res->nhosts; i++)
        off += (size_t)snprintf(key + off, len - off, "%s%s", i ? "," : "", names[i]);
    free(names);
    return key;
}

/* hosts_copy - deep copy of a resolved host list */
static struct dns_host *
hosts_copy(const struct dns_result *res)
{
    struct dns_host *h = calloc(res->nhosts, sizeof(*h));
    if (h == NULL)
        abort();
    for (size_t i = 0; i < res->nhosts; i++) {
        h[i].name = strdup(res->hosts[i].name);
        h[i].pref = res->hosts[i].pref;
        h[i].naddr = res->hosts[i].naddr;
        h[i].addrs = calloc(h[i].naddr ? h[i].naddr : 1, sizeof(*h[i].addrs));
        if (h[i].name == NULL || h[i].addrs == NULL)
            abort();
        memcpy(h[i].addrs, res->hosts[i].addrs, h[i].naddr * sizeof(*h[i].addrs));
    }
    return h;
}

/* dest_policy - the limits of the "begin destinations" entry matching d
 * (through domain or any of its hosts), or the built-in defaults */
void
dest_policy(struct eng_dest *d)
{
    const char **names = calloc(d->nhosts + 1, sizeof(char *));
    const struct cfg_destination *c;
    if (names == NULL)
        abort();
    for (size_t i = 0; i < d->nhosts; i++)
        names[i] = d->hosts[i].name;
    c = cfg_destination_find(sch.cfg, d->domain, names, d->nhosts);
    free(names);
    d->pol.max_connections = c ? c->max_connections : 20;
    d->pol.max_messages_per_connection = c ? c->max_messages_per_connection : 100;
    d->pol.connection_idle_timeout_ms = c ? c->connection_idle_timeout_s * 1000 : 5000;
    d->pol.connect_timeout_s = c ? c->connect_timeout_s : 0;
    d->pol.rate_count = c ? c->rate_count : 0;
    d->pol.rate_period_ms = c ? c->rate_period_s * 1000u : 0;
}

/* dest_get - the destination for a resolved host set, made on first use */
struct eng_dest *
dest_get(const struct cfg_router *r, uint16_t port, const struct dns_result *res,
         const char *domain)
{
    char *key = dest_key(r->transport, port, res);
    uint32_t b = hash_str(key) % DEST_BUCKETS;
    struct eng_dest *d;
    for (d = sch.dests[b]; d; d = d->hnext)
        if (strcmp(d->key, key) == 0) {
            free(key);
            return d;
        }
    if ((d = calloc(1, sizeof(*d))) == NULL)
        abort();
    d->key = key;
    d->tp = r->transport;
    d->router = r;
    d->port = port;
    d->nhosts = res->nhosts;
    d->hosts = hosts_copy(res);
    if ((d->domain = strdup(domain)) == NULL)
        abort();
    dest_policy(d);
    d->ready_tail = &d->ready_head;
    eng_timer_init(&d->rate_timer, on_rate_timer, d);
    eng_timer_init(&d->ramp_timer, on_ramp_timer, d);
    d->hnext = sch.dests[b];
    sch.dests[b] = d;
    return d;
}

/* dest_park - keep an idle session in the destination's cache; dispatch
 * takes the most recent one first, so a session that just finished gets the
 * next job for its destination */
void
dest_park(struct eng_dest *d, struct eng_worker *w, struct eng_session *s)
{
    if (d->nidle == d->idlecap) {
        d->idlecap = d->idlecap ? d->idlecap * 2 : 8;
        d->idle = realloc(d->idle, d->idlecap * sizeof(*d->idle));
        if (d->idle == NULL)
            abort();
    }
    d->idle[d->nidle++] = (struct eng_idle){.w = w, .s = s};
    metrics_gauge_add(MG_CONN_CACHED, 1);
}

/* on_rate_timer - the rate limit allows another message */
static void
on_rate_timer(eng_loop *loop, struct eng_timer *t)
{
    (void)loop;
    dest_dispatch(t->data);
}

/* rate_allows - max_message_rate: may one more message start now? If not,
 * arm the destination's timer for when it may. Messages are spaced evenly,
 * period/count apart, so the limit holds over any window. */
static int
rate_allows(struct eng_dest *d)
{
    uint64_t now = eng_now_ms(), step;
    if (d->pol.rate_count == 0)
        return 1;
    if (now < d->next_send_ms) {
        if (!eng_timer_armed(&d->rate_timer))
            eng_timer_start(sch.loop, &d->rate_timer, d->next_send_ms - now);
        return 0;
    }
    step = d->pol.rate_period_ms / d->pol.rate_count;
    if (step == 0)
        step = 1;
    if (d->next_send_ms < now)
        d->next_send_ms = now;
    d->next_send_ms += step;
    return 1;
}

/* job_new - a job for n recipients of q */
struct eng_job *
job_new(struct eng_qmsg *q, struct eng_dest *d, const uint32_t *ridx, size_t n)
{
    struct eng_job *j = calloc(1, sizeof(*j));
    if (j == NULL || (j->ridx = malloc(n * sizeof(*ridx))) == NULL)
        abort();
    memcpy(j->ridx, ridx, n * sizeof(*ridx));
    j->q = q;
    j->d = d;
    j->n = n;
    return j;
}

/* job_free - release a job and its results */
void
job_free(struct eng_job *j)
{
    for (size_t k = 0; j->text != NULL && k < j->n; k++)
        free(j->text[k]);
    free(j->text);
    free(j->res);
    free(j->ridx);
    if (j->at != NULL)
        free(j->at->tls_peercert);
    free(j->at);
    free(j);
}

/* job_lend - room for the job's results, just before a worker gets it */
static void
job_lend(struct eng_job *j)
{
    if ((j->res = calloc(j->n, 1)) == NULL || (j->text = calloc(j->n, sizeof(char *))) == NULL)
        abort();
    j->lent_ms = eng_now_ms();
}

/* job_extend - add up to per - j->n of the n recipients ridx to waiting
 * job j (same message, same destination); how many it took */
static size_t
job_extend(struct eng_job *j, const uint32_t *ridx, size_t n, size_t per)
{
    size_t k = per - j->n < n ? per - j->n : n;
    if ((j->ridx = realloc(j->ridx, (j->n + k) * sizeof(*ridx))) == NULL)
        abort();
    memcpy(j->ridx + j->n, ridx, k * sizeof(*ridx));
    j->n += k;
    return k;
}

/* dest_enqueue - add jobs for these recipients, max_rcpt per transaction.
 * Recipients of one message in several domains that share the destination
 * (the same MX hosts) join the message's last waiting job while it has room,
 * so they go out in one transaction. */
void
dest_enqueue(struct eng_dest *d, struct eng_qmsg *q, const uint32_t *ridx, size_t n)
{
    size_t per = d->tp->max_rcpt > 0 ? (size_t)d->tp->max_rcpt : 100, off = 0;
    if (d->ready_head != NULL) {
        struct eng_job *last =
            (struct eng_job *)((char *)d->ready_tail - offsetof(struct eng_job, next));
        if (last->q == q && last->n < per)
            off = job_extend(last, ridx, n, per);
    }
    for (; off < n; off += per) {
        struct eng_job *j = job_new(q, d, ridx + off, n - off < per ? n - off : per);
        *d->ready_tail = j;
        d->ready_tail = &j->next;
        d->nready++;
    }
    metrics_dest_queue(d->key, (int64_t)d->nready); /* the per-destination depth series */
}

/* job_release_rcpts - the job's recipients are no longer busy */
void
job_release_rcpts(struct eng_job *j)
{
    for (size_t k = 0; k < j->n; k++)
        j->q->busy[j->ridx[k]] = 0;
    j->q->inflight -= (int)j->n;
}

/* dest_defer_ready - a destination in back-off: defer every waiting job */
static void
dest_defer_ready(struct eng_dest *d)
{
    struct eng_job *j;
    while ((j = d->ready_head) != NULL) {
        d->ready_head = j->next;
        d->nready--;
        job_release_rcpts(j);
        for (size_t k = 0; k < j->n; k++)
            rcpt_defer(j->q, j->ridx[k], d->router, NULL,
                       "retry time not reached for any host after a connection failure",
                       d->backoff_until, NULL);
        sch.settle(j->q);
        job_free(j);
    }
    d->ready_tail = &d->ready_head;
}

/* dest_slow_to_start - do d's new connections take DEST_SLOW_SETUP_MS or
 * more to deliver their first job (the last one did, or one is still at it)? */
static int
dest_slow_to_start(const struct eng_dest *d, uint64_t now)
{
    if (d->setup_ms >= DEST_SLOW_SETUP_MS)
        return 1;
    return d->npending > 0 && now - d->pending_since_ms >= DEST_SLOW_SETUP_MS;
}

/* on_ramp_timer - connections are still starting: maybe open more */
static void
on_ramp_timer(eng_loop *loop, struct eng_timer *t)
{
    (void)loop;
    dest_dispatch(t->data);
}

/* dest_wait_ramp - jobs wait while new connections start, and no job may
 * come back meanwhile: look again once they count as slow to start, or,
 * when they already do, at the next step of the ramp */
static void
dest_wait_ramp(struct eng_dest *d)
{
    uint64_t now = eng_now_ms();
    if (d->npending == 0 || d->nconn >= d->pol.max_connections || eng_timer_armed(&d->ramp_timer))
        return;
    eng_timer_start(sch.loop, &d->ramp_timer,
                    dest_slow_to_start(d, now) ? DEST_RAMP_MS : DEST_SLOW_SETUP_MS);
}

/* dest_conn_started - the first job of a new connection came back after
 * setup_ms (conn: it was lent to open one) */
void
dest_conn_started(struct eng_dest *d, const struct eng_job *j)
{
    if (!j->new_conn)
        return;
    d->npending--;
    d->setup_ms = eng_now_ms() - j->lent_ms;
}

/* dest_needs_more - should the destination get another connection? Only
 * when more than DEST_QUEUE_PER_CONN jobs wait per open session, at most one
 * new connection every DEST_RAMP_MS, and - once its delivery rate is known -
 * when the backlog is more than DEST_BACKLOG_MS of work at that rate and the
 * previous new connection raised the rate by 10% or more (measured over a
 * whole window after it opened). A receiver that keeps up, or that is
 * already the bottleneck, is not flooded with connections (each one costs
 * it a process or a slot); a far or slow one ramps up to max_connections. */
static int
dest_needs_more(const struct eng_dest *d)
{
    uint64_t now = eng_now_ms();
    if (d->nready <= (size_t)d->nconn * DEST_QUEUE_PER_CONN)
        return 0;
    if (now - d->last_open_ms < DEST_RAMP_MS)
        return 0;
    if (dest_slow_to_start(d, now))
        return 1; /* set-up latency is the limit: overlap it */
    if (d->rate_per_s == 0)
        return 1; /* nothing measured yet */
    if (d->nready * 1000u <= d->rate_per_s * DEST_BACKLOG_MS)
        return 0;
    /* did the last connection help? Only then try one more: a receiver that is
     * already the bottleneck only slows down with more connections */
    if (d->windows_since_open < 1)
        return 0;
    return d->rate_at_open == 0 || d->rate_per_s * 10 >= d->rate_at_open * 11;
}

/* dest_count_done - a job finished: keep the destination's delivery rate */
void
dest_count_done(struct eng_dest *d)
{
    uint64_t now = eng_now_ms();
    if (d->win_start_ms == 0)
        d->win_start_ms = now;
    d->win_done++;
    if (now - d->win_start_ms >= DEST_RATE_WINDOW_MS) {
        d->rate_per_s = d->win_done * 1000u / (now - d->win_start_ms);
        d->win_start_ms = now;
        d->win_done = 0;
        d->windows_since_open++;
    }
}

/* dest_dispatch - lend waiting jobs to cached sessions or new ones */
void
dest_dispatch(struct eng_dest *d)
{
    if (sch.draining)
        return; /* shutting down: the jobs stay queued */
    if (d->backoff_until > now_s()) {
        dest_defer_ready(d);
        return;
    }
    while (d->ready_head != NULL) {
        struct eng_job *j = d->ready_head;
        if (d->nidle == 0 && d->nconn >= d->pol.max_connections)
            return;
        if (d->nidle == 0 && !d->proven && d->nconn > 0)
            return; /* not known to answer: probe with one connection first */
        if (d->nidle == 0 && d->nconn > 0 && !dest_needs_more(d)) {
            dest_wait_ramp(d);
            return; /* the open sessions will get through this soon enough */
        }
        if (!rate_allows(d))
            return;
        if (d->nidle > 0) {
            struct eng_idle idle = d->idle[--d->nidle];
            j->worker = idle.w;
            j->sess = idle.s;
            metrics_gauge_add(MG_CONN_CACHED, -1);
        } else if (d->nconn < d->pol.max_connections) {
            j->worker = sch.workers[sch.rr++ % sch.nworkers];
            j->sess = NULL;
            d->nconn++;
            d->last_open_ms = eng_now_ms();
            d->rate_at_open = d->rate_per_s;
            d->windows_since_open = 0;
            j->new_conn = 1;
            if (d->npending++ == 0)
                d->pending_since_ms = d->last_open_ms;
        } else {
            return;
        }
        d->ready_head = j->next;
        if (d->ready_head == NULL)
            d->ready_tail = &d->ready_head;
        d->nready--;
        j->next = NULL;
        j->pol = d->pol;
        job_lend(j);
        eng_worker_give(j->worker, j);
    }
}

/* dest_free - release a destination and the jobs waiting in it */
void
dest_free(struct eng_dest *d)
{
    struct eng_job *j, *next;
    for (j = d->ready_head; j; j = next) {
        next = j->next;
        job_free(j);
    }
    eng_timer_stop(sch.loop, &d->rate_timer);
    eng_timer_stop(sch.loop, &d->ramp_timer);
    for (size_t i = 0; i < d->nhosts; i++) {
        free(d->hosts[i].name);
        free(d->hosts[i].addrs);
    }
    free(d->hosts);
    free(d->idle);
    free(d->key);
    free(d->domain);
    free(d->last_error);
    free(d);
}

/* dest_note_outcome - connection failures back the destination off as a
 * whole (one failure must not become N message failures); success resets */
void
dest_note_outcome(struct eng_dest *d, int conn_failed)
{
    const struct cfg_retry_rule *rule;
    int64_t now = now_s();
    long iv;
    d->proven = !conn_failed;
    if (!conn_failed) {
        d->first_conn_failure = 0;
        d->backoff_interval = 0;
        d->backoff_until = 0;
        return;
    }
    if (d->first_conn_failure == 0)
        d->first_conn_failure = now;
    rule = d->nhosts ? cfg_retry_find(sch.cfg, d->hosts[0].name) : NULL;
    iv = retry_next_interval(rule ? rule : &retry_default_rule, (long)(now - d->first_conn_failure),
                             d->backoff_interval, rnd01());
    if (iv < 1)
        iv = 60;
    d->backoff_interval = iv;
    d->backoff_until = now + iv;
}
