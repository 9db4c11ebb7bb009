/*
 * worker_int.h - what worker.c (sessions, SMTP) and worker_tls.c (STARTTLS,
 *                DANE, OCSP) share. Private to engine/; one worker thread
 *                owns each structure here.
 */
#ifndef SPATE_ENGINE_WORKER_INT_H
#define SPATE_ENGINE_WORKER_INT_H

#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dns/dnssec.h"
#include "engine/eng_internal.h"
#include "tls/tls.h"

#define IN_MAX 16384 /* reply bytes buffered; longer lines are cut */

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
    int stopping;            /* lent jobs go straight back */
    int draining;            /* shutting down: no new message goes out */
    int drained;             /* ops->drained was called */
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
    size_t host_i, addr_i; /* the address being tried or in use */
    char host_desc[300];   /* "H=name [ip]:port" */
    char last_err[512];    /* why the last host could not be used */
    unsigned pipelining : 1, eightbit : 1, smtputf8 : 1, chunking : 1, expiring : 1;
    unsigned body_out : 1; /* the message is on the wire: its reply decides the job */
    unsigned held : 1;     /* draining: stopped before sending a message */
    int msgs;                                   /* transactions on this connection */
    uint64_t size_limit;                        /* the server's SIZE (RFC 1870), 0 = none given */
    struct eng_policy pol;                      /* limits from the job in hand (or the last one) */
    char cur_ip[INET6_ADDRSTRLEN], cur_port[8]; /* the address in use */
    char local_ip[INET6_ADDRSTRLEN], local_port[8]; /* our end of it */
    int last_errno;                                 /* of the last failed connection attempt */
    int connected;                                  /* a TCP connection is up (for tcp:close) */
    char *out;
    size_t outlen, outoff, outcap;
    char in[IN_MAX];
    size_t inlen;
    char reply[1024]; /* last line of the reply being read */
    int ehlo_lines;
    enum expect *ex; /* replies expected, in order */
    size_t nex, iex, excap;
    size_t rcpt_next; /* without pipelining: next RCPT to send */
    size_t rcpt_sent;
    int accepted; /* recipients accepted at RCPT */
    int mail_ok;
    uint8_t *rcpt_ok;
    char *body;
    size_t body_len;
    struct eng_session *prev, *next;
    /* TLS (worker_tls.c) */
    struct tls_conn *tls;      /* the TLS layer once STARTTLS completed */
    int starttls_offered;      /* in the last EHLO reply */
    int tls_read_wants_write;  /* TLS_WANT_WRITE from a read: read again when writable */
    char tls_x[96];            /* X= for the log, "" in clear */
    const char *tls_cv;        /* "yes", "no", "dane"; NULL in clear */
    int tls_dane;              /* $tls_out_dane */
    char *tls_peercert;        /* the server's certificate (PEM) once TLS is up, or NULL */
    const char *tls_ev_cert;   /* $tls_out_peercert for events: the certificate being
                                * verified during tls:cert, else tls_peercert */
    const char *tls_verify_mode; /* $verify_mode: "dane", "required", "optional",
                                  * "none"; NULL before STARTTLS */
    struct dnssec_dane *dn;    /* the DANE answer for host dn_host, or NULL */
    size_t dn_host;            /* host index dn belongs to, SIZE_MAX: none */
    int dane;                  /* DANE applies to the current host: TLS is mandatory */
    int mx_checked, mx_secure; /* the MX RRset's DNSSEC status, looked up once */
};

/* worker.c */
void eng__sess_fail_host(struct eng_session *s, const char *why);
void eng__sess_connect_next(struct eng_session *s);
void eng__sess_start_txn(struct eng_session *s);
void eng__sess_ehlo(struct eng_session *s);
void eng__sess_broken(struct eng_session *s, const char *why);
int eng__out_flush(struct eng_session *s);
void eng__out_add(struct eng_session *s, const char *p, size_t n);
void eng__sess_timer(struct eng_session *s, int secs);
int eng__sess_event_says_no(const struct eng_session *s, const char *name, const char *data);

/* worker_tls.c */
/* eng__tls_before_connect - before the first address of host s->host_i: 0
 * to go on connecting, 1 when a DNSSEC lookup was started (it continues the
 * session itself), -1 when the host was refused (already handled) */
int eng__tls_before_connect(struct eng_session *s);
/* eng__tls_addrs - the validated addresses to use for the current host, or NULL */
const struct sockaddr_storage *eng__tls_addrs(const struct eng_session *s, size_t *n);
/* eng__tls_after_ehlo - 1: STARTTLS sent or the host failed (wait);
 * 0: go on without TLS */
int eng__tls_after_ehlo(struct eng_session *s);
void eng__tls_starttls_reply(struct eng_session *s, int code);
void eng__tls_handshake(struct eng_session *s);
ssize_t eng__tls_write(struct eng_session *s, const void *buf, size_t len, int *want_out);
ssize_t eng__tls_read(struct eng_session *s, void *buf, size_t len, int *want_out);
void eng__tls_close(struct eng_session *s);
void eng__tls_worker_free(struct eng_worker *w);
/* eng__tls_fill_job - the session's certificate and verification mode for
 * the job's later events (msg:delivery, msg:host:defer) */
void eng__tls_fill_job(const struct eng_session *s, struct eng_job *j);

#endif
