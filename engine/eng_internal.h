/*
 * eng_internal.h - what the scheduler (sched.c), the workers (worker.c) and
 *                  the delivery status notifications (sched_dsn.c) share
 *                  inside engine/. (The notices' text is engine/dsn.h's.)
 *
 * Ownership: destinations, queued messages and jobs belong to the scheduler
 * thread. A job is lent to one worker from the post that sends it until the
 * post that returns it; while lent, the worker reads the job's message fields
 * that never change (id, sender, recipient addresses, body location) and
 * writes only the job's result fields. Sessions belong to their worker; the
 * scheduler holds them only as opaque handles in a destination's idle list.
 */
#ifndef SPATE_ENGINE_INTERNAL_H
#define SPATE_ENGINE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "base/loop.h"
#include "conf/config.h"
#include "dns/dns.h"
#include "spool/spool.h"

struct eng_session; /* worker.c */
struct eng_worker;  /* worker.c */
struct rcpt_note;   /* sched_int.h */

/* Per-destination limits (the "begin destinations" section will fill these). */
struct eng_policy {
    int max_connections;             /* sessions open at once */
    int max_messages_per_connection; /* transactions before QUIT */
    int connection_idle_timeout_ms;  /* an idle cached session is closed after this */
    int connect_timeout_s;           /* 0: the transport's connect_timeout */
    uint32_t rate_count;             /* max_message_rate: rate_count messages ... */
    uint32_t rate_period_ms;         /* ... per rate_period_ms; 0 = no limit */
};

/* An idle cached session, as the scheduler knows it. */
struct eng_idle {
    struct eng_worker *w;
    struct eng_session *s;
};

/* A destination: the resolved host set (and port) that messages go to. */
struct eng_dest {
    char *key;    /* "transport|port|host1,host2" */
    char *domain; /* the recipient domain that first reached it */
    const struct cfg_transport *tp;
    const struct cfg_router *router;
    uint16_t port;
    size_t nhosts;
    struct dns_host *hosts; /* delivery order, with addresses */
    struct eng_policy pol;
    struct eng_job *ready_head, **ready_tail; /* jobs waiting for a session */
    size_t nready;
    int nconn;  /* sessions owned for this destination */
    int proven; /* a connection succeeded since the last failure: more than one may open */
    uint64_t last_open_ms; /* when the last new connection was started (monotonic) */
    uint64_t rate_per_s;   /* jobs finished per second, last measured window (0: unknown) */
    uint64_t win_start_ms, win_done; /* the window being measured */
    uint64_t rate_at_open;           /* the rate when the last new connection opened */
    uint64_t windows_since_open;     /* rate windows measured since then */
    struct eng_idle *idle;           /* idle cached sessions (handles) */
    size_t nidle, idlecap;
    int64_t backoff_until;                /* unix s: no attempt before, 0 = none */
    int64_t first_conn_failure;           /* unix s of the first failure in a row */
    long backoff_interval;                /* last back-off interval, s */
    uint64_t delivered, deferred, failed; /* for the queue summary */
    char *last_error;                     /* the last deferral's or failure's text, or NULL */
    int64_t last_error_at;                /* unix s of it */
    uint64_t next_send_ms;                /* max_message_rate: no job before this (monotonic) */
    struct eng_timer rate_timer;          /* wakes dispatch when the rate allows again */
    int retired;               /* a reload replaced its transport: no new job, freed once closed */
    int npending;              /* new connections whose first job has not come back */
    uint64_t pending_since_ms; /* when npending last rose from 0 (monotonic) */
    uint64_t setup_ms;         /* the last new connection: lent to its first job back */
    struct eng_timer ramp_timer; /* looks again while connections are slow to start */
    struct eng_dest *hnext;
};

enum eng_rcpt_result { ENG_R_OK = 0, ENG_R_DEFER, ENG_R_FAIL };

/* Where a job went: the host that answered and the session's TLS state,
 * written by the worker when it gives the job back (malloc'd then, so a job
 * waiting in a ready queue costs no room for it). */
struct eng_where {
    char host[320];      /* "H=name [ip]:port" of the host that answered */
    char host_name[256]; /* the same, split out for event variables */
    char host_ip[64];
    char host_port[8];
    char sending_ip[64]; /* our end of the connection */
    char sending_port[8];
    char tls_x[96];           /* X= of the session, "" in clear */
    char tls_cv[8];           /* CV= of the session, "" in clear */
    int tls_dane;             /* $tls_out_dane */
    char *tls_peercert;       /* $tls_out_peercert: the server's certificate (PEM,
                               * malloc'd; only with a transport event_action), or NULL */
    char tls_verify_mode[12]; /* $verify_mode of the session, "" in clear */
    /* for delivery status notifications (engine/dsn.h); the SMTP client sets them */
    char smtp_greeting[256]; /* the server's 220 greeting line ("" unknown) */
    char helo_response[256]; /* the first line of its EHLO (or HELO) reply ("" unknown) */
    unsigned dsn_passed : 1; /* relay semantics: the server advertised DSN and the job's
                              * NOTIFY/ORCPT/RET/ENVID went with MAIL and RCPT, so the
                              * next hop reports success and spate sends none */
};

/* A delivery job: some recipients of one message, to one destination.
 * Made at routing time for every routed message, so kept small: the
 * per-recipient results are allocated when it is lent (job_lend), where it
 * went when it comes back. */
struct eng_job {
    struct eng_qmsg *q;
    struct eng_dest *d;
    size_t n;
    uint32_t *ridx; /* indexes into q->m->rcpt */
    /* results, written by the worker */
    uint8_t *res;              /* enum eng_rcpt_result per recipient (from job_lend) */
    char **text;               /* explanation per recipient (malloc'd; from job_lend) */
    struct eng_where *at;      /* where it went; NULL until the worker gives it back */
    int defer_errno;           /* errno of a connection failure, else 0 */
    unsigned conn_failed : 1;  /* no host could be reached: back off the destination */
    unsigned sess_closed : 1;  /* the session ended with this job */
    unsigned sess_closing : 1; /* the session is saying QUIT: ops->conn_closed follows */
    unsigned abandoned : 1;    /* handed back unfinished at shut-down: no results */
    unsigned new_conn : 1;     /* lent to open a new connection */
    struct eng_session *sess;  /* session to use / that was used */
    struct eng_policy pol;     /* the destination's limits when lent (reloads change d->pol) */
    uint64_t lent_ms;          /* when it was lent (monotonic) */
    struct eng_worker *worker;
    struct eng_job *next;
};

/* A queued message as the scheduler sees it. */
struct eng_qmsg {
    struct spool_msg *m;
    uint8_t *busy;                /* per recipient: routing or in a job */
    struct rcpt_note **note;      /* per recipient: the last outcome, for DSNs (sched_int.h) */
    int inflight;                 /* recipients busy */
    int completing;               /* notice being committed, removal pending */
    int dirty;                    /* recipient state changed since the last spool_update */
    int routing;                  /* routing lookups in flight */
    struct eng_dest **hold;       /* destinations given jobs while lookups were in flight */
    uint32_t nhold;               /* (dispatched once the last lookup answers, so that */
    unsigned hold_gen;            /* domains sharing MX hosts share a transaction) */
    struct eng_timer timer;       /* next retry */
    struct eng_timer dsn_timer;   /* the gathering window's end, or the next delay warning */
    uint64_t gather_at_ms;        /* when gathered failures and successes go out (0: none) */
    unsigned warned;              /* delay warnings sent (or whose time had passed at start) */
    int notices;                  /* notices handed to the spool, not yet durable */
    struct eng_qmsg *prev, *next; /* every queued message, for shut-down */
    uint8_t admin;                /* admin.c: ADMIN_Q_* (frozen, being deleted) */
    struct eng_dkim_sig *dkim;    /* DKIM fields per signing transport (dkim_sign.h) */
    struct dkp_req *dkim_signing; /* dkim_pool.c: its signing requests not yet back */
    struct adm_rebind *rebind;    /* admin_rebind.c: transport overrides, newest first */
};

/* What a worker reports to whoever lent it jobs (the scheduler), through
 * these callbacks given to eng_worker_new(): the worker knows nothing of the
 * scheduler. Every callback runs on the worker's thread and must only post. */
struct eng_worker_ops {
    /* job_done - a lent job comes back with its results (or abandoned) */
    void (*job_done)(struct eng_job *job);
    /* idle_expired - cached session s of d timed out or died while idle:
     * take it out of the cache and eng_worker_close() it */
    void (*idle_expired)(struct eng_worker *w, struct eng_session *s, struct eng_dest *d);
    /* conn_closed - a session of d that was quitting has closed its
     * connection (only now does it stop counting against max_connections) */
    void (*conn_closed)(struct eng_dest *d);
    /* drained - after eng_worker_drain(): no session of w waits any more for
     * the reply to a message it sent; called once */
    void (*drained)(struct eng_worker *w);
};

/* worker.c */
struct eng_worker *eng_worker_new(int index, const struct cfg *cfg, spool *sp,
                                  const struct eng_worker_ops *ops, char *err, size_t errlen);
int eng_worker_start(struct eng_worker *w);
/* eng_worker_drain - shut-down, step one (posted; any thread): w takes no
 * new job and starts no new message; jobs whose message is already on the
 * wire (the body and final dot, or BDAT LAST, sent) wait for their reply and
 * come back with results as usual; every other job comes back abandoned
 * when eng_worker_stop() runs. ops->drained tells when none is left. */
void eng_worker_drain(struct eng_worker *w);
/* eng_worker_stop - stop and free w: jobs still lent come back abandoned
 * (their recipients stay as they were), sessions are dropped; main thread */
void eng_worker_stop(struct eng_worker *w);
/* eng_worker_give - lend job to w (job->sess: an idle session of w, or NULL
 * for a new one); any thread */
void eng_worker_give(struct eng_worker *w, struct eng_job *job);
/* eng_worker_close - tell w to QUIT and free an idle session; the worker
 * calls ops->conn_closed once the connection is gone; any thread */
void eng_worker_close(struct eng_worker *w, struct eng_session *s);

/* eng_worker_reload - w uses cfg from now on (posted) */
void eng_worker_reload(struct eng_worker *w, const struct cfg *cfg);

#endif
