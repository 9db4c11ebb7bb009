/*
 * sess_txn.c - one mail transaction on a delivery session (RFC 5321 3.3):
 *              MAIL FROM, RCPT TO, DATA and the dot-stuffed body, or BDAT
 *              (RFC 3030); with PIPELINING (RFC 2920) every command goes in
 *              one write. Replies are matched, in order, against the list
 *              of what was sent (the "expect" list); each command's reply
 *              has its handler. MAIL and RCPT carry only the parameters of
 *              extensions the server offered (RFC 5321 4.1.1.11,
 *              smtp_params.h); a message that needs SMTPUTF8 does not go
 *              to a server without it (RFC 6531 3.2): the next host is
 *              tried, and the last one's refusal bounces it (5.6.7).
 *
 * Calls sess_conn.c (results, giving the job back) and sess_io.c.
 * Thread rules: everything here runs on the session's worker thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/metrics.h"
#include "engine/dkim_sign.h"
#include "engine/smtp_params.h"
#include "engine/worker_int.h"

/* A session whose greeting took this long is slow to start ... */
#define SLOW_SETUP_MS 1000u
/* ... and is kept idle this many times its set-up, at most KEEP_SLOW_MAX_MS */
#define KEEP_SLOW 5u
#define KEEP_SLOW_MAX_MS 300000u
/* expect_push - note a command whose reply is to come */
static void
expect_push(struct eng_session *s, enum expect e)
{
    if (s->nex == s->excap) {
        s->excap = s->excap ? s->excap * 2 : 16;
        if ((s->ex = realloc(s->ex, s->excap * sizeof(*s->ex))) == NULL)
            abort();
    }
    s->ex[s->nex++] = e;
}

/* has_8bit - does the body hold bytes above 127? */
static int
has_8bit(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] & 0x80)
            return 1;
    return 0;
}

/* use_dsn - pass DSN parameters on: offered, and the router is not the last DSN hop */
static int
use_dsn(const struct eng_session *s)
{
    return s->dsn && !(s->d->router != NULL && s->d->router->dsn_lasthop);
}

/* send_rcpt - queue RCPT TO for recipient k */
static void
send_rcpt(struct eng_session *s, size_t k)
{
    const struct spool_msg *m = s->job->q->m;
    size_t len;
    char *cmd = smtp_rcpt_cmd(&m->rcpt[s->job->ridx[k]], use_dsn(s),
                              s->smtputf8 && smtp_msg_needs_utf8(m), &len);
    eng__out_add(s, cmd, len);
    free(cmd);
    expect_push(s, EX_RCPT);
    s->rcpt_sent = k + 1;
}

/* send_body - the message, dot-stuffed (RFC 5321 §4.5.2), then "." */
static void
send_body(struct eng_session *s)
{
    const char *p = s->body, *end = s->body + s->body_len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        if (*p == '.')
            eng__out_add(s, ".", 1);
        eng__out_add(s, p, n);
        p += n;
    }
    if (s->body_len > 0 && s->body[s->body_len - 1] != '\n')
        eng__out_add(s, "\r\n", 2);
    eng__out_add(s, ".\r\n", 3);
    s->body_out = 1;
}

/* send_bdat - the whole message as one chunk (RFC 3030): no dot-stuffing */
static void
send_bdat(struct eng_session *s)
{
    eng__out_printf(s, "BDAT %zu LAST\r\n", s->body_len);
    eng__out_add(s, s->body, s->body_len);
    s->body_out = 1;
    expect_push(s, EX_BDAT);
    s->st = SS_TXN;
    eng__sess_timer(s, s->d->tp->data_timeout_s);
}

/* send_data_cmd - DATA, or the message itself when CHUNKING is in use */
static void
send_data_cmd(struct eng_session *s)
{
    if (s->chunking) {
        send_bdat(s);
        return;
    }
    eng__out_add(s, "DATA\r\n", 6);
    expect_push(s, EX_DATA);
}

/* idle_ms - how long the session waits in the cache: connection_idle_timeout,
 * or, for a session slow to start (its greeting took SLOW_SETUP_MS or
 * more), KEEP_SLOW times its set-up (at most KEEP_SLOW_MAX_MS), so the next
 * message does not pay the set-up again; 0 stays 0 (close at once) */
static uint64_t
idle_ms(const struct eng_session *s)
{
    uint64_t idle = (uint64_t)s->pol.connection_idle_timeout_ms, keep = s->setup_ms * KEEP_SLOW;
    if (idle == 0 || s->setup_ms < SLOW_SETUP_MS)
        return idle;
    if (keep > KEEP_SLOW_MAX_MS)
        keep = KEEP_SLOW_MAX_MS;
    return keep > idle ? keep : idle;
}

/* txn_end - the transaction is over: keep the session or close it */
static void
txn_end(struct eng_session *s)
{
    s->msgs++;
    if (s->msgs >= s->pol.max_messages_per_connection) {
        eng__job_return_quitting(s);
        return;
    }
    s->st = SS_IDLE;
    s->expiring = 0;
    eng_timer_start(s->w->loop, &s->timer, idle_ms(s));
    eng__job_return(s, 0);
}

/* body_refused - the body cannot go out (spool read error, over the
 * server's SIZE): the results are set and the transaction ends; 1 if so */
static int
body_refused(struct eng_session *s, int rc)
{
    struct eng_job *j = s->job;
    if (rc < 0) {
        char why[160];
        snprintf(why, sizeof(why), "spool read error: %s", strerror(-rc));
        eng__job_defer_rest(j, why);
        txn_end(s);
        return 1;
    }
    if (s->size_limit == 0 || s->body_len <= s->size_limit)
        return 0;
    /* RFC 1870: the server said it would refuse it; do not send it */
    for (size_t k = 0; k < j->n; k++)
        eng__job_set(j, k, 552, "message is %zu bytes, over the remote host's SIZE limit of %llu",
                     s->body_len, (unsigned long long)s->size_limit);
    txn_end(s);
    return 1;
}

/* send_mail - MAIL with the parameters the server offered and, with
 * PIPELINING, every RCPT and DATA too */
static void
send_mail(struct eng_session *s)
{
    struct eng_job *j = s->job;
    const struct spool_msg *m = j->q->m;
    struct smtp_mail_opts o = {
        .size = s->size_offered,
        .body_len = s->body_len,
        .body_8bit =
            s->eightbit && ((m->flags & SPOOL_F_8BITMIME) || has_8bit(s->body, s->body_len)),
        .smtputf8 = s->smtputf8 && smtp_msg_needs_utf8(m),
        .dsn = use_dsn(s),
        .prdr = s->prdr_on,
    };
    size_t len;
    char *cmd = smtp_mail_cmd(m, &o, &len);
    eng__out_add(s, cmd, len);
    free(cmd);
    expect_push(s, EX_MAIL);
    if (s->pipelining) {
        for (size_t k = 0; k < j->n; k++)
            send_rcpt(s, k);
        send_data_cmd(s);
    }
}

/* send_commands - RSET first on a reused connection: without PIPELINING,
 * MAIL waits for its reply (RFC 2920 3.1) */
static void
send_commands(struct eng_session *s)
{
    if (s->msgs > 0) {
        eng__out_add(s, "RSET\r\n", 6);
        expect_push(s, EX_RSET);
        if (!s->pipelining)
            return; /* on_rset_reply sends MAIL */
    }
    send_mail(s);
}

/* utf8_refused - the message needs SMTPUTF8 and the server does not offer
 * it (RFC 6531 3.2): try the next host, or bounce at the last; 1 if so */
static int
utf8_refused(struct eng_session *s)
{
    struct eng_job *j = s->job;
    const struct dns_host *h = &s->d->hosts[s->host_i < s->d->nhosts ? s->host_i : 0];
    if (s->smtputf8 || !smtp_msg_needs_utf8(j->q->m))
        return 0;
    if (s->host_i + 1 < s->d->nhosts || s->addr_i + 1 < h->naddr) {
        eng__sess_fail_host(s, "SMTPUTF8 is needed by the message but not offered");
        return 1;
    }
    for (size_t k = 0; k < j->n; k++)
        eng__job_set(j, k, 553,
                     "553 5.6.7 SMTPUTF8 is needed by the message but not offered by %s "
                     "(RFC 6531 3.2)",
                     s->host_desc);
    txn_end(s);
    return 1;
}

/* eng__sess_start_txn - send MAIL (and, pipelining, every RCPT and DATA) */
void
eng__sess_start_txn(struct eng_session *s)
{
    struct eng_job *j = s->job;
    if (s->w->draining) {
        eng__sess_hold(s);
        return;
    }
    if (utf8_refused(s))
        return;
    if (body_refused(s, spool_body_read(s->w->sp, j->q->m, &s->body, &s->body_len)))
        return;
    /* the fields were computed off the loop (dkim_pool.c): only put in front here */
    (void)eng_dkim_sign(s->d->tp, j->q->m, &j->q->dkim, &s->body, &s->body_len);
    if (s->msgs > 0)
        metrics_inc(MC_CONN_REUSED);
    if ((s->rcpt_ok = calloc(j->n, 1)) == NULL)
        abort();
    s->st = SS_TXN;
    s->nex = s->iex = 0;
    s->accepted = s->mail_ok = 0;
    s->rcpt_sent = 0;
    s->prdr_reading = 0;
    s->prdr_on = eng__prdr_wanted(s);
    send_commands(s);
    eng__sess_timer(s, s->d->tp->command_timeout_s);
    if (eng__out_flush(s) < 0)
        eng__sess_broken(s, "write error");
}

/* set_all - "SMTP error from remote mail server after CMD: reply" for all */
static void
set_all(struct eng_session *s, int code, const char *after)
{
    for (size_t k = 0; k < s->job->n; k++)
        eng__job_set(s->job, k, code, "SMTP error from remote mail server after %s: %s", after,
                     s->reply.text);
}

/* on_mail_reply - the reply to MAIL FROM */
static void
on_mail_reply(struct eng_session *s, int code)
{
    char after[400];
    if (code / 100 == 2) {
        s->mail_ok = 1;
        if (!s->pipelining)
            send_rcpt(s, 0);
        return;
    }
    snprintf(after, sizeof(after), "MAIL FROM:<%s>", s->job->q->m->sender);
    set_all(s, code, after);
    if (!s->pipelining)
        txn_end(s);
}

/* on_rcpt_reply - the reply to one RCPT TO */
static void
on_rcpt_reply(struct eng_session *s, int code, size_t k)
{
    struct eng_job *j = s->job;
    if (code / 100 == 2) {
        s->rcpt_ok[k] = 1;
        s->accepted++;
    } else {
        eng__job_set(j, k, code, "SMTP error from remote mail server after RCPT TO:<%s>: %s",
                     j->q->m->rcpt[j->ridx[k]].address, s->reply.text);
    }
    if (s->pipelining)
        return;
    if (s->rcpt_sent < j->n) {
        send_rcpt(s, s->rcpt_sent);
    } else if (s->accepted > 0) {
        send_data_cmd(s);
    } else {
        txn_end(s);
    }
}

/* on_data_reply - the reply to DATA: send the body, or the transaction ends */
static void
on_data_reply(struct eng_session *s, int code)
{
    if (code == 354 && s->w->draining) {
        eng__sess_hold(s); /* the receiver sees the connection close without the dot */
        return;
    }
    if (code == 354) {
        send_body(s);
        s->st = SS_DATA;
        eng__sess_timer(s, s->d->tp->data_timeout_s);
        return;
    }
    set_all(s, code, "DATA");
    txn_end(s);
}

/* on_rset_reply - the reply to RSET before a reused connection's MAIL */
static void
on_rset_reply(struct eng_session *s, int code)
{
    if (code / 100 != 2) {
        eng__sess_broken(s, "RSET was refused");
        return;
    }
    if (!s->pipelining)
        send_mail(s);
}

/* eng__sess_txn_reply - match a reply to the command it answers */
void
eng__sess_txn_reply(struct eng_session *s, int code)
{
    size_t rcpt_k = 0;
    if (s->iex >= s->nex) {
        eng__sess_broken(s, "unexpected reply from the remote server");
        return;
    }
    for (size_t i = 0; i < s->iex; i++)
        rcpt_k += s->ex[i] == EX_RCPT;
    switch (s->ex[s->iex++]) {
    case EX_RSET:
        on_rset_reply(s, code);
        break;
    case EX_MAIL:
        on_mail_reply(s, code);
        break;
    case EX_RCPT:
        on_rcpt_reply(s, code, rcpt_k);
        break;
    case EX_DATA:
        on_data_reply(s, code);
        break;
    case EX_BDAT:
        eng__sess_dot_reply(s, code);
        break;
    }
}

/* eng__sess_dot_reply - the final reply to the message */
void
eng__sess_dot_reply(struct eng_session *s, int code)
{
    struct eng_job *j = s->job;
    if (s->prdr_on && eng__prdr_reply(s, code))
        return; /* PRDR: more replies to come */
    for (size_t k = 0; k < j->n; k++) {
        if (!s->rcpt_ok[k])
            continue;
        if (code / 100 == 2)
            eng__job_set(j, k, code, "%s", s->reply.text);
        else
            eng__job_set(j, k, code, "SMTP error from remote mail server after end of data: %s",
                         s->reply.text);
    }
    txn_end(s);
}
