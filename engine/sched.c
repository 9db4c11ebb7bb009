/*
 * sched.c - the scheduler: owns queued messages, routes recipients, keeps the
 *           destinations and their ready queues, lends jobs to workers and
 *           records what came back. See engine.h and eng_internal.h.
 *
 * Everything here runs on the scheduler thread; other threads reach it only
 * through eng_loop_post().
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "conf/address.h"
#include "engine/eng_internal.h"
#include "engine/engine.h"
#include "engine/event.h"
#include "base/log.h"
#include "base/metrics.h"
#include "engine/retry.h"

#define DEST_BUCKETS 4096
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

struct sched {
    const struct cfg *cfg;
    spool *sp;
    eng_loop *loop;
    pthread_t thread;
    dns_resolver *dns;
    struct eng_worker **workers;
    int nworkers, rr;
    struct eng_dest *dests[DEST_BUCKETS];
    struct spool_msg **adopted;
    size_t nadopted;
    long queued, queued_rcpts;
    uint32_t rnd;
    int starting; /* handing over recovered mail */
    int draining; /* shutting down, step one: no job is lent any more */
    int stopping; /* shutting down: no state changes, only freeing */
    struct eng_qmsg *qhead;
};

static struct sched S;
static int force_retry; /* -qf: recovered mail is tried at once */
static int grace_s = 30;  /* shutdown_grace, main thread's copy */

/* The first step of the shut-down: the main thread waits until every worker
 * has had the replies to the messages it had on the wire, or grace_s passed. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int left; /* workers still waiting for replies */
} D = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

/* A routing request: the recipients of one message for one domain. */
struct route_req {
    struct eng_qmsg *q;
    const struct cfg_router *router;
    char domain[256];
    uint16_t port;
    size_t n;
    uint32_t *ridx;
};

static void qmsg_schedule(struct eng_qmsg *q);
static void dest_dispatch(struct eng_dest *d);
static void on_rate_timer(eng_loop *loop, struct eng_timer *t);

/* now_s - wall clock seconds */
static int64_t
now_s(void)
{
    return (int64_t)time(NULL);
}

/* rnd01 - a random value in [0,1) for H retry steps */
static double
rnd01(void)
{
    S.rnd = S.rnd * 1103515245u + 12345u;
    return (double)(S.rnd >> 8) / (double)(1u << 24);
}

/* ------------------------------------------------------ message state */

/* qmsg_done_count - recipients in a final state */
static uint32_t
qmsg_final(const struct eng_qmsg *q)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < q->m->nrcpt; i++)
        n += q->m->rcpt[i].state != SPOOL_RCPT_PENDING;
    return n;
}

/* qmsg_free - forget a completed message */
static void
qmsg_free(struct eng_qmsg *q)
{
    eng_timer_stop(S.loop, &q->timer);
    if (q->prev)
        q->prev->next = q->next;
    else if (S.qhead == q)
        S.qhead = q->next;
    if (q->next)
        q->next->prev = q->prev;
    for (uint32_t i = 0; i < q->m->nrcpt; i++)
        free(q->fail_text[i]);
    free(q->fail_text);
    free(q->busy);
    spool_msg_free(q->m);
    free(q);
}

/* msg_event - raise a msg:* event off the scheduler's loop (the result is
 * ignored). i: the recipient (UINT32_MAX for message events); j: the job
 * that reached a host (NULL when none did). Costs nothing without an action. */
static void
msg_event(const struct exp_str *action, const char *name, const struct eng_qmsg *q, uint32_t i,
          const struct eng_job *j, const char *data, int errnum)
{
    struct event_ctx ev = {0};
    char local[ADDR_MAX + 1] = "", errtext[16];
    const char *domain = NULL;
    if (action == NULL)
        return;
    if (i != UINT32_MAX) {
        const char *a = q->m->rcpt[i].address, *at = strrchr(a, '@');
        size_t n = at ? (size_t)(at - a) : strlen(a);
        snprintf(local, sizeof(local), "%.*s", (int)(n < ADDR_MAX ? n : ADDR_MAX), a);
        domain = at ? at + 1 : "";
        ev.v[EV_LOCAL_PART] = local;
        ev.v[EV_DOMAIN] = domain;
    }
    snprintf(errtext, sizeof(errtext), "%d", errnum);
    ev.option = strncmp(name, "msg:fail", 8) == 0 || strcmp(name, "msg:complete") == 0
                    ? "event_action"
                    : "transport event_action";
    ev.v[EV_EVENT_NAME] = name;
    ev.v[EV_EVENT_DATA] = data;
    ev.v[EV_EVENT_DEFER_ERRNO] = errtext;
    ev.v[EV_MESSAGE_EXIM_ID] = q->m->id;
    ev.v[EV_SENDER_ADDRESS] = q->m->sender;
    ev.v[EV_PRIMARY_HOSTNAME] = S.cfg->primary_hostname;
    ev.v[EV_TLS_OUT_DANE] = "no";
    ev.v[EV_LOOKUP_DNSSEC_AUTHENTICATED] = "no";
    if (j != NULL) {
        ev.v[EV_ROUTER_NAME] = j->d->router ? j->d->router->name : NULL;
        ev.v[EV_TRANSPORT_NAME] = j->d->tp->name;
        ev.v[EV_HOST] = j->host_name;
        ev.v[EV_HOST_ADDRESS] = j->host_ip;
        ev.v[EV_HOST_PORT] = j->host_port;
        ev.v[EV_SENDING_IP_ADDRESS] = j->sending_ip;
        ev.v[EV_SENDING_PORT] = j->sending_port;
        ev.v[EV_TLS_OUT_PEERCERT] = j->tls_peercert;
        ev.v[EV_VERIFY_MODE] = j->tls_verify_mode;
    }
    event_raise_async(q->m->id, event_ctx_dup(&ev), action);
}

/* finish_remove - remove the message from the spool and forget it */
static void
finish_remove(struct eng_qmsg *q)
{
    spool_remove(S.sp, q->m);
    log_info("%s Completed", q->m->id);
    msg_event(S.cfg->event_action, "msg:complete", q, UINT32_MAX, NULL, NULL, 0);
    metrics_inc(MC_COMPLETED);
    S.queued--;
    metrics_gauge_set(MG_QUEUED, S.queued);
    qmsg_free(q);
}

/* on_notice_committed_post - the notice is durable: now drop the original */
static void
on_notice_committed_post(eng_loop *loop, void *arg)
{
    (void)loop;
    if (S.stopping) { /* the spool may be closed: the next start completes it */
        qmsg_free(arg);
        return;
    }
    finish_remove(arg);
}

/* on_notice_done - spool writer thread: the notice's commit finished */
static void
on_notice_done(struct spool_submission *sub, int status, void *arg)
{
    struct eng_qmsg *q = arg;
    if (status != 0)
        log_err("%s failure notice %s could not be spooled: %s", q->m->id, sub->id,
                strerror(-status));
    eng_loop_post(S.loop, on_notice_committed_post, q);
}

/* send_notice - queue a failure notice to the sender for the failed recipients */
static int
send_notice(struct eng_qmsg *q)
{
    struct spool_msg *m = q->m;
    const char **rcpts = calloc(m->nrcpt, sizeof(char *)),
               **whys = calloc(m->nrcpt, sizeof(char *));
    struct spool_submission *sub = calloc(1, sizeof(*sub));
    char *body = NULL;
    size_t n = 0, blen = 0;
    if (rcpts == NULL || whys == NULL || sub == NULL)
        abort();
    for (uint32_t i = 0; i < m->nrcpt; i++)
        if (m->rcpt[i].state == SPOOL_RCPT_FAILED) {
            rcpts[n] = m->rcpt[i].address;
            whys[n++] = q->fail_text[i] ? q->fail_text[i] : "delivery failed";
        }
    if (spool_body_read(S.sp, m, &body, &blen) < 0) {
        body = NULL;
        blen = 0;
    }
    spool_new_id(S.sp, sub->id);
    sub->body = eng_bounce_build(S.cfg, m, rcpts, whys, n, body, blen, sub->id, &sub->body_len);
    sub->sender = strdup("");
    sub->rcpts = calloc(1, sizeof(char *));
    sub->rcpts[0] = strdup(m->sender);
    sub->nrcpt = 1;
    sub->proto = strdup("local");
    sub->flags = SPOOL_F_NOTICE;
    sub->done = on_notice_done;
    sub->arg = q;
    free(body);
    free(rcpts);
    free(whys);
    log_info("%s <= <> R=%s U=spate P=local S=%zu for %s", sub->id, m->id, sub->body_len,
             m->sender);
    metrics_inc(MC_BOUNCES_SENT);
    spool_submit(S.sp, sub);
    return 0;
}

/* qmsg_settle - after results: persist, complete, or schedule the next try */
static void
qmsg_settle(struct eng_qmsg *q)
{
    struct spool_msg *m = q->m;
    int failed = 0;
    metrics_gauge_set(MG_QUEUED_RCPTS, S.queued_rcpts);
    if (q->completing)
        return;
    if (qmsg_final(q) < m->nrcpt) {
        spool_update(S.sp, m);
        q->dirty = 0;
        qmsg_schedule(q);
        return;
    }
    if (q->inflight > 0)
        return;
    for (uint32_t i = 0; i < m->nrcpt; i++)
        failed += m->rcpt[i].state == SPOOL_RCPT_FAILED;
    q->completing = 1;
    if (failed && m->sender[0] != '\0' && !(m->flags & SPOOL_F_NOTICE)) {
        send_notice(q);
        return;
    }
    finish_remove(q);
}

/* rcpt_log_prefix - " R=router T=transport" for log lines */
static void
rcpt_log_names(const struct cfg_router *r, char *out, size_t len)
{
    if (r == NULL)
        out[0] = '\0';
    else if (r->transport)
        snprintf(out, len, " R=%s T=%s", r->name, r->transport->name);
    else
        snprintf(out, len, " R=%s", r->name);
}

/* rcpt_fail - recipient i failed for good */
static void
rcpt_fail(struct eng_qmsg *q, uint32_t i, const struct cfg_router *r, const char *host,
          const char *why, const struct eng_job *j)
{
    char names[300];
    rcpt_log_names(r, names, sizeof(names));
    q->m->rcpt[i].state = SPOOL_RCPT_FAILED;
    q->dirty = 1;
    free(q->fail_text[i]);
    q->fail_text[i] = strdup(why);
    S.queued_rcpts--;
    metrics_inc(MC_FAILED);
    log_info("%s ** %s%s%s%s: %s", q->m->id, q->m->rcpt[i].address, names, host && *host ? " " : "",
             host ? host : "", why);
    /* a remote host's refusal is a delivery failure; anything else is internal */
    msg_event(S.cfg->event_action, j != NULL ? "msg:fail:delivery" : "msg:fail:internal", q, i, j,
              why, 0);
}

/* rcpt_defer - recipient i deferred: next try per the retry rules, or
 * failure once the retry period is over; not_before puts a floor on the
 * next try (a destination in back-off) */
static void
rcpt_defer(struct eng_qmsg *q, uint32_t i, const struct cfg_router *r, const char *host,
           const char *why, int64_t not_before, const struct eng_job *j)
{
    struct spool_rcpt *rc = &q->m->rcpt[i];
    const struct cfg_retry_rule *rule = cfg_retry_find(S.cfg, addr_domain(rc->address));
    int64_t now = now_s();
    long iv;
    char names[300], text[1200];

    if (rule == NULL)
        rule = &retry_default_rule;
    if (rc->first_failure == 0)
        rc->first_failure = now;
    iv = retry_next_interval(rule, (long)(now - rc->first_failure), rc->last_interval, rnd01());
    if (iv < 0) {
        snprintf(text, sizeof(text), "retry timeout exceeded (last error: %s)", why);
        rcpt_fail(q, i, r, host, text, j);
        return;
    }
    q->dirty = 1;
    rc->attempts++;
    rc->last_interval = (int32_t)iv;
    rc->next_try = now + iv;
    if (rc->next_try < not_before)
        rc->next_try = not_before;
    metrics_inc(MC_DEFERRED);
    rcpt_log_names(r, names, sizeof(names));
    log_info("%s == %s%s defer%s%s: %s", q->m->id, rc->address, names, host && *host ? " " : "",
             host ? host : "", why);
}

/* --------------------------------------------------------- destinations */

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
static char *
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
static void
dest_policy(struct eng_dest *d)
{
    const char **names = calloc(d->nhosts + 1, sizeof(char *));
    const struct cfg_destination *c;
    if (names == NULL)
        abort();
    for (size_t i = 0; i < d->nhosts; i++)
        names[i] = d->hosts[i].name;
    c = cfg_destination_find(S.cfg, d->domain, names, d->nhosts);
    free(names);
    d->pol.max_connections = c ? c->max_connections : 20;
    d->pol.max_messages_per_connection = c ? c->max_messages_per_connection : 100;
    d->pol.connection_idle_timeout_ms = c ? c->connection_idle_timeout_s * 1000 : 5000;
    d->pol.connect_timeout_s = c ? c->connect_timeout_s : 0;
    d->pol.rate_count = c ? c->rate_count : 0;
    d->pol.rate_period_ms = c ? c->rate_period_s * 1000u : 0;
}

/* dest_get - the destination for a resolved host set, made on first use */
static struct eng_dest *
dest_get(const struct cfg_router *r, uint16_t port, const struct dns_result *res,
         const char *domain)
{
    char *key = dest_key(r->transport, port, res);
    uint32_t b = hash_str(key) % DEST_BUCKETS;
    struct eng_dest *d;
    for (d = S.dests[b]; d; d = d->hnext)
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
    d->hnext = S.dests[b];
    S.dests[b] = d;
    return d;
}

/* dest_park - keep an idle session in the destination's cache; dispatch
 * takes the most recent one first, so a session that just finished gets the
 * next job for its destination */
static void
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
            eng_timer_start(S.loop, &d->rate_timer, d->next_send_ms - now);
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
static struct eng_job *
job_new(struct eng_qmsg *q, struct eng_dest *d, const uint32_t *ridx, size_t n)
{
    struct eng_job *j = calloc(1, sizeof(*j));
    if (j == NULL || (j->ridx = malloc(n * sizeof(*ridx))) == NULL ||
        (j->res = calloc(n, 1)) == NULL || (j->text = calloc(n, sizeof(char *))) == NULL)
        abort();
    memcpy(j->ridx, ridx, n * sizeof(*ridx));
    j->q = q;
    j->d = d;
    j->n = n;
    return j;
}

/* job_free - release a job and its results */
static void
job_free(struct eng_job *j)
{
    for (size_t k = 0; k < j->n; k++)
        free(j->text[k]);
    free(j->text);
    free(j->res);
    free(j->ridx);
    free(j->tls_peercert);
    free(j);
}

/* dest_enqueue - add jobs for these recipients, max_rcpt per transaction */
static void
dest_enqueue(struct eng_dest *d, struct eng_qmsg *q, const uint32_t *ridx, size_t n)
{
    size_t per = d->tp->max_rcpt > 0 ? (size_t)d->tp->max_rcpt : 100;
    for (size_t off = 0; off < n; off += per) {
        struct eng_job *j = job_new(q, d, ridx + off, n - off < per ? n - off : per);
        *d->ready_tail = j;
        d->ready_tail = &j->next;
        d->nready++;
    }
}

/* job_release_rcpts - the job's recipients are no longer busy */
static void
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
        qmsg_settle(j->q);
        job_free(j);
    }
    d->ready_tail = &d->ready_head;
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
static void
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
static void
dest_dispatch(struct eng_dest *d)
{
    if (S.draining)
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
        if (d->nidle == 0 && d->nconn > 0 && !dest_needs_more(d))
            return; /* the open sessions will get through this soon enough */
        if (!rate_allows(d))
            return;
        if (d->nidle > 0) {
            struct eng_idle idle = d->idle[--d->nidle];
            j->worker = idle.w;
            j->sess = idle.s;
            metrics_gauge_add(MG_CONN_CACHED, -1);
        } else if (d->nconn < d->pol.max_connections) {
            j->worker = S.workers[S.rr++ % S.nworkers];
            j->sess = NULL;
            d->nconn++;
            d->last_open_ms = eng_now_ms();
            d->rate_at_open = d->rate_per_s;
            d->windows_since_open = 0;
        } else {
            return;
        }
        d->ready_head = j->next;
        if (d->ready_head == NULL)
            d->ready_tail = &d->ready_head;
        d->nready--;
        j->next = NULL;
        j->pol = d->pol;
        eng_worker_give(j->worker, j);
    }
}

/* -------------------------------------------------------------- routing */

/* route_find - the first router that takes domain (and its route rule) */
static const struct cfg_router *
route_find(const char *domain, const struct cfg_route_rule **rule)
{
    for (size_t i = 0; i < S.cfg->nrouters; i++) {
        const struct cfg_router *r = &S.cfg->routers[i];
        if (r->has_domains && !cfg_domainlist_match(&r->domains, domain))
            continue;
        if (r->driver == CFG_ROUTER_MANUALROUTE) {
            if ((*rule = cfg_router_find_route(r, domain)) == NULL)
                continue;
            return r;
        }
        if (r->driver == CFG_ROUTER_DNSLOOKUP)
            return r;
    }
    return NULL;
}

/* route_settle - recipients of a routing request leave the busy state */
static void
route_release(struct route_req *rq)
{
    for (size_t k = 0; k < rq->n; k++)
        rq->q->busy[rq->ridx[k]] = 0;
    rq->q->inflight -= (int)rq->n;
}

/* on_routed - DNS answered for a routing request */
static void
on_routed(struct dns_result *res, void *arg)
{
    struct route_req *rq = arg;
    struct eng_qmsg *q = rq->q;
    char why[300];

    if (S.stopping) { /* cancelled by the shut-down: leave the recipients as they are */
        route_release(rq);
    } else if (res->status == DNS_OK) {
        struct eng_dest *d = dest_get(rq->router, rq->port, res, rq->domain);
        dest_enqueue(d, q, rq->ridx, rq->n);
        dest_dispatch(d);
    } else {
        route_release(rq);
        for (size_t k = 0; k < rq->n; k++) {
            if (res->status == DNS_RETRY) {
                snprintf(why, sizeof(why), "host lookup did not complete: %s", res->why);
                rcpt_defer(q, rq->ridx[k], rq->router, NULL, why, 0, NULL);
            } else if (res->status == DNS_NULLMX) {
                rcpt_fail(q, rq->ridx[k], rq->router, NULL,
                          "domain does not accept mail (null MX, RFC 7505): 556 5.1.10", NULL);
            } else {
                snprintf(why, sizeof(why), "Unrouteable address (%s)", res->why);
                rcpt_fail(q, rq->ridx[k], rq->router, NULL, why, NULL);
            }
        }
        qmsg_settle(q);
    }
    dns_result_free(res);
    free(rq->ridx);
    free(rq);
}

/* route_refuse - fail recipients ridx[0..n) of q that cannot be routed */
static void
route_refuse(struct eng_qmsg *q, const uint32_t *ridx, size_t n, const char *why)
{
    char msg[300];
    snprintf(msg, sizeof(msg), "Unrouteable address%s%s%s", why ? " (" : "", why ? why : "",
             why ? ")" : "");
    for (size_t k = 0; k < n; k++)
        rcpt_fail(q, ridx[k], NULL, NULL, msg, NULL);
}

/* route_start - look up where the recipients ridx[0..n) of q (one domain) go.
 * The domain is looked up and keyed by its A-labels (an IDN's U-labels
 * converted, RFC 5891); an address literal, with allow_domain_literals,
 * goes through dnslookup straight to its address (no query, the
 * transport's port); a manualroute rule that takes it still applies. */
static void
route_start(struct eng_qmsg *q, const char *udomain, const uint32_t *ridx, size_t n)
{
    const struct cfg_route_rule *rule = NULL;
    const struct cfg_router *r;
    struct route_req *rq;
    char domain[256], ip[64];
    const char *why = NULL;

    if (addr_domain_ascii(udomain, domain, sizeof(domain), &why) < 0)
        r = NULL;
    else if (domain[0] == '[' && !S.cfg->allow_domain_literals)
        r = NULL, why = "domain literals are not accepted";
    else
        r = route_find(domain, &rule);
    if (r == NULL) {
        route_refuse(q, ridx, n, why);
        return;
    }
    if ((rq = calloc(1, sizeof(*rq))) == NULL || (rq->ridx = malloc(n * sizeof(*ridx))) == NULL)
        abort();
    rq->q = q;
    rq->router = r;
    snprintf(rq->domain, sizeof(rq->domain), "%s", domain);
    memcpy(rq->ridx, ridx, n * sizeof(*ridx));
    rq->n = n;
    rq->port = r->transport->port;
    for (size_t k = 0; k < n; k++)
        q->busy[ridx[k]] = 1;
    q->inflight += (int)n;
    if (rule != NULL) {
        const char **names = calloc(rule->nhosts, sizeof(char *));
        if (names == NULL)
            abort();
        for (size_t i = 0; i < rule->nhosts; i++)
            names[i] = rule->hosts[i].name;
        if (rule->nhosts > 0 && rule->hosts[0].port)
            rq->port = rule->hosts[0].port;
        dns_resolve_hosts(S.dns, names, rule->nhosts, on_routed, rq);
        free(names);
    } else if (addr_literal_ip(domain, ip, sizeof(ip)) == 0) {
        const char *names[1] = {ip};
        dns_resolve_hosts(S.dns, names, 1, on_routed, rq);
    } else {
        dns_resolve_mx(S.dns, domain, on_routed, rq);
    }
}

/* on_qmsg_timer - a message's next retry time came */
static void
on_qmsg_timer(eng_loop *loop, struct eng_timer *t)
{
    (void)loop;
    qmsg_schedule(t->data);
}

/* qmsg_schedule - route the recipients that are due; wake up for the rest */
static void
qmsg_schedule(struct eng_qmsg *q)
{
    struct spool_msg *m = q->m;
    int64_t now = now_s(), next = 0;
    uint32_t *ridx = malloc(m->nrcpt * sizeof(*ridx));
    uint8_t *taken = calloc(m->nrcpt, 1);
    char dom[256], dom2[256];
    if (ridx == NULL || taken == NULL)
        abort();
    for (uint32_t i = 0; i < m->nrcpt; i++) {
        struct spool_rcpt *rc = &m->rcpt[i];
        size_t n = 0;
        if (rc->state != SPOOL_RCPT_PENDING || q->busy[i] || taken[i])
            continue;
        if (rc->next_try > now) {
            if (next == 0 || rc->next_try < next)
                next = rc->next_try;
            continue;
        }
        addr_domain_lower(rc->address, dom, sizeof(dom));
        for (uint32_t k = i; k < m->nrcpt; k++) {
            struct spool_rcpt *o = &m->rcpt[k];
            if (o->state != SPOOL_RCPT_PENDING || q->busy[k] || taken[k] || o->next_try > now)
                continue;
            addr_domain_lower(o->address, dom2, sizeof(dom2));
            if (strcmp(dom, dom2) == 0) {
                taken[k] = 1;
                ridx[n++] = k;
            }
        }
        route_start(q, dom, ridx, n);
    }
    free(ridx);
    free(taken);
    if (next != 0)
        eng_timer_start(S.loop, &q->timer, (uint64_t)(next - now) * 1000u);
    if (q->inflight == 0 && qmsg_final(q) == m->nrcpt) {
        qmsg_settle(q);
    } else if (q->dirty) {
        spool_update(S.sp, m);
        q->dirty = 0;
    }
}

/* on_new_msg - a message was committed (or recovered): start on it */
static void
on_new_msg(eng_loop *loop, void *arg)
{
    struct spool_msg *m = arg;
    struct eng_qmsg *q;
    (void)loop;
    if (S.stopping || S.draining) { /* durable already: the next start delivers it */
        spool_msg_free(m);
        return;
    }
    q = calloc(1, sizeof(*q));
    if (q == NULL || (q->busy = calloc(m->nrcpt, 1)) == NULL ||
        (q->fail_text = calloc(m->nrcpt, sizeof(char *))) == NULL)
        abort();
    q->m = m;
    q->next = S.qhead;
    if (S.qhead)
        S.qhead->prev = q;
    S.qhead = q;
    eng_timer_init(&q->timer, on_qmsg_timer, q);
    S.queued++;
    S.queued_rcpts += m->nrcpt - qmsg_final(q);
    metrics_gauge_set(MG_QUEUED, S.queued);
    metrics_gauge_set(MG_QUEUED_RCPTS, S.queued_rcpts);
    if (S.cfg->queue_only && !S.starting)
        return; /* queue_only: kept on the spool until a start without it */
    qmsg_schedule(q);
}

/* eng_commit_hook - the spool committed msg: hand it to the scheduler */
void
eng_commit_hook(struct spool_msg *msg, void *arg)
{
    (void)arg;
    if (eng_loop_post(S.loop, on_new_msg, msg) < 0)
        abort();
}

/* eng_force_retry - -qf: recovered mail ignores its retry times */
void
eng_force_retry(int on)
{
    force_retry = on;
}

/* eng_adopt - a recovered message, before eng_start */
void
eng_adopt(struct spool_msg *msg, void *arg)
{
    (void)arg;
    if (force_retry)
        for (uint32_t i = 0; i < msg->nrcpt; i++)
            msg->rcpt[i].next_try = 0;
    S.adopted = realloc(S.adopted, (S.nadopted + 1) * sizeof(*S.adopted));
    if (S.adopted == NULL)
        abort();
    S.adopted[S.nadopted++] = msg;
}

/* ------------------------------------------------------- job results */

/* dest_note_outcome - connection failures back the destination off as a
 * whole (one failure must not become N message failures); success resets */
static void
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
    rule = d->nhosts ? cfg_retry_find(S.cfg, d->hosts[0].name) : NULL;
    iv = retry_next_interval(rule ? rule : &retry_default_rule, (long)(now - d->first_conn_failure),
                             d->backoff_interval, rnd01());
    if (iv < 1)
        iv = 60;
    d->backoff_interval = iv;
    d->backoff_until = now + iv;
}

/* job_record - apply a job's per-recipient results to its message */
static void
job_record(struct eng_job *j)
{
    struct eng_qmsg *q = j->q;
    struct eng_dest *d = j->d;
    char names[300];
    int deferred_event = 0;
    rcpt_log_names(d->router, names, sizeof(names));
    job_release_rcpts(j);
    for (size_t k = 0; k < j->n; k++) {
        uint32_t i = j->ridx[k];
        const char *text = j->text[k] ? j->text[k] : "";
        if (j->res[k] == ENG_R_OK) {
            q->m->rcpt[i].state = SPOOL_RCPT_DELIVERED;
            q->dirty = 1;
            S.queued_rcpts--;
            d->delivered++;
            metrics_inc(MC_DELIVERED);
            log_info("%s => %s%s %s%s%s%s%s C=\"%s\"", q->m->id, q->m->rcpt[i].address, names,
                     j->host, j->tls_x[0] ? " X=" : "", j->tls_x, j->tls_cv[0] ? " CV=" : "",
                     j->tls_cv, text);
            msg_event(d->tp->event_action, "msg:delivery", q, i, j, text, 0);
        } else if (j->res[k] == ENG_R_DEFER) {
            d->deferred++;
            if (!deferred_event++) /* once per attempt on this host */
                msg_event(d->tp->event_action, "msg:host:defer", q, i, j, text, j->defer_errno);
            rcpt_defer(q, i, d->router, j->host, text, j->conn_failed ? d->backoff_until : 0,
                       j->conn_failed ? NULL : j);
        } else {
            d->failed++;
            rcpt_fail(q, i, d->router, j->host, text, j);
        }
    }
}

/* on_job_done - a worker returned a job */
static void
on_job_done(eng_loop *loop, void *arg)
{
    struct eng_job *j = arg;
    struct eng_dest *d = j->d;
    struct eng_qmsg *q = j->q;
    (void)loop;
    if (j->abandoned) { /* shut-down: no result, the recipients stay as they were */
        job_release_rcpts(j);
        job_free(j);
        return;
    }
    dest_note_outcome(d, j->conn_failed);
    dest_count_done(d);
    job_record(j);
    if (j->sess_closed)
        d->nconn--;
    else if (!j->sess_closing)
        dest_park(d, j->worker, j->sess);
    job_free(j);
    qmsg_settle(q);
    dest_dispatch(d);
}

/* sched_job_done - worker thread: give a finished job back */
static void
sched_job_done(struct eng_job *job)
{
    if (eng_loop_post(S.loop, on_job_done, job) < 0)
        abort();
}

struct idle_note {
    struct eng_worker *w;
    struct eng_session *s;
    struct eng_dest *d;
};

/* on_idle_expired - a cached session timed out or died while idle */
static void
on_idle_expired(eng_loop *loop, void *arg)
{
    struct idle_note *n = arg;
    struct eng_dest *d = n->d;
    (void)loop;
    for (size_t i = 0; i < d->nidle; i++) {
        if (d->idle[i].s != n->s)
            continue;
        d->idle[i] = d->idle[--d->nidle];
        metrics_gauge_add(MG_CONN_CACHED, -1);
        eng_worker_close(n->w, n->s); /* nconn drops when it has closed */
        break;
    }
    /* not found: a job was already lent to that session; the worker goes on */
    free(n);
    dest_dispatch(d);
}

/* on_conn_closed - a quitting session's connection is gone */
static void
on_conn_closed(eng_loop *loop, void *arg)
{
    struct eng_dest *d = arg;
    (void)loop;
    d->nconn--;
    dest_dispatch(d);
}

/* sched_conn_closed - worker thread: a quitting session of d has closed */
static void
sched_conn_closed(struct eng_dest *d)
{
    if (eng_loop_post(S.loop, on_conn_closed, d) < 0)
        abort();
}

/* sched_idle_expired - worker thread: a cached session wants to close */
static void
sched_idle_expired(struct eng_worker *w, struct eng_session *s, struct eng_dest *d)
{
    struct idle_note *n = malloc(sizeof(*n));
    if (n == NULL)
        abort();
    *n = (struct idle_note){.w = w, .s = s, .d = d};
    if (eng_loop_post(S.loop, on_idle_expired, n) < 0)
        abort();
}

/* sched_drained - worker thread: w has no message on the wire any more */
static void
sched_drained(struct eng_worker *w)
{
    (void)w;
    pthread_mutex_lock(&D.mu);
    if (--D.left == 0)
        pthread_cond_signal(&D.cv);
    pthread_mutex_unlock(&D.mu);
}

static const struct eng_worker_ops worker_ops = {
    .job_done = sched_job_done,
    .idle_expired = sched_idle_expired,
    .conn_closed = sched_conn_closed,
    .drained = sched_drained,
};

/* ------------------------------------------------------- start, stop */

/* sched_main - the scheduler thread */
static void *
sched_main(void *arg)
{
    (void)arg;
    S.starting = 1;
    for (size_t i = 0; i < S.nadopted; i++)
        on_new_msg(S.loop, S.adopted[i]);
    S.starting = 0;
    free(S.adopted);
    S.adopted = NULL;
    S.nadopted = 0;
    eng_loop_run(S.loop);
    return NULL;
}

/* eng_start - start the scheduler and the workers */
int
eng_start(const struct cfg *cfg, spool *sp, char *err, size_t errlen)
{
    S.cfg = cfg;
    S.sp = sp;
    grace_s = cfg->shutdown_grace_s;
    S.rnd = (uint32_t)time(NULL) ^ (uint32_t)getpid();
    if ((S.loop = eng_loop_new()) == NULL) {
        snprintf(err, errlen, "cannot create the scheduler loop: %s", strerror(errno));
        return -1;
    }
    if ((S.dns = dns_resolver_new(S.loop, cfg->dns_servers, cfg->n_dns_servers, err, errlen)) ==
        NULL)
        return -1;
    S.nworkers = cfg->worker_threads > 0 ? cfg->worker_threads : 1;
    if ((S.workers = calloc((size_t)S.nworkers, sizeof(*S.workers))) == NULL)
        abort();
    for (int i = 0; i < S.nworkers; i++) {
        if ((S.workers[i] = eng_worker_new(i, cfg, sp, &worker_ops, err, errlen)) == NULL)
            return -1;
        if (eng_worker_start(S.workers[i]) < 0) {
            snprintf(err, errlen, "cannot start worker thread %d", i);
            return -1;
        }
    }
    if (pthread_create(&S.thread, NULL, sched_main, NULL) != 0) {
        snprintf(err, errlen, "cannot start the scheduler thread");
        return -1;
    }
    return 0;
}

/* on_reload - scheduler thread: switch configuration, refresh destination limits */
static void
on_reload(eng_loop *loop, void *arg)
{
    (void)loop;
    S.cfg = arg;
    for (size_t b = 0; b < DEST_BUCKETS; b++)
        for (struct eng_dest *d = S.dests[b]; d; d = d->hnext) {
            dest_policy(d);
            dest_dispatch(d);
        }
    log_info("configuration reloaded: %zu router(s), %zu transport(s), %zu destination "
             "entr%s",
             S.cfg->nrouters, S.cfg->ntransports, S.cfg->ndestinations,
             S.cfg->ndestinations == 1 ? "y" : "ies");
}

/* eng_reload - switch the scheduler and the workers to a new configuration */
void
eng_reload(const struct cfg *cfg)
{
    grace_s = cfg->shutdown_grace_s;
    for (int i = 0; i < S.nworkers; i++)
        eng_worker_reload(S.workers[i], cfg);
    if (eng_loop_post(S.loop, on_reload, (void *)cfg) < 0)
        abort();
}

/* dest_free - release a destination and the jobs waiting in it */
static void
dest_free(struct eng_dest *d)
{
    struct eng_job *j, *next;
    for (j = d->ready_head; j; j = next) {
        next = j->next;
        job_free(j);
    }
    eng_timer_stop(S.loop, &d->rate_timer);
    for (size_t i = 0; i < d->nhosts; i++) {
        free(d->hosts[i].name);
        free(d->hosts[i].addrs);
    }
    free(d->hosts);
    free(d->idle);
    free(d->key);
    free(d->domain);
    free(d);
}

/* on_shutdown - scheduler thread, after the workers stopped: free it all */
static void
on_shutdown(eng_loop *loop, void *arg)
{
    struct eng_qmsg *q, *next;
    (void)arg;
    S.stopping = 1;
    dns_resolver_free(S.dns); /* pending lookups call back, and are ignored */
    S.dns = NULL;
    for (size_t b = 0; b < DEST_BUCKETS; b++) {
        struct eng_dest *d, *dn;
        for (d = S.dests[b]; d; d = dn) {
            dn = d->hnext;
            dest_free(d);
        }
        S.dests[b] = NULL;
    }
    for (q = S.qhead; q; q = next) {
        next = q->next;
        if (!q->completing) /* a completing one waits for its notice's commit */
            qmsg_free(q);
    }
    eng_loop_stop(loop);
}

/* on_drain - scheduler thread: lend no more jobs */
static void
on_drain(eng_loop *loop, void *arg)
{
    (void)loop;
    (void)arg;
    S.draining = 1;
}

/* drain - the workers finish what they have on the wire, for at most
 * grace_s seconds; main thread */
static void
drain(void)
{
    struct timespec until;
    int left;
    if (eng_loop_post(S.loop, on_drain, NULL) < 0)
        abort();
    pthread_mutex_lock(&D.mu);
    D.left = S.nworkers;
    pthread_mutex_unlock(&D.mu);
    for (int i = 0; i < S.nworkers; i++)
        eng_worker_drain(S.workers[i]);
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += grace_s;
    pthread_mutex_lock(&D.mu);
    while (D.left > 0 && pthread_cond_timedwait(&D.cv, &D.mu, &until) != ETIMEDOUT)
        ;
    left = D.left;
    pthread_mutex_unlock(&D.mu);
    if (left > 0)
        log_warn("shutdown_grace of %ds over with %d worker(s) still waiting for the reply to "
                 "a message: those recipients stay queued and may be delivered again",
                 grace_s, left);
}

/* eng_stop - let messages on the wire finish, stop the workers, then the scheduler */
void
eng_stop(void)
{
    if (S.loop == NULL)
        return;
    drain();
    for (int i = 0; i < S.nworkers; i++)
        eng_worker_stop(S.workers[i]);
    free(S.workers);
    S.workers = NULL;
    S.nworkers = 0;
    if (eng_loop_post(S.loop, on_shutdown, NULL) < 0)
        abort();
    pthread_join(S.thread, NULL);
}

/* eng_finish - run the spool writer's last hand-overs, then free the loop */
void
eng_finish(void)
{
    struct eng_qmsg *q, *next;
    if (S.loop == NULL)
        return;
    eng_loop_run_once(S.loop, 0);
    for (q = S.qhead; q; q = next) {
        next = q->next;
        qmsg_free(q);
    }
    eng_loop_free(S.loop);
    S.loop = NULL;
}

struct queue_req {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    char *json;
};

/* json_str - append s as a JSON string (names and keys here are plain ASCII) */
static size_t
json_str(char *out, size_t len, const char *s)
{
    size_t o = 0;
    if (o < len)
        out[o] = '"';
    o++;
    for (; *s; s++) {
        if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
            continue;
        if (o < len)
            out[o] = *s;
        o++;
    }
    if (o < len)
        out[o] = '"';
    return o + 1;
}

/* queue_json_build - the per-destination summary (scheduler thread) */
static char *
queue_json_build(void)
{
    size_t cap = 1 << 16, off = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        abort();
    off += (size_t)snprintf(buf, cap, "{\"messages\":%ld,\"recipients\":%ld,\"destinations\":[",
                            S.queued, S.queued_rcpts);
    int first = 1;
    for (size_t b = 0; b < DEST_BUCKETS; b++)
        for (struct eng_dest *d = S.dests[b]; d; d = d->hnext) {
            if (cap - off < 1024 + strlen(d->key)) {
                cap = cap * 2 + strlen(d->key);
                if ((buf = realloc(buf, cap)) == NULL)
                    abort();
            }
            off += (size_t)snprintf(buf + off, cap - off, "%s{\"destination\":", first ? "" : ",");
            off += json_str(buf + off, cap - off, d->key);
            off += (size_t)snprintf(
                buf + off, cap - off,
                ",\"ready\":%zu,\"connections\":%d,\"idle\":%zu,\"backoff_until\":%lld,"
                "\"delivered\":%llu,\"deferred\":%llu,\"failed\":%llu}",
                d->nready, d->nconn, d->nidle, (long long)d->backoff_until,
                (unsigned long long)d->delivered, (unsigned long long)d->deferred,
                (unsigned long long)d->failed);
            first = 0;
        }
    snprintf(buf + off, cap - off, "]}");
    return buf;
}

/* on_queue_req - answer a queue summary request */
static void
on_queue_req(eng_loop *loop, void *arg)
{
    struct queue_req *r = arg;
    (void)loop;
    char *json = queue_json_build();
    pthread_mutex_lock(&r->mu);
    r->json = json;
    r->done = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* eng_queue_json - ask the scheduler for the queue summary (waits up to 2 s) */
char *
eng_queue_json(void)
{
    struct queue_req *r = calloc(1, sizeof(*r));
    struct timespec ts;
    char *json = NULL;
    if (r == NULL || S.loop == NULL) {
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    if (eng_loop_post(S.loop, on_queue_req, r) < 0) {
        free(r);
        return NULL;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 2;
    pthread_mutex_lock(&r->mu);
    while (!r->done && pthread_cond_timedwait(&r->cv, &r->mu, &ts) == 0)
        ;
    json = r->json;
    r->json = NULL;
    pthread_mutex_unlock(&r->mu);
    /* on time-out the request is still queued: leave it allocated */
    if (r->done)
        free(r);
    return json;
}
