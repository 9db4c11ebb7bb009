/*
 * sink_conn.c - spate-sink: the session state machine of a connection
 * (input, STARTTLS handshake, close), the worker threads' epoll loops and
 * their timers.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "sink.h"

static int conn_read(struct conn *c);

/* tls_finish - the handshake is done: note what it established, start the session over */
static void
tls_finish(struct conn *c)
{
    const char *sni = SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
    X509 *peer = SSL_get0_peer_certificate(c->ssl);
    c->tls_done = true;
    snprintf(c->tls_version, sizeof(c->tls_version), "%s", SSL_get_version(c->ssl));
    snprintf(c->tls_cipher, sizeof(c->tls_cipher), "%s", SSL_get_cipher_name(c->ssl));
    snprintf(c->tls_sni, sizeof(c->tls_sni), "%s", sni ? sni : "");
    c->ocsp_requested = SSL_get_tlsext_status_type(c->ssl) == TLSEXT_STATUSTYPE_ocsp;
    c->tls_client[0] = '\0';
    if (peer)
        X509_NAME_oneline(X509_get_subject_name(peer), c->tls_client, sizeof(c->tls_client));
    stat_add(c->l, ST_TLS_SESSIONS, 1);
    if (SSL_session_reused(c->ssl))
        stat_add(c->l, ST_TLS_RESUMED, 1);
    /* RFC 3207 §4.2: forget everything learnt before TLS; the client starts with EHLO */
    tx_reset(c);
    c->greeted = false;
    c->helo[0] = '\0';
    c->state = CS_CMD;
}

/* tls_handshake - drive SSL_accept; 0 going on or done, -1 failed (connection closed) */
static int
tls_handshake(struct conn *c)
{
    ERR_clear_error();
    int r = SSL_accept(c->ssl);
    if (r == 1) {
        c->hs_want = 0;
        tls_finish(c);
        return conn_read(c); /* the client may have sent EHLO right behind its Finished */
    }
    if (tls_result(c, r, &c->hs_want) < 0) {
        conn_update_events(c);
        return 0;
    }
    stat_add(c->l, ST_TLS_FAILED, 1);
    if (!g.quiet) {
        char why[256] = "connection closed";
        unsigned long e = ERR_peek_last_error();
        if (e)
            ERR_error_string_n(e, why, sizeof(why));
        fprintf(stderr, "spate-sink: TLS handshake with %s failed: %s\n", c->peer, why);
    }
    conn_close(c);
    return -1;
}

/* tls_start - the STARTTLS reply is out: drop clear-text input and begin the handshake */
static int
tls_start(struct conn *c)
{
    c->in_len = c->in_pos = 0; /* RFC 3207 §4.2: nothing sent before TLS may be used */
    c->ssl = SSL_new(g.tls_ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
        conn_close(c);
        return -1;
    }
    return tls_handshake(c);
}

/* conn_process - handle buffered input, then flush replies and set interest;
 * -1 when the connection was closed (c is gone) */
static int
conn_process(struct conn *c)
{
    for (;;) {
        size_t before = c->in_pos;
        enum conn_state st = c->state;
        if (st == CS_CMD)
            cmd_feed(c);
        else if (st == CS_DATA)
            data_feed(c);
        else if (st == CS_BDAT)
            bdat_feed(c);
        if (c->in_pos == before && c->state == st)
            break; /* no progress: need more input or waiting */
    }
    if (c->in_pos) {
        memmove(c->in, c->in + c->in_pos, c->in_len - c->in_pos);
        c->in_len -= c->in_pos;
        c->in_pos = 0;
    }
    if (conn_flush(c) < 0 || (c->state == CS_CLOSING && c->out_len == 0)) {
        conn_close(c);
        return -1;
    }
    if (c->state == CS_TLS && !c->ssl && c->out_len == 0)
        return tls_start(c);
    conn_update_events(c);
    return 0;
}

/* conn_reading - does the connection's state take input now */
static bool
conn_reading(const struct conn *c)
{
    return c->state == CS_CMD || c->state == CS_DATA || c->state == CS_BDAT;
}

/* conn_read - read what the socket has into the input buffer, then process;
 * over TLS also what OpenSSL already holds, which epoll cannot see.
 * -1 when the connection was closed (c is gone) */
static int
conn_read(struct conn *c)
{
    for (int i = 0; i < 64 && c->in_len < IN_CAP; i++) {
        ssize_t n = io_recv(c, c->in + c->in_len, IN_CAP - c->in_len);
        if (n < 0) {
            conn_update_events(c);
            return 0;
        }
        if (n == 0) {
            conn_close(c);
            return -1;
        }
        c->in_len += (size_t)n;
        if (conn_process(c) < 0)
            return -1;
        if (!c->ssl || !SSL_has_pending(c->ssl) || !conn_reading(c))
            return 0;
    }
    return 0;
}

/* conn_new - set up an accepted connection and greet it (or queue the greeting) */
static void
conn_new(struct worker *w, struct listener *l, int fd, struct sockaddr_storage *peer)
{
    struct conn *c = calloc(1, sizeof(*c));
    struct sockaddr_storage local;
    socklen_t len = sizeof(local);
    int one = 1;
    if (!c)
        die("out of memory");
    c->kind = OBJ_CONN;
    c->fd = fd;
    c->w = w;
    c->l = l;
    c->spill_fd = -1;
    c->lnext = w->conns;
    if (w->conns)
        w->conns->lprev = c;
    w->conns = c;
    c->id = atomic_fetch_add(&g.conn_ids, 1) + 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_text(peer, c->peer, sizeof(c->peer));
    if (getsockname(fd, (struct sockaddr *)&local, &len) == 0)
        sockaddr_text(&local, c->local, sizeof(c->local));
    stat_add(l, ST_CONN_TOTAL, 1);
    stat_add(l, ST_CONN_NOW, 1);
    stat_max(l, ST_CONN_MAX, atomic_load(&l->c.v[ST_CONN_NOW]));
    stat_max1(&g.c, ST_CONN_MAX, atomic_load(&g.c.v[ST_CONN_NOW]));
    struct epoll_event e = {.events = 0, .data.ptr = c};
    epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &e);
    if (g.greeting_delay > 0) {
        c->state = CS_GREET;
        timer_add(&w->greetq, c);
        return;
    }
    c->state = CS_CMD;
    reply(c, "220 %s ESMTP spate-sink", SINK_HOSTNAME);
    conn_process(c);
}

/* listener_accept - accept pending connections (bounded per wake-up) */
static void
listener_accept(struct worker *w, struct listener *l)
{
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        int fd = accept4(l->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or a transient error (EMFILE...): try on the next event */
        conn_new(w, l, fd, &peer);
    }
}

/* timers_run - fire expired greeting and slow-reply timers */
static void
timers_run(struct worker *w)
{
    int64_t now = now_ms();
    for (struct conn *c; (c = w->greetq.head) && c->deadline <= now;) {
        timer_del(c);
        c->state = CS_CMD;
        reply(c, "220 %s ESMTP spate-sink", SINK_HOSTNAME);
        conn_process(c);
    }
    for (struct conn *c; (c = w->slowq.head) && c->deadline <= now;) {
        timer_del(c);
        c->state = CS_CMD;
        reply(c, "%s", c->delayed_reply);
        /* may go on with pipelined input already buffered (also inside OpenSSL) */
        if (conn_process(c) == 0 && c->ssl && SSL_has_pending(c->ssl) && conn_reading(c))
            conn_read(c);
    }
}

/* timers_timeout - epoll timeout until the next deadline, or -1 */
static int
timers_timeout(struct worker *w)
{
    int64_t next = INT64_MAX, now = now_ms();
    if (w->greetq.head)
        next = w->greetq.head->deadline;
    if (w->slowq.head && w->slowq.head->deadline < next)
        next = w->slowq.head->deadline;
    if (next == INT64_MAX)
        return -1;
    return next <= now ? 0 : (int)(next - now);
}

/* worker_main - one thread's event loop */
static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    struct epoll_event evs[256];
    while (!atomic_load(&g.stop)) {
        int n = epoll_wait(w->epfd, evs, 256, timers_timeout(w));
        for (int i = 0; i < n; i++) {
            int kind = *(int *)evs[i].data.ptr;
            if (kind == OBJ_LISTENER) {
                listener_accept(w, evs[i].data.ptr);
            } else if (kind == OBJ_CONN) {
                struct conn *c = evs[i].data.ptr;
                if (evs[i].events & (EPOLLERR | EPOLLHUP) && !(evs[i].events & EPOLLIN))
                    conn_close(c);
                else if (c->state == CS_TLS && c->ssl)
                    tls_handshake(c);
                else if (evs[i].events & EPOLLIN || (c->ssl && c->rd_want == SSL_ERROR_WANT_WRITE))
                    conn_read(c); /* also flushes */
                else
                    conn_process(c); /* EPOLLOUT: flush */
            }
        }
        timers_run(w);
    }
    while (w->conns) /* at exit: drop unfinished transactions and their temp files */
        conn_close(w->conns);
    return NULL;
}

static int wake_obj = OBJ_WAKE;

/* workers_start - create the epoll loops and their threads */
void
workers_start(void)
{
    for (int i = 0; i < g.nthreads; i++) {
        struct worker *w = &g.workers[i];
        w->greetq.delay_ms = g.greeting_delay;
        w->slowq.delay_ms = g.dot_delay > 0 ? g.dot_delay : SLOW_MS;
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (w->epfd < 0)
            die("epoll_create1: %s", strerror(errno));
        for (size_t k = 0; k < g.nlisteners; k++) {
            struct epoll_event e = {.events = EPOLLIN | EPOLLEXCLUSIVE,
                                    .data.ptr = &g.listeners[k]};
            if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, g.listeners[k].fd, &e) != 0)
                die("epoll_ctl: %s", strerror(errno));
        }
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = &wake_obj};
        epoll_ctl(w->epfd, EPOLL_CTL_ADD, g.wakefd, &e);
        if (pthread_create(&w->tid, NULL, worker_main, w) != 0)
            die("pthread_create failed");
    }
}
