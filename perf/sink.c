/*
 * sink.c - spate-sink, an SMTP receiver for tests and benchmarks.
 *
 * SYNOPSIS
 *     spate-sink -l ADDR:PORT [-l ADDR:PORT ...] [-d DIR] [-s STATSFILE]
 *                [--chunking] [--no-pipelining] [--greeting-delay MS] [--dot-delay MS]
 *                [--size BYTES]
 *                [--tls-cert FILE --tls-key FILE [--tls-chain FILE] [--ocsp-staple FILE]
 *                 [--no-starttls] [--tls-ask-client-cert]]
 *                [-t THREADS] [-q]
 *
 * DESCRIPTION
 *     A real RFC 5321 server that accepts mail and answers per recipient as
 *     the recipient's local part asks (lower-case prefix match):
 *         tempfail-once...  first RCPT of that exact address 451 4.3.0, then 250
 *         tempfail...       always 451 4.3.0
 *         permfail...       always 550 5.1.1
 *         datafail...       RCPT 250, but the final DATA reply is 554 5.6.0
 *         slow...           the final DATA reply is delayed 200 ms (or --dot-delay)
 *         anything else     250
 *     EHLO advertises PIPELINING (unless --no-pipelining), SIZE, 8BITMIME,
 *     ENHANCEDSTATUSCODES, SMTPUTF8, DSN and, with --chunking, CHUNKING
 *     (BDAT, RFC 3030). Replies to pipelined commands are queued and written
 *     once the input buffer holds no further complete command (RFC 2920).
 *
 *     --tls-cert FILE (PEM: the certificate, optionally followed by its chain)
 *     and --tls-key FILE: EHLO also advertises STARTTLS (RFC 3207). After
 *     "220 2.0.0 Ready to start TLS" input already buffered is discarded, the
 *     TLS handshake runs inside the epoll loop (OpenSSL, non-blocking) and the
 *     session starts over: EHLO again, and STARTTLS is no longer offered.
 *     --tls-chain FILE adds the PEM certificates of FILE to the chain sent.
 *     --ocsp-staple FILE (DER OCSP response) is stapled whenever a client asks
 *     for certificate status; the file is read once at start-up.
 *     --no-starttls keeps the certificate but neither advertises nor accepts
 *     STARTTLS (a man in the middle that strips it).
 *     --tls-ask-client-cert requests a client certificate (any is accepted).
 *
 *     Listeners are IPv4 "a.b.c.d:port" or IPv6 "[addr]:port". THREADS worker
 *     threads (default 2) each run an epoll loop over non-blocking sockets;
 *     every listener is in every loop (EPOLLEXCLUSIVE) and a connection stays
 *     on the thread that accepted it. Delays run from per-thread FIFO timer
 *     queues (all delays of one kind are equal, so FIFO order is deadline
 *     order), never by sleeping.
 *
 *     --dot-delay MS: every final reply (after the dot, or BDAT LAST) is
 *     delayed MS milliseconds; the message is stored before the wait, as a
 *     receiver that has committed it but not yet answered (RFC 1047).
 *
 *     -d DIR: each accepted message is stored as DIR/NNNNNNNN.eml (a global
 *     sequence from 1), exactly the bytes received after dot-unstuffing, and
 *     DIR/NNNNNNNN.env, a JSON object {"mail_from", "rcpt_to" (recipients that
 *     got 250), "peer", "local", "conn_id", "msg_in_conn", "transfer" ("DATA" or
 *     "BDAT"), "helo", "tls"}, where "tls" is null for a clear-text session,
 *     else {"version" ("TLSv1.3"), "cipher", "sni" (the name the client sent,
 *     or null), "ocsp_requested" (the client asked for a staple), "client_cert"
 *     (the subject of the client's certificate, or null)}. Both are
 *     written to temporary names and renamed, the .env first, so a visible .eml
 *     always has its .env. Rejected messages are not stored.
 *
 *     -s FILE: a JSON object with connections_total, connections_now,
 *     connections_max (peak concurrent), messages (accepted), recipients
 *     (recipients of accepted messages), max_messages_per_connection,
 *     rcpt_tempfail, rcpt_permfail, messages_rejected, tls_sessions (completed
 *     TLS handshakes), tls_failed (failed ones), and the same under
 *     "by_local" per listen address. Rewritten (temp + rename) at most every
 *     100 ms when something changed, and at exit.
 *
 *     SIGTERM / SIGINT: write the stats file and exit 0.
 *
 * DIAGNOSTICS
 *     Startup errors on stderr, exit 1. A command line over 1000 octets gets
 *     500 5.5.2 (the line is consumed); a message over 100 MB gets 552 5.3.4.
 */
#include "sink.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int wake_obj = OBJ_WAKE;

static int conn_process(struct conn *c);
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

/* listener_open - bind and listen on "a.b.c.d:port" or "[v6]:port" */
static void
listener_open(const char *spec)
{
    char host[128];
    const char *colon = strrchr(spec, ':');
    if (g.nlisteners == MAX_LISTEN)
        die("too many listeners");
    if (!colon || (size_t)(colon - spec) >= sizeof(host))
        die("bad listen address '%s' (want ADDR:PORT or [ADDR]:PORT)", spec);
    size_t hl = (size_t)(colon - spec);
    if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']') {
        memcpy(host, spec + 1, hl - 2);
        host[hl - 2] = '\0';
    } else {
        memcpy(host, spec, hl);
        host[hl] = '\0';
    }
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
                             .ai_socktype = SOCK_STREAM},
                    *ai;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
        die("bad listen address '%s'", spec);
    struct listener *l = &g.listeners[g.nlisteners++];
    int one = 1;
    l->kind = OBJ_LISTENER;
    l->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ai->ai_family == AF_INET6)
        setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (l->fd < 0 || bind(l->fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(l->fd, 4096) != 0)
        die("listen on %s: %s", spec, strerror(errno));
    struct sockaddr_storage ss = {0};
    memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    sockaddr_text(&ss, l->name, sizeof(l->name));
    freeaddrinfo(ai);
}

/* usage - print the synopsis and exit 2 */
static void
usage(void)
{
    fprintf(stderr, "usage: spate-sink -l ADDR:PORT [-l ADDR:PORT ...] [-d DIR] [-s STATSFILE]\n"
                    "                  [--chunking] [--no-pipelining] [--greeting-delay MS]\n"
                    "                  [--dot-delay MS] [--size BYTES]\n"
                    "                  [--tls-cert FILE --tls-key FILE [--tls-chain FILE]\n"
                    "                   [--ocsp-staple FILE] [--no-starttls] "
                    "[--tls-ask-client-cert]]\n"
                    "                  [-t THREADS] [-q]\n");
    exit(2);
}

enum { OPT_CERT = 1000, OPT_KEY, OPT_CHAIN, OPT_OCSP, OPT_NO_STARTTLS, OPT_ASK_CERT };

/* parse_tls_arg - one of the TLS options into g; false if ch is none of them */
static bool
parse_tls_arg(int ch, const char *arg)
{
    switch (ch) {
    case OPT_CERT:
        g.tls_cert = arg;
        return true;
    case OPT_KEY:
        g.tls_key = arg;
        return true;
    case OPT_CHAIN:
        g.tls_chain = arg;
        return true;
    case OPT_OCSP:
        g.ocsp_file = arg;
        return true;
    case OPT_NO_STARTTLS:
        g.starttls = false;
        return true;
    case OPT_ASK_CERT:
        g.ask_client_cert = true;
        return true;
    default:
        return false;
    }
}

/* tls_die - a TLS set-up error with OpenSSL's reason, exit 1 */
static void
tls_die(const char *what, const char *file)
{
    char why[256] = "unknown error";
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, why, sizeof(why));
    die("%s %s: %s", what, file, why);
}

/* staple_cb - the client asked for certificate status: staple the OCSP response */
static int
staple_cb(SSL *ssl, void *arg)
{
    (void)arg;
    unsigned char *der = OPENSSL_memdup(g.staple, g.staple_len);
    if (!der)
        return SSL_TLSEXT_ERR_NOACK;
    SSL_set_tlsext_status_ocsp_resp(ssl, der, (long)g.staple_len); /* ssl owns der */
    return SSL_TLSEXT_ERR_OK;
}

/* accept_any_cb - --tls-ask-client-cert: note the client's certificate, never refuse */
static int
accept_any_cb(int ok, X509_STORE_CTX *ctx)
{
    (void)ok;
    (void)ctx;
    return 1;
}

/* load_staple - read the DER OCSP response of --ocsp-staple into g.staple */
static void
load_staple(void)
{
    FILE *f = fopen(g.ocsp_file, "rb");
    if (!f)
        die("%s: %s", g.ocsp_file, strerror(errno));
    g.staple = xmalloc(1 << 20);
    g.staple_len = fread(g.staple, 1, 1 << 20, f);
    bool bad = ferror(f) || g.staple_len == 0 || g.staple_len == 1 << 20;
    fclose(f);
    if (bad)
        die("%s: cannot read an OCSP response (empty, unreadable or over 1 MB)", g.ocsp_file);
}

/* load_chain - add every certificate of a PEM file to the chain sent */
static void
load_chain(SSL_CTX *ctx, const char *file)
{
    FILE *f = fopen(file, "r");
    X509 *x;
    int n = 0;
    if (!f)
        die("%s: %s", file, strerror(errno));
    while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
        if (SSL_CTX_add0_chain_cert(ctx, x) != 1)
            tls_die("adding a chain certificate from", file);
        n++;
    }
    fclose(f);
    ERR_clear_error(); /* the read that ended the loop */
    if (n == 0)
        die("%s: no PEM certificate", file);
}

/* tls_setup - build the server context from the TLS options (none: no TLS) */
static void
tls_setup(void)
{
    if (!g.tls_cert) {
        if (g.tls_key || g.tls_chain || g.ocsp_file || g.ask_client_cert)
            die("the TLS options need --tls-cert");
        return;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        tls_die("creating the TLS context for", g.tls_cert);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"spate-sink", 10);
    if (SSL_CTX_use_certificate_chain_file(ctx, g.tls_cert) != 1)
        tls_die("loading the certificate", g.tls_cert);
    const char *key = g.tls_key ? g.tls_key : g.tls_cert;
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
        tls_die("loading the key", key);
    if (SSL_CTX_check_private_key(ctx) != 1)
        tls_die("the key does not match the certificate:", key);
    if (g.tls_chain)
        load_chain(ctx, g.tls_chain);
    if (g.ocsp_file) {
        load_staple();
        SSL_CTX_set_tlsext_status_cb(ctx, staple_cb);
    }
    if (g.ask_client_cert)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any_cb);
    g.tls_ctx = ctx;
}

/* parse_args - read the command line into g */
static void
parse_args(int argc, char **argv)
{
    static const struct option opts[] = {{"listen", required_argument, NULL, 'l'},
                                         {"dir", required_argument, NULL, 'd'},
                                         {"stats", required_argument, NULL, 's'},
                                         {"chunking", no_argument, NULL, 'C'},
                                         {"no-pipelining", no_argument, NULL, 'P'},
                                         {"greeting-delay", required_argument, NULL, 'G'},
                                         {"dot-delay", required_argument, NULL, 'D'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"size", required_argument, NULL, 'S'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"tls-cert", required_argument, NULL, OPT_CERT},
                                         {"tls-key", required_argument, NULL, OPT_KEY},
                                         {"tls-chain", required_argument, NULL, OPT_CHAIN},
                                         {"ocsp-staple", required_argument, NULL, OPT_OCSP},
                                         {"no-starttls", no_argument, NULL, OPT_NO_STARTTLS},
                                         {"tls-ask-client-cert", no_argument, NULL, OPT_ASK_CERT},
                                         {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "l:d:s:t:q", opts, NULL)) != -1) {
        switch (ch) {
        case 'l':
            listener_open(optarg);
            break;
        case 'd':
            g.dir = optarg;
            break;
        case 's':
            g.statsfile = optarg;
            break;
        case 'C':
            g.chunking = true;
            break;
        case 'P':
            g.pipelining = false;
            break;
        case 'G':
            g.greeting_delay = atoi(optarg);
            break;
        case 'D':
            g.dot_delay = atoi(optarg);
            break;
        case 't':
            g.nthreads = atoi(optarg);
            break;
        case 'S':
            g.size_max = strtoull(optarg, NULL, 10);
            break;
        case 'q':
            g.quiet = true;
            break;
        default:
            if (!parse_tls_arg(ch, optarg))
                usage();
        }
    }
    if (optind != argc || g.nlisteners == 0 || g.nthreads < 1 || g.nthreads > MAX_THREADS ||
        g.greeting_delay < 0 || g.dot_delay < 0)
        usage();
    struct stat st;
    if (g.dir && (stat(g.dir, &st) != 0 || !S_ISDIR(st.st_mode)))
        die("%s: not a directory", g.dir);
    tls_setup();
}

/* workers_start - create the epoll loops and their threads */
static void
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

/* main - parse, listen, run the workers, write stats until a signal */
int
main(int argc, char **argv)
{
    sigset_t set;
    struct rlimit rl;
    pthread_mutex_init(&g.once_lock, NULL);
    parse_args(argc, argv);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* threads inherit the mask */
    g.wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    workers_start();
    if (!g.quiet) {
        for (size_t i = 0; i < g.nlisteners; i++)
            fprintf(stderr, "spate-sink: listening on %s\n", g.listeners[i].name);
    }
    unsigned long written = (unsigned long)-1;
    struct timespec tick = {0, 100 * 1000000L};
    for (;;) {
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT)
            break;
        unsigned long gen = atomic_load(&g.gen);
        if (g.statsfile && gen != written) {
            written = gen;
            stats_write();
        }
    }
    atomic_store(&g.stop, true);
    uint64_t one = 1;
    if (write(g.wakefd, &one, sizeof(one)) < 0)
        perror("spate-sink: eventfd");
    for (int i = 0; i < g.nthreads; i++)
        pthread_join(g.workers[i].tid, NULL);
    if (g.statsfile)
        stats_write();
    if (!g.quiet)
        fprintf(stderr, "spate-sink: %lu connections, %lu messages, %lu recipients\n",
                atomic_load(&g.c.v[ST_CONN_TOTAL]), atomic_load(&g.c.v[ST_MESSAGES]),
                atomic_load(&g.c.v[ST_RECIPIENTS]));
    return 0;
}
