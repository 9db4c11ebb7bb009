/*
 * sched_state.c - the scheduler's state and what happens to one queued
 *                 message's recipients: delivered, deferred per the retry
 *                 rules, failed, and the message's removal once complete.
 *                 The lowest file of the scheduler: it calls no other
 *                 sched_*.c file (sched_dsn.c's notes on outcomes go
 *                 through sch.outcome).
 *
 * Scheduler thread only.
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
#include "base/log_record.h"
#include "base/metrics.h"
#include "conf/address.h"
#include "engine/admin_int.h"
#include "engine/dkim_sign.h"
#include "engine/event.h"
#include "engine/retry.h"
#include "engine/sched_int.h"

struct sched sch;

/* now_s - wall clock seconds */
int64_t
now_s(void)
{
    return (int64_t)time(NULL);
}

/* rnd01 - a random value in [0,1) for H retry steps */
double
rnd01(void)
{
    sch.rnd = sch.rnd * 1103515245u + 12345u;
    return (double)(sch.rnd >> 8) / (double)(1u << 24);
}

/* qmsg_done_count - recipients in a final state */
uint32_t
qmsg_final(const struct eng_qmsg *q)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < q->m->nrcpt; i++)
        n += q->m->rcpt[i].state != SPOOL_RCPT_PENDING;
    return n;
}

/* note_free - free a recipient's note (NULL is fine) */
static void
note_free(struct rcpt_note *n)
{
    if (n == NULL)
        return;
    free(n->text);
    free(n->mta);
    free(n->ip);
    free(n->port);
    free(n->greeting);
    free(n->helo);
    free(n);
}

/* qmsg_free - forget a completed message */
void
qmsg_free(struct eng_qmsg *q)
{
    admin_forget(q); /* admin.c: a walk in progress steps past q */
    eng_timer_stop(sch.loop, &q->timer);
    if (q->prev)
        q->prev->next = q->next;
    else if (sch.qhead == q)
        sch.qhead = q->next;
    if (q->next)
        q->next->prev = q->prev;
    eng_timer_stop(sch.loop, &q->dsn_timer);
    for (uint32_t i = 0; i < q->m->nrcpt; i++)
        note_free(q->note[i]);
    free(q->note);
    free(q->busy);
    free(q->hold);
    eng_dkim_forget(&q->dkim);
    spool_msg_free(q->m);
    free(q);
}

/* msg_event - raise a msg:* event off the scheduler's loop (the result is
 * ignored). i: the recipient (UINT32_MAX for message events); j: the job
 * that reached a host (NULL when none did). Costs nothing without an action. */
void
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
    ev.v[EV_PRIMARY_HOSTNAME] = sch.cfg->primary_hostname;
    ev.v[EV_TLS_OUT_DANE] = "no";
    ev.v[EV_LOOKUP_DNSSEC_AUTHENTICATED] = "no";
    if (j != NULL) {
        ev.v[EV_ROUTER_NAME] = j->d->router ? j->d->router->name : NULL;
        ev.v[EV_TRANSPORT_NAME] = j->d->tp->name;
        ev.v[EV_HOST] = j->at->host_name;
        ev.v[EV_HOST_ADDRESS] = j->at->host_ip;
        ev.v[EV_HOST_PORT] = j->at->host_port;
        ev.v[EV_SENDING_IP_ADDRESS] = j->at->sending_ip;
        ev.v[EV_SENDING_PORT] = j->at->sending_port;
        ev.v[EV_TLS_OUT_PEERCERT] = j->at->tls_peercert;
        ev.v[EV_VERIFY_MODE] = j->at->tls_verify_mode;
    }
    event_raise_async(q->m->id, event_ctx_dup(&ev), action);
}

/* finish_remove - remove the message from the spool and forget it */
void
finish_remove(struct eng_qmsg *q)
{
    spool_remove(sch.sp, q->m);
    log_info("%s Completed", q->m->id);
    msg_event(sch.cfg->event_action, "msg:complete", q, UINT32_MAX, NULL, NULL, 0);
    metrics_inc(MC_COMPLETED);
    sch.queued--;
    metrics_gauge_set(MG_QUEUED, sch.queued);
    qmsg_free(q);
    if (sch.queued == 0 && sch.on_empty != NULL && !eng_timer_armed(&sch.empty_timer))
        eng_timer_start(sch.loop, &sch.empty_timer, 1000);
}

/* qmsg_reported - q's last notice is durable: complete it, or free it
 * when stopping (the spool may be closed: the next start completes it) */
void
qmsg_reported(struct eng_qmsg *q)
{
    if (sch.stopping)
        qmsg_free(q);
    else
        finish_remove(q);
}

/* on_empty_timer - the queue emptied a second ago: run the hook if it still is */
void
on_empty_timer(eng_loop *loop, struct eng_timer *t)
{
    (void)loop;
    (void)t;
    if (sch.queued == 0 && !sch.stopping)
        sch.on_empty();
}

/* rcpt_log_prefix - " R=router T=transport" for log lines */
void
rcpt_log_names(const struct cfg_router *r, char *out, size_t len)
{
    if (r == NULL)
        out[0] = '\0';
    else if (r->transport)
        snprintf(out, len, " R=%s T=%s", r->name, r->transport->name);
    else
        snprintf(out, len, " R=%s", r->name);
}

/* rcpt_record - one JSON delivery log record for recipient i */
void
rcpt_record(int kind, const struct eng_qmsg *q, uint32_t i, const struct cfg_router *r,
            const char *why, const struct eng_job *j)
{
    const struct spool_rcpt *rc = &q->m->rcpt[i];
    struct log_rec rec = {.kind = (enum log_rec_kind)kind,
                          .id = q->m->id,
                          .sender = q->m->sender,
                          .recipient = rc->address,
                          .response = why,
                          .size = (int64_t)q->m->body_len,
                          .arrival_us = q->m->arrival_us};
    if (j != NULL) { /* per-destination series (base/metrics.h) */
        static const int ev[] = {[LOG_REC_DELIVERY] = MD_DELIVERED,
                                 [LOG_REC_DEFERRAL] = MD_DEFERRED,
                                 [LOG_REC_FAILURE] = MD_FAILED,
                                 [LOG_REC_EXPIRY] = MD_FAILED};
        metrics_dest_count(j->d->key, (enum metrics_dest_event)ev[kind]);
        metrics_dest_queue(j->d->key, (int64_t)j->d->nready);
    }
    if (kind != LOG_REC_DEFERRAL) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        metrics_observe(MH_QUEUE_TIME,
                        (double)ts.tv_sec + ts.tv_nsec / 1e9 - (double)q->m->arrival_us / 1e6);
    }
    if (!log_record_enabled())
        return;
    rec.attempt = rc->attempts + (kind == LOG_REC_DEFERRAL ? 0 : 1);
    rec.router = r ? r->name : NULL;
    rec.transport = r && r->transport ? r->transport->name : NULL;
    if (j != NULL) {
        rec.destination = j->d->key;
        if (j->at != NULL) {
            rec.host = j->at->host_name;
            rec.ip = j->at->host_ip;
            rec.port = atoi(j->at->host_port);
            rec.tls = j->at->tls_x;
            rec.verify = j->at->tls_cv;
        }
    }
    log_record(&rec);
}

/* rcpt_fail - recipient i failed for good */
void
rcpt_fail(struct eng_qmsg *q, uint32_t i, const struct cfg_router *r, const char *host,
          const char *why, const struct eng_job *j)
{
    char names[300];
    rcpt_log_names(r, names, sizeof(names));
    q->m->rcpt[i].state = SPOOL_RCPT_FAILED;
    q->dirty = 1;
    sch.outcome(q, i, why, j, 1);
    sch.queued_rcpts--;
    metrics_inc(MC_FAILED);
    log_info("%s ** %s%s%s%s: %s", q->m->id, q->m->rcpt[i].address, names, host && *host ? " " : "",
             host ? host : "", why);
    rcpt_record(strncmp(why, "retry timeout exceeded", 22) == 0 ? LOG_REC_EXPIRY : LOG_REC_FAILURE,
                q, i, r, why, j);
    /* a remote host's refusal is a delivery failure; anything else is internal */
    msg_event(sch.cfg->event_action, j != NULL ? "msg:fail:delivery" : "msg:fail:internal", q, i, j,
              why, 0);
}

/* rcpt_defer - recipient i deferred: next try per the retry rules, or
 * failure once the retry period is over; not_before puts a floor on the
 * next try (a destination in back-off) */
void
rcpt_defer(struct eng_qmsg *q, uint32_t i, const struct cfg_router *r, const char *host,
           const char *why, int64_t not_before, const struct eng_job *j)
{
    struct spool_rcpt *rc = &q->m->rcpt[i];
    const struct cfg_retry_rule *rule = cfg_retry_find(sch.cfg, addr_domain(rc->address));
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
    sch.outcome(q, i, why, j, 0);
    rc->attempts++;
    rc->last_interval = (int32_t)iv;
    rc->next_try = now + iv;
    if (rc->next_try < not_before)
        rc->next_try = not_before;
    metrics_inc(MC_DEFERRED);
    rcpt_log_names(r, names, sizeof(names));
    log_info("%s == %s%s defer%s%s: %s", q->m->id, rc->address, names, host && *host ? " " : "",
             host ? host : "", why);
    rcpt_record(LOG_REC_DEFERRAL, q, i, r, why, j);
}
