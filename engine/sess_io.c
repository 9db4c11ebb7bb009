/*
 * sess_io.c - the lowest layer of a delivery session: the output buffer
 *             and its flushing, reading, the TLS layer's reads, writes and
 *             close, the session's timer, and the transport events raised
 *             about the connection (tcp:connect, tcp:close, smtp:connect,
 *             tls:cert).
 *
 * Used by the session files and worker_tls.c; calls none of them.
 * Thread rules: everything here runs on the session's worker thread.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/metrics.h"
#include "engine/event.h"
#include "engine/worker_int.h"

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

/* eng__out_printf - append a formatted command */
void
eng__out_printf(struct eng_session *s, const char *fmt, ...)
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

/* tls_write - > 0 bytes written; 0 the socket must be ready first
 * (*want_out set when it must be writable); -1 failure */
static ssize_t
tls_write(struct eng_session *s, const void *buf, size_t len, int *want_out)
{
    ssize_t k = tls_conn_write(s->tls, buf, len);
    if (k == TLS_WANT_WRITE) {
        *want_out = 1;
        return 0;
    }
    if (k == TLS_WANT_READ)
        return 0;
    return k < 0 ? -1 : k;
}

/* clear_write - like tls_write, in clear; -errno on failure */
static ssize_t
clear_write(struct eng_session *s, const void *buf, size_t len, int *want_out)
{
    for (;;) {
        ssize_t k = send(s->fd, buf, len, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            *want_out = 1;
            return 0;
        }
        return k < 0 ? -errno : k;
    }
}

/* eng__out_flush - write what can be written; watch for writability if not all */
int
eng__out_flush(struct eng_session *s)
{
    int want_out = 0;
    while (s->outoff < s->outlen) {
        const char *p = s->out + s->outoff;
        size_t n = s->outlen - s->outoff;
        ssize_t k =
            s->tls != NULL ? tls_write(s, p, n, &want_out) : clear_write(s, p, n, &want_out);
        if (k < 0)
            return s->tls != NULL ? -EIO : (int)k;
        if (k == 0)
            break; /* wants the socket first */
        s->outoff += (size_t)k;
    }
    if (s->outoff == s->outlen)
        s->outoff = s->outlen = 0;
    if (s->tls_read_wants_write)
        want_out = 1;
    return eng_io_set(s->w->loop, &s->io, want_out || s->outlen ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

/* ------------------------------------------------------------- input */

/* tls_read - > 0 bytes, 0 end of stream, -1 failure, -2 nothing for now */
static ssize_t
tls_read(struct eng_session *s, void *buf, size_t len)
{
    ssize_t k = tls_conn_read(s->tls, buf, len);
    if (k == TLS_WANT_READ)
        return -2;
    if (k == TLS_WANT_WRITE) {
        s->tls_read_wants_write = 1;
        eng_io_set(s->w->loop, &s->io, EPOLLIN | EPOLLOUT);
        return -2;
    }
    return k < 0 ? -1 : k;
}

/* eng__sess_recv - read in clear or through TLS */
ssize_t
eng__sess_recv(struct eng_session *s, void *buf, size_t len)
{
    if (s->tls != NULL)
        return tls_read(s, buf, len);
    for (;;) {
        ssize_t k = recv(s->fd, buf, len, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return -2;
        return k < 0 ? -1 : k;
    }
}

/* ------------------------------------------------------------ events */

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

/* eng__sess_event_says_no - raise an event whose non-empty result refuses */
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

/* tcp_close_event - tcp:close, off the loop (its result is ignored) */
static void
tcp_close_event(struct eng_session *s)
{
    struct event_ctx ev;
    if (!s->connected || s->d->tp->event_action == NULL)
        return;
    s->connected = 0;
    sess_event(s, &ev, "tcp:close", NULL);
    event_raise_async(s->host_desc, event_ctx_dup(&ev), s->d->tp->event_action);
}

/* ------------------------------------------------------------- close */

/* tls_close - end the TLS layer before the socket closes */
static void
tls_close(struct eng_session *s)
{
    if (s->tls == NULL)
        return;
    tls_conn_shutdown(s->tls);
    tls_conn_free(s->tls);
    s->tls = NULL;
    s->tls_x[0] = '\0';
    s->tls_cv = NULL;
    s->tls_dane = 0;
    s->tls_read_wants_write = 0;
    free(s->tls_peercert);
    s->tls_peercert = NULL;
    s->tls_ev_cert = NULL;
    s->tls_verify_mode = NULL;
}

/* eng__sess_close_fd - close the connection (the session object stays) */
void
eng__sess_close_fd(struct eng_session *s)
{
    if (s->fd < 0)
        return;
    tcp_close_event(s);
    tls_close(s);
    eng_io_set(s->w->loop, &s->io, 0);
    close(s->fd);
    s->fd = -1;
    s->inlen = s->outlen = s->outoff = 0;
    metrics_gauge_add(MG_CONN_OPEN, -1);
}

/* eng__sess_timer - (re)arm the session's timer, seconds */
void
eng__sess_timer(struct eng_session *s, int secs)
{
    eng_timer_start(s->w->loop, &s->timer, (uint64_t)(secs > 0 ? secs : 1) * 1000u);
}
