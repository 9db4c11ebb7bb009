/*
 * smtp_in.c - the SMTP listener (RFC 5321): the session loop, timers,
 *             accepting connections and the limits on them, the listener
 *             thread.
 *
 * Synopsis
 *   api_smtp_start()  bind every smtp_listen address, start the listener thread
 *   api_smtp_stop()   stop accepting, answer waiting commits, 421 the rest, join
 *
 * Structure (smtp_int.h lists the files): one listener thread runs an engine
 *   loop holding the listening sockets and every session; nothing on it
 *   blocks. Commands are in smtp_cmd.c, message text in smtp_data.c.
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
 * Connection limits (each refusal logged):
 *   smtp_accept_max            sessions open at once (421 4.3.2)
 *   smtp_accept_reserve        of those, the last N only for smtp_reserve_hosts
 *   smtp_accept_max_per_host   sessions from one IP address (421 4.7.0)
 *   smtp_first_command_timeout from the greeting to the first complete
 *                              command line (421 4.4.2; input that is not
 *                              yet a line does not extend it), then
 *   smtp_receive_timeout       idle time (421 4.4.2) except while waiting
 *                              for the spool
 *   smtp_enforce_sync          a client that talks before the greeting is
 *                              refused (554 5.5.0) and dropped, as Exim does
 *   Each session holds a fixed 16 KB input buffer and its output; 1,000 idle
 *   connections cost about 20 MB and no more.
 *
 * Policy: only clients in relay_from_hosts may name recipients (550 5.7.1
 *   otherwise).
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
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/api.h"
#include "api/smtp_int.h"
#include "base/log.h"
#include "base/metrics.h"
#include "dns/dns.h"
#include "tls/tls.h"

#define ACCEPT_BURST 64 /* connections accepted per readiness event */

static struct smtp_listener *the_listener;

static void sess_connect(struct sess *s);

/* session_step - one step of the state the session is in; 1 progress */
static int
session_step(struct sess *s)
{
    int r;

    switch (s->st) {
    case SS_CMD:
        return smtp_cmd_step(s);
    case SS_DATA:
        return smtp_data_step(s);
    case SS_BDAT:
        return smtp_bdat_step(s);
    case SS_AUTH:
        return smtp_auth_step(s);
    case SS_PRDR:
        return smtp_prdr_step(s);
    case SS_DKIM: /* acl_smtp_dkim per signer (smtp_dkim.c) */
        return smtp_dkim_step(s);
    case SS_DMARC: /* DMARC evaluated (smtp_dmarc.c) */
        return smtp_dmarc_step(s);
    case SS_PROXY: /* the PROXY header first; once in, the connect stage */
        r = smtp_proxy_step(s);
        if (s->st == SS_CMD)
            sess_connect(s);
        return r;
    default:
        return 0;
    }
}

/* sess_loop - run the steps of the input that is buffered */
static int
sess_loop(struct sess *s)
{
    int progress = 1;

    while (progress && !s->close_after && s->st != SS_WAIT && s->st != SS_TLS_START &&
           s->st != SS_TLS && s->st != SS_ACL) {
        enum sess_state before = s->st;
        progress = session_step(s);
        if (s->st == SS_DATA && before == SS_CMD && smtp_sess_flush(s) < 0)
            return -1; /* 354 goes out at once */
        if (s->outlen - s->outoff >= SESS_OUT_HIGH) {
            if (smtp_sess_flush(s) < 0)
                return -1;
            if (s->outlen - s->outoff >= SESS_OUT_HIGH)
                break; /* the client does not read: wait for EPOLLOUT */
        }
    }
    if (s->inoff > 0) {
        memmove(s->in, s->in + s->inoff, s->inlen - s->inoff);
        s->inlen -= s->inoff;
        s->inoff = 0;
    }
    if (s->st == SS_ACL && s->acl_res.delay_ms == 0)
        return 0; /* a verification is awaited: its reply joins the ones queued */
    return smtp_sess_flush(s);
}

/* sess_more - is there more to do at once: a handshake to begin, or
 * decrypted input OpenSSL holds? -1 if the session was closed */
static int
sess_more(struct sess *s)
{
    if (s->st == SS_TLS_START && s->outoff == s->outlen)
        return smtp_tls_step(s);
    if (smtp_tls_pending(s) && s->st != SS_WAIT && s->inlen < sizeof(s->in)) {
        if (smtp_sess_read(s) < 0)
            return -1;
        return 1;
    }
    return 0;
}

/* sess_run - process buffered input as far as possible, then flush */
static void
sess_run(struct sess *s)
{
    int more;

    do {
        if (sess_loop(s) < 0)
            return;
        if ((more = sess_more(s)) < 0)
            return;
    } while (more > 0);
    if (s->eof && s->st != SS_WAIT && s->st != SS_ACL) {
        if (s->st == SS_DATA || s->st == SS_BDAT || s->in_mail)
            log_info("%s H=(%s) %s lost connection during a transaction", s->id, s->helo, s->host);
        smtp_sess_close(s);
        return;
    }
    smtp_sess_update_io(s);
}

/* on_sess_io - socket readiness for a session */
static void
on_sess_io(eng_loop *loop, struct eng_io *io, uint32_t events)
{
    struct sess *s = io->data;
    (void)loop;

    if (s->st == SS_TLS) {
        if (smtp_tls_step(s) == 1)
            sess_run(s);
        return;
    }
    if ((events & EPOLLOUT) && smtp_sess_flush(s) < 0)
        return;
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && s->st != SS_TLS_START &&
        smtp_sess_read(s) < 0)
        return;
    sess_run(s);
}

/* on_sess_timer - idle timeout, or the grace time of a closing session */
static void
on_sess_timer(eng_loop *loop, struct eng_timer *t)
{
    struct sess *s = t->data;

    if (s->st == SS_WAIT || s->st == SS_ACL) { /* the delay is ours, not the client's */
        eng_timer_start(loop, t, smtp_idle_ms(s));
        return;
    }
    if (s->close_after) {
        smtp_sess_close(s);
        return;
    }
    if (s->st == SS_PROXY && s->proxy_state == SMTP_PROXY_WAIT) { /* no PROXY header in 3 s */
        if (smtp_proxy_timeout(s))
            sess_connect(s);
        sess_run(s);
        return;
    }
    log_info("SMTP command timeout%s H=(%s) %s", s->had_cmd ? "" : " before the first command",
             s->helo, s->host);
    smtp_reply(s, "421 4.4.2 %s timeout", s->lis->cfg->primary_hostname);
    s->close_after = 1;
    eng_timer_start(loop, t, CLOSE_GRACE_MS);
    if (smtp_sess_flush(s) < 0)
        return;
    smtp_sess_update_io(s);
}

/* peer_ip - the address of ss as text, and its port */
static unsigned
peer_ip(const struct sockaddr_storage *ss, char *ip, size_t len)
{
    snprintf(ip, len, "?");
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, (socklen_t)len);
        return ntohs(a->sin_port);
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, (socklen_t)len);
        return ntohs(a->sin6_port);
    }
    return 0;
}

/* peer_text - "[ip]:port" of a socket address */
static void
peer_text(const struct sockaddr_storage *ss, char *out, size_t len)
{
    char ip[INET6_ADDRSTRLEN];
    unsigned port = peer_ip(ss, ip, sizeof(ip));

    snprintf(out, len, "[%s]:%u", ip, port);
}

/* greet - send the banner, unless the client already talked (smtp_enforce_sync) */
static void
greet(struct sess *s)
{
    char c;
    ssize_t n = recv(s->io.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

    if ((n > 0 || s->inoff < s->inlen) && s->lis->cfg->smtp_enforce_sync) { /* inlen: after PROXY */
        metrics_inc(MC_REJECTED);
        smtp_drop(s, "SMTP synchronization error (input sent without waiting for greeting)",
                  "554 5.5.0 SMTP synchronization error");
        return;
    }
    smtp_reply(s, "220 %s ESMTP spate", s->lis->cfg->primary_hostname);
}

/* connect_done - the connect ACL's answer: greet, or refuse and close */
static void
connect_done(struct sess *s, int rc)
{
    if (rc == ACL_ACCEPT || rc == ACL_DISCARD) {
        s->controls |= s->acl_res.controls;
        greet(s);
        return;
    }
    metrics_inc(MC_REJECTED);
    log_info("%s %s connection: %s",
             rc == ACL_DEFER || rc == ACL_ERROR ? "temporarily refused" : "refused", s->host,
             smtp_acl_why(s));
    if (rc == ACL_DEFER || rc == ACL_ERROR)
        smtp_acl_reply(s, 421, "4.7.0", "Temporary local problem - please try later");
    else
        smtp_acl_reply(s, 554, "5.7.1", "Administrative prohibition");
    s->close_after = 1;
    eng_timer_start(s->lis->loop, &s->timer, CLOSE_GRACE_MS);
}

/* sess_connect - the connect ACL, then the greeting (connect_done) */
static void
sess_connect(struct sess *s)
{
    smtp_acl_check(s, s->lis->cfg->acl_smtp_connect, ACL_WHERE_CONNECT, NULL, connect_done);
}

/* sess_new - a new session on an accepted socket; greets the client */
static void
sess_new(struct smtp_listener *lis, int fd, const struct sockaddr_storage *ss)
{
    struct sess *s = calloc(1, sizeof(*s));
    socklen_t sl = sizeof(s->local);

    if (s == NULL)
        abort();
    s->lis = lis;
    s->outcap = 512;
    s->out = malloc(s->outcap);
    if (s->out == NULL)
        abort();
    peer_text(ss, s->host, sizeof(s->host));
    snprintf(s->port, sizeof(s->port), "%u", peer_ip(ss, s->ip, sizeof(s->ip)));
    s->peer = *ss;
    if (getsockname(fd, (struct sockaddr *)&s->local, &sl) < 0)
        memset(&s->local, 0, sizeof(s->local));
    smtp_frame_init(&s->fr);
    s->relay_ok = cfg_hostlist_match(&lis->cfg->relay_from_hosts, (const struct sockaddr *)ss);
    eng_io_init(&s->io, fd, on_sess_io, s);
    eng_timer_init(&s->timer, on_sess_timer, s);
    s->next = lis->sessions;
    if (s->next != NULL)
        s->next->prev = s;
    lis->sessions = s;
    lis->nsess++;
    eng_timer_start(lis->loop, &s->timer, smtp_idle_ms(s));
    smtp_acl_session_init(s);
    if (!smtp_proxy_begin(s)) /* proxy_required_hosts: the header before anything */
        sess_connect(s);
    if (s->st != SS_ACL)
        sess_run(s);
}

/* refuse - answer a connection that is not admitted, and close it */
static void
refuse(int fd, const struct sockaddr_storage *ss, const char *why, const char *line)
{
    char host[INET6_ADDRSTRLEN + 10];

    metrics_inc(MC_REJECTED);
    peer_text(ss, host, sizeof(host));
    log_info("Connection from %s refused: %s", host, why);
    if (send(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        errno = 0; /* closing anyway */
    close(fd);
}

/* over_accept_max - smtp_accept_max reached, or only reserve hosts may come in */
static const char *
over_accept_max(struct smtp_listener *lis, const struct sockaddr_storage *ss)
{
    const struct cfg *c = lis->cfg;

    if (c->smtp_accept_max <= 0)
        return NULL;
    if (lis->nsess >= c->smtp_accept_max)
        return "too many connections";
    if (c->smtp_accept_reserve > 0 && lis->nsess >= c->smtp_accept_max - c->smtp_accept_reserve &&
        !cfg_hostlist_match(&c->smtp_reserve_hosts, (const struct sockaddr *)ss))
        return "too many connections (the rest are reserved)";
    return NULL;
}

/* admit - a session for an accepted socket, unless a connection limit says no */
static void
admit(struct smtp_listener *lis, int fd, const struct sockaddr_storage *ss)
{
    const char *why = over_accept_max(lis, ss);

    if (why != NULL) {
        refuse(fd, ss, why, "421 4.3.2 too many connections\r\n");
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
    int one = 1; /* replies are written whole: no Nagle delay behind a client's delayed ACK */
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
        if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
            errno = 0; /* only slower */
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
            smtp_reply(s, "421 4.3.2 %s service shutting down", lis->cfg->primary_hostname);
            s->close_after = 1;
            if (smtp_sess_flush(s) < 0)
                continue;
        }
        smtp_sess_close(s); /* best effort: what did not fit in the socket is dropped */
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
    tls_server_ctx_free(lis->tls);
    smtp_dmarc_listener_free(lis); /* DMARC's public suffix list */
    if (lis->dns != NULL)
        dns_resolver_free(lis->dns);
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
    lis->run = sess_run;
    if (smtp_tls_ctx_new(cfg, &lis->tls, err, errlen) < 0) {
        listener_free(lis);
        return -1;
    }
    lis->dns = dns_resolver_new(lis->loop, cfg->dns_servers, cfg->n_dns_servers, err, errlen);
    if (lis->dns == NULL) {
        listener_free(lis);
        return -1;
    }
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

struct reload {
    const struct cfg *cfg;
    struct tls_server_ctx *tls;
    int keep_tls; /* the new certificates could not be loaded: keep the old context */
};

/* on_reload - listener thread: sessions read the new configuration */
static void
on_reload(eng_loop *loop, void *arg)
{
    struct reload *r = arg;
    struct smtp_listener *lis = the_listener;

    (void)loop;
    if (lis != NULL) {
        lis->cfg = r->cfg;
        if (!r->keep_tls) {
            tls_server_ctx_free(lis->tls); /* connections in progress keep their own reference */
            lis->tls = r->tls;
        }
    }
    free(r);
}

/* api_smtp_reload - switch the listener to a new configuration; the TLS
 * certificates and keys are read again */
void
api_smtp_reload(const struct cfg *cfg)
{
    struct reload *r = calloc(1, sizeof(*r));
    char err[256];

    if (r == NULL)
        abort();
    r->cfg = cfg;
    if (smtp_tls_ctx_new(cfg, &r->tls, err, sizeof(err)) < 0) {
        log_warn("reload: STARTTLS keeps the old certificates: %s", err);
        r->keep_tls = 1;
    }
    if (the_listener == NULL || eng_loop_post(the_listener->loop, on_reload, r) < 0) {
        tls_server_ctx_free(r->tls);
        free(r);
    }
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
