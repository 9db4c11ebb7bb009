/*
 * smtp_io.c - the SMTP server's session plumbing: queued replies, writing
 *             them, reading input, closing and freeing a session.
 *
 * Replies are queued and written when no complete command is left in the
 * input, before waiting for the spool, and after 354 (RFC 2920 §3.1); the
 * session loop in smtp_in.c decides when. Everything here runs on the
 * listener thread.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/sasl.h"
#include "api/smtp_int.h"
#include "base/log.h"
#include "tls/tls.h"

/* smtp_idle_ms - how long the client may be silent now */
uint64_t
smtp_idle_ms(const struct sess *s)
{
    const struct cfg *cfg = s->lis->cfg;
    int t = s->had_cmd ? cfg->smtp_receive_timeout_s : cfg->smtp_first_command_timeout_s;

    return (uint64_t)(t > 0 ? t : 1) * 1000u;
}

/* smtp_reply - queue one reply line (CRLF added) */
void
smtp_reply(struct sess *s, const char *fmt, ...)
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

/* smtp_dup - strdup that treats out of memory as fatal */
char *
smtp_dup(const char *s)
{
    char *d = strdup(s != NULL ? s : "");
    if (d == NULL)
        abort();
    return d;
}

/* smtp_txn_reset - forget the mail transaction (RSET, EHLO, after DATA) */
void
smtp_txn_reset(struct sess *s)
{
    for (size_t i = 0; i < s->nrcpt; i++) {
        free(s->rcpts[i]);
        if (s->rcpt_orcpt != NULL)
            free(s->rcpt_orcpt[i]);
    }
    free(s->rcpts);
    free(s->rcpt_orcpt);
    free(s->rcpt_notify);
    free(s->dsn_envid);
    free(s->pend_orcpt);
    s->rcpt_orcpt = NULL;
    s->rcpt_notify = NULL;
    s->dsn_envid = s->pend_orcpt = NULL;
    s->dsn_ret = s->prdr = 0;
    free(s->prdr_ok);
    s->prdr_ok = NULL;
    free(s->sender);
    free(s->body);
    free(s->logline);
    s->rcpts = NULL;
    s->sender = s->body = s->logline = NULL;
    s->nrcpt = s->rcptcap = s->blen = s->bcap = s->hdrlen = 0;
    s->in_mail = s->smtputf8 = s->eightbit = s->too_big = 0;
    s->bdat = s->bdat_last = s->long_line = 0;
    smtp_dkim_free(s);  /* the message's DKIM results (smtp_dkim.c) */
    smtp_dmarc_free(s); /* its DMARC result and the transaction's controls */
    s->txn_controls = 0;
    s->bdat_left = 0;
}

/* sess_free_acl - the ACL state of a session that ends; a verification
 * still waiting for the DNS is orphaned (its callback frees it) */
static void
sess_free_acl(struct sess *s)
{
    struct smtp_vreq *v = s->vreq;

    if (v != NULL && v->answer < 0)
        v->s = NULL;
    else if (v != NULL) {
        free(v->address);
        free(v);
    }
    smtp_spf_free(s);
    acl_result_clear(&s->acl_res);
    free(s->acl_rcpt);
    acl_vars_free(s->cvars);
    acl_vars_free(s->mvars);
    free(s->add_hdrs);
    for (size_t i = 0; i < s->nremove; i++)
        free(s->remove_hdrs[i]);
}

/* smtp_sess_free - release a session that is closed and not waiting for the spool */
void
smtp_sess_free(struct sess *s)
{
    struct smtp_listener *lis = s->lis;

    eng_timer_stop(lis->loop, &s->timer);
    eng_timer_stop(lis->loop, &s->acl_timer);
    sess_free_acl(s);
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        lis->sessions = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    lis->nsess--;
    hostcount_del(lis->hosts, (const struct sockaddr *)&s->peer);
    smtp_txn_reset(s);
    if (s->tls != NULL)
        tls_conn_free(s->tls);
    free(s->auth_id);
    if (s->sasl != NULL) {
        OPENSSL_cleanse(s->sasl, sizeof(*s->sasl));
        free(s->sasl);
    }
    free(s->out);
    free(s);
    if (lis->stopping && lis->nsess == 0)
        eng_loop_stop(lis->loop);
}

/* smtp_sess_close - drop the connection; a session waiting for the spool
 * lives on until the done callback arrives */
void
smtp_sess_close(struct sess *s)
{
    if (s->io.fd >= 0) {
        eng_io_set(s->lis->loop, &s->io, 0);
        if (s->tls != NULL && s->st != SS_TLS)
            tls_conn_shutdown(s->tls);
        close(s->io.fd);
        s->io.fd = -1;
    }
    if (s->st == SS_WAIT || (s->st == SS_ACL && s->acl_prev_st == SS_WAIT)) {
        s->peer_gone = 1;
        eng_timer_stop(s->lis->loop, &s->timer);
        return;
    }
    smtp_sess_free(s);
}

/* out_write - write some queued output, in clear or through TLS; octets
 * written, 0 to wait for readiness, -1 on a dead connection */
static ssize_t
out_write(struct sess *s)
{
    ssize_t n;

    if (s->tls != NULL) {
        n = tls_conn_write(s->tls, s->out + s->outoff, s->outlen - s->outoff);
        s->tls_want = n == TLS_WANT_READ || n == TLS_WANT_WRITE ? (int)n : 0;
        return n > 0 ? n : s->tls_want ? 0 : -1;
    }
    do
        n = send(s->io.fd, s->out + s->outoff, s->outlen - s->outoff, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    return n > 0 ? n : -1;
}

/* smtp_sess_flush - write queued replies; -1 if the session was closed */
int
smtp_sess_flush(struct sess *s)
{
    while (s->outoff < s->outlen) {
        ssize_t n = out_write(s);
        if (n == 0)
            return 0;
        if (n < 0) {
            smtp_sess_close(s);
            return -1;
        }
        s->outoff += (size_t)n;
    }
    s->outoff = s->outlen = 0;
    if (s->close_after) {
        smtp_sess_close(s);
        return -1;
    }
    return 0;
}

/* smtp_sess_update_io - watch for input when it can be processed, output
 * when queued, and what a TLS call waits for */
void
smtp_sess_update_io(struct sess *s)
{
    uint32_t ev = 0;

    if (s->st == SS_TLS)
        ev = s->tls_want == TLS_WANT_WRITE ? EPOLLOUT : EPOLLIN;
    else {
        /* SS_TLS_START reads nothing until the 220 is out: level-triggered
         * input readiness would only wake the loop again and again */
        if (s->st != SS_WAIT && s->st != SS_ACL && s->st != SS_TLS_START && !s->close_after &&
            !s->eof && s->inlen < sizeof(s->in) && s->outlen - s->outoff < SESS_OUT_HIGH)
            ev |= EPOLLIN;
        if (s->outoff < s->outlen)
            ev |= EPOLLOUT;
        if (s->tls_want == TLS_WANT_WRITE)
            ev |= EPOLLOUT;
        else if (s->tls_want == TLS_WANT_READ)
            ev |= EPOLLIN;
    }
    if (eng_io_set(s->lis->loop, &s->io, ev) < 0)
        smtp_sess_close(s);
}

/* in_read - read into the input buffer, in clear or through TLS: octets,
 * 0 at the end of input, -2 to wait, -1 on a dead connection */
static ssize_t
in_read(struct sess *s)
{
    ssize_t n;

    if (s->tls != NULL) {
        n = tls_conn_read(s->tls, s->in + s->inlen, sizeof(s->in) - s->inlen);
        s->tls_want = n == TLS_WANT_READ || n == TLS_WANT_WRITE ? (int)n : 0;
        return n >= 0 ? n : s->tls_want ? -2 : -1;
    }
    do
        n = recv(s->io.fd, s->in + s->inlen, sizeof(s->in) - s->inlen, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return -2;
    return n;
}

/* smtp_sess_read - read what the connection has; -1 if the session was closed */
int
smtp_sess_read(struct sess *s)
{
    while (s->inlen < sizeof(s->in)) {
        ssize_t n = in_read(s);
        if (n > 0) {
            s->inlen += (size_t)n;
            continue;
        }
        if (n == 0) {
            s->eof = 1;
            break;
        }
        if (n == -2)
            break;
        smtp_sess_close(s);
        return -1;
    }
    if (s->had_cmd) /* before the first command, input does not extend the wait */
        eng_timer_start(s->lis->loop, &s->timer, smtp_idle_ms(s));
    return 0;
}

/* smtp_tls_pending - decrypted input waits inside OpenSSL (epoll cannot see it) */
int
smtp_tls_pending(const struct sess *s)
{
    return s->tls != NULL && s->st != SS_TLS && tls_conn_pending(s->tls) > 0;
}

/* smtp_drop - reply, log why, and close once the reply is written */
void
smtp_drop(struct sess *s, const char *why, const char *line)
{
    log_info("SMTP connection from (%s) %s dropped: %s", s->helo, s->host, why);
    smtp_reply(s, "%s", line);
    s->close_after = 1;
    eng_timer_start(s->lis->loop, &s->timer, CLOSE_GRACE_MS);
}
