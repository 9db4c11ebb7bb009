/*
 * sink_io.c - spate-sink: a connection's reply queue, clear or TLS reads and
 * writes, epoll interest, timer queues and close.
 */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sink.h"

/* out_append - queue reply bytes */
static void
out_append(struct conn *c, const char *s, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 1024;
        while (cap < c->out_len + n)
            cap *= 2;
        c->out = realloc(c->out, cap);
        if (!c->out)
            die("out of memory");
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, s, n);
    c->out_len += n;
}

/* reply - queue one formatted reply line (CRLF added) */
__attribute__((format(printf, 2, 3))) void
reply(struct conn *c, const char *fmt, ...)
{
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(line) - 3)
        n = sizeof(line) - 3;
    memcpy(line + n, "\r\n", 2);
    out_append(c, line, (size_t)n + 2);
}

/* tls_result - classify a failed SSL call: -1 would block (*want set), 0 gone */
ssize_t
tls_result(struct conn *c, int r, int *want)
{
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        *want = e;
        return -1;
    }
    return 0;
}

/* io_send - send bytes in clear or through TLS: n > 0 sent, -1 would block, 0 gone */
static ssize_t
io_send(struct conn *c, const char *p, size_t n)
{
    if (c->ssl) {
        ERR_clear_error();
        int r = SSL_write(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
        c->wr_want = 0;
        return r > 0 ? r : tls_result(c, r, &c->wr_want);
    }
    for (;;) {
        ssize_t r = send(c->fd, p, n, MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return -1;
        return r < 0 ? 0 : r;
    }
}

/* io_recv - read in clear or through TLS: n > 0 read, -1 would block, 0 end or error */
ssize_t
io_recv(struct conn *c, char *p, size_t n)
{
    if (c->ssl) {
        ERR_clear_error();
        int r = SSL_read(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
        c->rd_want = 0;
        return r > 0 ? r : tls_result(c, r, &c->rd_want);
    }
    ssize_t r = recv(c->fd, p, n, 0);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return -1;
    return r < 0 ? 0 : r;
}

/* conn_flush - write queued replies; 0 ok (maybe partial), -1 connection gone */
int
conn_flush(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = io_send(c, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0)
            return 0;
        if (n == 0)
            return -1;
        c->out_off += (size_t)n;
    }
    c->out_off = c->out_len = 0;
    return 0;
}

/* conn_update_events - set the epoll interest from the connection's state */
void
conn_update_events(struct conn *c)
{
    size_t pending = c->out_len - c->out_off;
    uint32_t ev = 0;
    if (c->state != CS_GREET && c->state != CS_DELAY && c->state != CS_CLOSING &&
        c->state != CS_TLS && c->in_len < IN_CAP && pending < OUT_HIGH)
        ev |= EPOLLIN;
    if (pending)
        ev |= EPOLLOUT;
    if (c->ssl && c->state == CS_TLS)
        ev = c->hs_want == SSL_ERROR_WANT_WRITE ? EPOLLOUT : EPOLLIN;
    else if (c->ssl && pending && c->wr_want == SSL_ERROR_WANT_READ)
        ev = (ev & ~(uint32_t)EPOLLOUT) | EPOLLIN; /* the write waits for a read */
    if (c->ssl && c->rd_want == SSL_ERROR_WANT_WRITE)
        ev |= EPOLLOUT; /* the read waits for a write */
    if (ev == c->events)
        return;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(c->w->epfd, EPOLL_CTL_MOD, c->fd, &e);
    c->events = ev;
}

/* timer_add - put a connection at the tail of a timer queue */
void
timer_add(struct timerq *q, struct conn *c)
{
    c->tq = q;
    c->deadline = now_ms() + q->delay_ms;
    c->tnext = NULL;
    c->tprev = q->tail;
    if (q->tail)
        q->tail->tnext = c;
    else
        q->head = c;
    q->tail = c;
}

/* timer_del - take a connection off its timer queue, if on one */
void
timer_del(struct conn *c)
{
    struct timerq *q = c->tq;
    if (!q)
        return;
    if (c->tprev)
        c->tprev->tnext = c->tnext;
    else
        q->head = c->tnext;
    if (c->tnext)
        c->tnext->tprev = c->tprev;
    else
        q->tail = c->tprev;
    c->tq = NULL;
    c->tprev = c->tnext = NULL;
}

/* conn_close - drop a connection and everything it holds */
void
conn_close(struct conn *c)
{
    timer_del(c);
    tx_reset(c);
    if (c->ssl) {
        SSL_shutdown(c->ssl); /* one try at close_notify; never waits */
        SSL_free(c->ssl);
    }
    epoll_ctl(c->w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->lprev)
        c->lprev->lnext = c->lnext;
    else
        c->w->conns = c->lnext;
    if (c->lnext)
        c->lnext->lprev = c->lprev;
    /* count the connection gone before the peer can see it go, so a client
     * that reconnects on seeing the close is never counted twice */
    stat_add(c->l, ST_CONN_NOW, -1);
    close(c->fd);
    free(c->rcpts);
    free(c->rcpt_params);
    free(c->body);
    free(c->out);
    free(c);
}
