/*
 * queuefile.c - the queuefile transport (seed "Queuefile transport"): the
 *               recipients a router gives it are written, with their
 *               message, as one spool export (spool/export.c,
 *               docs/spool-export.md) into the transport's directory.
 *
 * The file I/O blocks (fsync), so it runs on a thread of its own, never on
 * the scheduler's or a worker's loop. The scheduler (qf_deliver) takes a
 * snapshot of the message (the job's recipients, pending, and those already
 * final; pending ones that go elsewhere are left out) and queues it; the
 * thread reads the body, encodes the export, writes it under a temporary
 * name (".ID.tmp"), fsyncs it, renames it to ID and fsyncs the directory;
 * only then is the job's result posted back, and only then are its
 * recipients delivered ("=> addr R=.. T=.."). A reader of the directory
 * thus sees complete files or none, whatever moment the process dies at.
 *
 * Each export is named and identified by a fresh message id (spool_new_id),
 * so two exports of one message (two domains, two transports) never share a
 * name; the message's own id is kept in the export's "origin:" line. The
 * DSN request travels in the export: no success notice is sent here.
 *
 * Threads: qf_deliver and the results on the scheduler thread; qf_start
 * and qf_stop on the main thread (qf_stop after the workers stopped and
 * before the scheduler's shut-down, so that every result is recorded).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/metrics.h"
#include "engine/sched_int.h"

/* One export to write: made on the scheduler thread, written on ours. */
struct qf_job {
    struct qf_job *next;
    struct eng_qmsg *q; /* the scheduler's; not touched on the writer thread */
    const struct cfg_router *router;
    uint32_t *ridx;
    size_t n;
    struct spool_msg *snap;     /* the export's envelope and recipients */
    char origin[SPOOL_ID_SIZE]; /* the message's own id */
    int err;                    /* 0, or -errno: defer; -EINVAL: cannot be exported, fail */
    char why[300];
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct qf_job *head, **tail;
    int stop, running;
    pthread_t thread;
} qf = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, &qf.head, 0, 0, 0};

/* write_all - the whole buffer, or -errno */
static int
write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t k = write(fd, p, len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

/* sync_dir - fsync a directory, so that a rename in it is durable */
static int
sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;
    if (fd < 0)
        return -errno;
    if (fsync(fd) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

/* write_temp - buf into a new file tmp, fsynced */
static int
write_temp(const char *tmp, const char *buf, size_t len)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640), rc;
    if (fd < 0)
        return -errno;
    rc = write_all(fd, buf, len);
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    return rc;
}

/* qf_write - buf as dir/name: temporary file, fsync, rename, fsync of dir */
static int
qf_write(const char *dir, const char *name, const char *buf, size_t len)
{
    char tmp[4096], path[4096];
    int rc;
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name) >= sizeof(tmp) ||
        (size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
        return -ENAMETOOLONG;
    if ((rc = write_temp(tmp, buf, len)) < 0) {
        unlink(tmp);
        return rc;
    }
    if (rename(tmp, path) < 0) {
        rc = -errno;
        unlink(tmp);
        return rc;
    }
    if ((rc = sync_dir(dir)) < 0)
        unlink(path); /* not known to be durable: try again later, not twice */
    return rc;
}

/* qf_run - writer thread: one job */
static void
qf_run(struct qf_job *jb)
{
    const char *dir = jb->router->transport->directory;
    char *body = NULL;
    void *buf = NULL;
    size_t blen = 0, len = 0;
    int rc = spool_body_read(sch.sp, jb->snap, &body, &blen);
    if (rc < 0) {
        snprintf(jb->why, sizeof(jb->why), "queuefile: cannot read the body: %s", strerror(-rc));
    } else if ((buf = spool_export_encode(jb->snap, jb->origin, body, blen, &len)) == NULL) {
        rc = -EINVAL;
        snprintf(jb->why, sizeof(jb->why), "queuefile: the message cannot be exported");
    } else if ((rc = qf_write(dir, jb->snap->id, buf, len)) < 0) {
        snprintf(jb->why, sizeof(jb->why), "queuefile: cannot write to %s: %s", dir, strerror(-rc));
    } else {
        snprintf(jb->why, sizeof(jb->why), "queued as %s/%s", dir, jb->snap->id);
    }
    jb->err = rc;
    free(body);
    free(buf);
}

/* qf_record - scheduler thread: apply a written (or failed) export */
static void
qf_record(struct qf_job *jb)
{
    struct eng_qmsg *q = jb->q;
    char names[300];
    rcpt_log_names(jb->router, names, sizeof(names));
    for (size_t k = 0; k < jb->n; k++) {
        uint32_t i = jb->ridx[k];
        struct spool_rcpt *rc = &q->m->rcpt[i];
        q->busy[i] = 0;
        q->inflight--;
        if (jb->err == -EINVAL) {
            rcpt_fail(q, i, jb->router, NULL, jb->why, NULL);
        } else if (jb->err < 0) {
            rcpt_defer(q, i, jb->router, NULL, jb->why, 0, NULL);
        } else {
            rc->state = SPOOL_RCPT_DELIVERED;
            rc->last_interval = RCPT_DSN_DONE; /* the DSN request went on in the export */
            q->dirty = 1;
            sch.queued_rcpts--;
            metrics_inc(MC_DELIVERED);
            log_info("%s => %s%s C=\"%s\"", q->m->id, rc->address, names, jb->why);
        }
    }
}

/* qf_job_free - a job and its snapshot */
static void
qf_job_free(struct qf_job *jb)
{
    spool_msg_free(jb->snap);
    free(jb->ridx);
    free(jb);
}

/* on_qf_done - scheduler thread: a job came back */
static void
on_qf_done(eng_loop *loop, void *arg)
{
    struct qf_job *jb = arg;
    struct eng_qmsg *q = jb->q;
    (void)loop;
    qf_record(jb);
    qf_job_free(jb);
    sch.settle(q); /* sched_route.c, reached only through the pointer */
}

/* qf_main - the writer thread: jobs in order until stopped and empty */
static void *
qf_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&qf.mu);
    for (;;) {
        struct qf_job *jb = qf.head;
        if (jb == NULL && qf.stop)
            break;
        if (jb == NULL) {
            pthread_cond_wait(&qf.cv, &qf.mu);
            continue;
        }
        if ((qf.head = jb->next) == NULL)
            qf.tail = &qf.head;
        pthread_mutex_unlock(&qf.mu);
        qf_run(jb);
        if (eng_loop_post(sch.loop, on_qf_done, jb) < 0)
            abort();
        pthread_mutex_lock(&qf.mu);
    }
    pthread_mutex_unlock(&qf.mu);
    return NULL;
}

/* qf_snapshot - a copy of q's message holding recipients ridx[0..n)
 * (pending) and those already final */
static struct spool_msg *
qf_snapshot(const struct eng_qmsg *q, const uint32_t *ridx, size_t n)
{
    size_t len, k;
    void *rec = spool_msg_encode(q->m, &len);
    struct spool_msg *s = rec ? spool_msg_decode(rec, len) : NULL;
    uint32_t keep = 0;
    free(rec);
    if (s == NULL)
        abort();
    for (uint32_t i = 0; i < s->nrcpt; i++) {
        for (k = 0; k < n && ridx[k] != i; k++)
            ;
        if (k < n || s->rcpt[i].state != SPOOL_RCPT_PENDING) {
            s->rcpt[keep++] = s->rcpt[i];
            continue;
        }
        free(s->rcpt[i].address);
        free(s->rcpt[i].dsn_orcpt);
    }
    s->nrcpt = keep;
    spool_new_id(sch.sp, s->id);
    return s;
}

/* qf_deliver - see sched_int.h */
void
qf_deliver(struct eng_qmsg *q, const struct cfg_router *r, const uint32_t *ridx, size_t n)
{
    struct qf_job *jb = calloc(1, sizeof(*jb));
    if (jb == NULL || (jb->ridx = malloc(n * sizeof(*ridx))) == NULL)
        abort();
    jb->q = q;
    jb->router = r;
    jb->n = n;
    memcpy(jb->ridx, ridx, n * sizeof(*ridx));
    for (size_t k = 0; k < n; k++)
        q->busy[ridx[k]] = 1;
    q->inflight += (int)n;
    jb->snap = qf_snapshot(q, ridx, n);
    memcpy(jb->origin, q->m->id, SPOOL_ID_SIZE);
    pthread_mutex_lock(&qf.mu);
    *qf.tail = jb;
    qf.tail = &jb->next;
    pthread_cond_signal(&qf.cv);
    pthread_mutex_unlock(&qf.mu);
}

/* qf_start - see sched_int.h */
int
qf_start(char *err, size_t errlen)
{
    qf.stop = 0;
    if (pthread_create(&qf.thread, NULL, qf_main, NULL) != 0) {
        snprintf(err, errlen, "cannot start the queuefile thread");
        return -1;
    }
    qf.running = 1;
    return 0;
}

/* qf_stop - see sched_int.h */
void
qf_stop(void)
{
    if (!qf.running)
        return;
    pthread_mutex_lock(&qf.mu);
    qf.stop = 1;
    pthread_cond_signal(&qf.cv);
    pthread_mutex_unlock(&qf.mu);
    pthread_join(qf.thread, NULL);
    qf.running = 0;
}
