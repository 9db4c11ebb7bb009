/*
 * sink.h - spate-sink's private declarations, shared by perf/sink*.c.
 *
 * The limits, the counters, the listener, worker and connection structures,
 * the one global state g and the functions one part of the sink calls in
 * another. The parts call each other in one direction only:
 * sink.c (options, main) > sink_tls.c (TLS context), sink_conn.c (sessions,
 * event loops) > sink_smtp.c (commands) > sink_io.c (I/O, timers) >
 * sink_store.c (stats, stored messages) > sink_util.c (g, counters).
 */
#ifndef SPATE_PERF_SINK_H
#define SPATE_PERF_SINK_H

#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define SINK_HOSTNAME "sink.spate-test"
#define LINE_MAX_OCTETS 1000          /* RFC 5321 §4.5.3.1.4, with CRLF */
#define MSG_MAX ((uint64_t)100 << 20) /* 100 MB */
#define IN_CAP 65536                  /* per-connection input buffer */
#define OUT_HIGH (256 * 1024)         /* stop reading above this much pending output */
#define SPILL_CAP (256 * 1024)        /* body bytes kept in memory before spilling */
#define MAX_RCPT 1000
#define SLOW_MS 200
#define MAX_LISTEN 64
#define MAX_THREADS 64

enum obj_kind { OBJ_LISTENER = 1, OBJ_CONN, OBJ_WAKE };

/* The counters kept globally and per listener. */
enum stat_field {
    ST_CONN_TOTAL,
    ST_CONN_NOW,
    ST_CONN_MAX,
    ST_MESSAGES,
    ST_RECIPIENTS,
    ST_MAX_MPC,
    ST_RCPT_TEMPFAIL,
    ST_RCPT_PERMFAIL,
    ST_MSG_REJECTED,
    ST_TLS_SESSIONS,
    ST_TLS_FAILED,
    ST_TLS_RESUMED,
    ST_NFIELDS
};

struct counters {
    atomic_ulong v[ST_NFIELDS];
};

struct listener {
    int kind;
    int fd;
    char name[64];
    struct counters c;
};

struct conn;

/* A FIFO of connections waiting for a deadline; all entries share one delay. */
struct timerq {
    struct conn *head, *tail;
    int delay_ms;
};

struct worker {
    pthread_t tid;
    int epfd;
    struct timerq greetq, slowq;
    struct conn *conns; /* all open connections of this thread, to close at exit */
};

/* CS_TLS: STARTTLS answered; the handshake starts once that reply is sent */
enum conn_state { CS_GREET, CS_CMD, CS_DATA, CS_BDAT, CS_DELAY, CS_CLOSING, CS_TLS };

struct conn {
    int kind;
    int fd;
    struct worker *w;
    struct listener *l;
    enum conn_state state;
    uint32_t events;
    unsigned long id, nmsg;
    char peer[64], local[64], helo[256];
    /* input */
    size_t in_len, in_pos;
    bool overlong;
    /* output */
    char *out;
    size_t out_len, out_off, out_cap;
    /* transaction */
    bool greeted, in_tx, datafail, slow, too_big, at_bol, bdat_last, bdat_bad, via_bdat;
    char *mail_from;
    char **rcpts;
    size_t nrcpt;
    uint64_t body_size, bdat_left;
    char *body;
    size_t body_len;
    int spill_fd;
    char spill_name[1024];
    /* timer */
    struct timerq *tq;
    struct conn *tprev, *tnext;
    struct conn *lprev, *lnext; /* worker's list of connections */
    int64_t deadline;
    char delayed_reply[128];
    /* TLS (STARTTLS) */
    SSL *ssl;
    int hs_want, rd_want, wr_want; /* SSL_ERROR_WANT_READ/_WRITE of the last handshake,
                                      read and write call, or 0 */
    bool tls_done, ocsp_requested;
    char tls_version[16], tls_cipher[64], tls_sni[256], tls_client[256];
    char in[IN_CAP];
};

/* the options, listeners, workers and counters of the whole sink */
struct sink_global {
    struct listener listeners[MAX_LISTEN];
    size_t nlisteners;
    struct worker workers[MAX_THREADS];
    int nthreads;
    const char *dir, *statsfile;
    bool chunking, pipelining, quiet;
    bool no_dsn; /* --no-dsn: DSN is not advertised */
    int greeting_delay;
    int dot_delay;     /* --dot-delay: every final reply waits this long, ms */
    uint64_t size_max; /* --size: the SIZE advertised and enforced, 0 = MSG_MAX */
    int wakefd;
    struct counters c;
    atomic_bool stop;
    atomic_ulong gen, seq, conn_ids;
    pthread_mutex_t once_lock;
    char **once_tab;
    size_t once_cap, once_n;
    /* TLS */
    const char *tls_cert, *tls_key, *tls_chain, *ocsp_file;
    bool starttls, ask_client_cert;
    SSL_CTX *tls_ctx;
    unsigned char *staple;
    size_t staple_len;
};

extern struct sink_global g;

/* sink_util.c */
uint64_t size_max(void);
int64_t now_ms(void);
__attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...);
void *xmalloc(size_t n);
char *xstrdup(const char *s);
void stat_add(struct listener *l, enum stat_field f, long d);
void stat_max1(struct counters *c, enum stat_field f, unsigned long v);
void stat_max(struct listener *l, enum stat_field f, unsigned long v);
void sockaddr_text(const struct sockaddr_storage *ss, char *out, size_t outlen);

/* sink_store.c */
void stats_write(void);
void tx_reset(struct conn *c);
void body_append(struct conn *c, const char *p, size_t n);
int store_message(struct conn *c, unsigned long seq);

/* sink_io.c */
__attribute__((format(printf, 2, 3))) void reply(struct conn *c, const char *fmt, ...);
ssize_t tls_result(struct conn *c, int r, int *want);
ssize_t io_recv(struct conn *c, char *p, size_t n);
int conn_flush(struct conn *c);
void conn_update_events(struct conn *c);
void timer_add(struct timerq *q, struct conn *c);
void timer_del(struct conn *c);
void conn_close(struct conn *c);

/* sink_smtp.c */
void data_feed(struct conn *c);
void bdat_feed(struct conn *c);
void cmd_feed(struct conn *c);

/* sink_conn.c */
void workers_start(void);

/* sink_tls.c */
void tls_setup(void);

#endif
