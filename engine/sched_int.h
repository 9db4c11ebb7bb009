/*
 * sched_int.h - what the scheduler's files share inside engine/.
 *
 * The scheduler is four files, each calling only the ones below it:
 *   sched.c        start, stop (drain), reload, job results from workers
 *   sched_route.c  new messages, routing, retry timing, settling a message
 *   sched_dest.c   destinations, ready queues, lending jobs to workers
 *   sched_dsn.c    delivery status notifications: which are due, when, and
 *                  their hand-over to the spool (engine/dsn.h writes them)
 *   sched_state.c  the state (sch), recipient outcomes
 * and sched_queue.c, the queue summary, which reads the state only.
 * sched_dest.c reaches up only through sch.settle, which sched.c sets, and
 * sched_state.c to sched_dsn.c only through sch.outcome.
 *
 * Thread rules: all of it runs on the scheduler thread (sch.loop) unless a
 * function says otherwise; other threads reach it through eng_loop_post().
 */
#ifndef SPATE_ENGINE_SCHED_INT_H
#define SPATE_ENGINE_SCHED_INT_H

#include <pthread.h>
#include <stdint.h>

#include "engine/eng_internal.h"

#define DEST_BUCKETS 4096

struct sched {
    const struct cfg *cfg;
    spool *sp;
    eng_loop *loop;
    pthread_t thread;
    dns_resolver *dns;
    struct eng_worker **workers;
    int nworkers, rr;
    struct eng_dest *dests[DEST_BUCKETS];
    struct eng_dest *retired;   /* replaced by a reload: no new job, freed once closed */
    struct spool_msg **adopted; /* recovered messages, handed over in slices */
    size_t nadopted, adopt_cap, adopt_next;
    struct eng_timer adopt_timer; /* the next slice, after a round of I/O */
    long queued, queued_rcpts;
    uint32_t rnd;
    int starting;   /* handing over recovered mail */
    int draining;   /* shutting down, step one: no job is lent any more */
    int no_workers; /* shutting down, step two: the workers are being freed: no
                     * message may reach them (set on the scheduler thread
                     * before the main thread frees them) */
    int stopping;   /* shutting down: no state changes, only freeing */
    unsigned gen;   /* configuration generation: +1 per reload */
    struct eng_qmsg *qhead;
    /* settle - after some of q's recipients changed state: persist, complete
     * or schedule the next try (sched_route.c's qmsg_settle) */
    void (*settle)(struct eng_qmsg *q);
    void (*on_empty)(void); /* eng_on_queue_empty() */
    /* outcome - recipient i of q has a new outcome, text (j: the job that
     * reached a host, or NULL; final: it failed for good), for the notices
     * (sched_dsn.c's dsn_outcome: sched_state.c calls nothing above it) */
    void (*outcome)(struct eng_qmsg *q, uint32_t i, const char *text, const struct eng_job *j,
                    int final);
    struct eng_timer empty_timer; /* runs on_empty a second after the queue emptied */
};

extern struct sched sch;

/* sched_state.c */
int64_t now_s(void);                           /* wall clock, seconds */
double rnd01(void);                            /* a random value in [0,1) for H retry steps */
uint32_t qmsg_final(const struct eng_qmsg *q); /* recipients in a final state */
void qmsg_free(struct eng_qmsg *q);            /* forget a message */
/* msg_event - raise a msg:* event off the loop; i: the recipient
 * (UINT32_MAX: message events); j: the job that reached a host, or NULL */
void msg_event(const struct exp_str *action, const char *name, const struct eng_qmsg *q, uint32_t i,
               const struct eng_job *j, const char *data, int errnum);
void finish_remove(struct eng_qmsg *q); /* "Completed": off the spool, forgotten */
/* qmsg_reported - q's last notice is durable and q was completing, or the
 * scheduler is stopping: remove it (free it only, when stopping) */
void qmsg_reported(struct eng_qmsg *q);
void on_empty_timer(eng_loop *loop, struct eng_timer *t); /* sch.empty_timer's callback */
void rcpt_log_names(const struct cfg_router *r, char *out, size_t len); /* " R=.. T=.." */
void rcpt_fail(struct eng_qmsg *q, uint32_t i, const struct cfg_router *r, const char *host,
               const char *why, const struct eng_job *j);
/* rcpt_defer - next try per the retry rules (not before not_before), or
 * failure once the retry period is over */
void rcpt_defer(struct eng_qmsg *q, uint32_t i, const struct cfg_router *r, const char *host,
                const char *why, int64_t not_before, const struct eng_job *j);

/* What the scheduler remembers of a recipient's last outcome, for the
 * notices (allocated on the first outcome; freed with the message). */
struct rcpt_note {
    char *text;            /* the explanation, as logged */
    char *mta, *ip, *port; /* the host that answered, or NULL */
    char *greeting, *helo; /* its greeting and EHLO reply, or NULL */
    int64_t when;          /* unix s of the attempt */
    unsigned pending : 1;  /* in a notice not yet durable */
    unsigned relayed : 1;  /* delivered to a host that did not take the DSN request */
};

/* A final recipient whose notice is done (sent, or none owed) carries this
 * in its spool last_interval, meaningless once final: it survives restarts. */
#define RCPT_DSN_DONE (-1)

/* sched_dsn.c */
/* dsn_note - remember the outcome of recipient i (j: the job that reached a
 * host, or NULL) for a notice */
void dsn_note(struct eng_qmsg *q, uint32_t i, const char *text, const struct eng_job *j);
/* dsn_final - recipient i became final: mark it done now when no notice is
 * owed for it (NOTIFY, the null sender, relay semantics) */
void dsn_final(struct eng_qmsg *q, uint32_t i, const struct eng_job *j);
/* dsn_check - send the notices that are due (final: the message is done, no
 * waiting for the gathering window) and arm q->dsn_timer for the next */
void dsn_check(struct eng_qmsg *q, int final);
void dsn_init(struct eng_qmsg *q); /* a new or recovered message */
/* dsn_outcome - sch.outcome: dsn_note, then dsn_final when final */
void dsn_outcome(struct eng_qmsg *q, uint32_t i, const char *text, const struct eng_job *j,
                 int final);

/* sched_dest.c */
char *dest_key(const struct cfg_transport *tp, uint16_t port, const struct dns_result *res);
void dest_policy(struct eng_dest *d); /* limits from the destinations section */
/* dest_get - the destination for a routing answer, made on first use */
struct eng_dest *dest_get(const struct cfg_router *r, uint16_t port, const struct dns_result *res,
                          const char *domain);
void dest_park(struct eng_dest *d, struct eng_worker *w, struct eng_session *s);
struct eng_job *job_new(struct eng_qmsg *q, struct eng_dest *d, const uint32_t *ridx, size_t n);
void job_free(struct eng_job *j);
void dest_enqueue(struct eng_dest *d, struct eng_qmsg *q, const uint32_t *ridx, size_t n);
void job_release_rcpts(struct eng_job *j); /* the job's recipients are no longer busy */
void dest_count_done(struct eng_dest *d);  /* a job finished: measure the rate */
/* dest_conn_started - job j came back: if it opened a connection, note how
 * long that took (slow set-up opens connections in parallel) */
void dest_conn_started(struct eng_dest *d, const struct eng_job *j);
void dest_dispatch(struct eng_dest *d); /* lend waiting jobs to sessions */
void dest_free(struct eng_dest *d);
/* dest_note_outcome - a connection failure backs the destination off */
void dest_note_outcome(struct eng_dest *d, int conn_failed);

/* queuefile.c: the queuefile transport's writer thread */
int qf_start(char *err, size_t errlen); /* eng_start, main thread */
/* qf_stop - main thread, after the workers stopped: write what is queued,
 * post the results, join */
void qf_stop(void);
/* qf_deliver - recipients ridx[0..n) of q, routed by r to its queuefile
 * transport: busy until the export is durable (or failed) */
void qf_deliver(struct eng_qmsg *q, const struct cfg_router *r, const uint32_t *ridx, size_t n);

/* dkim_pool.c: the DKIM signing threads (started at the first message to sign) */
void dkp_start(void); /* eng_start, main thread: allow signing (again) */
/* dkp_stop - main thread, after the workers stopped: the requests still
 * queued are posted back unsigned; join */
void dkp_stop(void);
/* dkp_sign - compute tp's DKIM fields for q on a signing thread; then, on
 * the scheduler thread, they are kept on q->dkim (nothing kept when the
 * body could not be read or the pool was stopped) and done(arg) runs. q
 * must stay alive until then (its recipients are busy routing). 0 queued,
 * -1 no signing thread (stopped, or none could start): nothing queued. */
int dkp_sign(struct eng_qmsg *q, const struct cfg_transport *tp, void (*done)(void *arg),
             void *arg);

/* sched_route.c */
void qmsg_schedule(struct eng_qmsg *q); /* route the recipients that are due */
void qmsg_settle(struct eng_qmsg *q);
void on_new_msg(eng_loop *loop, void *arg); /* a committed or recovered message */

/* rcpt_record - the JSON delivery log record of recipient i's outcome
 * (sched_state.c; kind an enum log_rec_kind); j NULL when no host answered */
void rcpt_record(int kind, const struct eng_qmsg *q, uint32_t i, const struct cfg_router *r,
                 const char *why, const struct eng_job *j);

#endif
