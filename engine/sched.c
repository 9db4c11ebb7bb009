/*
 * sched.c - the scheduler: owns queued messages, routes recipients, keeps the
 *           destinations and their ready queues, lends jobs to workers and
 *           records what came back. See engine.h, eng_internal.h and, for
 *           how it is split into files, sched_int.h. This file: start, stop
 *           (with the drain of messages on the wire), reload, and the results
 *           that workers hand back.
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

#include "base/log.h"
#include "base/log_record.h"
#include "base/metrics.h"
#include "engine/engine.h"
#include "engine/hoststate.h"
#include "engine/sched_int.h"

#define ADOPT_SLICE 2000 /* recovered messages handed over per loop round */

static int grace_s = 30; /* shutdown_grace, main thread's copy */

/* The first step of the shut-down: the main thread waits until every worker
 * has had the replies to the messages it had on the wire, or grace_s passed. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int left; /* workers still waiting for replies */
} D = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

/* dest_reap - free retired destination d once its last connection has
 * closed; 1 when it was freed */
static int
dest_reap(struct eng_dest *d)
{
    struct eng_dest **pp;
    if (!d->retired || d->nconn > 0)
        return 0;
    for (pp = &sch.retired; *pp != d; pp = &(*pp)->hnext)
        ;
    *pp = d->hnext;
    dest_free(d);
    return 1;
}

/* dest_retire - a reload: d's waiting jobs are routed again under the new
 * configuration (its transport, TLS settings and limits), its idle sessions
 * close, and sessions still busy finish their job and close; d is freed
 * once none is left */
static void
dest_retire(struct eng_dest *d)
{
    struct eng_job *j;
    d->retired = 1;
    d->hnext = sch.retired;
    sch.retired = d;
    while ((j = d->ready_head) != NULL) {
        struct eng_qmsg *q = j->q;
        d->ready_head = j->next;
        job_release_rcpts(j);
        job_free(j);
        qmsg_schedule(q);
    }
    d->ready_tail = &d->ready_head;
    d->nready = 0;
    while (d->nidle > 0) {
        struct eng_idle idle = d->idle[--d->nidle];
        metrics_gauge_add(MG_CONN_CACHED, -1);
        eng_worker_close(idle.w, idle.s); /* nconn drops when it has closed */
    }
    dest_reap(d);
}

/* note_error - d's last deferral or failure, for the admin view */
static void
note_error(struct eng_dest *d, const char *text)
{
    char *copy = strdup(text);
    if (copy == NULL)
        abort();
    free(d->last_error);
    d->last_error = copy;
    d->last_error_at = now_s();
}

/* job_record - apply a job's per-recipient results to its message */
static void
job_record(struct eng_job *j)
{
    struct eng_qmsg *q = j->q;
    struct eng_dest *d = j->d;
    char names[300];
    int deferred_event = 0, noted = 0;
    rcpt_log_names(d->router, names, sizeof(names));
    metrics_observe(MH_DELIVERY_LATENCY, (double)(eng_now_ms() - j->lent_ms) / 1000.0);
    job_release_rcpts(j);
    for (size_t k = 0; k < j->n; k++) {
        uint32_t i = j->ridx[k];
        const char *text = j->text[k] ? j->text[k] : "";
        if (j->res[k] == ENG_R_OK) {
            q->m->rcpt[i].state = SPOOL_RCPT_DELIVERED;
            q->dirty = 1;
            if (q->m->rcpt[i].dsn_notify & SPOOL_NOTIFY_SUCCESS)
                dsn_note(q, i, text, j);
            dsn_final(q, i, j);
            sch.queued_rcpts--;
            d->delivered++;
            metrics_inc(MC_DELIVERED);
            log_info("%s => %s%s %s%s%s%s%s C=\"%s\"", q->m->id, q->m->rcpt[i].address, names,
                     j->at->host, j->at->tls_x[0] ? " X=" : "", j->at->tls_x,
                     j->at->tls_cv[0] ? " CV=" : "", j->at->tls_cv, text);
            rcpt_record(LOG_REC_DELIVERY, q, i, d->router, text, j);
            msg_event(d->tp->event_action, "msg:delivery", q, i, j, text, 0);
        } else if (j->res[k] == ENG_R_DEFER) {
            d->deferred++;
            if (!noted++) /* once per job: the text is the same for its recipients */
                note_error(d, text);
            if (!deferred_event++) /* once per attempt on this host */
                msg_event(d->tp->event_action, "msg:host:defer", q, i, j, text, j->defer_errno);
            /* a connection failure's text names each host tried already */
            rcpt_defer(q, i, d->router, j->conn_failed ? NULL : j->at->host, text,
                       j->conn_failed ? d->backoff_until : 0, j->conn_failed ? NULL : j);
        } else {
            d->failed++;
            if (!noted++)
                note_error(d, text);
            rcpt_fail(q, i, d->router, j->at->host, text, j);
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
    dest_conn_started(d, j);
    dest_count_done(d);
    job_record(j);
    if (j->sess_closed)
        d->nconn--;
    else if (d->retired && !j->sess_closing && !sch.no_workers)
        eng_worker_close(j->worker, j->sess); /* made under the old configuration */
    else if (!j->sess_closing)
        dest_park(d, j->worker, j->sess);
    job_free(j);
    qmsg_settle(q);
    if (!dest_reap(d))
        dest_dispatch(d);
}

/* sched_job_done - worker thread: give a finished job back */
static void
sched_job_done(struct eng_job *job)
{
    if (eng_loop_post(sch.loop, on_job_done, job) < 0)
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
    if (sch.no_workers) { /* the worker is gone or going: its sessions with it */
        free(n);
        return;
    }
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
    if (!dest_reap(d))
        dest_dispatch(d);
}

/* sched_conn_closed - worker thread: a quitting session of d has closed */
static void
sched_conn_closed(struct eng_dest *d)
{
    if (eng_loop_post(sch.loop, on_conn_closed, d) < 0)
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
    if (eng_loop_post(sch.loop, on_idle_expired, n) < 0)
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

/* adopt_forget - free the recovered messages not handed over yet */
static void
adopt_forget(void)
{
    for (size_t i = sch.adopt_next; i < sch.nadopted; i++)
        spool_msg_free(sch.adopted[i]);
    free(sch.adopted);
    sch.adopted = NULL;
    sch.nadopted = sch.adopt_cap = sch.adopt_next = 0;
}

/* on_adopt_slice - hand ADOPT_SLICE recovered messages over, then let the
 * loop do a round of I/O (answers, deliveries) before the next slice, which
 * a 1 ms timer runs (a post would run in the same round): with a large
 * queue the first deliveries start at once, not after all of it was routed */
static void
on_adopt_slice(eng_loop *loop, struct eng_timer *t)
{
    size_t end = sch.adopt_next + ADOPT_SLICE;
    (void)t;
    if (end > sch.nadopted)
        end = sch.nadopted;
    sch.starting = 1;
    for (; sch.adopt_next < end; sch.adopt_next++)
        on_new_msg(loop, sch.adopted[sch.adopt_next]);
    sch.starting = 0;
    if (sch.adopt_next < sch.nadopted) {
        eng_timer_start(loop, &sch.adopt_timer, 1);
        return;
    }
    adopt_forget();
}

/* sched_main - the scheduler thread */
static void *
sched_main(void *arg)
{
    (void)arg;
    eng_timer_init(&sch.adopt_timer, on_adopt_slice, NULL);
    on_adopt_slice(sch.loop, &sch.adopt_timer);
    eng_loop_run(sch.loop);
    return NULL;
}

/* eng_start - start the scheduler and the workers */
int
eng_start(const struct cfg *cfg, spool *sp, char *err, size_t errlen)
{
    sch.cfg = cfg;
    sch.sp = sp;
    sch.settle = qmsg_settle;
    sch.outcome = dsn_outcome;
    eng_timer_init(&sch.empty_timer, on_empty_timer, NULL);
    grace_s = cfg->shutdown_grace_s;
    sch.rnd = (uint32_t)time(NULL) ^ (uint32_t)getpid();
    if ((sch.loop = eng_loop_new()) == NULL) {
        snprintf(err, errlen, "cannot create the scheduler loop: %s", strerror(errno));
        return -1;
    }
    if ((sch.dns = dns_resolver_new(sch.loop, cfg->dns_servers, cfg->n_dns_servers, err, errlen)) ==
        NULL)
        return -1;
    sch.nworkers = cfg->worker_threads > 0 ? cfg->worker_threads : 1;
    if ((sch.workers = calloc((size_t)sch.nworkers, sizeof(*sch.workers))) == NULL)
        abort();
    for (int i = 0; i < sch.nworkers; i++) {
        if ((sch.workers[i] = eng_worker_new(i, cfg, sp, &worker_ops, err, errlen)) == NULL)
            return -1;
        if (eng_worker_start(sch.workers[i]) < 0) {
            snprintf(err, errlen, "cannot start worker thread %d", i);
            return -1;
        }
    }
    if (qf_start(err, errlen) < 0)
        return -1;
    dkp_start();
    if (pthread_create(&sch.thread, NULL, sched_main, NULL) != 0) {
        snprintf(err, errlen, "cannot start the scheduler thread");
        return -1;
    }
    return 0;
}

/* on_reload - scheduler thread: switch configuration; every destination
 * made under the old one is retired, so the next delivery anywhere uses the
 * new transports, TLS settings and limits */
static void
on_reload(eng_loop *loop, void *arg)
{
    struct eng_dest *all = NULL, *d, *next;
    (void)loop;
    sch.cfg = arg;
    sch.gen++;
    for (size_t b = 0; b < DEST_BUCKETS; b++) {       /* first out of the table: routing */
        for (d = sch.dests[b]; d != NULL; d = next) { /* again may make new ones */
            next = d->hnext;
            d->hnext = all;
            all = d;
        }
        sch.dests[b] = NULL;
    }
    for (d = all; d != NULL; d = next) {
        next = d->hnext;
        dest_retire(d);
    }
    log_info("configuration reloaded: %zu router(s), %zu transport(s), %zu destination "
             "entr%s",
             sch.cfg->nrouters, sch.cfg->ntransports, sch.cfg->ndestinations,
             sch.cfg->ndestinations == 1 ? "y" : "ies");
}

/* eng_reload - switch the scheduler and the workers to a new configuration */
void
eng_reload(const struct cfg *cfg)
{
    grace_s = cfg->shutdown_grace_s;
    for (int i = 0; i < sch.nworkers; i++)
        eng_worker_reload(sch.workers[i], cfg);
    if (eng_loop_post(sch.loop, on_reload, (void *)cfg) < 0)
        abort();
}

/* on_shutdown - scheduler thread, after the workers stopped: free it all */
static void
on_shutdown(eng_loop *loop, void *arg)
{
    struct eng_qmsg *q, *next;
    (void)arg;
    sch.stopping = 1;
    eng_timer_stop(loop, &sch.adopt_timer);
    adopt_forget(); /* durable already: the next start hands them over */
    eng_timer_stop(loop, &sch.empty_timer);
    dns_resolver_free(sch.dns); /* pending lookups call back, and are ignored */
    sch.dns = NULL;
    for (size_t b = 0; b < DEST_BUCKETS; b++) {
        struct eng_dest *d, *dn;
        for (d = sch.dests[b]; d; d = dn) {
            dn = d->hnext;
            dest_free(d);
        }
        sch.dests[b] = NULL;
    }
    while (sch.retired != NULL) {
        struct eng_dest *d = sch.retired;
        sch.retired = d->hnext;
        dest_free(d);
    }
    for (q = sch.qhead; q; q = next) {
        next = q->next;
        if (!q->completing && q->notices == 0) /* else freed once its notices commit */
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
    sch.draining = 1;
}

/* drain - the workers finish what they have on the wire, for at most
 * grace_s seconds; main thread */
static void
drain(void)
{
    struct timespec until;
    int left;
    if (eng_loop_post(sch.loop, on_drain, NULL) < 0)
        abort();
    pthread_mutex_lock(&D.mu);
    D.left = sch.nworkers;
    pthread_mutex_unlock(&D.mu);
    for (int i = 0; i < sch.nworkers; i++)
        eng_worker_drain(sch.workers[i]);
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

/* eng_on_queue_empty - see engine.h */
void
eng_on_queue_empty(void (*fn)(void))
{
    sch.on_empty = fn;
}

static pthread_mutex_t nw_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t nw_cv = PTHREAD_COND_INITIALIZER;
static int nw_done;

/* on_no_workers - scheduler thread: from now on nothing is sent to a worker */
static void
on_no_workers(eng_loop *loop, void *arg)
{
    (void)loop;
    (void)arg;
    sch.no_workers = 1;
    pthread_mutex_lock(&nw_mu);
    nw_done = 1;
    pthread_cond_signal(&nw_cv);
    pthread_mutex_unlock(&nw_mu);
}

/* workers_detach - main thread: wait until the scheduler stops reaching the
 * workers (an idle session expiring meanwhile must not post to a freed one) */
static void
workers_detach(void)
{
    if (eng_loop_post(sch.loop, on_no_workers, NULL) < 0)
        abort();
    pthread_mutex_lock(&nw_mu);
    while (!nw_done)
        pthread_cond_wait(&nw_cv, &nw_mu);
    pthread_mutex_unlock(&nw_mu);
}

/* eng_stop - let messages on the wire finish, stop the workers, then the scheduler */
void
eng_stop(void)
{
    if (sch.loop == NULL)
        return;
    drain();
    workers_detach();
    for (int i = 0; i < sch.nworkers; i++)
        eng_worker_stop(sch.workers[i]);
    free(sch.workers);
    sch.workers = NULL;
    sch.nworkers = 0;
    qf_stop();  /* its last results are posted ahead of the shut-down */
    dkp_stop(); /* so are the signing threads' */
    if (eng_loop_post(sch.loop, on_shutdown, NULL) < 0)
        abort();
    pthread_join(sch.thread, NULL);
}

/* eng_finish - run the spool writer's last hand-overs, then free the loop */
void
eng_finish(void)
{
    struct eng_qmsg *q, *next;
    if (sch.loop == NULL)
        return;
    host_state_clear();
    eng_loop_run_once(sch.loop, 0);
    for (q = sch.qhead; q; q = next) {
        next = q->next;
        qmsg_free(q);
    }
    eng_loop_free(sch.loop);
    sch.loop = NULL;
}
