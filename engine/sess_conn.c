/*
 * sess_conn.c - a delivery session's life: connecting to the destination's
 *               hosts in delivery order (after the DANE decision of
 *               worker_tls.c), failing over to the next address or host,
 *               giving jobs back with their results, saying QUIT, the idle
 *               and reply timers, and freeing the session.
 *
 * Calls worker_tls.c and sess_io.c only; the reply handlers above it
 * (sess_read.c, sess_txn.c) call in here.
 * Thread rules: everything here runs on the session's worker thread;
 * results go back through the worker's eng_worker_ops callbacks.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/log.h"
#include "base/metrics.h"
#include "engine/hoststate.h"
#include "engine/worker_int.h"

/* sess_try_addr's answer for an address known to be down (hoststate.h) */
#define RC_HOST_DOWN (-1000000)

/* ------------------------------------------------------------ life */

/* prdr_forget - free the per-recipient replies of a PRDR transaction */
static void
prdr_forget(struct eng_session *s)
{
    for (size_t k = 0; s->prdr_text != NULL && k < s->prdr_n; k++)
        free(s->prdr_text[k]);
    free(s->prdr_text);
    free(s->prdr_code);
    s->prdr_text = NULL;
    s->prdr_code = NULL;
    s->prdr_n = 0;
    s->prdr_on = s->prdr_reading = 0;
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
    prdr_forget(s);
    dnssec_dane_free(s->dn);
    free(s);
}

/* eng__sess_free - forget a session for good */
void
eng__sess_free(struct eng_session *s)
{
    struct eng_worker *w = s->w;
    s->st = SS_GONE;
    eng_timer_stop(w->loop, &s->timer);
    eng__sess_close_fd(s);
    if (s->prev)
        s->prev->next = s->next;
    else
        w->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    if (eng_loop_post(w->loop, sess_release, s) < 0)
        abort();
}

/* job_fill_host - the job's record of where it went */
static void
job_fill_host(const struct eng_session *s, struct eng_job *j)
{
    struct eng_where *at = j->at;
    if (at == NULL && (at = j->at = calloc(1, sizeof(*at))) == NULL)
        abort();
    snprintf(at->host, sizeof(at->host), "%s", s->host_desc);
    snprintf(at->host_name, sizeof(at->host_name), "%s",
             s->d->hosts[s->host_i < s->d->nhosts ? s->host_i : 0].name);
    snprintf(at->host_ip, sizeof(at->host_ip), "%s", s->cur_ip);
    snprintf(at->host_port, sizeof(at->host_port), "%s", s->cur_port);
    snprintf(at->sending_ip, sizeof(at->sending_ip), "%s", s->local_ip);
    snprintf(at->sending_port, sizeof(at->sending_port), "%s", s->local_port);
    snprintf(at->tls_x, sizeof(at->tls_x), "%s", s->tls != NULL ? s->tls_x : "");
    snprintf(at->tls_cv, sizeof(at->tls_cv), "%s", s->tls != NULL && s->tls_cv ? s->tls_cv : "");
    at->tls_dane = s->tls != NULL && s->tls_dane;
    snprintf(at->smtp_greeting, sizeof(at->smtp_greeting), "%s", s->greeting);
    snprintf(at->helo_response, sizeof(at->helo_response), "%s", s->helo_response);
    /* relay semantics: the DSN request went on with MAIL and RCPT (sess_txn.c) */
    at->dsn_passed = s->dsn && !(s->d->router != NULL && s->d->router->dsn_lasthop);
    eng__tls_fill_job(s, j);
}

/* job_take - the session lets go of its job, recording where it went */
static struct eng_job *
job_take(struct eng_session *s)
{
    struct eng_job *j = s->job;
    s->job = NULL;
    free(s->body);
    s->body = NULL;
    free(s->rcpt_ok);
    s->rcpt_ok = NULL;
    prdr_forget(s);
    job_fill_host(s, j);
    s->body_out = 0;
    return j;
}

/* eng__job_return - give the job back to the owner */
void
eng__job_return(struct eng_session *s, int closed)
{
    struct eng_worker *w = s->w;
    struct eng_job *j = job_take(s);
    j->sess_closed = closed;
    j->sess = closed ? NULL : s;
    if (closed)
        eng__sess_free(s);
    w->ops.job_done(j);
    eng__drain_check(w);
}

/* eng__sess_quit_done - the quitting session's connection is gone: tell the owner */
void
eng__sess_quit_done(struct eng_session *s)
{
    struct eng_dest *d = s->d;
    struct eng_worker *w = s->w;
    if (s->job != NULL) { /* closed to make room: the job goes on a new connection */
        eng__sess_close_fd(s);
        eng_timer_stop(s->w->loop, &s->timer);
        s->host_i = s->addr_i = 0;
        s->dn_host = SIZE_MAX;
        s->last_err[0] = '\0';
        eng__sess_connect_next(s);
        return;
    }
    eng__sess_free(s);
    w->ops.conn_closed(d);
}

/* eng__sess_quit - say QUIT and wait (bounded) for the server to close, so
 * a replacement connection never overlaps this one at the receiver */
void
eng__sess_quit(struct eng_session *s)
{
    if (s->fd < 0) {
        eng__sess_quit_done(s);
        return;
    }
    s->st = SS_QUIT;
    eng__out_add(s, "QUIT\r\n", 6);
    if (eng__out_flush(s) < 0) {
        eng__sess_quit_done(s);
        return;
    }
    eng_timer_start(s->w->loop, &s->timer, 5000);
}

/* eng__job_return_quitting - give the job back and close the session politely */
void
eng__job_return_quitting(struct eng_session *s)
{
    struct eng_job *j = job_take(s);
    j->sess_closed = 0;
    j->sess_closing = 1;
    j->sess = NULL;
    s->w->ops.job_done(j);
    eng__sess_quit(s);
    eng__drain_check(s->w);
}

/* eng__job_set - set a recipient's result unless it has one */
void
eng__job_set(struct eng_job *j, size_t k, int code, const char *fmt, ...)
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

/* eng__job_defer_rest - every recipient without a result is deferred */
void
eng__job_defer_rest(struct eng_job *j, const char *why)
{
    for (size_t k = 0; k < j->n; k++)
        eng__job_set(j, k, 400, "%s", why);
}

/* eng__sess_hold - draining: the session stops before it sends a message
 * and stays silent (no timer, no I/O) until eng_worker_stop() abandons its
 * job, so a shut-down never records a deferral for it */
void
eng__sess_hold(struct eng_session *s)
{
    s->held = 1;
    eng_timer_stop(s->w->loop, &s->timer);
    if (s->fd >= 0)
        eng_io_set(s->w->loop, &s->io, 0);
}

/* eng__drain_check - draining: tell the owner once no message of ours is
 * on the wire without its reply */
void
eng__drain_check(struct eng_worker *w)
{
    if (!w->draining || w->drained)
        return;
    for (const struct eng_session *s = w->sessions; s != NULL; s = s->next)
        if (s->job != NULL && s->body_out)
            return;
    w->drained = 1;
    w->ops.drained(w);
}

/* idle_gone - a cached session timed out or died: tell the owner, once */
static void
idle_gone(struct eng_session *s)
{
    if (!s->expiring) {
        s->expiring = 1;
        s->w->ops.idle_expired(s->w, s, s->d);
    }
}

/* eng__sess_on_timer - the session's timer: QUIT done, idle expired, or
 * no answer in time */
void
eng__sess_on_timer(eng_loop *loop, struct eng_timer *t)
{
    struct eng_session *s = t->data;
    (void)loop;
    if (s->st == SS_QUIT) {
        eng__sess_quit_done(s);
        return;
    }
    if (s->st == SS_IDLE || s->st == SS_DEAD) {
        idle_gone(s);
        return;
    }
    if (s->st == SS_CONNECTING) {
        metrics_inc(MC_CONN_FAILED);
        s->last_errno = ETIMEDOUT;
        eng__sess_host_down(s, "connect: connection timed out");
        eng__sess_fail_host(s, "connect: connection timed out");
        return;
    }
    if (s->st == SS_GREETING) {
        char why[96];
        snprintf(why, sizeof(why), "no greeting within %ds (greeting_timeout)",
                 s->d->tp->greeting_timeout_s);
        eng__sess_host_down(s, why);
        eng__sess_fail_host(s, why);
        return;
    }
    eng__sess_broken(s, s->st == SS_DATA ? "timeout waiting for the reply to the end of data"
                                         : "timeout waiting for a reply");
}

/* ------------------------------------------------------ connecting */

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
    eng__job_defer_rest(s->job, s->last_err[0] ? s->last_err : "no host could be reached");
    eng__job_return(s, 1);
}

/* sess_note_addr - the address being tried, for the log and the events */
static void
sess_note_addr(struct eng_session *s, const char *ip)
{
    snprintf(s->host_desc, sizeof(s->host_desc), "H=%s [%s]:%u", s->d->hosts[s->host_i].name, ip,
             s->d->port);
    snprintf(s->cur_ip, sizeof(s->cur_ip), "%s", ip);
    snprintf(s->cur_port, sizeof(s->cur_port), "%u", s->d->port);
    s->local_ip[0] = s->local_port[0] = '\0';
}

/* sess_addr_usable - is the address not known to be down? If it is, the
 * reason goes to last_err (the deferral's text when no host is left) */
static int
sess_addr_usable(struct eng_session *s, const char *ip)
{
    const struct cfg_transport *tp = s->d->tp;
    int conn_s = s->pol.connect_timeout_s ? s->pol.connect_timeout_s : tp->connect_timeout_s;
    uint64_t probe_ms = (uint64_t)(conn_s + tp->greeting_timeout_s) * 1000u, left = 0;
    char why[160] = "";
    if (host_usable(ip, s->d->port, eng_now_ms(), probe_ms, why, sizeof(why), &left))
        return 1;
    snprintf(s->last_err, sizeof(s->last_err), "%.300s: not tried, down for %llus more after: %s",
             s->host_desc, (unsigned long long)(left + 999) / 1000, why);
    return 0;
}

/* eng__sess_host_down - see worker_int.h */
void
eng__sess_host_down(struct eng_session *s, const char *why)
{
    uint64_t ms = host_failed(s->cur_ip, s->d->port, eng_now_ms(), why);
    log_info("%s marked down for %llus: %s", s->host_desc, (unsigned long long)ms / 1000, why);
}

/* sess_try_addr - start a non-blocking connect to the current address */
static int
sess_try_addr(struct eng_session *s)
{
    struct sockaddr_storage ss;
    char ip[INET6_ADDRSTRLEN] = "?";
    socklen_t len = sess_addr(s, &ss, ip, sizeof(ip));
    int one = 1;

    sess_note_addr(s, ip);
    if (!sess_addr_usable(s, ip))
        return RC_HOST_DOWN;
    if (eng__sess_event_says_no(s, "tcp:connect", NULL))
        return -ECANCELED; /* the event action said: do not connect */
    s->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0)
        return -errno;
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    metrics_gauge_add(MG_CONN_OPEN, 1);
    if (connect(s->fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) {
        int e = errno;
        eng__sess_close_fd(s);
        return -e;
    }
    eng_io_init(&s->io, s->fd, s->io.cb, s);
    s->st = SS_CONNECTING;
    s->connect_ms = eng_now_ms();
    eng_io_set(s->w->loop, &s->io, EPOLLOUT);
    eng__sess_timer(s, s->pol.connect_timeout_s ? s->pol.connect_timeout_s
                                                : s->d->tp->connect_timeout_s);
    return 0;
}

/* connect_failed - note why connecting to the current address failed */
static void
connect_failed(struct eng_session *s, int rc)
{
    char why[200];
    if (rc == RC_HOST_DOWN)
        return; /* skipped: sess_addr_usable said why */
    if (rc == -ECANCELED) {
        snprintf(s->last_err, sizeof(s->last_err), "%.300s: tcp:connect event refused the host",
                 s->host_desc);
        return;
    }
    metrics_inc(MC_CONN_FAILED);
    s->last_errno = -rc;
    snprintf(why, sizeof(why), "connect: %.150s", strerror(-rc));
    snprintf(s->last_err, sizeof(s->last_err), "%.300s: %s", s->host_desc, why);
    eng__sess_host_down(s, why);
}

/* dane_resume - a host's DNSSEC lookup answered: connect, or skip the host */
static void
dane_resume(struct eng_session *s, int usable)
{
    if (!usable) {
        s->host_i++;
        s->addr_i = 0;
    }
    eng__sess_connect_next(s);
}

/* host_naddr - how many addresses the current host has to try */
static size_t
host_naddr(const struct eng_session *s)
{
    size_t naddr;
    if (eng__tls_addrs(s, &naddr) == NULL)
        naddr = s->d->hosts[s->host_i].naddr;
    return naddr;
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
            enum eng_tls_rc t = eng__tls_before_connect(s, dane_resume);
            if (t == ENG_TLS_WAIT)
                return; /* a DNSSEC lookup runs; dane_resume comes back here */
            if (t == ENG_TLS_SKIP) {
                s->host_i++;
                continue;
            }
        }
        if (s->addr_i >= host_naddr(s)) {
            s->host_i++;
            s->addr_i = 0;
            continue;
        }
        if ((rc = sess_try_addr(s)) == 0)
            return;
        connect_failed(s, rc);
        s->addr_i++;
    }
}

/* eng__sess_fail_host - this host cannot be used: note why and try the next one */
void
eng__sess_fail_host(struct eng_session *s, const char *why)
{
    snprintf(s->last_err, sizeof(s->last_err), "%.300s: %.200s", s->host_desc, why);
    eng__sess_close_fd(s);
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
        eng__sess_quit_done(s);
        return;
    }
    if (s->job == NULL) { /* idle in the cache: tell the owner */
        eng__sess_close_fd(s);
        s->st = SS_DEAD;
        idle_gone(s);
        return;
    }
    if (s->st == SS_GREETING)
        eng__sess_host_down(s, why); /* closed before it greeted */
    if (s->st == SS_GREETING || s->st == SS_EHLO || s->st == SS_HELO || s->st == SS_STARTTLS ||
        s->st == SS_TLS_HS) {
        eng__sess_fail_host(s, why);
        return;
    }
    eng__job_defer_rest(s->job, why);
    eng__job_return(s, 1);
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

/* eng__sess_connected - the TCP connect finished: wait for the greeting */
void
eng__sess_connected(struct eng_session *s)
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
        eng__sess_host_down(s, why);
        eng__sess_fail_host(s, why);
        return;
    }
    metrics_inc(MC_CONN_OPENED);
    s->connected = 1;
    sess_local_addr(s);
    s->msgs = 0;
    s->st = SS_GREETING;
    smtp_reply_init(&s->reply); /* a new connection starts a new reply */
    eng_io_set(s->w->loop, &s->io, EPOLLIN);
    eng__sess_timer(s, s->d->tp->greeting_timeout_s);
}
