/*
 * sess_read.c - reading a delivery session's connection: socket events,
 *               replies split into lines by the reply parser
 *               (smtp_reply.h), and each complete reply handed to the
 *               handler of the session's state: greeting, EHLO (then HELO),
 *               STARTTLS and the TLS handshake (decided by worker_tls.c),
 *               the transaction (sess_txn.c), QUIT.
 *
 * Calls sess_txn.c, sess_conn.c, worker_tls.c, sess_io.c; nothing calls
 * back up into it except the loop, through eng__sess_on_io.
 * Thread rules: everything here runs on the session's worker thread.
 */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "engine/hoststate.h"
#include "engine/worker_int.h"

/* sess_ehlo - send EHLO (after the greeting, and again after STARTTLS) */
static void
sess_ehlo(struct eng_session *s)
{
    s->pipelining = s->eightbit = s->smtputf8 = s->chunking = 0;
    s->size_offered = s->dsn = s->prdr = 0;
    s->starttls_offered = 0;
    s->size_limit = 0;
    memset(&s->ehlo, 0, sizeof(s->ehlo));
    eng__out_printf(s, "EHLO %s\r\n",
                    s->d->tp->helo_data ? s->d->tp->helo_data : s->w->cfg->primary_hostname);
    s->st = SS_EHLO;
}

/* after_tls_step - act on what the TLS layer said after EHLO or STARTTLS */
static void
after_tls_step(struct eng_session *s, enum eng_tls_rc rc, const char *why)
{
    switch (rc) {
    case ENG_TLS_GO:
        eng__sess_start_txn(s); /* in clear */
        break;
    case ENG_TLS_FAIL:
        eng__sess_fail_host(s, why);
        break;
    case ENG_TLS_BROKEN:
        eng__sess_broken(s, why);
        break;
    default: /* STARTTLS sent, or the handshake is to be driven */
        break;
    }
}

/* after_hello - extensions known: STARTTLS first, or the first transaction */
static void
after_hello(struct eng_session *s)
{
    char why[1200];
    if (s->tls != NULL) {
        eng__sess_start_txn(s);
        return;
    }
    after_tls_step(s, eng__tls_after_ehlo(s, why, sizeof(why)), why);
}

/* on_greeting_reply - 220 expected */
static void
on_greeting_reply(struct eng_session *s, int code)
{
    char why[1200];
    if (code / 100 != 2) {
        snprintf(why, sizeof(why),
                 "SMTP error from remote mail server after initial connection: %s", s->reply.text);
        eng__sess_host_down(s, why);
        eng__sess_fail_host(s, why);
        return;
    }
    s->setup_ms = eng_now_ms() - s->connect_ms;
    snprintf(s->greeting, sizeof(s->greeting), "%.255s", s->reply.text);
    if (host_greeted(s->cur_ip, s->d->port))
        log_info("%s answered again", s->host_desc);
    if (eng__sess_event_says_no(s, "smtp:connect", s->reply.text)) {
        eng__sess_fail_host(s, "smtp:connect event closed the connection");
        return;
    }
    sess_ehlo(s);
}

/* ehlo_apply - take the extensions the EHLO reply offered */
static void
ehlo_apply(struct eng_session *s)
{
    unsigned x = s->ehlo.ext;
    if (x & SMTP_EXT_PIPELINING)
        s->pipelining = !s->d->tp->hosts_avoid_pipelining_all;
    s->eightbit = (x & SMTP_EXT_8BITMIME) != 0;
    s->smtputf8 = (x & SMTP_EXT_SMTPUTF8) != 0;
    if (x & SMTP_EXT_SIZE)
        s->size_limit = s->ehlo.size;
    s->size_offered = (x & SMTP_EXT_SIZE) != 0;
    s->dsn = (x & SMTP_EXT_DSN) != 0;
    s->prdr = (x & SMTP_EXT_PRDR) != 0;
    s->starttls_offered = (x & SMTP_EXT_STARTTLS) != 0;
    if (x & SMTP_EXT_CHUNKING)
        s->chunking = s->d->tp->chunking != 0;
}

/* on_ehlo_reply - extensions known: go on; refused: HELO */
static void
on_ehlo_reply(struct eng_session *s, int code)
{
    if (code / 100 == 2) {
        ehlo_apply(s);
        after_hello(s);
        return;
    }
    eng__out_printf(s, "HELO %s\r\n",
                    s->d->tp->helo_data ? s->d->tp->helo_data : s->w->cfg->primary_hostname);
    s->st = SS_HELO;
}

/* on_helo_reply - no extensions */
static void
on_helo_reply(struct eng_session *s, int code)
{
    char why[1200];
    if (code / 100 == 2) {
        s->pipelining = s->eightbit = s->smtputf8 = s->chunking = 0;
        s->size_offered = s->dsn = s->prdr = 0;
        s->starttls_offered = 0;
        s->size_limit = 0;
        memset(&s->ehlo, 0, sizeof(s->ehlo));
        after_hello(s); /* no STARTTLS without EHLO: refused where TLS is mandatory */
        return;
    }
    snprintf(why, sizeof(why), "SMTP error from remote mail server after HELO: %s", s->reply.text);
    eng__sess_fail_host(s, why);
}

/* on_starttls_reply - 220: the handshake follows; else clear text or skip */
static void
on_starttls_reply(struct eng_session *s, int code)
{
    char why[1200];
    after_tls_step(s, eng__tls_starttls_reply(s, code, why, sizeof(why)), why);
}

/* on_quit_reply - 221: give the server a moment to close first, then close anyway */
static void
on_quit_reply(struct eng_session *s, int code)
{
    (void)code;
    eng_timer_start(s->w->loop, &s->timer, 200);
}

/* sess_handshake - drive the TLS handshake; once up, EHLO again */
static void
sess_handshake(struct eng_session *s)
{
    char why[1200];
    switch (eng__tls_handshake(s, why, sizeof(why))) {
    case ENG_TLS_UP:
        sess_ehlo(s); /* RFC 3207 4.2: forget what was learnt in clear */
        if (eng__out_flush(s) < 0)
            eng__sess_broken(s, "write error");
        break;
    case ENG_TLS_FAIL:
        eng__sess_fail_host(s, why);
        break;
    default:
        break;
    }
}

/* on_reply - a complete reply arrived: hand it to the state's handler */
static void
on_reply(struct eng_session *s, int code)
{
    eng__sess_timer(s, s->d->tp->command_timeout_s);
    switch (s->st) {
    case SS_GREETING:
        on_greeting_reply(s, code);
        break;
    case SS_EHLO:
        on_ehlo_reply(s, code);
        break;
    case SS_HELO:
        on_helo_reply(s, code);
        break;
    case SS_TXN:
        eng__sess_txn_reply(s, code);
        break;
    case SS_DATA:
        eng__sess_dot_reply(s, code);
        break;
    case SS_QUIT:
        on_quit_reply(s, code);
        break;
    case SS_STARTTLS:
        on_starttls_reply(s, code);
        break;
    default: /* idle: a server that talks unasked (421) is going away */
        eng__sess_broken(s, "the remote server closed the cached connection");
        break;
    }
}

/* reply_bad - the reader's verdict on a line that ends the session, or NULL */
static const char *
reply_bad(enum smtp_reply_rc rc)
{
    if (rc == SMTP_REPLY_BAD)
        return "malformed reply from the remote server";
    if (rc == SMTP_REPLY_TOO_LONG)
        return "reply line too long";
    return NULL;
}

/* tls_takes_over - after the reply to STARTTLS the bytes are TLS: nothing
 * may follow the reply in clear (RFC 3207 5, command injection) */
static void
tls_takes_over(struct eng_session *s, size_t off)
{
    if (off < s->inlen) {
        eng__sess_broken(s, "the server sent data after its reply to STARTTLS");
        return;
    }
    s->inlen = 0;
    sess_handshake(s);
}

/* conn_left - a reply handler left the connection (session freed, closed,
 * or moved on to another host: the input read so far went with it) */
static int
conn_left(const struct eng_session *s, size_t off)
{
    return s->st == SS_GONE || s->fd < 0 || s->st == SS_CONNECTING || s->st == SS_DNSSEC ||
           off > s->inlen;
}

/* parse_replies - act on every complete reply line in the input buffer */
static void
parse_replies(struct eng_session *s)
{
    size_t off = 0, used;
    while (!conn_left(s, off)) {
        enum smtp_reply_rc rc = smtp_reply_feed(&s->reply, s->in + off, s->inlen - off, &used);
        off += used;
        if (rc == SMTP_REPLY_PARTIAL)
            break;
        if (reply_bad(rc) != NULL) {
            eng__sess_broken(s, reply_bad(rc));
            return;
        }
        if (s->st == SS_EHLO)
            smtp_ehlo_line(&s->ehlo, &s->reply);
        if ((s->st == SS_EHLO || s->st == SS_HELO) && s->reply.nlines == 1)
            snprintf(s->helo_response, sizeof(s->helo_response), "%.255s", s->reply.text);
        if (rc == SMTP_REPLY_MORE)
            continue;
        on_reply(s, s->reply.code);
        if (s->st == SS_TLS_HS) {
            tls_takes_over(s, off);
            return;
        }
    }
    if (conn_left(s, off))
        return;
    memmove(s->in, s->in + off, s->inlen - off);
    s->inlen -= off;
}

/* sess_read - read what arrived and act on it */
static void
sess_read(struct eng_session *s)
{
    for (;;) {
        ssize_t k = eng__sess_recv(s, s->in + s->inlen, sizeof(s->in) - s->inlen);
        if (k == -2) /* nothing more for now */
            break;
        if (k <= 0) {
            eng__sess_broken(s, k == 0 ? "connection closed by the remote server"
                                       : "read error on the connection");
            return;
        }
        s->inlen += (size_t)k;
        parse_replies(s);
        if (conn_left(s, 0) || s->st == SS_TLS_HS)
            return; /* the handshake reads for itself */
    }
    if ((s->outlen > 0 || s->tls_read_wants_write) && eng__out_flush(s) < 0)
        eng__sess_broken(s, "write error");
}

/* eng__sess_on_io - socket events */
void
eng__sess_on_io(eng_loop *loop, struct eng_io *io, uint32_t events)
{
    struct eng_session *s = io->data;
    (void)loop;
    if (s->st == SS_CONNECTING) {
        eng__sess_connected(s);
        return;
    }
    if (s->st == SS_TLS_HS) {
        sess_handshake(s);
        return;
    }
    if ((events & EPOLLOUT) && s->tls_read_wants_write) {
        s->tls_read_wants_write = 0;
        sess_read(s);
        if (s->st == SS_GONE || s->fd < 0)
            return;
    }
    if ((events & EPOLLOUT) && eng__out_flush(s) < 0) {
        eng__sess_broken(s, "write error");
        return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        sess_read(s);
}
