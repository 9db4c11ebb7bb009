/*
 * worker.c - a delivery worker: one thread, one event loop, many concurrent
 *            non-blocking SMTP client sessions (RFC 5321, PIPELINING per
 *            RFC 2920), each kept open after its transaction so that the
 *            scheduler can lend it the next job for the same destination.
 *
 * A session is a small state machine; every state has its own reply
 * handler. Replies to pipelined commands are matched against a list of what
 * was sent (the "expect" list), in order.
 *
 * Thread rules: everything here runs on the worker's thread except
 * eng_worker_give/eng_worker_close/eng_worker_drain/eng_worker_reload, which
 * only post, and eng_worker_stop. Results go back through the eng_worker_ops
 * callbacks the worker was made with.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/event.h"
#include "base/log.h"
#include "base/metrics.h"
#include "engine/worker_int.h"

static void on_dot_reply(struct eng_session *s, int code);
static void sess_tcp_close_event(struct eng_session *s);
static void drain_check(struct eng_worker *w);

/* ------------------------------------------------------------ output */

/* eng__out_add - append bytes to the session's output buffer */
void
eng__out_add(struct eng_session *s, const char *p, size_t n)
{
    if (s->outlen + n > s->outcap) {
        size_t cap = s->outcap ? s->outcap : 4096;
        while (cap < s->outlen + n)
            cap *= 2;
        if ((s->out = realloc(s->out, cap)) == NULL)
            abort();
        s->outcap = cap;
    }
    memcpy(s->out + s->outlen, p, n);
    s->outlen += n;
}

/* out_printf - append a formatted command */
static void out_printf(struct eng_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
out_printf(struct eng_session *s, const char *fmt, ...)
{
    char buf[1200];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > 0)
        eng__out_add(s, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* eng__out_flush - write what can be written; watch for writability if not all */
int
eng__out_flush(struct eng_session *s)
{
    int want_out = 0;
    while (s->outoff < s->outlen) {
        ssize_t k;
        if (s->tls != NULL) {
            k = eng__tls_write(s, s->out + s->outoff, s->outlen - s->outoff, &want_out);
            if (k == 0)
                break; /* wants the socket first */
            if (k < 0)
                return -EIO;
        } else {
            k = send(s->fd, s->out + s->outoff, s->outlen - s->outoff, MSG_NOSIGNAL);
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                want_out = 1;
                break;
            }
            if (k < 0)
                return -errno;
        }
        s->outoff += (size_t)k;
    }
    if (s->outoff == s->outlen)
        s->outoff = s->outlen = 0;
    if (s->tls_read_wants_write)
        want_out = 1;
    return eng_io_set(s->w->loop, &s->io, want_out || s->outlen ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

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

/* ------------------------------------------------------ session life */

/* sess_close_fd - close the connection (the session object stays) */
static void
sess_close_fd(struct eng_session *s)
{
    if (s->fd < 0)
        return;
    sess_tcp_close_event(s);
    eng__tls_close(s);
    eng_io_set(s->w->loop, &s->io, 0);
    close(s->fd);
    s->fd = -1;
    s->inlen = s->outlen = s->outoff = 0;
    metrics_gauge_add(MG_CONN_OPEN, -1);
}

/* sess_release - free a session's memory (posted, so callers up the stack
 * can still look at s->st) */
static void
sess_release(eng_loop *loop, void *arg)
{
    struct eng_session *s = arg;
    (void)loop;
    free(s->out);
    free(s->ex);
    free(s->rcpt_ok);
    free(s->body);
    dnssec_dane_free(s->dn);
    free(s);
}

/* sess_free - forget a session for good */
static void
sess_free(struct eng_session *s)
{
    struct eng_worker *w = s->w;
    s->st = SS_GONE;
    eng_timer_stop(w->loop, &s->timer);
    if (s->fd >= 0) {
        sess_tcp_close_event(s);
        eng__tls_close(s);
        eng_io_set(w->loop, &s->io, 0);
        close(s->fd);
        metrics_gauge_add(MG_CONN_OPEN, -1);
    }
    if (s->prev)
        s->prev->next = s->next;
    else
        w->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    if (eng_loop_post(w->loop, sess_release, s) < 0)
        abort();
}

/* sess_event - the variables of a connection-level event for session s */
static void
sess_event(const struct eng_session *s, struct event_ctx *ev, const char *name, const char *data)
{
    const struct spool_msg *m = s->job ? s->job->q->m : NULL;
    memset(ev, 0, sizeof(*ev));
    ev->option = "transport event_action";
    ev->v[EV_EVENT_NAME] = name;
    ev->v[EV_EVENT_DATA] = data;
    ev->v[EV_ROUTER_NAME] = s->d->router ? s->d->router->name : NULL;
    ev->v[EV_TRANSPORT_NAME] = s->d->tp->name;
    ev->v[EV_DOMAIN] = s->d->domain;
    ev->v[EV_HOST] = s->d->hosts[s->host_i < s->d->nhosts ? s->host_i : 0].name;
    ev->v[EV_HOST_ADDRESS] = s->cur_ip;
    ev->v[EV_HOST_PORT] = s->cur_port;
    ev->v[EV_SENDING_IP_ADDRESS] = s->local_ip;
    ev->v[EV_SENDING_PORT] = s->local_port;
    ev->v[EV_TLS_OUT_DANE] = s->tls != NULL && s->tls_dane ? "yes" : "no";
    ev->v[EV_TLS_OUT_PEERCERT] = s->tls != NULL ? s->tls_ev_cert : NULL;
    ev->v[EV_VERIFY_MODE] = s->tls != NULL ? s->tls_verify_mode : NULL;
    ev->v[EV_LOOKUP_DNSSEC_AUTHENTICATED] = s->dane ? "yes" : "no";
    ev->v[EV_PRIMARY_HOSTNAME] = s->w->cfg->primary_hostname;
    if (m != NULL) {
        ev->v[EV_MESSAGE_EXIM_ID] = m->id;
        ev->v[EV_SENDER_ADDRESS] = m->sender;
    }
}

/* eng__sess_event_says_no - raise a transport event whose non-empty result
 * forces something (tcp:connect, smtp:connect); 1 when it does */
int
eng__sess_event_says_no(const struct eng_session *s, const char *name, const char *data)
{
    struct event_ctx ev;
    char *result = NULL;
    int no;
    if (s->d->tp->event_action == NULL)
        return 0;
    sess_event(s, &ev, name, data);
    no = event_raise(&ev, s->d->tp->event_action, &result) == EXP_OK && result && *result;
    free(result);
    return no;
}

/* sess_tcp_close_event - tcp:close, off the loop (its result is ignored) */
static void
sess_tcp_close_event(struct eng_session *s)
{
    struct event_ctx ev;
    if (!s->connected || s->d->tp->event_action == NULL)
        return;
    s->connected = 0;
    sess_event(s, &ev, "tcp:close", NULL);
    event_raise_async(s->host_desc, event_ctx_dup(&ev), s->d->tp->event_action);
}

/* job_fill_host - the job's record of where it went */
static void
job_fill_host(const struct eng_session *s, struct eng_job *j)
{
    snprintf(j->host, sizeof(j->host), "%s", s->host_desc);
    snprintf(j->host_name, sizeof(j->host_name), "%s",
             s->d->hosts[s->host_i < s->d->nhosts ? s->host_i : 0].name);
    snprintf(j->host_ip, sizeof(j->host_ip), "%s", s->cur_ip);
    snprintf(j->host_port, sizeof(j->host_port), "%s", s->cur_port);
    snprintf(j->sending_ip, sizeof(j->sending_ip), "%s", s->local_ip);
    snprintf(j->sending_port, sizeof(j->sending_port), "%s", s->local_port);
    snprintf(j->tls_x, sizeof(j->tls_x), "%s", s->tls != NULL ? s->tls_x : "");
    snprintf(j->tls_cv, sizeof(j->tls_cv), "%s", s->tls != NULL && s->tls_cv ? s->tls_cv : "");
    j->tls_dane = s->tls != NULL && s->tls_dane;
    eng__tls_fill_job(s, j);
}

/* job_return - give the job back to the scheduler */
static void
job_return(struct eng_session *s, int closed)
{
    struct eng_worker *w = s->w;
    struct eng_job *j = s->job;
    s->job = NULL;
    free(s->body);
    s->body = NULL;
    free(s->rcpt_ok);
    s->rcpt_ok = NULL;
    j->sess_closed = closed;
    j->sess = closed ? NULL : s;
    job_fill_host(s, j);
    s->body_out = 0;
    if (closed)
        sess_free(s);
    w->ops.job_done(j);
    drain_check(w);
}

/* quit_done - the quitting session's connection is gone: tell the scheduler */
static void
quit_done(struct eng_session *s)
{
    struct eng_dest *d = s->d;
    struct eng_worker *w = s->w;
    if (s->job != NULL) { /* closed to make room: the job goes on a new connection */
        sess_close_fd(s);
        eng_timer_stop(s->w->loop, &s->timer);
        s->host_i = s->addr_i = 0;
        s->dn_host = SIZE_MAX;
        s->last_err[0] = '\0';
        eng__sess_connect_next(s);
        return;
    }
    sess_free(s);
    w->ops.conn_closed(d);
}

/* sess_quit - say QUIT and wait (bounded) for the server to close, so a
 * replacement connection never overlaps this one at the receiver */
static void
sess_quit(struct eng_session *s)
{
    if (s->fd < 0) {
        quit_done(s);
        return;
    }
    s->st = SS_QUIT;
    eng__out_add(s, "QUIT\r\n", 6);
    if (eng__out_flush(s) < 0) {
        quit_done(s);
        return;
    }
    eng_timer_start(s->w->loop, &s->timer, 5000);
}

/* job_return_quitting - give the job back and close the session politely */
static void
job_return_quitting(struct eng_session *s)
{
    struct eng_job *j = s->job;
    s->job = NULL;
    free(s->body);
    s->body = NULL;
    free(s->rcpt_ok);
    s->rcpt_ok = NULL;
    j->sess_closed = 0;
    j->sess_closing = 1;
    j->sess = NULL;
    job_fill_host(s, j);
    s->body_out = 0;
    s->w->ops.job_done(j);
    sess_quit(s);
    drain_check(s->w);
}

/* job_set - set a recipient's result unless it has one */
static void
job_set(struct eng_job *j, size_t k, int code, const char *fmt, ...)
{
    char buf[1200];
    va_list ap;
    if (j->text[k] != NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    j->res[k] = code >= 200 && code < 300 ? ENG_R_OK : code >= 500 ? ENG_R_FAIL : ENG_R_DEFER;
    if ((j->text[k] = strdup(buf)) == NULL)
        abort();
}

/* job_defer_rest - every recipient without a result is deferred */
static void
job_defer_rest(struct eng_job *j, const char *why)
{
    for (size_t k = 0; k < j->n; k++)
        job_set(j, k, 400, "%s", why);
}

/* sess_hold - draining: the session stops before it sends a message and
 * stays silent (no timer, no I/O) until eng_worker_stop() abandons its job,
 * so a shut-down never records a deferral for it */
static void
sess_hold(struct eng_session *s)
{
    s->held = 1;
    eng_timer_stop(s->w->loop, &s->timer);
    if (s->fd >= 0)
        eng_io_set(s->w->loop, &s->io, 0);
}

/* drain_check - draining: tell the owner once no message of ours is on the
 * wire without its reply */
static void
drain_check(struct eng_worker *w)
{
    if (!w->draining || w->drained)
        return;
    for (const struct eng_session *s = w->sessions; s != NULL; s = s->next)
        if (s->job != NULL && s->body_out)
            return;
    w->drained = 1;
    w->ops.drained(w);
}

/* on_idle_timer - a cached session waited long enough */
static void
on_sess_timer(eng_loop *loop, struct eng_timer *t)
{
    struct eng_session *s = t->data;
    (void)loop;
    if (s->st == SS_QUIT) {
        quit_done(s);
        return;
    }
    if (s->st == SS_IDLE || s->st == SS_DEAD) {
        if (!s->expiring) {
            s->expiring = 1;
            s->w->ops.idle_expired(s->w, s, s->d);
        }
        return;
    }
    if (s->st == SS_CONNECTING) {
        eng__sess_fail_host(s, "connection timed out");
        return;
    }
    eng__sess_broken(s, s->st == SS_DATA ? "timeout waiting for the reply to the end of data"
                                         : "timeout waiting for a reply");
}

/* eng__sess_timer - (re)arm the session's timer, seconds */
void
eng__sess_timer(struct eng_session *s, int secs)
{
    eng_timer_start(s->w->loop, &s->timer, (uint64_t)(secs > 0 ? secs : 1) * 1000u);
}

/* ------------------------------------------------------- connecting */

/* sess_addr - the socket address being tried, with the destination's port */
static socklen_t
sess_addr(const struct eng_session *s, struct sockaddr_storage *ss, char *ip, size_t iplen)
{
    const struct dns_host *h = &s->d->hosts[s->host_i];
    size_t n;
    const struct sockaddr_storage *v = eng__tls_addrs(s, &n);
    *ss = v != NULL ? v[s->addr_i] : h->addrs[s->addr_i];
    if (ss->ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_port = htons(s->d->port);
        inet_ntop(AF_INET6, &a->sin6_addr, ip, (socklen_t)iplen);
        return sizeof(*a);
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_port = htons(s->d->port);
    inet_ntop(AF_INET, &a->sin_addr, ip, (socklen_t)iplen);
    return sizeof(*a);
}

/* sess_give_up - no host could be used: defer the job, back off the destination */
static void
sess_give_up(struct eng_session *s)
{
    s->job->conn_failed = 1;
    s->job->defer_errno = s->last_errno;
    job_defer_rest(s->job, s->last_err[0] ? s->last_err : "no host could be reached");
    job_return(s, 1);
}

/* sess_try_addr - start a non-blocking connect to the current address */
static int
sess_try_addr(struct eng_session *s)
{
    struct sockaddr_storage ss;
    char ip[INET6_ADDRSTRLEN] = "?";
    socklen_t len = sess_addr(s, &ss, ip, sizeof(ip));
    int one = 1;

    snprintf(s->host_desc, sizeof(s->host_desc), "H=%s [%s]:%u", s->d->hosts[s->host_i].name, ip,
             s->d->port);
    snprintf(s->cur_ip, sizeof(s->cur_ip), "%s", ip);
    snprintf(s->cur_port, sizeof(s->cur_port), "%u", s->d->port);
    s->local_ip[0] = s->local_port[0] = '\0';
    if (eng__sess_event_says_no(s, "tcp:connect", NULL))
        return -ECANCELED; /* the event action said: do not connect */
    s->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0)
        return -errno;
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    metrics_gauge_add(MG_CONN_OPEN, 1);
    if (connect(s->fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) {
        int e = errno;
        sess_close_fd(s);
        return -e;
    }
    eng_io_init(&s->io, s->fd, s->io.cb, s);
    s->st = SS_CONNECTING;
    eng_io_set(s->w->loop, &s->io, EPOLLOUT);
    eng__sess_timer(s, s->pol.connect_timeout_s ? s->pol.connect_timeout_s
                                                : s->d->tp->connect_timeout_s);
    return 0;
}

/* eng__sess_connect_next - connect to the next address in delivery order */
void
eng__sess_connect_next(struct eng_session *s)
{
    for (;;) {
        int rc;
        if (s->host_i >= s->d->nhosts) {
            sess_give_up(s);
            return;
        }
        if (s->addr_i == 0) {
            int t = eng__tls_before_connect(s);
            if (t > 0)
                return; /* a DNSSEC lookup runs; it comes back here */
            if (t < 0) {
                s->host_i++;
                continue;
            }
        }
        size_t naddr;
        if (eng__tls_addrs(s, &naddr) == NULL)
            naddr = s->d->hosts[s->host_i].naddr;
        if (s->addr_i >= naddr) {
            s->host_i++;
            s->addr_i = 0;
            continue;
        }
        if ((rc = sess_try_addr(s)) == 0)
            return;
        if (rc == -ECANCELED) {
            snprintf(s->last_err, sizeof(s->last_err), "%.300s: tcp:connect event refused the host",
                     s->host_desc);
        } else {
            metrics_inc(MC_CONN_FAILED);
            s->last_errno = -rc;
            snprintf(s->last_err, sizeof(s->last_err), "%.300s: connect: %.150s", s->host_desc,
                     strerror(-rc));
        }
        s->addr_i++;
    }
}

/* eng__sess_fail_host - this host cannot be used: note why and try the next one */
void
eng__sess_fail_host(struct eng_session *s, const char *why)
{
    snprintf(s->last_err, sizeof(s->last_err), "%.300s: %.200s", s->host_desc, why);
    sess_close_fd(s);
    eng_timer_stop(s->w->loop, &s->timer);
    s->addr_i++;
    eng__sess_connect_next(s);
}

/* eng__sess_broken - the connection failed after the greeting */
void
eng__sess_broken(struct eng_session *s, const char *why)
{
    eng_timer_stop(s->w->loop, &s->timer);
    if (s->st == SS_QUIT) { /* the server closed after QUIT, as it should */
        quit_done(s);
        return;
    }
    if (s->job == NULL) { /* idle in the cache: tell the scheduler */
        sess_close_fd(s);
        s->st = SS_DEAD;
        if (!s->expiring) {
            s->expiring = 1;
            s->w->ops.idle_expired(s->w, s, s->d);
        }
        return;
    }
    if (s->st == SS_GREETING || s->st == SS_EHLO || s->st == SS_HELO || s->st == SS_STARTTLS ||
        s->st == SS_TLS_HS) {
        eng__sess_fail_host(s, why);
        return;
    }
    job_defer_rest(s->job, why);
    job_return(s, 1);
}

/* sess_local_addr - note our end of the connection ($sending_ip_address) */
static void
sess_local_addr(struct eng_session *s)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(s->fd, (struct sockaddr *)&ss, &len) < 0)
        return;
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, s->local_ip, sizeof(s->local_ip));
        snprintf(s->local_port, sizeof(s->local_port), "%u", ntohs(a->sin6_port));
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, s->local_ip, sizeof(s->local_ip));
        snprintf(s->local_port, sizeof(s->local_port), "%u", ntohs(a->sin_port));
    }
}

/* sess_connected - the TCP connection is up: wait for the greeting */
static void
sess_connected(struct eng_session *s)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err != 0) {
        char why[128];
        metrics_inc(MC_CONN_FAILED);
        s->last_errno = err;
        snprintf(why, sizeof(why), "connect: %s", strerror(err));
        eng__sess_fail_host(s, why);
        return;
    }
    metrics_inc(MC_CONN_OPENED);
    s->connected = 1;
    sess_local_addr(s);
    s->msgs = 0;
    s->st = SS_GREETING;
    eng_io_set(s->w->loop, &s->io, EPOLLIN);
    eng__sess_timer(s, s->d->tp->command_timeout_s);
}

/* ------------------------------------------------------ transactions */

/* has_8bit - does the body hold bytes above 127? */
static int
has_8bit(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] & 0x80)
            return 1;
    return 0;
}

/* send_rcpt - queue RCPT TO for recipient k */
static void
send_rcpt(struct eng_session *s, size_t k)
{
    const struct spool_msg *m = s->job->q->m;
    out_printf(s, "RCPT TO:<%s>\r\n", m->rcpt[s->job->ridx[k]].address);
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
    out_printf(s, "BDAT %zu LAST\r\n", s->body_len);
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

/* txn_end - the transaction is over: keep the session or close it */
static void
txn_end(struct eng_session *s)
{
    s->msgs++;
    if (s->msgs >= s->pol.max_messages_per_connection) {
        job_return_quitting(s);
        return;
    }
    s->st = SS_IDLE;
    s->expiring = 0;
    eng_timer_start(s->w->loop, &s->timer, (uint64_t)s->pol.connection_idle_timeout_ms);
    job_return(s, 0);
}

/* eng__sess_start_txn - send MAIL (and, pipelining, every RCPT and DATA) */
void
eng__sess_start_txn(struct eng_session *s)
{
    struct eng_job *j = s->job;
    const struct spool_msg *m = j->q->m;
    int rc;
    if (s->w->draining) {
        sess_hold(s);
        return;
    }
    rc = spool_body_read(s->w->sp, m, &s->body, &s->body_len);
    if (rc < 0) {
        char why[160];
        snprintf(why, sizeof(why), "spool read error: %s", strerror(-rc));
        job_defer_rest(j, why);
        txn_end(s);
        return;
    }
    if (s->size_limit > 0 && s->body_len > s->size_limit) {
        /* RFC 1870: the server said it would refuse it; do not send it */
        for (size_t k = 0; k < j->n; k++)
            job_set(j, k, 552, "message is %zu bytes, over the remote host's SIZE limit of %llu",
                    s->body_len, (unsigned long long)s->size_limit);
        txn_end(s);
        return;
    }
    if (s->msgs > 0)
        metrics_inc(MC_CONN_REUSED);
    if ((s->rcpt_ok = calloc(j->n, 1)) == NULL)
        abort();
    s->st = SS_TXN;
    s->nex = s->iex = 0;
    s->accepted = s->mail_ok = 0;
    s->rcpt_sent = 0;
    if (s->msgs > 0) {
        eng__out_add(s, "RSET\r\n", 6);
        expect_push(s, EX_RSET);
    }
    out_printf(s, "MAIL FROM:<%s> SIZE=%zu%s\r\n", m->sender, s->body_len,
               s->eightbit && has_8bit(s->body, s->body_len) ? " BODY=8BITMIME" : "");
    expect_push(s, EX_MAIL);
    if (s->pipelining) {
        for (size_t k = 0; k < j->n; k++)
            send_rcpt(s, k);
        send_data_cmd(s);
    }
    eng__sess_timer(s, s->d->tp->command_timeout_s);
    if (eng__out_flush(s) < 0)
        eng__sess_broken(s, "write error");
}

/* reply_error - "SMTP error from remote mail server after CMD: reply" */
static void
set_all(struct eng_session *s, int code, const char *after)
{
    for (size_t k = 0; k < s->job->n; k++)
        job_set(s->job, k, code, "SMTP error from remote mail server after %s: %s", after,
                s->reply);
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
        job_set(j, k, code, "SMTP error from remote mail server after RCPT TO:<%s>: %s",
                j->q->m->rcpt[j->ridx[k]].address, s->reply);
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
        sess_hold(s); /* the receiver sees the connection close without the dot */
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

/* on_txn_reply - match a reply to the command it answers */
static void
on_txn_reply(struct eng_session *s, int code)
{
    size_t rcpt_k = 0;
    enum expect e;
    if (s->iex >= s->nex) {
        eng__sess_broken(s, "unexpected reply from the remote server");
        return;
    }
    for (size_t i = 0; i < s->iex; i++)
        rcpt_k += s->ex[i] == EX_RCPT;
    e = s->ex[s->iex++];
    switch (e) {
    case EX_RSET:
        if (code / 100 != 2)
            eng__sess_broken(s, "RSET was refused");
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
        on_dot_reply(s, code);
        break;
    }
}

/* on_dot_reply - the final reply to the message */
static void
on_dot_reply(struct eng_session *s, int code)
{
    struct eng_job *j = s->job;
    for (size_t k = 0; k < j->n; k++) {
        if (!s->rcpt_ok[k])
            continue;
        if (code / 100 == 2)
            job_set(j, k, code, "%s", s->reply);
        else
            job_set(j, k, code, "SMTP error from remote mail server after end of data: %s",
                    s->reply);
    }
    txn_end(s);
}

/* ----------------------------------------------------------- replies */

/* ehlo_keyword - note one extension from an EHLO reply line */
static void
ehlo_keyword(struct eng_session *s, const char *kw)
{
    if (strncasecmp(kw, "PIPELINING", 10) == 0 && (kw[10] == '\0' || kw[10] == ' '))
        s->pipelining = !s->d->tp->hosts_avoid_pipelining_all;
    else if (strncasecmp(kw, "8BITMIME", 8) == 0)
        s->eightbit = 1;
    else if (strncasecmp(kw, "SMTPUTF8", 8) == 0)
        s->smtputf8 = 1;
    else if (strncasecmp(kw, "SIZE", 4) == 0 && (kw[4] == ' ' || kw[4] == '\0'))
        s->size_limit = strtoull(kw + 4, NULL, 10);
    else if (strncasecmp(kw, "STARTTLS", 8) == 0 && (kw[8] == '\0' || kw[8] == ' '))
        s->starttls_offered = 1;
    else if (strncasecmp(kw, "CHUNKING", 8) == 0)
        s->chunking = s->d->tp->chunking != 0;
}

/* on_greeting_reply - 220 expected */
static void
on_greeting_reply(struct eng_session *s, int code)
{
    char why[1200];
    if (code / 100 != 2) {
        snprintf(why, sizeof(why),
                 "SMTP error from remote mail server after initial connection: %s", s->reply);
        eng__sess_fail_host(s, why);
        return;
    }
    if (eng__sess_event_says_no(s, "smtp:connect", s->reply)) {
        eng__sess_fail_host(s, "smtp:connect event closed the connection");
        return;
    }
    eng__sess_ehlo(s);
}

/* eng__sess_ehlo - send EHLO (after the greeting, and again after STARTTLS) */
void
eng__sess_ehlo(struct eng_session *s)
{
    s->pipelining = s->eightbit = s->smtputf8 = s->chunking = 0;
    s->starttls_offered = 0;
    s->size_limit = 0;
    out_printf(s, "EHLO %s\r\n",
               s->d->tp->helo_data ? s->d->tp->helo_data : s->w->cfg->primary_hostname);
    s->st = SS_EHLO;
    s->ehlo_lines = 0;
}

/* on_ehlo_reply - extensions known: start the first transaction */
static void
on_ehlo_reply(struct eng_session *s, int code)
{
    if (code / 100 == 2) {
        if (s->ehlo_lines > 0) /* the final line is an extension too */
            ehlo_keyword(s, s->reply + 4);
        if (s->tls == NULL && eng__tls_after_ehlo(s))
            return; /* STARTTLS under way, or the host refused for want of it */
        eng__sess_start_txn(s);
        return;
    }
    out_printf(s, "HELO %s\r\n",
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
        s->starttls_offered = 0;
        s->size_limit = 0;
        if (s->tls == NULL && eng__tls_after_ehlo(s))
            return; /* no STARTTLS without EHLO: refused where TLS is mandatory */
        eng__sess_start_txn(s);
        return;
    }
    snprintf(why, sizeof(why), "SMTP error from remote mail server after HELO: %s", s->reply);
    eng__sess_fail_host(s, why);
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
        on_txn_reply(s, code);
        break;
    case SS_DATA:
        on_dot_reply(s, code);
        break;
    case SS_QUIT: /* 221: give the server a moment to close first, then close anyway */
        eng_timer_start(s->w->loop, &s->timer, 200);
        break;
    case SS_STARTTLS:
        eng__tls_starttls_reply(s, code);
        break;
    default: /* idle: a server that talks unasked (421) is going away */
        eng__sess_broken(s, "the remote server closed the cached connection");
        break;
    }
}

/* reply_line - one line "ddd-text" or "ddd text": -1 if malformed, else the
 * code; *more set for a continuation line */
static int
reply_line(const char *line, size_t n, int *more)
{
    if (n < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' ||
        line[2] < '0' || line[2] > '9' || (n > 3 && line[3] != ' ' && line[3] != '-'))
        return -1;
    *more = n > 3 && line[3] == '-';
    return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

/* parse_replies - act on every complete reply line in the input buffer */
static void
parse_replies(struct eng_session *s)
{
    size_t off = 0;
    while (s->st != SS_GONE && s->fd >= 0) {
        char *nl = memchr(s->in + off, '\n', s->inlen - off);
        size_t n;
        int more, code;
        if (nl == NULL)
            break;
        n = (size_t)(nl - (s->in + off));
        if (n > 0 && s->in[off + n - 1] == '\r')
            n--;
        code = reply_line(s->in + off, n, &more);
        snprintf(s->reply, sizeof(s->reply), "%.*s", (int)n, s->in + off);
        off = (size_t)(nl - s->in) + 1;
        if (code < 0) {
            eng__sess_broken(s, "malformed reply from the remote server");
            return;
        }
        if (more) {
            if (s->st == SS_EHLO && s->ehlo_lines++ > 0)
                ehlo_keyword(s, s->reply + 4);
            else if (s->st == SS_EHLO)
                s->ehlo_lines = 1;
            continue;
        }
        on_reply(s, code);
        if (s->st == SS_TLS_HS) { /* from here on the bytes are TLS */
            if (off < s->inlen) {
                eng__sess_broken(s, "the server sent data after its reply to STARTTLS");
                return;
            }
            s->inlen = 0;
            eng__tls_handshake(s);
            return;
        }
    }
    if (s->st == SS_GONE || s->fd < 0)
        return;
    memmove(s->in, s->in + off, s->inlen - off);
    s->inlen -= off;
    if (s->inlen == sizeof(s->in))
        eng__sess_broken(s, "reply line too long");
}

/* sess_read - read what arrived and act on it */
static void
sess_read(struct eng_session *s)
{
    for (;;) {
        ssize_t k;
        if (s->tls != NULL) {
            int want_out = 0;
            k = eng__tls_read(s, s->in + s->inlen, sizeof(s->in) - s->inlen, &want_out);
            if (k == -2) /* nothing more for now */
                break;
        } else {
            k = recv(s->fd, s->in + s->inlen, sizeof(s->in) - s->inlen, 0);
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
        }
        if (k <= 0) {
            eng__sess_broken(s, k == 0 ? "connection closed by the remote server"
                                       : "read error on the connection");
            return;
        }
        s->inlen += (size_t)k;
        parse_replies(s);
        if (s->st == SS_GONE || s->fd < 0 || s->st == SS_TLS_HS)
            return; /* the handshake reads for itself */
    }
    if ((s->outlen > 0 || s->tls_read_wants_write) && eng__out_flush(s) < 0)
        eng__sess_broken(s, "write error");
}

/* on_sess_io - socket events */
static void
on_sess_io(eng_loop *loop, struct eng_io *io, uint32_t events)
{
    struct eng_session *s = io->data;
    (void)loop;
    if (s->st == SS_CONNECTING) {
        sess_connected(s);
        return;
    }
    if (s->st == SS_TLS_HS) {
        eng__tls_handshake(s);
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

/* ---------------------------------------------------- worker thread */

/* sess_new - a session for destination d, not yet connected */
static struct eng_session *
sess_new(struct eng_worker *w, struct eng_dest *d)
{
    struct eng_session *s = calloc(1, sizeof(*s));
    if (s == NULL)
        abort();
    s->w = w;
    s->d = d;
    s->fd = -1;
    s->dn_host = SIZE_MAX;
    eng_io_init(&s->io, -1, on_sess_io, s);
    eng_timer_init(&s->timer, on_sess_timer, s);
    s->next = w->sessions;
    if (w->sessions)
        w->sessions->prev = s;
    w->sessions = s;
    return s;
}

/* on_job - the scheduler lent a job */
static void
on_job(eng_loop *loop, void *arg)
{
    struct eng_job *j = arg;
    struct eng_worker *w = j->worker;
    struct eng_session *s = j->sess;
    (void)loop;
    if (w->stopping || w->draining) {
        j->abandoned = 1;
        w->ops.job_done(j);
        return;
    }
    if (s == NULL) {
        s = sess_new(w, j->d);
        s->job = j;
        s->pol = j->pol;
        eng__sess_connect_next(s);
        return;
    }
    s->job = j;
    s->pol = j->pol;
    s->expiring = 0;
    eng_timer_stop(loop, &s->timer);
    if (s->st == SS_IDLE && s->fd >= 0) {
        if (s->msgs >= s->pol.max_messages_per_connection) {
            sess_quit(s); /* the limit was lowered while it waited: reconnect */
            return;
        }
        eng__sess_start_txn(s);
        return;
    }
    s->host_i = s->addr_i = 0; /* it died while cached: connect afresh */
    s->dn_host = SIZE_MAX;
    s->last_err[0] = '\0';
    eng__sess_connect_next(s);
}

/* on_close - the scheduler took an idle session out of its cache */
static void
on_close(eng_loop *loop, void *arg)
{
    struct eng_session *s = arg;
    (void)loop;
    if (s->fd >= 0 && s->st == SS_IDLE) {
        sess_quit(s);
        return;
    }
    quit_done(s);
}

/* eng_worker_give - lend a job to w */
void
eng_worker_give(struct eng_worker *w, struct eng_job *job)
{
    if (eng_loop_post(w->loop, on_job, job) < 0)
        abort();
}

/* eng_worker_close - close an idle session of w */
void
eng_worker_close(struct eng_worker *w, struct eng_session *s)
{
    if (eng_loop_post(w->loop, on_close, s) < 0)
        abort();
}

/* on_reload - take the new configuration */
static void
on_reload(eng_loop *loop, void *arg)
{
    (void)loop;
    struct reload_note *n = arg;
    n->w->cfg = n->cfg;
    free(n);
}

/* eng_worker_reload - post the new configuration to w */
void
eng_worker_reload(struct eng_worker *w, const struct cfg *cfg)
{
    struct reload_note *n = malloc(sizeof(*n));
    if (n == NULL)
        abort();
    n->w = w;
    n->cfg = cfg;
    if (eng_loop_post(w->loop, on_reload, n) < 0)
        abort();
}

/* worker_main - the worker thread */
static void *
worker_main(void *arg)
{
    struct eng_worker *w = arg;
    eng_loop_run(w->loop);
    return NULL;
}

/* eng_worker_new - a worker, not yet running */
struct eng_worker *
eng_worker_new(int index, const struct cfg *cfg, spool *sp, const struct eng_worker_ops *ops,
               char *err, size_t errlen)
{
    struct eng_worker *w = calloc(1, sizeof(*w));
    if (w == NULL)
        abort();
    w->ops = *ops;
    w->index = index;
    w->cfg = cfg;
    w->sp = sp;
    if ((w->loop = eng_loop_new()) == NULL) {
        snprintf(err, errlen, "worker %d: cannot create its loop: %s", index, strerror(errno));
        free(w);
        return NULL;
    }
    return w;
}

/* eng_worker_start - run the worker's thread */
int
eng_worker_start(struct eng_worker *w)
{
    return pthread_create(&w->thread, NULL, worker_main, w) == 0 ? 0 : -1;
}

/* on_drain - shut-down, step one: let the messages on the wire finish */
static void
on_drain(eng_loop *loop, void *arg)
{
    struct eng_worker *w = arg;
    (void)loop;
    w->draining = 1;
    for (struct eng_session *s = w->sessions; s != NULL; s = s->next)
        if (s->job != NULL && !s->body_out && s->st == SS_TXN && s->fd >= 0)
            sess_hold(s);
    drain_check(w);
}

/* eng_worker_drain - post the first step of the shut-down to w */
void
eng_worker_drain(struct eng_worker *w)
{
    if (eng_loop_post(w->loop, on_drain, w) < 0)
        abort();
}

/* on_stop - close every session and leave the loop */
static void
on_stop(eng_loop *loop, void *arg)
{
    struct eng_worker *w = arg;
    w->stopping = 1;
    eng__tls_worker_free(w); /* pending DNSSEC answers come back and are dropped */
    while (w->sessions != NULL) {
        struct eng_session *s = w->sessions;
        if (s->job != NULL) { /* its recipients stay queued in the spool */
            s->job->abandoned = 1;
            w->ops.job_done(s->job);
            s->job = NULL;
        }
        sess_free(s);
    }
    eng_loop_stop(loop);
}

/* eng_worker_stop - stop the thread; sessions are dropped */
void
eng_worker_stop(struct eng_worker *w)
{
    eng_loop_post(w->loop, on_stop, w);
    pthread_join(w->thread, NULL);
    eng_loop_run_once(w->loop, 0); /* the sessions' deferred frees */
    eng_loop_free(w->loop);
    free(w);
}
