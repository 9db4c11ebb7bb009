/*
 * smtp_in.c - the SMTP injection listener (RFC 5321, RFC 2920 pipelining).
 *
 * Synopsis
 *   api_smtp_start()  bind every smtp_listen address, start the listener thread
 *   api_smtp_stop()   stop accepting, answer waiting commits, 421 the rest, join
 *
 * Structure
 *   One listener thread runs an engine loop holding the listening sockets and
 *   every session; nothing on it blocks. A session is a small state machine:
 *     CMD   reading command lines
 *     DATA  collecting message text (dot-unstuffed, kept as sent)
 *     WAIT  the message is with the spool; input is left unread (and what
 *           was already read stays buffered) until the done callback, run on
 *           the spool writer thread, posts the result back to this loop.
 *           Only then is "250 ... id=" or 451 sent.
 *   Replies are queued and written when no complete command is left in the
 *   input, before waiting for the spool, and after 354 (RFC 2920 §3.1).
 *
 * Framing (smtp_frame.c; the defence against SMTP smuggling): only <CR><LF>
 *   ends a line, and only <CR><LF>.<CR><LF> ends DATA; a bare <LF> or <CR>
 *   is never a line end. A command line holding one is refused whole
 *   (500 5.5.2 bare <LF> received / bare <CR> received; nothing up to the
 *   next CRLF runs). A message holding one is refused after its real final
 *   dot (554 5.5.2 message contains bare <LF> / <CR>) and nothing of it is
 *   kept, as Postfix's smtpd_forbid_bare_newline = reject does; a client
 *   that ends DATA with a bare-LF dot only never sees a final dot and meets
 *   the receive timeout.
 *
 * Limits: command lines 512 octets (500 5.5.2, the rest of the line is
 *   skipped); text lines of any length are accepted unchanged (real mail has
 *   lines over 998 octets); message_size_limit (552 5.3.4 after the final
 *   dot, or at MAIL when SIZE= is larger); 1000 recipients (452 4.5.3);
 *   smtp_accept_max sessions (421 4.3.2); smtp_accept_max_per_host sessions
 *   from one IP address (421 4.7.0, then closed; 0 = no limit);
 *   smtp_first_command_timeout_s from the greeting to the first complete
 *   command line (421 4.4.2; input that is not yet a line does not extend
 *   it), then smtp_receive_timeout_s idle time (421 4.4.2) except while
 *   waiting for the spool.
 *
 * Policy: only clients in relay_from_hosts may name recipients (550 5.7.1
 *   otherwise): spate holds no local domains.
 *
 * Logs: "ID <= sender H=(helo) [ip]:port P=esmtp S=size for rcpt..." per
 *   message accepted; rejected recipients and failed commits are logged too.
 *
 * Thread rules: start/stop from the main thread; everything else runs on the
 *   listener thread. The only global is the one listener structure.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/api.h"
#include "api/hostcount.h"
#include "api/smtp_frame.h"
#include "api/smtp_parse.h"
#include "conf/address.h"
#include "base/log.h"
#include "base/loop.h"
#include "base/metrics.h"

#define SESS_IN_CAP 16384   /* input buffer per session */
#define SESS_OUT_HIGH 16384 /* stop processing input while this much output waits */
#define SESS_MAX_RCPT 1000
#define ACCEPT_BURST 64     /* connections accepted per readiness event */
#define CLOSE_GRACE_MS 5000 /* time to flush a final reply before a hard close */

enum sess_state { SS_CMD, SS_DATA, SS_WAIT };

struct smtp_listener;

struct sess {
    struct smtp_listener *lis;
    struct sess *prev, *next;
    struct eng_io io;
    struct eng_timer timer;
    enum sess_state st;
    char host[INET6_ADDRSTRLEN + 10]; /* "[ip]:port" */
    struct sockaddr_storage peer;     /* counted in lis->hosts */
    int had_cmd;                      /* a first command line has arrived */
    int relay_ok;
    char helo[256];
    int greeted, esmtp;
    /* transaction */
    int in_mail, smtputf8;
    char *sender;
    char **rcpts;
    size_t nrcpt, rcptcap;
    /* input: in[inoff, inlen) not yet processed */
    char in[SESS_IN_CAP];
    size_t inoff, inlen;
    struct smtp_frame fr; /* where lines and the message end */
    int eof;
    /* DATA */
    char *body;
    size_t blen, bcap, hdrlen;
    int too_big;
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
};

static struct smtp_listener *the_listener;

static void sess_run(struct sess *s);

/* sess_idle_ms - how long the client may be silent now */
static uint64_t
sess_idle_ms(const struct sess *s)
{
    const struct cfg *cfg = s->lis->cfg;
    int t = s->had_cmd ? cfg->smtp_receive_timeout_s : cfg->smtp_first_command_timeout_s;

    return (uint64_t)(t > 0 ? t : 1) * 1000u;
}

/* reply - queue one reply line (CRLF added) */
static void
reply(struct sess *s, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        size_t room = s->outcap - s->outlen;
        va_start(ap, fmt);
        n = vsnprintf(s->out + s->outlen, room, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n + 2 < room) {
            s->outlen += (size_t)n;
            memcpy(s->out + s->outlen, "\r\n", 2);
            s->outlen += 2;
            return;
        }
        s->outcap = s->outcap * 2 + (size_t)(n > 0 ? n : 0) + 64;
        s->out = realloc(s->out, s->outcap);
        if (s->out == NULL)
            abort();
    }
}

/* txn_reset - forget the mail transaction (RSET, EHLO, after DATA) */
static void
txn_reset(struct sess *s)
{
    for (size_t i = 0; i < s->nrcpt; i++)
        free(s->rcpts[i]);
    free(s->rcpts);
    free(s->sender);
    free(s->body);
    free(s->logline);
    s->rcpts = NULL;
    s->sender = s->body = s->logline = NULL;
    s->nrcpt = s->rcptcap = s->blen = s->bcap = s->hdrlen = 0;
    s->in_mail = s->smtputf8 = s->too_big = 0;
}

/* sess_free - release a session that is closed and not waiting for the spool */
static void
sess_free(struct sess *s)
{
    struct smtp_listener *lis = s->lis;

    eng_timer_stop(lis->loop, &s->timer);
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        lis->sessions = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    lis->nsess--;
    hostcount_del(lis->hosts, (const struct sockaddr *)&s->peer);
    txn_reset(s);
    free(s->out);
    free(s);
    if (lis->stopping && lis->nsess == 0)
        eng_loop_stop(lis->loop);
}

/* sess_close - drop the connection; a session waiting for the spool lives on
 * until the done callback arrives */
static void
sess_close(struct sess *s)
{
    if (s->io.fd >= 0) {
        eng_io_set(s->lis->loop, &s->io, 0);
        close(s->io.fd);
        s->io.fd = -1;
    }
    if (s->st == SS_WAIT) {
        s->peer_gone = 1;
        eng_timer_stop(s->lis->loop, &s->timer);
        return;
    }
    sess_free(s);
}

/* sess_flush - write queued replies; -1 if the session was closed */
static int
sess_flush(struct sess *s)
{
    while (s->outoff < s->outlen) {
        ssize_t n =
            send(s->io.fd, s->out + s->outoff, s->outlen - s->outoff, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n <= 0) {
            sess_close(s);
            return -1;
        }
        s->outoff += (size_t)n;
    }
    s->outoff = s->outlen = 0;
    if (s->close_after) {
        sess_close(s);
        return -1;
    }
    return 0;
}

/* sess_update_io - watch for input when it can be processed, output when queued */
static void
sess_update_io(struct sess *s)
{
    uint32_t ev = 0;

    if (s->st != SS_WAIT && !s->close_after && !s->eof && s->inlen < sizeof(s->in) &&
        s->outlen - s->outoff < SESS_OUT_HIGH)
        ev |= EPOLLIN;
    if (s->outoff < s->outlen)
        ev |= EPOLLOUT;
    if (eng_io_set(s->lis->loop, &s->io, ev) < 0)
        sess_close(s);
}

/* body_add - append message text unless the size limit is already passed */
static void
body_add(struct sess *s, const char *p, size_t n)
{
    uint64_t limit = s->lis->cfg->message_size_limit;

    if (s->too_big || s->fr.bad)
        return;
    if (limit != 0 && s->blen - s->hdrlen + n > limit) {
        s->too_big = 1;
        return;
    }
    if (s->blen + n > s->bcap) {
        size_t cap = s->bcap * 2 > s->blen + n ? s->bcap * 2 : s->blen + n + 4096;
        s->body = realloc(s->body, cap);
        if (s->body == NULL)
            abort();
        s->bcap = cap;
    }
    memcpy(s->body + s->blen, p, n);
    s->blen += n;
}

/* rcpt_list - the recipients separated by spaces, for the arrival record */
static char *
rcpt_list(struct sess *s)
{
    size_t len = 1;
    char *t, *p;

    for (size_t i = 0; i < s->nrcpt; i++)
        len += strlen(s->rcpts[i]) + 1;
    t = p = malloc(len);
    if (t == NULL)
        abort();
    for (size_t i = 0; i < s->nrcpt; i++)
        p += sprintf(p, "%s%s", i ? " " : "", s->rcpts[i]);
    *p = '\0';
    return t;
}

/* on_commit - on the loop thread: the spool's answer for the waiting message */
static void
on_commit(eng_loop *loop, void *arg)
{
    struct sess *s = arg;

    if (s->commit_status == 0) {
        metrics_inc(MC_RECEIVED);
        metrics_inc(MC_RECEIVED_SMTP);
        log_info("%s", s->logline);
        reply(s, "250 2.0.0 OK id=%s", s->id);
    } else {
        metrics_inc(MC_REJECTED);
        log_warn("%s H=(%s) %s spool write failed: %s", s->id, s->helo, s->host,
                 strerror(-s->commit_status));
        reply(s, "451 4.3.0 spool write failed: try again later");
    }
    free(s->logline);
    s->logline = NULL;
    s->st = SS_CMD;
    if (s->peer_gone) {
        sess_free(s);
        return;
    }
    if (s->shutdown) {
        reply(s, "421 4.3.2 %s service shutting down", s->lis->cfg->primary_hostname);
        s->close_after = 1;
        eng_timer_start(loop, &s->timer, CLOSE_GRACE_MS);
    }
    sess_run(s);
}

/* on_spool_done - on the spool writer thread: hand the result to the loop */
static void
on_spool_done(struct spool_submission *sub, int status, void *arg)
{
    struct sess *s = arg;
    (void)sub;

    s->commit_status = status;
    if (eng_loop_post(s->lis->loop, on_commit, s) != 0)
        abort(); /* out of memory: the engine cannot go on */
}

/* dup_or_die - strdup that treats out of memory as fatal */
static char *
dup_or_die(const char *s)
{
    char *d = strdup(s != NULL ? s : "");
    if (d == NULL)
        abort();
    return d;
}

/* data_submit - hand the collected message to the spool and wait */
static void
data_submit(struct sess *s)
{
    struct spool_submission *sub = calloc(1, sizeof(*sub));
    char *rcpts = rcpt_list(s);

    if (sub == NULL || asprintf(&s->logline, "%s <= %s H=(%s) %s P=%s S=%zu for %s", s->id,
                                *s->sender ? s->sender : "<>", s->helo, s->host,
                                s->esmtp ? "esmtp" : "smtp", s->blen, rcpts) < 0)
        abort();
    free(rcpts);
    memcpy(sub->id, s->id, sizeof(sub->id));
    sub->sender = s->sender;
    sub->rcpts = s->rcpts;
    sub->nrcpt = s->nrcpt;
    sub->body = s->body;
    sub->body_len = s->blen;
    sub->proto = dup_or_die(s->esmtp ? "esmtp" : "smtp");
    sub->host = dup_or_die(s->host);
    sub->helo = dup_or_die(s->helo);
    sub->done = on_spool_done;
    sub->arg = s;
    s->sender = NULL, s->rcpts = NULL, s->body = NULL; /* the spool owns them now */
    s->nrcpt = s->rcptcap = s->blen = s->bcap = s->hdrlen = 0;
    s->in_mail = s->smtputf8 = 0;
    s->st = SS_WAIT;
    spool_submit(s->lis->sp, sub);
}

/* data_end - the final dot: reject a message with bare CR/LF or oversized,
 * or submit it */
static void
data_end(struct sess *s, unsigned bad)
{
    const char *what = bad & SMTP_FRAME_BAD_LF ? "<LF>" : "<CR>";

    if (!bad && !s->too_big) {
        data_submit(s);
        return;
    }
    metrics_inc(MC_REJECTED);
    if (bad) {
        log_info("%s H=(%s) %s F=<%s> rejected after DATA: bare %s in message", s->id, s->helo,
                 s->host, s->sender, what);
        reply(s, "554 5.5.2 message contains bare %s", what);
    } else {
        log_info("%s H=(%s) %s F=<%s> rejected after DATA: message too big", s->id, s->helo,
                 s->host, s->sender);
        reply(s, "552 5.3.4 message size exceeds limit");
    }
    txn_reset(s);
    s->st = SS_CMD;
}

/* data_step - consume a piece of message text or the final dot;
 * 1 progress, 0 more input needed */
static int
data_step(struct sess *s)
{
    struct smtp_frame_out o;
    size_t used = smtp_frame_data(&s->fr, s->in + s->inoff, s->inlen - s->inoff, &o);

    s->inoff += used;
    if (o.kind == SMTP_FRAME_TEXT)
        body_add(s, o.data, o.len);
    else if (o.kind == SMTP_FRAME_END)
        data_end(s, o.bad);
    return used > 0;
}

/* cmd_ehlo - EHLO/HELO: (re)start the session, list the extensions */
static void
cmd_ehlo(struct sess *s, const struct smtp_cmd *c)
{
    const struct cfg *cfg = s->lis->cfg;
    size_t n = strnlen(c->arg, sizeof(s->helo) - 1); /* the parser allows 255 */

    memcpy(s->helo, c->arg, n);
    s->helo[n] = '\0';
    txn_reset(s);
    s->greeted = 1;
    s->esmtp = c->verb == SMTP_V_EHLO;
    if (!s->esmtp) {
        reply(s, "250 %s Hello %s %s", cfg->primary_hostname, s->helo, s->host);
        return;
    }
    reply(s, "250-%s Hello %s %s", cfg->primary_hostname, s->helo, s->host);
    reply(s, "250-PIPELINING");
    reply(s, "250-SIZE %llu", (unsigned long long)cfg->message_size_limit);
    reply(s, "250-8BITMIME");
    reply(s, "250-SMTPUTF8");
    reply(s, "250-ENHANCEDSTATUSCODES");
    reply(s, "250 DSN");
}

/* cmd_mail - MAIL FROM: start a transaction */
static void
cmd_mail(struct sess *s, const struct smtp_cmd *c)
{
    uint64_t limit = s->lis->cfg->message_size_limit;

    if (!s->greeted)
        reply(s, "503 5.5.1 send HELO/EHLO first");
    else if (s->in_mail)
        reply(s, "503 5.5.1 nested MAIL command");
    else if (c->nparams > 0 && !s->esmtp)
        reply(s, "555 5.5.4 MAIL parameters need EHLO");
    else if (c->has_size && limit != 0 && c->size > limit) {
        metrics_inc(MC_REJECTED);
        reply(s, "552 5.3.4 message size exceeds limit");
    } else {
        s->sender = dup_or_die(c->arg);
        s->smtputf8 = c->smtputf8;
        s->in_mail = 1;
        reply(s, "250 2.1.0 OK");
    }
}

/* cmd_rcpt - RCPT TO: add a recipient if the client may relay */
static void
cmd_rcpt(struct sess *s, const struct smtp_cmd *c)
{
    const char *why = NULL;
    int code;

    if (!s->in_mail) {
        reply(s, "503 5.5.1 need MAIL command");
        return;
    }
    if (c->nparams > 0 && !s->esmtp) {
        reply(s, "555 5.5.4 RCPT parameters need EHLO");
        return;
    }
    if (s->nrcpt >= SESS_MAX_RCPT) {
        reply(s, "452 4.5.3 too many recipients");
        return;
    }
    if (!addr_valid_mailbox(c->arg, s->smtputf8, &why)) {
        metrics_inc(MC_REJECTED);
        reply(s, "501 5.1.3 bad recipient address syntax: %s", why);
        return;
    }
    if ((code = addr_rcpt_check(c->arg, s->lis->cfg->allow_domain_literals, &why)) != 0) {
        metrics_inc(MC_REJECTED);
        reply(s, "%d 5.1.2 %s", code, why);
        return;
    }
    if (!s->relay_ok) {
        metrics_inc(MC_REJECTED);
        log_info("H=(%s) %s F=<%s> rejected RCPT <%s>: relay not permitted", s->helo, s->host,
                 s->sender, c->arg);
        reply(s, "550 5.7.1 relay not permitted");
        return;
    }
    if (s->nrcpt == s->rcptcap) {
        s->rcptcap = s->rcptcap ? s->rcptcap * 2 : 4;
        s->rcpts = realloc(s->rcpts, s->rcptcap * sizeof(*s->rcpts));
        if (s->rcpts == NULL)
            abort();
    }
    s->rcpts[s->nrcpt++] = dup_or_die(c->arg);
    reply(s, "250 2.1.5 OK");
}

/* cmd_data - DATA: prepare the message with its Received: header, send 354 */
static void
cmd_data(struct sess *s)
{
    char *hdr;

    if (!s->in_mail) {
        reply(s, "503 5.5.1 need MAIL command");
        return;
    }
    if (s->nrcpt == 0) {
        reply(s, "554 5.5.1 no valid recipients");
        return;
    }
    spool_new_id(s->lis->sp, s->id);
    hdr = api_received_header(s->lis->cfg, s->helo, s->host, s->esmtp ? "esmtp" : "smtp", s->id,
                              s->nrcpt == 1 ? s->rcpts[0] : NULL);
    if (hdr == NULL)
        abort();
    s->blen = s->hdrlen = 0;
    s->too_big = 0;
    body_add(s, hdr, strlen(hdr));
    s->hdrlen = s->blen;
    free(hdr);
    smtp_frame_data_begin(&s->fr);
    s->st = SS_DATA;
    reply(s, "354 end data with <CR><LF>.<CR><LF>");
}

/* cmd_dispatch - act on one parsed command */
static void
cmd_dispatch(struct sess *s, const struct smtp_cmd *c)
{
    const char *name = s->lis->cfg->primary_hostname;

    switch (c->verb) {
    case SMTP_V_EHLO:
    case SMTP_V_HELO:
        cmd_ehlo(s, c);
        break;
    case SMTP_V_MAIL:
        cmd_mail(s, c);
        break;
    case SMTP_V_RCPT:
        cmd_rcpt(s, c);
        break;
    case SMTP_V_DATA:
        cmd_data(s);
        break;
    case SMTP_V_RSET:
        txn_reset(s);
        reply(s, "250 2.0.0 OK");
        break;
    case SMTP_V_NOOP:
        reply(s, "250 2.0.0 OK");
        break;
    case SMTP_V_QUIT:
        reply(s, "221 2.0.0 %s closing connection", name);
        s->close_after = 1;
        break;
    case SMTP_V_VRFY:
        reply(s, "252 2.0.0 cannot VRFY user, but will accept message and attempt delivery");
        break;
    case SMTP_V_HELP:
        reply(s, "214 2.0.0 commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP");
        break;
    case SMTP_V_STARTTLS:
        reply(s, "454 4.7.0 TLS not available");
        break;
    }
}

/* cmd_line - parse and run one command line (without CRLF) */
static void
cmd_line(struct sess *s, const char *p, size_t len)
{
    struct smtp_cmd c;

    if (smtp_parse(p, len, s->smtputf8 ? SMTP_PARSE_UTF8 : 0, &c) != 0) {
        if (c.verb == SMTP_V_RCPT)
            metrics_inc(MC_REJECTED);
        reply(s, "%s", c.reply);
        return;
    }
    cmd_dispatch(s, &c);
}

/* cmd_step - consume one command line; 1 progress, 0 more input needed */
static int
cmd_step(struct sess *s)
{
    struct smtp_frame_out o;
    size_t used = smtp_frame_cmd(&s->fr, s->in + s->inoff, s->inlen - s->inoff, &o);

    s->inoff += used;
    if (o.kind != SMTP_FRAME_NONE && !s->had_cmd) { /* smtp_receive_timeout from now on */
        s->had_cmd = 1;
        eng_timer_start(s->lis->loop, &s->timer, sess_idle_ms(s));
    }
    if (o.kind == SMTP_FRAME_LINE)
        cmd_line(s, o.data, o.len);
    else if (o.kind == SMTP_FRAME_TOO_LONG)
        reply(s, "500 5.5.2 line too long");
    else if (o.kind == SMTP_FRAME_BARE_LF)
        reply(s, "500 5.5.2 bare <LF> received");
    else if (o.kind == SMTP_FRAME_BARE_CR)
        reply(s, "500 5.5.2 bare <CR> received");
    return used > 0;
}

/* sess_run - process buffered input as far as possible, then flush */
static void
sess_run(struct sess *s)
{
    int progress = 1;

    while (progress && !s->close_after && (s->st == SS_CMD || s->st == SS_DATA)) {
        enum sess_state before = s->st;
        progress = s->st == SS_CMD ? cmd_step(s) : data_step(s);
        if (s->st == SS_DATA && before == SS_CMD && sess_flush(s) < 0)
            return; /* 354 goes out at once */
        if (s->outlen - s->outoff >= SESS_OUT_HIGH) {
            if (sess_flush(s) < 0)
                return;
            if (s->outlen - s->outoff >= SESS_OUT_HIGH)
                break; /* the client does not read: wait for EPOLLOUT */
        }
    }
    if (s->inoff > 0) {
        memmove(s->in, s->in + s->inoff, s->inlen - s->inoff);
        s->inlen -= s->inoff;
        s->inoff = 0;
    }
    if (sess_flush(s) < 0)
        return;
    if (s->eof && s->st != SS_WAIT) {
        if (s->st == SS_DATA || s->in_mail)
            log_info("%s H=(%s) %s lost connection during a transaction", s->id, s->helo, s->host);
        sess_close(s);
        return;
    }
    sess_update_io(s);
}

/* sess_read - read what the socket has; -1 if the session was closed */
static int
sess_read(struct sess *s)
{
    while (s->inlen < sizeof(s->in)) {
        ssize_t n = recv(s->io.fd, s->in + s->inlen, sizeof(s->in) - s->inlen, MSG_DONTWAIT);
        if (n > 0) {
            s->inlen += (size_t)n;
            continue;
        }
        if (n == 0) {
            s->eof = 1;
            break;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
        sess_close(s);
        return -1;
    }
    if (s->had_cmd) /* before the first command, input does not extend the wait */
        eng_timer_start(s->lis->loop, &s->timer, sess_idle_ms(s));
    return 0;
}

/* on_sess_io - socket readiness for a session */
static void
on_sess_io(eng_loop *loop, struct eng_io *io, uint32_t events)
{
    struct sess *s = io->data;
    (void)loop;

    if ((events & EPOLLOUT) && sess_flush(s) < 0)
        return;
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && sess_read(s) < 0)
        return;
    sess_run(s);
}

/* on_sess_timer - idle timeout, or the grace time of a closing session */
static void
on_sess_timer(eng_loop *loop, struct eng_timer *t)
{
    struct sess *s = t->data;

    if (s->st == SS_WAIT) { /* the delay is ours, not the client's */
        eng_timer_start(loop, t, sess_idle_ms(s));
        return;
    }
    if (s->close_after) {
        sess_close(s);
        return;
    }
    log_info("SMTP command timeout%s H=(%s) %s", s->had_cmd ? "" : " before the first command",
             s->helo, s->host);
    reply(s, "421 4.4.2 %s timeout", s->lis->cfg->primary_hostname);
    s->close_after = 1;
    eng_timer_start(loop, t, CLOSE_GRACE_MS);
    if (sess_flush(s) < 0)
        return;
    sess_update_io(s);
}

/* peer_text - "[ip]:port" of a socket address */
static void
peer_text(const struct sockaddr_storage *ss, char *out, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;

    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
        port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
        port = ntohs(a->sin6_port);
    }
    snprintf(out, len, "[%s]:%u", ip, port);
}

/* sess_new - a new session on an accepted socket; greets the client */
static void
sess_new(struct smtp_listener *lis, int fd, const struct sockaddr_storage *ss)
{
    struct sess *s = calloc(1, sizeof(*s));

    if (s == NULL)
        abort();
    s->lis = lis;
    s->outcap = 512;
    s->out = malloc(s->outcap);
    if (s->out == NULL)
        abort();
    peer_text(ss, s->host, sizeof(s->host));
    s->peer = *ss;
    smtp_frame_init(&s->fr);
    s->relay_ok = cfg_hostlist_match(&lis->cfg->relay_from_hosts, (const struct sockaddr *)ss);
    eng_io_init(&s->io, fd, on_sess_io, s);
    eng_timer_init(&s->timer, on_sess_timer, s);
    s->next = lis->sessions;
    if (s->next != NULL)
        s->next->prev = s;
    lis->sessions = s;
    lis->nsess++;
    eng_timer_start(lis->loop, &s->timer, sess_idle_ms(s));
    reply(s, "220 %s ESMTP spate", lis->cfg->primary_hostname);
    sess_run(s);
}

/* refuse - answer a connection that is not admitted, and close it */
static void
refuse(int fd, const struct sockaddr_storage *ss, const char *why, const char *line)
{
    char host[INET6_ADDRSTRLEN + 10];

    peer_text(ss, host, sizeof(host));
    log_info("Connection from %s refused: %s", host, why);
    if (send(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        errno = 0; /* closing anyway */
    close(fd);
}

/* admit - a session for an accepted socket, unless a connection limit says no */
static void
admit(struct smtp_listener *lis, int fd, const struct sockaddr_storage *ss)
{
    if (lis->cfg->smtp_accept_max > 0 && lis->nsess >= lis->cfg->smtp_accept_max) {
        refuse(fd, ss, "too many connections", "421 4.3.2 too many connections\r\n");
        return;
    }
    if (hostcount_add(lis->hosts, (const struct sockaddr *)ss, lis->cfg->smtp_accept_max_per_host) <
        0) {
        refuse(fd, ss, "too many connections from this host",
               "421 4.7.0 too many connections from your host\r\n");
        return;
    }
    sess_new(lis, fd, ss);
}

/* on_accept - take every pending connection on a listening socket */
static void
on_accept(eng_loop *loop, struct eng_io *io, uint32_t events)
{
    struct lsock *ls = io->data;
    (void)loop;
    (void)events;

    for (int i = 0; i < ACCEPT_BURST; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(io->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                log_warn("SMTP accept failed: %s", strerror(errno));
            return;
        }
        admit(ls->lis, fd, &ss);
    }
}

/* on_stop - on the loop: close listeners, 421 idle sessions, let commits finish */
static void
on_stop(eng_loop *loop, void *arg)
{
    struct smtp_listener *lis = arg;
    struct sess *s, *next;

    lis->stopping = 1;
    for (size_t i = 0; i < lis->nsocks; i++) {
        eng_io_set(loop, &lis->socks[i].io, 0);
        close(lis->socks[i].io.fd);
        lis->socks[i].io.fd = -1;
    }
    for (s = lis->sessions; s != NULL; s = next) {
        next = s->next;
        if (s->st == SS_WAIT) {
            s->shutdown = 1;
            continue;
        }
        if (s->io.fd >= 0) {
            reply(s, "421 4.3.2 %s service shutting down", lis->cfg->primary_hostname);
            s->close_after = 1;
            if (sess_flush(s) < 0)
                continue;
        }
        sess_close(s); /* best effort: what did not fit in the socket is dropped */
    }
    if (lis->nsess == 0)
        eng_loop_stop(loop);
}

/* listener_thread - run the loop until on_stop has closed everything */
static void *
listener_thread(void *arg)
{
    struct smtp_listener *lis = arg;

    eng_loop_run(lis->loop);
    return NULL;
}

/* bind_one - a non-blocking listening socket for one address */
static int
bind_one(const struct net_addr *a, char *err, size_t errlen)
{
    int one = 1;
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        goto fail;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        goto fail;
    if (a->ss.ss_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
        goto fail;
    if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0 || listen(fd, 1024) < 0)
        goto fail;
    return fd;
fail:
    snprintf(err, errlen, "smtp_listen %s: %s", a->text, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

/* listener_free - release a listener whose thread is not running */
static void
listener_free(struct smtp_listener *lis)
{
    for (size_t i = 0; i < lis->nsocks; i++)
        if (lis->socks[i].io.fd >= 0)
            close(lis->socks[i].io.fd);
    free(lis->socks);
    hostcount_free(lis->hosts);
    if (lis->loop != NULL)
        eng_loop_free(lis->loop);
    free(lis);
}

/* api_smtp_start - bind every smtp_listen address and start the listener thread */
int
api_smtp_start(const struct cfg *cfg, spool *sp, char *err, size_t errlen)
{
    struct smtp_listener *lis;
    int rc;

    if (the_listener != NULL) {
        snprintf(err, errlen, "SMTP listener already running");
        return -1;
    }
    lis = calloc(1, sizeof(*lis));
    if (lis == NULL || (lis->socks = calloc(cfg->n_smtp_listen + 1, sizeof(*lis->socks))) == NULL ||
        (lis->loop = eng_loop_new()) == NULL || (lis->hosts = hostcount_new()) == NULL) {
        snprintf(err, errlen, "SMTP listener: %s", strerror(errno ? errno : ENOMEM));
        if (lis != NULL)
            listener_free(lis);
        return -1;
    }
    lis->cfg = cfg;
    lis->sp = sp;
    for (size_t i = 0; i < cfg->n_smtp_listen; i++) {
        int fd = bind_one(&cfg->smtp_listen[i], err, errlen);
        if (fd < 0) {
            listener_free(lis);
            return -1;
        }
        lis->socks[i].lis = lis;
        eng_io_init(&lis->socks[i].io, fd, on_accept, &lis->socks[i]);
        lis->nsocks++;
        if ((rc = eng_io_set(lis->loop, &lis->socks[i].io, EPOLLIN)) < 0) {
            snprintf(err, errlen, "smtp_listen %s: %s", cfg->smtp_listen[i].text, strerror(-rc));
            listener_free(lis);
            return -1;
        }
    }
    if ((rc = pthread_create(&lis->thread, NULL, listener_thread, lis)) != 0) {
        snprintf(err, errlen, "SMTP listener thread: %s", strerror(rc));
        listener_free(lis);
        return -1;
    }
    the_listener = lis;
    return 0;
}

/* on_reload - listener thread: sessions read the new configuration */
static void
on_reload(eng_loop *loop, void *arg)
{
    (void)loop;
    if (the_listener != NULL)
        the_listener->cfg = arg;
}

/* api_smtp_reload - switch the listener to a new configuration */
void
api_smtp_reload(const struct cfg *cfg)
{
    if (the_listener != NULL && eng_loop_post(the_listener->loop, on_reload, (void *)cfg) < 0)
        abort();
}

/* api_smtp_stop - stop the listener and wait for its thread */
void
api_smtp_stop(void)
{
    struct smtp_listener *lis = the_listener;

    if (lis == NULL)
        return;
    if (eng_loop_post(lis->loop, on_stop, lis) != 0)
        abort();
    pthread_join(lis->thread, NULL);
    the_listener = NULL;
    listener_free(lis);
}
