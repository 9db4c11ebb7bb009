/*
 * admin_act.c - what each admin action does to one message (the walk's
 *               visit), what it does once before the walk, its log line,
 *               the scheduler's hooks, and the timer that ends timed
 *               suspensions (admin.h gives the semantics).
 *
 * Scheduler thread only.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "base/log_record.h"
#include "conf/address.h"
#include "engine/admin_int.h"
#include "engine/hoststate.h"

/* eng_admin_op_name - the action's name */
const char *
eng_admin_op_name(enum eng_admin_op op)
{
    static const char *const names[] = {"list",   "retry",   "freeze", "thaw",  "delete",
                                        "bounce", "suspend", "resume", "rebind"};
    return (unsigned)op < sizeof(names) / sizeof(names[0]) ? names[op] : "?";
}

/* may_start - would the engine start q's due recipients now? Not when
 * queue_only keeps it: never tried, not in flight and not released by an
 * operator's retry or rebind (on_new_msg did not schedule it) */
static int
may_start(const struct eng_qmsg *q)
{
    if (!sch.cfg->queue_only || (q->admin & ADMIN_Q_RELEASED) || q->inflight > 0)
        return 1;
    for (uint32_t i = 0; i < q->m->nrcpt; i++)
        if (q->m->rcpt[i].attempts > 0)
            return 1;
    return 0;
}

/* make_due - a's selected recipients of q are due now; how many */
static int
make_due(const struct adm_job *a, struct eng_qmsg *q)
{
    int n = 0;

    for (uint32_t i = 0; i < q->m->nrcpt; i++)
        if (rcpt_selected(a, q, i)) {
            q->m->rcpt[i].next_try = 0;
            n++;
        }
    return n;
}

/* visit_retry - selected recipients are due now */
static void
visit_retry(struct adm_job *a, struct eng_qmsg *q)
{
    if (make_due(a, q) == 0)
        return;
    a->affected++;
    q->admin |= ADMIN_Q_RELEASED;
    q->dirty = 1;
    qmsg_schedule(q);
}

/* visit_freeze - hold the whole message */
static void
visit_freeze(struct adm_job *a, struct eng_qmsg *q)
{
    if (q->admin & ADMIN_Q_FROZEN)
        return;
    q->admin |= ADMIN_Q_FROZEN;
    a->affected++;
    log_info("%s frozen by admin (%s)", q->m->id, a->who);
}

/* visit_thaw - undo freeze and schedule (unless queue_only keeps it) */
static void
visit_thaw(struct adm_job *a, struct eng_qmsg *q)
{
    if (!(q->admin & ADMIN_Q_FROZEN))
        return;
    q->admin &= ~ADMIN_Q_FROZEN;
    a->affected++;
    log_info("%s thawed by admin (%s)", q->m->id, a->who);
    if (may_start(q))
        qmsg_schedule(q);
}

/* delete_apply - finish a message being deleted: its pending recipients
 * that are not lent fail silently (no notice); removed once none is lent */
static void
delete_apply(struct eng_qmsg *q)
{
    for (uint32_t i = 0; i < q->m->nrcpt; i++)
        if (q->m->rcpt[i].state == SPOOL_RCPT_PENDING && !q->busy[i]) {
            q->m->rcpt[i].state = SPOOL_RCPT_FAILED;
            sch.queued_rcpts--;
            q->dirty = 1;
        }
    q->m->flags |= SPOOL_F_NOTICE; /* in memory only: no failure notice for it */
    if (q->inflight == 0 && !q->completing) {
        q->completing = 1;
        finish_remove(q);
    }
}

/* visit_delete - remove the message, no notice */
static void
visit_delete(struct adm_job *a, struct eng_qmsg *q)
{
    a->affected++;
    log_info("%s deleted by admin (%s)%s%s", q->m->id, a->who, a->reason ? ": " : "",
             a->reason ? a->reason : "");
    admin_delete_hook = delete_apply; /* admin_hold.c finishes it later if need be */
    q->admin |= ADMIN_Q_DELETE;
    delete_apply(q);
}

/* visit_bounce - selected recipients fail; the usual notice follows */
static void
visit_bounce(struct adm_job *a, struct eng_qmsg *q)
{
    char why[600];
    int n = 0;

    snprintf(why, sizeof(why), "bounced by administrator%s%s", a->reason ? ": " : "",
             a->reason ? a->reason : "");
    for (uint32_t i = 0; i < q->m->nrcpt; i++)
        if (rcpt_selected(a, q, i)) {
            rcpt_fail(q, i, NULL, NULL, why, NULL);
            n++;
        }
    if (n == 0)
        return;
    a->affected++;
    qmsg_settle(q);
}

/* visit_rebind - selected recipients go through a->transport, at once */
static void
visit_rebind(struct adm_job *a, struct eng_qmsg *q)
{
    if (make_due(a, q) == 0)
        return;
    admin_rebind_set(q, a->domain, a->transport);
    a->affected++;
    q->admin |= ADMIN_Q_RELEASED;
    q->dirty = 1;
    qmsg_schedule(q);
}

/* visit_reschedule - suspend/resume: route what is routable now, unless
 * queue_only keeps the message */
static void
visit_reschedule(struct adm_job *a, struct eng_qmsg *q)
{
    a->affected++;
    if (may_start(q))
        qmsg_schedule(q);
}

/* admin_visit_fn - the visit of an action */
adm_visit_fn
admin_visit_fn(enum eng_admin_op op)
{
    switch (op) {
    case ENG_ADMIN_RETRY:
        return visit_retry;
    case ENG_ADMIN_FREEZE:
        return visit_freeze;
    case ENG_ADMIN_THAW:
        return visit_thaw;
    case ENG_ADMIN_DELETE:
        return visit_delete;
    case ENG_ADMIN_BOUNCE:
        return visit_bounce;
    case ENG_ADMIN_REBIND:
        return visit_rebind;
    default:
        return visit_reschedule;
    }
}

/* forget_down_hosts - d's host addresses are no longer marked down
 * (hoststate.h): an operator's retry tries them at once */
static void
forget_down_hosts(const struct eng_dest *d)
{
    char ip[INET6_ADDRSTRLEN];
    for (size_t h = 0; h < d->nhosts; h++)
        for (size_t k = 0; k < d->hosts[h].naddr; k++) {
            const struct sockaddr_storage *ss = &d->hosts[h].addrs[k];
            const void *a = ss->ss_family == AF_INET6
                                ? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
                                : (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
            if (inet_ntop(ss->ss_family, a, ip, sizeof(ip)) != NULL)
                (void)host_greeted(ip, d->port);
        }
}

/* retry_backoffs - retry --domain: end the back-off of its destinations and
 * the down marks of their hosts */
static void
retry_backoffs(const struct adm_job *a)
{
    for (size_t b = 0; b < DEST_BUCKETS; b++)
        for (struct eng_dest *d = sch.dests[b]; d; d = d->hnext)
            if (d->domain != NULL && strcasecmp(d->domain, a->domain) == 0) {
                d->backoff_until = 0;
                forget_down_hosts(d);
            }
}

/* admin_prepare - what an action does once, before its walk */
void
admin_prepare(struct adm_job *a)
{
    switch (a->op) {
    case ENG_ADMIN_RETRY:
        if (a->domain != NULL)
            retry_backoffs(a);
        break;
    case ENG_ADMIN_SUSPEND:
        admin_susp_add(a->domain, a->duration_s > 0 ? now_s() + a->duration_s : 0, a->reason);
        take_back_all(a);
        break;
    case ENG_ADMIN_RESUME:
        admin_susp_del(a->domain);
        break;
    case ENG_ADMIN_REBIND: /* waiting jobs come back to be routed anew */
        a->refused = admin_rebind_transport(sch.cfg, a->transport) == NULL;
        if (!a->refused)
            take_back_all(a);
        break;
    case ENG_ADMIN_FREEZE:
    case ENG_ADMIN_DELETE:
    case ENG_ADMIN_BOUNCE:
        take_back_all(a);
        break;
    default:
        break;
    }
}

/* admin_selector - "domain=D" or "ids=A,B", then what the action adds */
void
admin_selector(const struct adm_job *a, char *sel, size_t len)
{
    size_t off = 0;

    if (a->domain != NULL)
        off = (size_t)snprintf(sel, len, "domain=%s", a->domain);
    else
        off = (size_t)snprintf(sel, len, "ids=");
    for (size_t i = 0; a->domain == NULL && i < a->nids && off < len; i++)
        off += (size_t)snprintf(sel + off, len - off, "%s%s", i ? "," : "", a->ids[i]);
    if (a->op == ENG_ADMIN_SUSPEND && off < len)
        snprintf(sel + off, len - off, " for=%lds", a->duration_s);
    if (a->op == ENG_ADMIN_REBIND && off < len)
        snprintf(sel + off, len - off, " transport=%s", a->transport ? a->transport : "");
}

/* admin_log_action - "admin: OP SELECTOR by WHO: N message(s)" */
void
admin_log_action(const struct adm_job *a)
{
    char sel[300];

    admin_selector(a, sel, sizeof(sel));
    if (a->refused) {
        log_warn("admin: %s %s by %s: refused, no transport named %s", eng_admin_op_name(a->op),
                 sel, a->who, a->transport ? a->transport : "");
        return;
    }
    log_info("admin: %s %s by %s%s%s%s: %ld message(s)", eng_admin_op_name(a->op), sel, a->who,
             a->reason ? " reason=\"" : "", a->reason ? a->reason : "", a->reason ? "\"" : "",
             a->affected);
    log_record(&(struct log_rec){.kind = LOG_REC_ADMIN,
                                 .action = eng_admin_op_name(a->op),
                                 .user = a->who,
                                 .selection = sel,
                                 .reason = a->reason,
                                 .messages = a->affected,
                                 .destination = a->domain,
                                 .transport = a->transport,
                                 .size = -1});
}
