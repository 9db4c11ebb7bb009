/*
 * dkim_pool.c - the DKIM signing threads: a message's signature fields are
 *               computed here, off the scheduler's and the workers' loops,
 *               between its routing and the lending of its jobs.
 *
 * An RSA-2048 signature costs 0.3 to 0.8 ms of CPU and the dkim_* options
 * may query lookups (Redis, LMDB): neither may hold an event loop. The
 * scheduler (sched_route.c) hands a routed message to dkp_sign() when its
 * transport signs and no fields are kept for it yet; a signing thread
 * reads the body from the spool, computes the fields (dkim_sign.h) and
 * posts them back; on the scheduler thread they are kept on the message
 * (eng_qmsg.dkim) and the routing goes on: the jobs are lent with the
 * fields ready, and the worker only puts them in front of the body.
 *
 * dkim_sign_threads threads (0: one per online CPU core) are started at the
 * first message to sign, so a configuration that never signs has none.
 *
 * Threads: dkp_sign and the completions on the scheduler thread; dkp_stop
 * on the main thread after the workers stopped and before the scheduler's
 * shut-down: the requests still queued are posted back unsigned.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "engine/dkim_sign.h"
#include "engine/sched_int.h"

#define DKP_MAX_THREADS 64

/* Who waits for a request: the routing of one domain of the message. */
struct dkp_waiter {
    void (*done)(void *arg);
    void *arg;
    struct dkp_waiter *next;
};

/* One message to sign for one transport. */
struct dkp_req {
    struct dkp_req *next;  /* the queue (under dkp.mu) */
    struct dkp_req *fnext; /* q's requests in flight, queued or running (scheduler thread) */
    struct eng_qmsg *q;    /* the scheduler's: only q->m's fixed fields are read here */
    const struct cfg_transport *tp;
    struct dkp_waiter *waiters; /* scheduler thread */
    char *hdrs;                 /* the result, NULL: unsigned */
    int signed_here;
};

/* A message's requests not yet back hang on q->dkim_signing (through
 * fnext): a second domain of the message routed to the same transport
 * waits for the first one's signature instead of signing again. */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct dkp_req *head, **tail;
    int stop, failed, nthreads;
    pthread_t threads[DKP_MAX_THREADS];
} dkp = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, &dkp.head, 0, 0, 0, {0}};

/* on_dkp_done - scheduler thread: keep the fields, then go on routing */
static void
on_dkp_done(eng_loop *loop, void *arg)
{
    struct dkp_req *r = arg;
    (void)loop;
    for (struct dkp_req **p = &r->q->dkim_signing; *p; p = &(*p)->fnext)
        if (*p == r) {
            *p = r->fnext;
            break;
        }
    if (r->signed_here)
        eng_dkim_keep(&r->q->dkim, r->tp, r->hdrs);
    while (r->waiters) {
        struct dkp_waiter *w = r->waiters;
        r->waiters = w->next;
        w->done(w->arg);
        free(w);
    }
    free(r->hdrs);
    free(r);
}

/* wait_for - queue done(arg) behind r */
static void
wait_for(struct dkp_req *r, void (*done)(void *arg), void *arg)
{
    struct dkp_waiter *w = calloc(1, sizeof(*w));
    if (w == NULL)
        abort();
    *w = (struct dkp_waiter){.done = done, .arg = arg, .next = r->waiters};
    r->waiters = w;
}

/* dkp_run - sign one request: read the body, compute the fields */
static void
dkp_run(struct dkp_req *r)
{
    const struct spool_msg *m = r->q->m;
    char *body = NULL;
    size_t len = 0;
    int err = spool_body_read(sch.sp, m, &body, &len);
    if (err < 0) {
        log_warn("%s DKIM signing: cannot read the message: %s; tried again at delivery", m->id,
                 strerror(-err));
        return; /* nothing kept: the worker tries again */
    }
    (void)eng_dkim_compute(r->tp, m, body, len, &r->hdrs);
    r->signed_here = 1; /* a failure is kept as "unsigned", as Exim sends it */
    free(body);
}

/* dkp_main - a signing thread: requests in order until stopped */
static void *
dkp_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&dkp.mu);
    for (;;) {
        struct dkp_req *r = dkp.head;
        if (r == NULL && dkp.stop)
            break;
        if (r == NULL) {
            pthread_cond_wait(&dkp.cv, &dkp.mu);
            continue;
        }
        if ((dkp.head = r->next) == NULL)
            dkp.tail = &dkp.head;
        int stop = dkp.stop;
        pthread_mutex_unlock(&dkp.mu);
        if (!stop)
            dkp_run(r);
        if (eng_loop_post(sch.loop, on_dkp_done, r) < 0)
            abort();
        pthread_mutex_lock(&dkp.mu);
    }
    pthread_mutex_unlock(&dkp.mu);
    return NULL;
}

/* dkp_threads - how many threads dkim_sign_threads asks for */
static int
dkp_threads(void)
{
    long n = sch.cfg->dkim_sign_threads;
    if (n <= 0)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > DKP_MAX_THREADS ? DKP_MAX_THREADS : (int)n;
}

/* dkp_spawn - start the threads (under dkp.mu); -1 if none could start */
static int
dkp_spawn(void)
{
    int want = dkp_threads();
    while (dkp.nthreads < want &&
           pthread_create(&dkp.threads[dkp.nthreads], NULL, dkp_main, NULL) == 0)
        dkp.nthreads++;
    if (dkp.nthreads == 0)
        log_err("cannot start a DKIM signing thread: signing on the delivery threads");
    else
        log_info("DKIM signing: %d thread(s)", dkp.nthreads);
    dkp.failed = dkp.nthreads == 0;
    return dkp.nthreads > 0 ? 0 : -1;
}

/* dkp_sign - see sched_int.h */
int
dkp_sign(struct eng_qmsg *q, const struct cfg_transport *tp, void (*done)(void *arg), void *arg)
{
    struct dkp_req *r;
    int rc = -1;
    for (r = q->dkim_signing; r; r = r->fnext)
        if (r->tp == tp) {
            wait_for(r, done, arg);
            return 0;
        }
    if ((r = calloc(1, sizeof(*r))) == NULL)
        abort();
    *r = (struct dkp_req){.q = q, .tp = tp};
    wait_for(r, done, arg);
    r->fnext = q->dkim_signing;
    q->dkim_signing = r;
    pthread_mutex_lock(&dkp.mu);
    if (!dkp.stop && !dkp.failed && (dkp.nthreads > 0 || dkp_spawn() == 0)) {
        *dkp.tail = r;
        dkp.tail = &r->next;
        pthread_cond_signal(&dkp.cv);
        rc = 0;
    }
    pthread_mutex_unlock(&dkp.mu);
    if (rc < 0) {
        q->dkim_signing = r->fnext;
        free(r->waiters);
        free(r);
    }
    return rc;
}

/* dkp_start - see sched_int.h */
void
dkp_start(void)
{
    pthread_mutex_lock(&dkp.mu);
    dkp.stop = dkp.failed = 0;
    pthread_mutex_unlock(&dkp.mu);
}

/* dkp_stop - see sched_int.h */
void
dkp_stop(void)
{
    pthread_mutex_lock(&dkp.mu);
    dkp.stop = 1;
    pthread_cond_broadcast(&dkp.cv);
    int n = dkp.nthreads;
    pthread_mutex_unlock(&dkp.mu);
    for (int i = 0; i < n; i++)
        pthread_join(dkp.threads[i], NULL);
    pthread_mutex_lock(&dkp.mu);
    dkp.nthreads = 0;
    pthread_mutex_unlock(&dkp.mu);
}
