/*
 * worker_int.h - what the files of a delivery worker share. Private to
 *                engine/; one worker thread owns each structure here.
 *
 * The files, each calling only those below it (no circles):
 *   worker.c      the thread: jobs in, start, reload, drain, stop
 *   sess_read.c   reading replies, one handler per connection state
 *                 (greeting, EHLO, HELO, STARTTLS, handshake)
 *   sess_txn.c    a transaction: MAIL, RCPT, DATA/BDAT and their replies
 *   sess_prdr.c   PRDR: asking for it, the replies per recipient after the data
 *   sess_conn.c   a session's life: connecting, failing over, results
 *                 back to the owner, QUIT, timers
 *   worker_tls.c  STARTTLS, DANE, OCSP decisions: returns what to do next
 *                 and never calls the session back
 *   sess_io.c     output buffer, reads, TLS I/O, close, the session's
 *                 timer and connection events
 *   smtp_reply.c  the reply parser (pure; smtp_reply.h)
 */
#ifndef SPATE_ENGINE_WORKER_INT_H
#define SPATE_ENGINE_WORKER_INT_H

#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dns/dnssec.h"
#include "engine/eng_internal.h"
#include "engine/smtp_reply.h"
#include "tls/tls.h"

#define IN_MAX SMTP_REPLY_LINE_MAX /* reply bytes buffered; a longer line breaks the session */

enum sess_state {
    SS_CONNECTING,
    SS_GREETING,
    SS_EHLO,
    SS_HELO,
    SS_TXN,      /* MAIL/RCPT/DATA replies outstanding */
    SS_DATA,     /* body sent, waiting for the final reply */
    SS_IDLE,     /* between jobs, in the scheduler's cache */
    SS_DEAD,     /* connection gone while idle; the handle is still lent */
    SS_QUIT,     /* QUIT sent: waiting for the reply and the close */
    SS_DNSSEC,   /* waiting for the MX / DANE lookups of a host */
    SS_STARTTLS, /* STARTTLS sent */
    SS_TLS_HS,   /* TLS handshake in progress */
    SS_GONE,     /* freed at the end of this loop round */
};

enum expect { EX_RSET, EX_MAIL, EX_RCPT, EX_DATA, EX_BDAT };

struct eng_worker {
    int stopping; /* lent jobs go straight back */
    int draining; /* shutting down: no new message goes out */
    int drained;  /* ops->drained was called */
    struct eng_worker_ops ops;
    dnssec_resolver *dnssec; /* made on first use, on this thread */
    int index;
    const struct cfg *cfg;
    spool *sp;
    eng_loop *loop;
    pthread_t thread;
    struct eng_session *sessions; /* all live sessions, for shutdown */
};

struct reload_note {
    struct eng_worker *w;
    const struct cfg *cfg;
};

struct eng_session {
    struct eng_worker *w;
    struct eng_dest *d;
    struct eng_job *job;
    int fd;
    struct eng_io io;
    struct eng_timer timer;
    enum sess_state st;
    size_t host_i, addr_i;   /* the address being tried or in use */
    char host_desc[300];     /* "H=name [ip]:port" */
    char greeting[256];      /* the server's 220 line, for DSN extra information */
    char helo_response[256]; /* the first line of its EHLO (or HELO) reply */
    char last_err[512];      /* why the last host could not be used */
    unsigned pipelining : 1, eightbit : 1, smtputf8 : 1, chunking : 1, expiring : 1;
    unsigned size_offered : 1, dsn : 1, prdr : 1; /* SIZE, DSN, PRDR in the EHLO reply */
    unsigned prdr_on : 1;                         /* this transaction's MAIL asked for PRDR */
    unsigned prdr_reading : 1; /* 353 came: per-recipient replies, then the final one */
    unsigned body_out : 1;     /* the message is on the wire: its reply decides the job */
    unsigned held : 1;         /* draining: stopped before sending a message */
    int msgs;                  /* transactions on this connection */
    uint64_t size_limit;       /* the server's SIZE (RFC 1870), 0 = none given */
    struct eng_policy pol;     /* limits from the job in hand (or the last one) */
    char cur_ip[INET6_ADDRSTRLEN], cur_port[8];     /* the address in use */
    char local_ip[INET6_ADDRSTRLEN], local_port[8]; /* our end of it */
    int last_errno;                                 /* of the last failed connection attempt */
    int connected;                                  /* a TCP connection is up (for tcp:close) */
    uint64_t connect_ms; /* when the connection in use was started (monotonic) */
    uint64_t setup_ms;   /* how long it took to get its greeting */
    char *out;
    size_t outlen, outoff, outcap;
    char in[IN_MAX];
    size_t inlen;
    struct smtp_reply reply; /* the reply being read; .text: its last line */
    struct smtp_ehlo ehlo;   /* what the reply to the last EHLO offered */
    enum expect *ex;         /* replies expected, in order */
    size_t nex, iex, excap;
    size_t rcpt_next; /* without pipelining: next RCPT to send */
    size_t rcpt_sent;
    int accepted; /* recipients accepted at RCPT */
    int mail_ok;
    uint8_t *rcpt_ok;
    size_t prdr_i;    /* PRDR: per-recipient replies read so far */
    size_t prdr_n;    /* PRDR: entries of the two arrays below */
    int *prdr_code;   /* PRDR: each recipient's reply code (0: none yet) */
    char **prdr_text; /* ... and its text (malloc'd; both freed with the job) */
    char *body;
    size_t body_len;
    struct eng_session *prev, *next;
    /* TLS (worker_tls.c) */
    struct tls_conn *tls;        /* the TLS layer once STARTTLS completed */
    int starttls_offered;        /* in the last EHLO reply */
    int tls_read_wants_write;    /* TLS_WANT_WRITE from a read: read again when writable */
    char tls_x[96];              /* X= for the log, "" in clear */
    const char *tls_cv;          /* "yes", "no", "dane"; NULL in clear */
    int tls_dane;                /* $tls_out_dane */
    char *tls_peercert;          /* the server's certificate (PEM) once TLS is up, or NULL */
    const char *tls_ev_cert;     /* $tls_out_peercert for events: the certificate being
                                  * verified during tls:cert, else tls_peercert */
    const char *tls_verify_mode; /* $verify_mode: "dane", "required", "optional",
                                  * "none"; NULL before STARTTLS */
    struct dnssec_dane *dn;      /* the DANE answer for host dn_host, or NULL */
    size_t dn_host;              /* host index dn belongs to, SIZE_MAX: none */
    int dane;                    /* DANE applies to the current host: TLS is mandatory */
    int mx_checked, mx_secure;   /* the MX RRset's DNSSEC status, looked up once */
    /* how a DNSSEC lookup, once answered, hands the session back */
    void (*dane_resume)(struct eng_session *s, int usable);
};

/* sess_io.c: the lowest layer; calls none of the files above */
void eng__out_add(struct eng_session *s, const char *p, size_t n);
void eng__out_printf(struct eng_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* eng__out_flush - write what can be written, watch for writability if not
 * all; < 0 (-errno) on failure */
int eng__out_flush(struct eng_session *s);
/* eng__sess_recv - > 0 bytes read, 0 end of stream, -1 failure, -2 nothing
 * for now (in clear or through TLS) */
ssize_t eng__sess_recv(struct eng_session *s, void *buf, size_t len);
/* eng__sess_close_fd - close the connection (TLS layer included); the
 * session object stays */
void eng__sess_close_fd(struct eng_session *s);
/* eng__sess_timer - (re)arm the session's timer, seconds */
void eng__sess_timer(struct eng_session *s, int secs);
/* eng__sess_event_says_no - raise a transport event whose non-empty result
 * forces something (tcp:connect, smtp:connect, tls:cert); 1 when it does */
int eng__sess_event_says_no(const struct eng_session *s, const char *name, const char *data);

/* worker_tls.c: each step says what the session is to do next */
enum eng_tls_rc {
    ENG_TLS_GO,     /* go on: connect to the host, or carry on in clear */
    ENG_TLS_WAIT,   /* under way (DNSSEC lookup, STARTTLS, handshake): wait */
    ENG_TLS_SKIP,   /* before connecting: the host may not be used (s->last_err) */
    ENG_TLS_FAIL,   /* the connected host may not be used (why): next address */
    ENG_TLS_BROKEN, /* the connection failed (why) */
    ENG_TLS_UP,     /* the handshake is complete: EHLO again (RFC 3207 4.2) */
};
/* eng__tls_before_connect - the DANE decision for host s->host_i, before
 * its first address: GO, SKIP, or WAIT while a DNSSEC lookup runs, after
 * which resume(s, usable) is called (usable 0: skip the host, s->last_err
 * says why) */
enum eng_tls_rc eng__tls_before_connect(struct eng_session *s,
                                        void (*resume)(struct eng_session *s, int usable));
/* eng__tls_addrs - the validated addresses to use for the current host, or NULL */
const struct sockaddr_storage *eng__tls_addrs(const struct eng_session *s, size_t *n);
/* eng__tls_after_ehlo - STARTTLS sent (WAIT), GO on in clear, FAIL the
 * host for want of TLS, or BROKEN */
enum eng_tls_rc eng__tls_after_ehlo(struct eng_session *s, char *why, size_t whylen);
/* eng__tls_starttls_reply - the reply to STARTTLS: WAIT (handshake to
 * drive, s->st is SS_TLS_HS), GO on in clear, or FAIL */
enum eng_tls_rc eng__tls_starttls_reply(struct eng_session *s, int code, char *why, size_t whylen);
/* eng__tls_handshake - drive the handshake: WAIT, UP or FAIL */
enum eng_tls_rc eng__tls_handshake(struct eng_session *s, char *why, size_t whylen);
void eng__tls_worker_free(struct eng_worker *w);
/* eng__tls_fill_job - the session's certificate and verification mode for
 * the job's later events (msg:delivery, msg:host:defer) */
void eng__tls_fill_job(const struct eng_session *s, struct eng_job *j);

/* sess_conn.c */
void eng__sess_connect_next(struct eng_session *s);
/* eng__sess_fail_host - this host cannot be used: note why, try the next */
void eng__sess_fail_host(struct eng_session *s, const char *why);
/* eng__sess_host_down - the current address failed at connection level
 * (no connection, no greeting, a refusal at the greeting): mark it down for
 * every worker (hoststate.h) and log it */
void eng__sess_host_down(struct eng_session *s, const char *why);
/* eng__sess_broken - the connection failed after the greeting */
void eng__sess_broken(struct eng_session *s, const char *why);
/* eng__sess_connected - the connect finished (either way) */
void eng__sess_connected(struct eng_session *s);
void eng__sess_on_timer(eng_loop *loop, struct eng_timer *t);
void eng__sess_free(struct eng_session *s);
/* eng__sess_quit - say QUIT and wait (bounded) for the server to close */
void eng__sess_quit(struct eng_session *s);
/* eng__sess_quit_done - the quitting session's connection is gone */
void eng__sess_quit_done(struct eng_session *s);
/* eng__sess_hold - draining: stop before sending a message, stay silent */
void eng__sess_hold(struct eng_session *s);
/* eng__job_set - set recipient k's result unless it has one */
void eng__job_set(struct eng_job *j, size_t k, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* eng__job_defer_rest - every recipient without a result is deferred */
void eng__job_defer_rest(struct eng_job *j, const char *why);
/* eng__job_return - give the job back (closed: the session ends with it) */
void eng__job_return(struct eng_session *s, int closed);
/* eng__job_return_quitting - give the job back and close politely */
void eng__job_return_quitting(struct eng_session *s);
/* eng__drain_check - draining: tell the owner once no message of w is on
 * the wire without its reply */
void eng__drain_check(struct eng_worker *w);

/* sess_txn.c */
/* eng__sess_start_txn - send MAIL (and, pipelining, every RCPT and DATA) */
void eng__sess_start_txn(struct eng_session *s);
/* eng__sess_txn_reply - a reply in SS_TXN, matched to its command */
void eng__sess_txn_reply(struct eng_session *s, int code);
/* eng__sess_dot_reply - the final reply to the message */
void eng__sess_dot_reply(struct eng_session *s, int code);

/* sess_prdr.c */
/* eng__prdr_wanted - ask for PRDR in this transaction: offered, several
 * recipients, the host in hosts_try_prdr */
int eng__prdr_wanted(const struct eng_session *s);
/* eng__prdr_reply - a reply after the data of a PRDR transaction: 1 when
 * it was taken (the 353, a recipient's reply: more are to come), 0 when it
 * is the final reply (per-recipient results are set first) or the server
 * did without PRDR; the caller then ends the transaction as usual */
int eng__prdr_reply(struct eng_session *s, int code);

/* sess_read.c */
/* eng__sess_on_io - the session's socket events */
void eng__sess_on_io(eng_loop *loop, struct eng_io *io, uint32_t events);

#endif
