/*
 * worker.c - a delivery worker: one thread, one event loop, many concurrent
 *            non-blocking SMTP client sessions (RFC 5321, PIPELINING per
 *            RFC 2920), each kept open after its transaction so that the
 *            scheduler can lend it the next job for the same destination.
 *            This file owns the thread: jobs and idle sessions coming in,
 *            start, reload, drain and stop. The sessions themselves live
 *            in the sess_*.c files and worker_tls.c (worker_int.h maps
 *            them); nothing there calls back up into this file.
 *
 * Thread rules: everything here runs on the worker's thread except
 * eng_worker_give/eng_worker_close/eng_worker_drain/eng_worker_reload, which
 * only post, and eng_worker_new/eng_worker_start/eng_worker_stop (the
 * owner's thread). Results go back through the eng_worker_ops callbacks the
 * worker was made with.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/worker_int.h"

/* sess_new - a session for destination d, not yet connected */
static struct eng_session *
sess_new(struct eng_worker *w, struct eng_dest *d)
{
    struct eng_session *s = calloc(1, sizeof(*s));
    if (s == NULL)
        abort();
    s->w = w;
    s->d = d;
    s->fd = -1;
    s->dn_host = SIZE_MAX;
    eng_io_init(&s->io, -1, eng__sess_on_io, s);
    eng_timer_init(&s->timer, eng__sess_on_timer, s);
    s->next = w->sessions;
    if (w->sessions)
        w->sessions->prev = s;
    w->sessions = s;
    return s;
}

/* job_on_cached - a lent job for an idle session of ours: reuse the
 * connection, or connect afresh when it died while cached */
static void
job_on_cached(struct eng_session *s)
{
    s->expiring = 0;
    eng_timer_stop(s->w->loop, &s->timer);
    if (s->st == SS_IDLE && s->fd >= 0) {
        if (s->msgs >= s->pol.max_messages_per_connection) {
            eng__sess_quit(s); /* the limit was lowered while it waited: reconnect */
            return;
        }
        eng__sess_start_txn(s);
        return;
    }
    s->host_i = s->addr_i = 0;
    s->dn_host = SIZE_MAX;
    s->last_err[0] = '\0';
    eng__sess_connect_next(s);
}

/* on_job - the scheduler lent a job */
static void
on_job(eng_loop *loop, void *arg)
{
    struct eng_job *j = arg;
    struct eng_worker *w = j->worker;
    struct eng_session *s = j->sess;
    (void)loop;
    if (w->stopping || w->draining) {
        j->abandoned = 1;
        w->ops.job_done(j);
        return;
    }
    if (s == NULL)
        s = sess_new(w, j->d);
    s->job = j;
    s->pol = j->pol;
    if (j->sess == NULL)
        eng__sess_connect_next(s);
    else
        job_on_cached(s);
}

/* on_close - the scheduler took an idle session out of its cache */
static void
on_close(eng_loop *loop, void *arg)
{
    struct eng_session *s = arg;
    (void)loop;
    if (s->fd >= 0 && s->st == SS_IDLE) {
        eng__sess_quit(s);
        return;
    }
    eng__sess_quit_done(s);
}

/* eng_worker_give - lend a job to w */
void
eng_worker_give(struct eng_worker *w, struct eng_job *job)
{
    if (eng_loop_post(w->loop, on_job, job) < 0)
        abort();
}

/* eng_worker_close - close an idle session of w */
void
eng_worker_close(struct eng_worker *w, struct eng_session *s)
{
    if (eng_loop_post(w->loop, on_close, s) < 0)
        abort();
}

/* on_reload - take the new configuration */
static void
on_reload(eng_loop *loop, void *arg)
{
    (void)loop;
    struct reload_note *n = arg;
    n->w->cfg = n->cfg;
    free(n);
}

/* eng_worker_reload - post the new configuration to w */
void
eng_worker_reload(struct eng_worker *w, const struct cfg *cfg)
{
    struct reload_note *n = malloc(sizeof(*n));
    if (n == NULL)
        abort();
    n->w = w;
    n->cfg = cfg;
    if (eng_loop_post(w->loop, on_reload, n) < 0)
        abort();
}

/* worker_main - the worker thread */
static void *
worker_main(void *arg)
{
    struct eng_worker *w = arg;
    eng_loop_run(w->loop);
    return NULL;
}

/* eng_worker_new - a worker, not yet running */
struct eng_worker *
eng_worker_new(int index, const struct cfg *cfg, spool *sp, const struct eng_worker_ops *ops,
               char *err, size_t errlen)
{
    struct eng_worker *w = calloc(1, sizeof(*w));
    if (w == NULL)
        abort();
    w->ops = *ops;
    w->index = index;
    w->cfg = cfg;
    w->sp = sp;
    if ((w->loop = eng_loop_new()) == NULL) {
        snprintf(err, errlen, "worker %d: cannot create its loop: %s", index, strerror(errno));
        free(w);
        return NULL;
    }
    return w;
}

/* eng_worker_start - run the worker's thread */
int
eng_worker_start(struct eng_worker *w)
{
    return pthread_create(&w->thread, NULL, worker_main, w) == 0 ? 0 : -1;
}

/* on_drain - shut-down, step one: let the messages on the wire finish */
static void
on_drain(eng_loop *loop, void *arg)
{
    struct eng_worker *w = arg;
    (void)loop;
    w->draining = 1;
    for (struct eng_session *s = w->sessions; s != NULL; s = s->next)
        if (s->job != NULL && !s->body_out && s->st == SS_TXN && s->fd >= 0)
            eng__sess_hold(s);
    eng__drain_check(w);
}

/* eng_worker_drain - post the first step of the shut-down to w */
void
eng_worker_drain(struct eng_worker *w)
{
    if (eng_loop_post(w->loop, on_drain, w) < 0)
        abort();
}

/* on_stop - close every session and leave the loop */
static void
on_stop(eng_loop *loop, void *arg)
{
    struct eng_worker *w = arg;
    w->stopping = 1;
    eng__tls_worker_free(w); /* pending DNSSEC answers come back and are dropped */
    while (w->sessions != NULL) {
        struct eng_session *s = w->sessions;
        if (s->job != NULL) { /* its recipients stay queued in the spool */
            s->job->abandoned = 1;
            w->ops.job_done(s->job);
            s->job = NULL;
        }
        eng__sess_free(s);
    }
    eng_loop_stop(loop);
}

/* eng_worker_stop - stop the thread; sessions are dropped */
void
eng_worker_stop(struct eng_worker *w)
{
    eng_loop_post(w->loop, on_stop, w);
    pthread_join(w->thread, NULL);
    eng_loop_run_once(w->loop, 0); /* the sessions' deferred frees */
    eng_loop_free(w->loop);
    free(w);
}
