/*
 * spool.c - the durable queue: LMDB records and append-only body segments,
 *           written by one thread doing group commit. See spool.h; the
 *           record format is in record.c.
 *
 * The writer runs an engine loop. Submissions are posted to its inbox;
 * recipient-state operations (updates, removals) go to a list of their own
 * under a mutex, and the first one since the writer last took that list
 * posts a wake-up. Either arms a zero-delay timer, and since the loop drains
 * its whole inbox before it runs timers, the timer fires with everything that
 * arrived meanwhile collected: that is the round. A round commits at most
 * max_batch submissions (bodies, fdatasync, one LMDB transaction that also
 * carries every recipient state posted so far, ahead of the records), or,
 * with no submission waiting, the recipient states alone; submissions left
 * over go to the next round, after the inbox is drained again. While a round
 * is being fsynced, the next one gathers. Recipient states are journaled
 * (journal.c) when posted, so they need not go first to be safe.
 */
#include "spool/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/loop.h"
#include "base/metrics.h"
#include "spool/dirs.h"
#include "spool/journal.h"

#define SEG_MAX_BYTES (64u << 20) /* start a new segment past this size */
#define MAP_SIZE (16ull << 30)    /* LMDB map: address space only, grows on disk */
#define IOV_BATCH 64

enum op_kind { OP_SUBMIT, OP_UPDATE, OP_REMOVE, OP_STOP };

struct op {
    enum op_kind kind;
    struct spool_submission *sub; /* OP_SUBMIT */
    char id[SPOOL_ID_SIZE];       /* OP_UPDATE, OP_REMOVE */
    void *rec;                    /* OP_UPDATE: encoded record */
    size_t reclen;
    uint32_t seg; /* OP_REMOVE: the body's segment */
    uint64_t seq; /* OP_UPDATE, OP_REMOVE: its journal sequence number */
    struct spool *sp;
    struct op *next;
};

struct segref {
    uint32_t seg;
    long refs;
};

struct spool {
    char *dir;
    MDB_env *env;
    MDB_dbi msgs, meta;
    eng_loop *loop;
    pthread_t thread;
    int started;
    struct eng_timer commit_timer;
    /* recipient-state operations not yet taken by the writer, in the order
     * posted (any thread, under st_mu); st_wake: the writer has been woken
     * for them since it last took the list */
    pthread_mutex_t st_mu;
    struct op *st_head, **st_tail;
    int st_wake;
    /* the state journal (appends under st_mu): jseq_last, the last sequence
     * number given out (under st_mu); jseq_done, the highest committed
     * (writer thread); jnl_ready: recovered and opened (NULL: running
     * without one) */
    struct jnl *jnl;
    uint64_t jseq_last, jseq_done;
    int jnl_ready, jnl_failed;
    /* submissions gathered for the next round (writer thread only) */
    struct op *sub_head, **sub_tail;
    int resume_posted; /* on_resume is in the inbox */
    int max_batch;
    spool_commit_hook hook;
    void *hook_arg;
    int segfd;
    uint32_t seg_cur;
    uint64_t seg_off;
    struct segref *segs;
    size_t nsegs;
    atomic_uint_least64_t last_us;
    atomic_uint seq;
};

/* ---------------------------------------------------------------- ids */

static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* put_b62 - fixed-width base-62 digits of v */
static void
put_b62(char *out, int width, uint64_t v)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = b62[v % 62];
        v /= 62;
    }
}

/* now_us - wall clock in microseconds */
static uint64_t
now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* spool_new_id - a unique id, sortable by arrival time */
void
spool_new_id(spool *sp, char out[SPOOL_ID_SIZE])
{
    uint64_t last = atomic_load(&sp->last_us), v;
    do {
        v = now_us();
        if (v <= last)
            v = last + 1;
    } while (!atomic_compare_exchange_weak(&sp->last_us, &last, v));
    put_b62(out, 11, v);
    out[11] = '-';
    put_b62(out + 12, 4, atomic_fetch_add(&sp->seq, 1) % (62u * 62u * 62u * 62u));
    out[SPOOL_ID_LEN] = '\0';
}

/* ----------------------------------------------------------- segments */

/* seg_path - the file name of segment n */
static void
seg_path(const spool *sp, uint32_t n, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/bodies/%08x.seg", sp->dir, n);
}

/* segref_find - the refcount slot of seg, created when add */
static struct segref *
segref_find(spool *sp, uint32_t seg, int add)
{
    for (size_t i = 0; i < sp->nsegs; i++)
        if (sp->segs[i].seg == seg)
            return &sp->segs[i];
    if (!add)
        return NULL;
    sp->segs = realloc(sp->segs, (sp->nsegs + 1) * sizeof(*sp->segs));
    if (sp->segs == NULL)
        abort();
    sp->segs[sp->nsegs] = (struct segref){.seg = seg, .refs = 0};
    return &sp->segs[sp->nsegs++];
}

/* seg_release - drop one reference; unlink a finished segment nobody needs */
static void
seg_release(spool *sp, uint32_t seg)
{
    struct segref *r = segref_find(sp, seg, 0);
    char path[4096];
    if (r == NULL || --r->refs > 0 || seg == sp->seg_cur)
        return;
    seg_path(sp, seg, path, sizeof(path));
    unlink(path);
    *r = sp->segs[--sp->nsegs];
}

/* seg_open_new - start writing segment n; the previous one is unlinked if
 * nothing refers to it */
static int
seg_open_new(spool *sp, uint32_t n)
{
    char path[4096];
    uint32_t prev = sp->seg_cur;
    int had = sp->segfd >= 0, fd;
    struct segref *r;

    seg_path(sp, n, path, sizeof(path));
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    if (sp->segfd >= 0)
        close(sp->segfd);
    sp->segfd = fd;
    sp->seg_cur = n;
    sp->seg_off = (uint64_t)lseek(fd, 0, SEEK_END);
    if (had && prev != n && ((r = segref_find(sp, prev, 0)) == NULL || r->refs <= 0)) {
        seg_path(sp, prev, path, sizeof(path));
        unlink(path);
        if (r != NULL)
            *r = sp->segs[--sp->nsegs];
    }
    return 0;
}

/* --------------------------------------------------------- the writer */

/* writev_all - write every iovec fully; 0 or -errno */
static int
writev_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t k = writev(fd, iov, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        while (n > 0 && (size_t)k >= iov->iov_len) {
            k -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + k;
            iov->iov_len -= (size_t)k;
        }
    }
    return 0;
}

/* write_bodies - append the batch's bodies to the current segment, note each
 * one's offset in offs[], and fdatasync; 0 or -errno */
static int
write_bodies(spool *sp, struct op *ops, uint64_t *offs)
{
    struct iovec iov[IOV_BATCH];
    int niov = 0, rc = 0;
    size_t k = 0;
    uint64_t off;

    if (sp->seg_off > SEG_MAX_BYTES && (rc = seg_open_new(sp, sp->seg_cur + 1)) < 0)
        return rc;
    off = sp->seg_off;
    for (struct op *o = ops; o; o = o->next) {
        if (o->kind != OP_SUBMIT)
            continue;
        offs[k++] = off;
        off += o->sub->body_len;
        iov[niov].iov_base = o->sub->body;
        iov[niov++].iov_len = o->sub->body_len;
        if (niov == IOV_BATCH) {
            if ((rc = writev_all(sp->segfd, iov, niov)) < 0)
                goto fail;
            niov = 0;
        }
    }
    if (k == 0)
        return 0;
    if (niov > 0 && (rc = writev_all(sp->segfd, iov, niov)) < 0)
        goto fail;
    if (fdatasync(sp->segfd) < 0) {
        rc = -errno;
        goto fail;
    }
    sp->seg_off = off;
    return 0;
fail:
    sp->seg_off = (uint64_t)lseek(sp->segfd, 0, SEEK_END);
    return rc;
}

/* dup_opt - strdup of an optional string: NULL and "" give NULL */
static char *
dup_opt(const char *s)
{
    char *d;

    if (s == NULL || *s == '\0')
        return NULL;
    if ((d = strdup(s)) == NULL)
        abort();
    return d;
}

/* msg_from_sub - the record for a committed submission (moves its strings) */
static struct spool_msg *
msg_from_sub(spool *sp, struct spool_submission *sub, uint64_t off)
{
    struct spool_msg *m = calloc(1, sizeof(*m));
    if (m == NULL)
        abort();
    memcpy(m->id, sub->id, SPOOL_ID_SIZE);
    m->sender = sub->sender ? strdup(sub->sender) : strdup("");
    m->proto = strdup(sub->proto ? sub->proto : "local");
    m->host = strdup(sub->host ? sub->host : "");
    m->helo = strdup(sub->helo ? sub->helo : "");
    m->arrival_us = (int64_t)now_us();
    m->flags = sub->flags;
    m->body_len = sub->body_len;
    m->body_seg = sp->seg_cur;
    m->body_off = off;
    m->nrcpt = (uint32_t)sub->nrcpt;
    m->rcpt = calloc(sub->nrcpt, sizeof(*m->rcpt));
    if (m->rcpt == NULL || !m->sender || !m->proto || !m->host || !m->helo)
        abort();
    for (size_t i = 0; i < sub->nrcpt; i++) {
        if ((m->rcpt[i].address = strdup(sub->rcpts[i])) == NULL)
            abort();
        m->rcpt[i].dsn_notify = sub->dsn_notify ? sub->dsn_notify[i] : 0;
        m->rcpt[i].dsn_orcpt = sub->dsn_orcpt ? dup_opt(sub->dsn_orcpt[i]) : NULL;
    }
    m->dsn_ret = sub->dsn_ret;
    m->dsn_envid = dup_opt(sub->dsn_envid);
    return m;
}

/* txn_put - the records of a list of operations into txn; submissions take
 * theirs from msgs, in order */
static int
txn_put(spool *sp, MDB_txn *txn, struct op *ops, struct spool_msg **msgs)
{
    size_t k = 0;
    int rc = 0;
    for (struct op *o = ops; o && rc == 0; o = o->next) {
        MDB_val key = {.mv_size = SPOOL_ID_LEN}, val;
        if (o->kind == OP_SUBMIT) {
            size_t len;
            void *rec = spool_msg_encode(msgs[k], &len);
            key.mv_data = msgs[k++]->id;
            val = (MDB_val){.mv_size = len, .mv_data = rec};
            rc = mdb_put(txn, sp->msgs, &key, &val, 0);
            free(rec);
        } else if (o->kind == OP_UPDATE) {
            key.mv_data = o->id;
            val = (MDB_val){.mv_size = o->reclen, .mv_data = o->rec};
            rc = mdb_put(txn, sp->msgs, &key, &val, 0);
        } else if (o->kind == OP_REMOVE) {
            key.mv_data = o->id;
            rc = mdb_del(txn, sp->msgs, &key, NULL);
            if (rc == MDB_NOTFOUND)
                rc = 0;
        }
    }
    return rc;
}

/* txn_apply - the states' records, then the submissions', in one LMDB
 * transaction, committed (either list may be empty) */
static int
txn_apply(spool *sp, struct op *states, struct op *subs, struct spool_msg **msgs)
{
    MDB_txn *txn;
    uint64_t seq = 0;
    int rc = mdb_txn_begin(sp->env, NULL, 0, &txn);
    if (rc != 0)
        return rc;
    for (struct op *o = states; o; o = o->next)
        if (o->seq > seq)
            seq = o->seq;
    if ((rc = txn_put(sp, txn, states, NULL)) == 0)
        rc = txn_put(sp, txn, subs, msgs);
    if (rc == 0 && seq > sp->jseq_done)
        rc = jnl_meta_put(txn, sp->meta, seq);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    if ((rc = mdb_txn_commit(txn)) == 0 && seq > sp->jseq_done) {
        sp->jseq_done = seq;
        if (sp->jnl != NULL)
            jnl_applied(sp->jnl, seq);
    }
    return rc;
}

/* lmdb_errno - an errno for an LMDB result code */
static int
lmdb_errno(int rc)
{
    if (rc == MDB_MAP_FULL)
        return -ENOSPC;
    return rc > 0 ? -rc : -EIO;
}

/* finish_ops - answer submitters, hand committed messages on, free the ops */
static void
finish_ops(spool *sp, struct op *ops, struct spool_msg **msgs, int status)
{
    size_t k = 0;
    struct op *next;
    for (struct op *o = ops; o; o = next) {
        next = o->next;
        if (o->kind == OP_SUBMIT) {
            struct spool_msg *m = msgs ? msgs[k++] : NULL;
            if (o->sub->done)
                o->sub->done(o->sub, status, o->sub->arg);
            spool_submission_free(o->sub);
            if (status == 0 && m != NULL && sp->hook)
                sp->hook(m, sp->hook_arg);
            else
                spool_msg_free(m);
        } else if (o->kind == OP_REMOVE && status == 0) {
            seg_release(sp, o->seg);
        }
        free(o->rec);
        free(o);
    }
}

/* elapsed_s - seconds between two monotonic time stamps */
static double
elapsed_s(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* on_state_wake - recipient states were posted to an empty list: a round */
static void
on_state_wake(eng_loop *loop, void *arg)
{
    spool *sp = arg;
    if (!eng_timer_armed(&sp->commit_timer))
        eng_timer_start(loop, &sp->commit_timer, 0);
}

/* states_put - put the chain first..last (ops taken out earlier) back at
 * the head of the recipient-state list; the first addition since the writer
 * last took the list wakes the writer */
static void
states_put(spool *sp, struct op *first, struct op *last)
{
    int wake;
    pthread_mutex_lock(&sp->st_mu);
    last->next = sp->st_head;
    if (sp->st_head == NULL)
        sp->st_tail = &last->next;
    sp->st_head = first;
    wake = !sp->st_wake;
    sp->st_wake = 1;
    pthread_mutex_unlock(&sp->st_mu);
    if (wake && eng_loop_post(sp->loop, on_state_wake, sp) < 0)
        abort();
}

/* states_take - every recipient-state operation posted so far, in order */
static struct op *
states_take(spool *sp)
{
    struct op *ops;
    pthread_mutex_lock(&sp->st_mu);
    ops = sp->st_head;
    sp->st_head = NULL;
    sp->st_tail = &sp->st_head;
    sp->st_wake = 0;
    /* everything in the current journal file is taken: past its size limit
     * it is retired, and unlinked once these states are committed */
    if (sp->jnl != NULL && jnl_size(sp->jnl) >= JNL_ROTATE_BYTES &&
        jnl_rotate(sp->jnl, sp->jseq_last) < 0)
        log_err("spool: cannot start a new state journal file: %s", strerror(errno));
    pthread_mutex_unlock(&sp->st_mu);
    return ops;
}

/* states_requeue - a transaction that carried these states failed: they go
 * back to the head of the list, for a transaction of their own */
static void
states_requeue(spool *sp, struct op *ops)
{
    struct op *last = ops;
    if (ops == NULL)
        return;
    while (last->next != NULL)
        last = last->next;
    states_put(sp, ops, last);
}

/* commit_batch - one group commit of submissions: bodies, fsync, records,
 * commit, answers. Recipient states posted while the bodies were written
 * go into the same LMDB transaction: no extra fsync, no other round. */
static void
commit_batch(spool *sp, struct op *ops)
{
    size_t nsub = 0, k = 0;
    uint64_t *offs;
    struct spool_msg **msgs;
    struct op *states = NULL;
    int rc, mrc;
    struct timespec a, b;

    clock_gettime(CLOCK_MONOTONIC, &a);
    for (struct op *o = ops; o; o = o->next)
        nsub++;
    offs = calloc(nsub + 1, sizeof(*offs));
    msgs = calloc(nsub + 1, sizeof(*msgs));
    if (offs == NULL || msgs == NULL)
        abort();
    rc = write_bodies(sp, ops, offs);
    if (rc < 0)
        log_err("spool: writing message bodies failed: %s", strerror(-rc));
    for (struct op *o = ops; o && rc == 0; o = o->next) {
        msgs[k] = msg_from_sub(sp, o->sub, offs[k]);
        k++;
    }
    if (rc == 0)
        states = states_take(sp);
    if (rc == 0 && (mrc = txn_apply(sp, states, ops, msgs)) != 0) {
        log_err("spool: LMDB commit failed: %s", mdb_strerror(mrc));
        rc = lmdb_errno(mrc);
    }
    if (rc == 0)
        segref_find(sp, sp->seg_cur, 1)->refs += (long)nsub;
    else
        for (size_t i = 0; i < k; i++)
            spool_msg_free(msgs[i]), msgs[i] = NULL;
    clock_gettime(CLOCK_MONOTONIC, &b);
    metrics_commit_latency(elapsed_s(&a, &b));
    metrics_inc(MC_SPOOL_COMMITS);
    metrics_add(MC_SPOOL_COMMIT_MSGS, rc == 0 ? nsub : 0);
    if (rc == 0)
        finish_ops(sp, states, NULL, 0);
    else
        states_requeue(sp, states);
    finish_ops(sp, ops, rc == 0 ? msgs : NULL, rc);
    free(offs);
    free(msgs);
}

/* commit_states - recipient-state operations (updates, removals), in order,
 * in one LMDB transaction of their own: no body is written or fsynced for
 * them. Each refers to a message committed before it was posted, so they
 * may go ahead of the submissions gathered with them. */
static void
commit_states(spool *sp, struct op *ops)
{
    struct timespec a, b;
    int mrc;

    if (ops == NULL)
        return;
    clock_gettime(CLOCK_MONOTONIC, &a);
    if ((mrc = txn_apply(sp, ops, NULL, NULL)) != 0)
        log_err("spool: LMDB commit of recipient states failed: %s", mdb_strerror(mrc));
    clock_gettime(CLOCK_MONOTONIC, &b);
    metrics_commit_latency(elapsed_s(&a, &b));
    metrics_inc(MC_SPOOL_COMMITS);
    finish_ops(sp, ops, NULL, mrc == 0 ? 0 : lmdb_errno(mrc));
}

/* commit_submissions - one group commit of the first max_batch submissions
 * gathered */
static void
commit_submissions(spool *sp)
{
    struct op *batch = sp->sub_head, **pp = &sp->sub_head;
    for (int n = 0; *pp != NULL && n < sp->max_batch; n++)
        pp = &(*pp)->next;
    sp->sub_head = *pp;
    if (sp->sub_head == NULL)
        sp->sub_tail = &sp->sub_head;
    *pp = NULL;
    if (batch != NULL)
        commit_batch(sp, batch);
}

/* on_resume - a round left submissions behind, and the inbox has been
 * drained since: commit again (recipient states that came meanwhile first) */
static void
on_resume(eng_loop *loop, void *arg)
{
    spool *sp = arg;
    sp->resume_posted = 0;
    if (!eng_timer_armed(&sp->commit_timer))
        eng_timer_start(loop, &sp->commit_timer, 0);
}

/* states_waiting - nonzero if recipient states wait in the list */
static int
states_waiting(spool *sp)
{
    int r;
    pthread_mutex_lock(&sp->st_mu);
    r = sp->st_head != NULL;
    pthread_mutex_unlock(&sp->st_mu);
    return r;
}

/* commit_pending - one round: one batch of submissions, the recipient
 * states posted so far riding in its transaction, or the states alone.
 * Submissions left over wait for the next round, after the inbox has been
 * drained. With all (at stop) everything is committed now. */
static void
commit_pending(spool *sp, int all)
{
    do {
        if (sp->sub_head == NULL)
            commit_states(sp, states_take(sp));
        else
            commit_submissions(sp); /* the states ride in its transaction */
    } while (all && (sp->sub_head != NULL || states_waiting(sp)));
    if (sp->sub_head != NULL && !sp->resume_posted) {
        sp->resume_posted = 1;
        if (eng_loop_post(sp->loop, on_resume, sp) < 0)
            abort();
    }
}

/* on_commit_timer - the inbox has been drained: commit what was gathered */
static void
on_commit_timer(eng_loop *loop, struct eng_timer *t)
{
    (void)loop;
    commit_pending(t->data, 0);
}

/* on_op - a submission (or the stop) arrived on the writer thread */
static void
on_op(eng_loop *loop, void *arg)
{
    struct op *o = arg;
    spool *sp = o->sp;
    if (o->kind == OP_STOP) {
        free(o);
        eng_timer_stop(loop, &sp->commit_timer);
        commit_pending(sp, 1);
        eng_loop_stop(loop);
        return;
    }
    o->next = NULL;
    *sp->sub_tail = o;
    sp->sub_tail = &o->next;
    if (!eng_timer_armed(&sp->commit_timer))
        eng_timer_start(loop, &sp->commit_timer, 0);
}

/* post_op - hand a submission or the stop to the writer; out of memory is
 * fatal */
static void
post_op(spool *sp, struct op *o)
{
    o->sp = sp;
    if (eng_loop_post(sp->loop, on_op, o) < 0)
        abort();
}

/* new_op - a zeroed operation */
static struct op *
new_op(enum op_kind kind)
{
    struct op *o = calloc(1, sizeof(*o));
    if (o == NULL)
        abort();
    o->kind = kind;
    return o;
}

/* spool_submit - queue a submission for the next group commit */
void
spool_submit(spool *sp, struct spool_submission *sub)
{
    struct op *o = new_op(OP_SUBMIT);
    o->sub = sub;
    post_op(sp, o);
}

/* states_journal - give o the next sequence number, append its journal
 * entry, and add it to the recipient-state list: in one critical section, so
 * the journal's order is the list's */
static void
states_journal(spool *sp, struct op *o, enum jnl_kind kind, const struct spool_msg *msg)
{
    int rc = 0, wake;
    pthread_mutex_lock(&sp->st_mu);
    o->seq = ++sp->jseq_last;
    if (sp->jnl != NULL)
        rc = jnl_append(sp->jnl, kind, o->seq, msg);
    o->next = NULL;
    *sp->st_tail = o;
    sp->st_tail = &o->next;
    wake = !sp->st_wake;
    sp->st_wake = 1;
    if (rc < 0 && !sp->jnl_failed) {
        sp->jnl_failed = 1;
        log_err("spool: writing the state journal failed: %s (states wait for the next commit)",
                strerror(-rc));
    }
    pthread_mutex_unlock(&sp->st_mu);
    if (wake && eng_loop_post(sp->loop, on_state_wake, sp) < 0)
        abort();
}

/* spool_update - journal msg's recipient states; persist with the next
 * commit */
void
spool_update(spool *sp, const struct spool_msg *msg)
{
    struct op *o = new_op(OP_UPDATE);
    memcpy(o->id, msg->id, SPOOL_ID_SIZE);
    o->rec = spool_msg_encode(msg, &o->reclen);
    o->sp = sp;
    states_journal(sp, o, JNL_UPDATE, msg);
}

/* spool_remove - journal msg's removal; delete with the next commit */
void
spool_remove(spool *sp, const struct spool_msg *msg)
{
    struct op *o = new_op(OP_REMOVE);
    memcpy(o->id, msg->id, SPOOL_ID_SIZE);
    o->seg = msg->body_seg;
    o->sp = sp;
    states_journal(sp, o, JNL_REMOVE, msg);
}

/* spool_body_read - read a stored body into a malloc'd buffer */
int
spool_body_read(spool *sp, const struct spool_msg *msg, char **buf, size_t *len)
{
    char path[4096];
    size_t got = 0;
    int fd, err = 0;
    char *b = malloc(msg->body_len + 1);
    if (b == NULL)
        return -ENOMEM;
    seg_path(sp, msg->body_seg, path, sizeof(path));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        free(b);
        return -errno;
    }
    while (got < msg->body_len) {
        ssize_t k = pread(fd, b + got, msg->body_len - got, (off_t)(msg->body_off + got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            err = k < 0 ? -errno : -EIO;
            break;
        }
        got += (size_t)k;
    }
    close(fd);
    if (err)
        free(b);
    else
        b[got] = '\0', *buf = b, *len = got;
    return err;
}

/* spool_exists - is there a committed record for id? 1, 0 or -errno */
int
spool_exists(spool *sp, const char *id)
{
    MDB_val key = {.mv_size = SPOOL_ID_LEN, .mv_data = (void *)id}, val;
    MDB_txn *txn;
    int rc = mdb_txn_begin(sp->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return lmdb_errno(rc);
    rc = mdb_get(txn, sp->msgs, &key, &val);
    mdb_txn_abort(txn);
    return rc == 0 ? 1 : rc == MDB_NOTFOUND ? 0 : lmdb_errno(rc);
}

/* ------------------------------------------------- open, recover, run */

/* open_env - open the LMDB environment and the messages table */
static int
open_env(spool *sp, const char *dbdir)
{
    MDB_txn *txn;
    int rc = mdb_env_create(&sp->env);
    if (rc == 0)
        rc = mdb_env_set_mapsize(sp->env, MAP_SIZE);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(sp->env, 4);
    if (rc == 0)
        rc = mdb_env_open(sp->env, dbdir, MDB_NOTLS, 0600);
    if (rc == 0)
        rc = mdb_txn_begin(sp->env, NULL, 0, &txn);
    if (rc != 0)
        return rc;
    rc = mdb_dbi_open(txn, "msgs", MDB_CREATE, &sp->msgs);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &sp->meta);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    return mdb_txn_commit(txn);
}

/* max_segment - the highest segment number present, or 0 */
static uint32_t
max_segment(const spool *sp)
{
    char path[4096];
    struct dirent *de;
    uint32_t max = 0;
    snprintf(path, sizeof(path), "%s/bodies", sp->dir);
    DIR *d = opendir(path);
    if (d == NULL)
        return 0;
    while ((de = readdir(d)) != NULL) {
        unsigned n;
        char tail[8];
        if (sscanf(de->d_name, "%8x%7s", &n, tail) == 2 && strcmp(tail, ".seg") == 0 && n > max)
            max = n;
    }
    closedir(d);
    return max;
}

/* spool_open - create or open the spool */
spool *
spool_open(const char *dir, char *err, size_t errlen)
{
    static const char *const subdirs[] = {"", "/db", "/bodies"};
    char path[4096];
    int rc;
    spool *sp = calloc(1, sizeof(*sp));
    if (sp == NULL || (sp->dir = strdup(dir)) == NULL)
        abort();
    sp->segfd = -1;
    pthread_mutex_init(&sp->st_mu, NULL);
    sp->st_tail = &sp->st_head;
    sp->sub_tail = &sp->sub_head;
    sp->max_batch = 512;
    for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
        snprintf(path, sizeof(path), "%s%s", dir, subdirs[i]);
        if ((rc = spool_mkdir_p(path)) < 0 || (rc = spool_dir_usable(path, i > 0)) < 0) {
            snprintf(err, errlen, "cannot use %s: %s", path, strerror(-rc));
            goto fail;
        }
    }
    snprintf(path, sizeof(path), "%s/db", dir);
    if ((rc = open_env(sp, path)) != 0) {
        snprintf(err, errlen, "cannot open spool database %s: %s", path, mdb_strerror(rc));
        goto fail;
    }
    if ((sp->loop = eng_loop_new()) == NULL) {
        snprintf(err, errlen, "cannot create the spool writer's loop: %s", strerror(errno));
        goto fail;
    }
    eng_timer_init(&sp->commit_timer, on_commit_timer, sp);
    sp->seg_cur = max_segment(sp);
    return sp;
fail:
    if (sp->env)
        mdb_env_close(sp->env);
    pthread_mutex_destroy(&sp->st_mu);
    free(sp->dir);
    free(sp);
    return NULL;
}

/* id_time_us - the arrival time encoded in an id */
static uint64_t
id_time_us(const char *id)
{
    uint64_t v = 0;
    for (int i = 0; i < 11; i++) {
        const char *p = strchr(b62, id[i]);
        v = v * 62 + (p && *p ? (uint64_t)(p - b62) : 0);
    }
    return v;
}

/* drop_unused_segments - unlink segments no queued message refers to */
static void
drop_unused_segments(spool *sp, uint32_t max)
{
    char path[4096];
    for (uint32_t n = 0; n <= max; n++) {
        struct segref *r = segref_find(sp, n, 0);
        if (r != NULL && r->refs > 0)
            continue;
        seg_path(sp, n, path, sizeof(path));
        unlink(path);
    }
}

/* journal_ready - once, before any record is read or written: replay the
 * state journal onto the records and start a fresh one. Without a journal
 * (it cannot be replayed or opened) the spool runs as before: states are
 * safe once committed. */
static void
journal_ready(spool *sp)
{
    uint64_t next = 1;
    long applied = 0;
    int rc;
    if (sp->jnl_ready)
        return;
    sp->jnl_ready = 1;
    if ((rc = jnl_recover(sp->dir, sp->env, sp->msgs, sp->meta, &next, &applied)) != 0) {
        log_err("spool: replaying the state journal failed: %s; it is left in place",
                mdb_strerror(rc));
        return;
    }
    if (applied > 0)
        log_info("spool: %ld recipient-state changes replayed from the journal", applied);
    sp->jseq_last = sp->jseq_done = next - 1;
    if ((sp->jnl = jnl_open(sp->dir, next)) == NULL)
        log_err("spool: cannot open the state journal in %s/journal: %s", sp->dir, strerror(errno));
}

/* spool_recover - replay the journal, hand every queued message to fn */
long
spool_recover(spool *sp, spool_commit_hook fn, void *arg)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    long count = 0, bad = 0;
    uint64_t maxus = 0;
    uint32_t maxseg = sp->seg_cur;
    int rc;
    journal_ready(sp);
    if ((rc = mdb_txn_begin(sp->env, NULL, MDB_RDONLY, &txn)) != 0)
        return lmdb_errno(rc);
    if ((rc = mdb_cursor_open(txn, sp->msgs, &cur)) != 0) {
        mdb_txn_abort(txn);
        return lmdb_errno(rc);
    }
    while ((rc = mdb_cursor_get(cur, &k, &v, count + bad == 0 ? MDB_FIRST : MDB_NEXT)) == 0) {
        struct spool_msg *m = spool_msg_decode(v.mv_data, v.mv_size);
        if (m == NULL) {
            log_err("spool: record %.*s is malformed; left in place", (int)k.mv_size,
                    (const char *)k.mv_data);
            bad++;
            continue;
        }
        segref_find(sp, m->body_seg, 1)->refs++;
        if (id_time_us(m->id) > maxus)
            maxus = id_time_us(m->id);
        count++;
        fn(m, arg);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (maxus > atomic_load(&sp->last_us))
        atomic_store(&sp->last_us, maxus);
    drop_unused_segments(sp, maxseg);
    return count;
}

/* writer_main - the writer thread */
static void *
writer_main(void *arg)
{
    spool *sp = arg;
    eng_loop_run(sp->loop);
    return NULL;
}

/* spool_start - open a fresh segment and start the writer thread */
int
spool_start(spool *sp, spool_commit_hook hook, void *arg, int max_batch)
{
    int rc;
    journal_ready(sp);
    sp->hook = hook;
    sp->hook_arg = arg;
    if (max_batch > 0)
        sp->max_batch = max_batch;
    if ((rc = seg_open_new(sp, sp->seg_cur + 1)) < 0)
        return rc;
    if ((rc = pthread_create(&sp->thread, NULL, writer_main, sp)) != 0)
        return -rc;
    sp->started = 1;
    return 0;
}

/* spool_close - drain, stop the writer, free */
void
spool_close(spool *sp)
{
    if (sp == NULL)
        return;
    if (sp->started) {
        post_op(sp, new_op(OP_STOP));
        pthread_join(sp->thread, NULL);
    }
    if (sp->segfd >= 0)
        close(sp->segfd);
    /* every state journaled is committed (a clean stop): no journal left */
    jnl_close(sp->jnl, sp->jseq_done == sp->jseq_last);
    sp->jnl = NULL;
    for (struct op *o = states_take(sp), *next; o != NULL; o = next) {
        next = o->next; /* posted after the stop: nothing will write them */
        free(o->rec);
        free(o);
    }
    pthread_mutex_destroy(&sp->st_mu);
    eng_loop_free(sp->loop);
    mdb_env_close(sp->env);
    free(sp->segs);
    free(sp->dir);
    free(sp);
}
