/*
 * sched_route.c - new and recovered messages, routing and retry timing:
 *                 which recipients are due, which router takes their domain,
 *                 the DNS lookup of where they go, and the hand-over of the
 *                 result to a destination; settling a message after results.
 *
 * Scheduler thread only, except eng_commit_hook (spool writer thread: posts).
 * Calls sched_dest.c and sched_state.c.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/metrics.h"
#include "conf/address.h"
#include "engine/admin_int.h"
#include "engine/dkim_sign.h"
#include "engine/sched_int.h"

static int force_retry; /* -qf: recovered mail is tried at once */

/* A lookup that did not complete (time-out, server failure) is tried again
 * this soon, not at the retry rule's next time: it says nothing about the
 * destination, and a burst of lookups can time out together. */
#define DNS_RETRY_SOON_S 30

/* A routing request: the recipients of one message for one domain. */
struct route_req {
    struct eng_qmsg *q;
    const struct cfg_router *router;
    char domain[256];
    uint16_t port;
    unsigned gen; /* sch.gen when it started: router belongs to that configuration */
    size_t n;
    uint32_t *ridx;
    struct dns_result *res; /* the answer, kept while the message is being signed */
};

/* route_find - the first router that takes domain (and its route rule) */
static const struct cfg_router *
route_find(const char *domain, const struct cfg_route_rule **rule)
{
    for (size_t i = 0; i < sch.cfg->nrouters; i++) {
        const struct cfg_router *r = &sch.cfg->routers[i];
        if (r->has_domains && !cfg_domainlist_match(&r->domains, domain))
            continue;
        if (r->driver == CFG_ROUTER_MANUALROUTE) {
            if ((*rule = cfg_router_find_route(r, domain)) == NULL)
                continue;
            return r;
        }
        if (r->driver == CFG_ROUTER_DNSLOOKUP)
            return r;
        if (r->transport != NULL && r->transport->driver == CFG_TRANSPORT_QUEUEFILE)
            return r; /* an accept router: no lookup (queuefile.c) */
    }
    return NULL;
}

/* rcpt_soon - a deferred recipient i of q is tried again within secs */
static void
rcpt_soon(struct eng_qmsg *q, uint32_t i, int secs)
{
    struct spool_rcpt *rc = &q->m->rcpt[i];
    if (rc->state == SPOOL_RCPT_PENDING && rc->next_try > now_s() + secs)
        rc->next_try = now_s() + secs;
}

/* route_release - recipients of a routing request leave the busy state */
static void
route_release(struct route_req *rq)
{
    for (size_t k = 0; k < rq->n; k++)
        rq->q->busy[rq->ridx[k]] = 0;
    rq->q->inflight -= (int)rq->n;
}

/* qmsg_hold - d got jobs of q while other lookups of q are in flight:
 * lend them once the last one answers (a reload in between retires d) */
static void
qmsg_hold(struct eng_qmsg *q, struct eng_dest *d)
{
    if (q->hold_gen != sch.gen)
        q->nhold = 0;
    q->hold_gen = sch.gen;
    for (uint32_t i = 0; i < q->nhold; i++)
        if (q->hold[i] == d)
            return;
    if ((q->hold = realloc(q->hold, (q->nhold + 1) * sizeof(*q->hold))) == NULL)
        abort();
    q->hold[q->nhold++] = d;
}

/* qmsg_take_held - once q's last lookup has answered, the destinations
 * held for it, taken off q (NULL, *n = 0 while lookups are in flight). They
 * are lent with lend_held() after anything that may settle (and free) q:
 * their waiting jobs keep q alive until then. */
static struct eng_dest **
qmsg_take_held(struct eng_qmsg *q, uint32_t *n)
{
    struct eng_dest **h = q->hold;
    *n = 0;
    if (q->routing > 0)
        return NULL;
    if (q->hold_gen == sch.gen)
        *n = q->nhold;
    q->hold = NULL;
    q->nhold = 0;
    return h;
}

/* lend_held - dispatch the n destinations h that were held, and free h */
static void
lend_held(struct eng_dest **h, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        dest_dispatch(h[i]);
    free(h);
}

/* route_answered - DNS_OK: the recipients join d's ready queue, lent once
 * every lookup of the message has answered */
static void
route_answered(struct route_req *rq, const struct dns_result *res)
{
    struct eng_dest *d = dest_get(rq->router, rq->port, res, rq->domain), **h;
    uint32_t n;
    dest_enqueue(d, rq->q, rq->ridx, rq->n);
    if (rq->q->routing == 0 && rq->q->nhold == 0) {
        dest_dispatch(d); /* the common case, one domain: nothing was held */
        return;
    }
    qmsg_hold(rq->q, d);
    h = qmsg_take_held(rq->q, &n);
    lend_held(h, n);
}

/* route_failed - no usable answer: defer (soon) or fail the recipients */
static void
route_failed(struct route_req *rq, const struct dns_result *res)
{
    struct eng_qmsg *q = rq->q;
    struct eng_dest **h;
    uint32_t nh;
    char why[300];
    route_release(rq);
    for (size_t k = 0; k < rq->n; k++) {
        if (res->status == DNS_RETRY) {
            snprintf(why, sizeof(why), "host lookup did not complete: %s", res->why);
            rcpt_defer(q, rq->ridx[k], rq->router, NULL, why, 0, NULL);
            rcpt_soon(q, rq->ridx[k], DNS_RETRY_SOON_S);
        } else if (res->status == DNS_NULLMX) {
            rcpt_fail(q, rq->ridx[k], rq->router, NULL,
                      "domain does not accept mail (null MX, RFC 7505): 556 5.1.10", NULL);
        } else {
            snprintf(why, sizeof(why), "Unrouteable address (%s)", res->why);
            rcpt_fail(q, rq->ridx[k], rq->router, NULL, why, NULL);
        }
    }
    h = qmsg_take_held(q, &nh);
    qmsg_settle(q);
    lend_held(h, nh);
}

/* route_done - DNS answered for a routing request (and the message was
 * signed, if its transport signs) */
static void
route_done(struct route_req *rq, struct dns_result *res)
{
    struct eng_qmsg *q = rq->q;
    struct eng_dest **h;
    uint32_t nh;

    q->routing--;
    if (sch.stopping) { /* cancelled by the shut-down: leave the recipients as they are */
        route_release(rq);
    } else if (rq->gen != sch.gen) { /* a reload came meanwhile: route under the new one */
        route_release(rq);
        h = qmsg_take_held(q, &nh);
        qmsg_schedule(q);
        lend_held(h, nh);
    } else if (res->status == DNS_OK) {
        route_answered(rq, res);
    } else {
        route_failed(rq, res);
    }
    dns_result_free(res);
    free(rq->ridx);
    free(rq);
}

/* on_signed - the signing threads are done with the message: go on */
static void
on_signed(void *arg)
{
    struct route_req *rq = arg;
    route_done(rq, rq->res);
}

/* route_sign - the transport signs and the message has no fields for it
 * yet: have them computed off the loop (dkim_pool.c) before its jobs are
 * lent; 1 if so (on_signed goes on), 0 when there is nothing to sign */
static int
route_sign(struct route_req *rq, struct dns_result *res)
{
    const struct cfg_transport *tp = rq->router->transport;
    if (res->status != DNS_OK || sch.stopping || rq->gen != sch.gen || !eng_dkim_wanted(tp) ||
        eng_dkim_known(&rq->q->dkim, tp))
        return 0;
    rq->res = res;
    return dkp_sign(rq->q, tp, on_signed, rq) == 0;
}

/* on_routed - DNS answered for a routing request */
static void
on_routed(struct dns_result *res, void *arg)
{
    if (!route_sign(arg, res))
        route_done(arg, res);
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
 * transport's port); a manualroute rule that takes it still applies. A
 * domain an operator rebound (admin.h) routes as admin_rebound says. */
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
    else if (domain[0] == '[' && !sch.cfg->allow_domain_literals)
        r = NULL, why = "domain literals are not accepted";
    else if ((r = admin_rebound(q, sch.cfg, sch.gen, udomain, domain, &rule)) == NULL)
        r = route_find(domain, &rule); /* not rebound by an operator (admin_rebind.c) */
    if (r == NULL) {
        route_refuse(q, ridx, n, why);
        return;
    }
    if (r->transport->driver == CFG_TRANSPORT_QUEUEFILE) { /* no lookup: written off-loop */
        if (!sch.draining && !sch.stopping)
            qf_deliver(q, r, ridx, n);
        return;
    }
    if ((rq = calloc(1, sizeof(*rq))) == NULL || (rq->ridx = malloc(n * sizeof(*ridx))) == NULL)
        abort();
    rq->q = q;
    rq->router = r;
    rq->gen = sch.gen;
    q->routing++;
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
        dns_resolve_hosts(sch.dns, names, rule->nhosts, on_routed, rq);
        free(names);
    } else if (addr_literal_ip(domain, ip, sizeof(ip)) == 0) {
        const char *names[1] = {ip};
        dns_resolve_hosts(sch.dns, names, 1, on_routed, rq);
    } else {
        dns_resolve_mx(sch.dns, domain, on_routed, rq);
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
void
qmsg_schedule(struct eng_qmsg *q)
{
    struct spool_msg *m = q->m;
    int64_t now = now_s(), next = 0;
    uint32_t *ridx = malloc(m->nrcpt * sizeof(*ridx));
    uint8_t *taken = calloc(m->nrcpt, 1);
    char dom[256], dom2[256];
    if (ridx == NULL || taken == NULL)
        abort();
    if (admin_sched_hook(q)) { /* admin.c: deleted by an operator */
        free(ridx);
        free(taken);
        return;
    }
    for (uint32_t i = 0; i < m->nrcpt; i++) {
        struct spool_rcpt *rc = &m->rcpt[i];
        size_t n = 0;
        if (rc->state != SPOOL_RCPT_PENDING || q->busy[i] || taken[i] || admin_held(q, i))
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
        eng_timer_start(sch.loop, &q->timer, (uint64_t)(next - now) * 1000u);
    if (q->inflight == 0 && qmsg_final(q) == m->nrcpt) {
        qmsg_settle(q);
    } else if (q->dirty) {
        spool_update(sch.sp, m);
        q->dirty = 0;
    }
}

/* qmsg_settle - after results: notices that are due, then persist,
 * complete (once the notices are durable), or schedule the next try */
void
qmsg_settle(struct eng_qmsg *q)
{
    struct spool_msg *m = q->m;
    int final;
    metrics_gauge_set(MG_QUEUED_RCPTS, sch.queued_rcpts);
    if (q->completing)
        return;
    final = qmsg_final(q) == m->nrcpt;
    dsn_check(q, final && q->inflight == 0);
    if (!final) {
        spool_update(sch.sp, m);
        q->dirty = 0;
        qmsg_schedule(q);
        return;
    }
    if (q->inflight > 0)
        return;
    q->completing = 1;
    if (q->notices == 0) /* else on_report_committed (sched_dsn.c) removes it */
        finish_remove(q);
}

/* on_new_msg - a message was committed (or recovered): start on it */
void
on_new_msg(eng_loop *loop, void *arg)
{
    struct spool_msg *m = arg;
    struct eng_qmsg *q;
    (void)loop;
    if (sch.stopping || sch.draining) { /* durable already: the next start delivers it */
        spool_msg_free(m);
        return;
    }
    q = calloc(1, sizeof(*q));
    if (q == NULL || (q->busy = calloc(m->nrcpt, 1)) == NULL)
        abort();
    q->m = m;
    dsn_init(q);
    q->next = sch.qhead;
    if (sch.qhead)
        sch.qhead->prev = q;
    sch.qhead = q;
    eng_timer_init(&q->timer, on_qmsg_timer, q);
    sch.queued++;
    sch.queued_rcpts += m->nrcpt - qmsg_final(q);
    metrics_gauge_set(MG_QUEUED, sch.queued);
    metrics_gauge_set(MG_QUEUED_RCPTS, sch.queued_rcpts);
    if (sch.cfg->queue_only && !(sch.starting && force_retry))
        return; /* queue_only: kept on the spool until a start without it, or -qf */
    qmsg_schedule(q);
}

/* eng_commit_hook - the spool committed msg: hand it to the scheduler */
void
eng_commit_hook(struct spool_msg *msg, void *arg)
{
    (void)arg;
    if (eng_loop_post(sch.loop, on_new_msg, msg) < 0)
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
    if (sch.nadopted == sch.adopt_cap) {
        sch.adopt_cap = sch.adopt_cap ? sch.adopt_cap * 2 : 1024;
        if ((sch.adopted = realloc(sch.adopted, sch.adopt_cap * sizeof(*sch.adopted))) == NULL)
            abort();
    }
    sch.adopted[sch.nadopted++] = msg;
}
