/*
 * sink.c - spate-sink, an SMTP receiver for tests and benchmarks.
 *
 * SYNOPSIS
 *     spate-sink -l ADDR:PORT [-l ADDR:PORT ...] [-d DIR] [-s STATSFILE]
 *                [--chunking] [--no-pipelining] [--greeting-delay MS] [--dot-delay MS]
 *                [--size BYTES] [--no-dsn]
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
 *     ENHANCEDSTATUSCODES, SMTPUTF8, DSN (not with --no-dsn, a receiver
 *     that does not take DSN requests) and, with --chunking, CHUNKING
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
 *     TLS handshakes), tls_failed (failed ones), tls_resumed (handshakes
 *     that resumed an earlier session), and the same under
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

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

enum { OPT_CERT = 1000, OPT_KEY, OPT_CHAIN, OPT_OCSP, OPT_NO_STARTTLS, OPT_ASK_CERT, OPT_NO_DSN };

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
    case OPT_NO_DSN:
        g.no_dsn = true;
        return true;
    case OPT_ASK_CERT:
        g.ask_client_cert = true;
        return true;
    default:
        return false;
    }
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
                                         {"no-dsn", no_argument, NULL, OPT_NO_DSN},
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
