/*
 * smtp_int.h - the inside of the SMTP server, shared by its files. Not part
 *              of the api/ contract: only api/smtp_*.c include it.
 *
 * The files, lowest first (each calls only the ones above it; a lower file
 * reaches a higher one only through the listener's callbacks):
 *   smtp_io.c    replies, output, input, closing and freeing a session
 *   smtp_data.c  message text: DATA and BDAT collection, limits, the
 *                submission to the spool and its answer
 *   smtp_cmd.c   the commands of RFC 5321 (one function a command)
 *   smtp_in.c    the session loop, timers, accepting connections, limits
 *                on connections, the listener thread
 *
 * A session is a small state machine (enum sess_state):
 *   CMD   reading command lines
 *   DATA  collecting message text after 354 (dot-unstuffed)
 *   BDAT  reading the octets of a BDAT chunk (RFC 3030)
 *   WAIT  the message is with the spool; input is left unread until the
 *         done callback, run on the spool writer thread, posts the result
 *         back to the listener loop.
 */
#ifndef SPATE_API_SMTP_INT_H
#define SPATE_API_SMTP_INT_H

#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "api/hostcount.h"
#include "api/smtp_frame.h"
#include "api/smtp_parse.h"
#include "base/loop.h"
#include "conf/config.h"
#include "spool/spool.h"

#define SESS_IN_CAP 16384    /* input buffer per session */
#define SESS_OUT_HIGH 16384  /* stop processing input while this much output waits */
#define CLOSE_GRACE_MS 5000  /* time to flush a final reply before a hard close */

enum sess_state { SS_CMD, SS_DATA, SS_BDAT, SS_WAIT };

struct smtp_listener;

struct sess {
    struct smtp_listener *lis;
    struct sess *prev, *next;
    struct eng_io io;
    struct eng_timer timer;
    enum sess_state st;
    char host[INET6_ADDRSTRLEN + 10]; /* "[ip]:port" */
    struct sockaddr_storage peer;     /* counted in lis->hosts */
    struct sockaddr_storage local;    /* the address the client connected to */
    int had_cmd;                      /* a first command line has arrived */
    int relay_ok;
    char helo[256];
    int greeted, esmtp;
    int unknown_cmds; /* unrecognised commands so far (smtp_max_unknown_commands) */
    int synprot_errs; /* syntax and protocol errors so far (smtp_max_synprot_errors) */
    /* transaction */
    int in_mail, smtputf8, eightbit;
    char *sender;
    char **rcpts;
    size_t nrcpt, rcptcap;
    /* input: in[inoff, inlen) not yet processed */
    char in[SESS_IN_CAP];
    size_t inoff, inlen;
    struct smtp_frame fr; /* where lines and the message end */
    int eof;
    /* message text (DATA or BDAT) */
    char *body;
    size_t blen, bcap, hdrlen;
    int too_big;
    size_t linelen;   /* octets of the current text line so far */
    int long_line;    /* a text line over message_linelength_limit was seen */
    int bdat;         /* the transaction uses BDAT */
    uint64_t bdat_left; /* octets of the current chunk still to read */
    int bdat_last;    /* the current chunk is the LAST one */
    unsigned bdat_bad; /* SMTP_FRAME_BAD_* seen in BDAT text */
    int bdat_cr;      /* the last BDAT octet was a CR */
    int bdat_discard; /* the current chunk was refused: read and drop it */
    char id[SPOOL_ID_SIZE];
    char *logline; /* the "<=" record, written once the commit is known */
    int commit_status;
    int peer_gone; /* connection closed while the spool held the message */
    int shutdown;  /* listener stopping: close after the pending answer */
    /* output: out[outoff, outlen) not yet written */
    char *out;
    size_t outoff, outlen, outcap;
    int close_after; /* close once the output is written */
};

struct lsock {
    struct eng_io io;
    struct smtp_listener *lis;
};

struct smtp_listener {
    const struct cfg *cfg;
    spool *sp;
    eng_loop *loop;
    pthread_t thread;
    struct lsock *socks;
    size_t nsocks;
    struct sess *sessions;
    int nsess;
    struct hostcount *hosts; /* sessions open per client IP */
    int stopping;
    /* run - process buffered input of s (smtp_in.c's session loop); lower
     * files call it when a wait ends */
    void (*run)(struct sess *s);
};

/* ---- smtp_io.c ------------------------------------------------------- */

/* smtp_reply - queue one reply line (CRLF added) */
__attribute__((format(printf, 2, 3))) void smtp_reply(struct sess *s, const char *fmt, ...);
/* smtp_txn_reset - forget the mail transaction (RSET, EHLO, after DATA) */
void smtp_txn_reset(struct sess *s);
/* smtp_sess_free - release a session that is closed and not waiting for the spool */
void smtp_sess_free(struct sess *s);
/* smtp_sess_close - drop the connection; a session waiting for the spool
 * lives on until the done callback arrives */
void smtp_sess_close(struct sess *s);
/* smtp_sess_flush - write queued replies; -1 if the session was closed */
int smtp_sess_flush(struct sess *s);
/* smtp_sess_update_io - watch for input when it can be processed, output when queued */
void smtp_sess_update_io(struct sess *s);
/* smtp_sess_read - read what the socket has; -1 if the session was closed */
int smtp_sess_read(struct sess *s);
/* smtp_idle_ms - how long the client may be silent now */
uint64_t smtp_idle_ms(const struct sess *s);
/* smtp_dup - strdup that treats out of memory as fatal; NULL gives "" */
char *smtp_dup(const char *s);
/* smtp_drop - reply, log why, and close once the reply is written */
void smtp_drop(struct sess *s, const char *why, const char *line);

/* ---- smtp_data.c ----------------------------------------------------- */

/* smtp_data_begin - a new message: id, Received: header, limits reset */
void smtp_data_begin(struct sess *s);
/* smtp_data_step - DATA: consume text or the final dot; 1 progress, 0 more input needed */
int smtp_data_step(struct sess *s);
/* smtp_bdat_step - BDAT: consume chunk octets; 1 progress, 0 more input needed */
int smtp_bdat_step(struct sess *s);

/* ---- smtp_cmd.c ------------------------------------------------------ */

/* smtp_cmd_step - consume one command line; 1 progress, 0 more input needed */
int smtp_cmd_step(struct sess *s);

#endif
