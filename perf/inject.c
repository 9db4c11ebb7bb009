/*
 * inject.c - spate-inject, a load generator for SMTP and the HTTP inject API.
 *
 * SYNOPSIS
 *     spate-inject smtp HOST:PORT [-n N] [-s SIZE] [-c CONNS] [-p PERCONN]
 *                  [--from ADDR] [--to-domains D] [--to-pattern PAT]
 *                  [--run-id ID] [-t SECONDS] [--starttls] [--header LINE]
 *     spate-inject smtp HOST:PORT --sample [-n N] [-s SIZE] [...same]
 *     spate-inject http URL [-n N] [-s SIZE] [-c CONNS] [-b BATCH] [...same]
 *     spate-inject http URL --raw [-n N] [-s SIZE] [-c CONNS] [...same]
 *
 * DESCRIPTION
 *     Sends N messages of about SIZE octets (headers included), one recipient
 *     each, over CONNS concurrent connections driven by one epoll loop, and
 *     prints one JSON object on stdout:
 *         {"mode", "requested", "sent", "acked", "failed", "seconds",
 *          "msgs_per_s", "start", "end", "connections", "errors"}
 *     start and end are wall-clock (epoch seconds): start just before the
 *     first connect, end when the last answer arrived. msgs_per_s is
 *     acked / seconds. failed = requested - acked. connections counts those
 *     established, errors the connections that failed or broke. "size" is the
 *     size of the last message; the others are within 78 octets of SIZE.
 *
 *     Message i (0-based) goes to PAT with its first %d replaced by i and its
 *     second %d by the domain number i % D + 1 (default PAT
 *     "u%d@b%d.bench-test", D 100). Each message carries the header
 *     "Message-ID: <RUNID.i@inject.bench-test>", so a receiver that stores
 *     what it gets can find duplicates and losses. No body line starts with a
 *     dot, so nothing needs dot-stuffing.
 *
 *     smtp: EHLO, then per message MAIL, RCPT and DATA in one write when the
 *     server offers PIPELINING (RFC 2920), one at a time otherwise; the body
 *     follows the 354. A connection carries PERCONN messages (0, the default:
 *     as many as it gets) before QUIT and a new connection. A failed
 *     transaction is answered with RSET and counted in "failed".
 *
 *     smtp --starttls: after the first EHLO every connection sends STARTTLS
 *     (RFC 3207; a server that does not offer it is a connection error),
 *     makes a TLS session with OpenSSL (no certificate check: the benchmark's
 *     servers are self-signed), sends EHLO again and then the messages. The
 *     JSON gains "tls_sessions", the handshakes begun.
 *
 *     smtp --header LINE: one unfolded field (a DKIM-Signature) before every
 *     message, not in SIZE. --sample prints message 0 (without it) for a caller
 *     to sign: body, From, MIME-Version, Content-Type are alike in all messages.
 *
 *     http: POST URL with {"messages": [...BATCH messages...]} over HTTP/1.1
 *     keep-alive connections, one request in flight per connection. A 200
 *     counts "accepted" messages as acked; any other answer counts the ids it
 *     lists as acked and the rest of the batch as failed.
 *
 *     http --raw (-r): the raw form instead, one message per request: POST
 *     URL?envelope_sender=FROM&recipient=RCPT (percent-encoded) with
 *     Content-Type: message/rfc822 and the message as the body, byte for
 *     byte as SMTP sends it. -b does not apply; CONNS defaults to 20, as
 *     for SMTP, since each request waits for its own commit.
 *
 * DIAGNOSTICS
 *     Usage errors on stderr, exit 2. Exit 0 when every message was acked,
 *     1 otherwise (the JSON line is printed either way). The run stops at the
 *     -t deadline (default 600 s) or after 1000 connection errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "inject_tls.h"

#define INJ_MAX_CONNS 1000
#define INJ_MAX_ERRORS 1000
#define INJ_MAX_SIZE (64u << 20)
#define INJ_IN_CAP 262144 /* an HTTP answer lists up to 10000 ids */
#define INJ_HDR_CAP 1024

enum inj_mode { INJ_SMTP, INJ_HTTP };

/* what a connection waits for */
enum inj_state {
    ST_CONNECTING,
    ST_GREETING,
    ST_EHLO,
    ST_STARTTLS, /* the 220 to STARTTLS */
    ST_MAIL,     /* replies to MAIL [RCPT DATA] outstanding */
    ST_BODY,     /* the final reply after the body */
    ST_RSET,
    ST_QUIT,
    ST_HTTP, /* an HTTP response */
    ST_CLOSED,
};

struct inj_conn {
    int fd;
    enum inj_state state;
    bool pipelining;
    bool txn_bad;           /* a reply in this transaction was not positive */
    void *tls;              /* the TLS session after STARTTLS, or NULL */
    bool tls_wait_read;     /* TLS output waits until the socket is readable */
    int replies_due;        /* replies still expected in ST_MAIL */
    int step;               /* without pipelining: 0 MAIL, 1 RCPT, 2 DATA */
    long msg;               /* message in progress, -1 none */
    long batch_lo, batch_n; /* http batch in flight */
    long on_conn;           /* messages started on this connection */
    char *out;
    size_t out_len, out_off, out_cap;
    char in[INJ_IN_CAP];
    size_t in_len;
};

static struct {
    enum inj_mode mode;
    bool raw;           /* http: the message/rfc822 form */
    bool starttls;      /* smtp: STARTTLS on every connection */
    bool sample;        /* print message 0 and exit */
    const char *header; /* --header: a field in front of every message, or NULL */
    long tls_sessions;
    long n, size, conns, perconn, batch, domains, timeout_s;
    const char *from, *pattern, *run_id, *target;
    char host[256], port[16], path[512];
    struct addrinfo *ai;
    char *pad;      /* body padding, shared by all messages */
    size_t pad_len; /* body octets after the headers */
    char *pad_json; /* the padding escaped for a JSON string, once for all */
    size_t pad_json_len;
    long msg_size; /* octets of the last message (headers and body) */
    long next;     /* next message to start */
    long sent, acked, done, errors, opened;
    int epfd;
    double start, end;
} g;

/* now_s - wall-clock time in seconds */
static double
now_s(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* usage - print the synopsis and exit 2 */
static void
usage(void)
{
    fprintf(stderr,
            "usage: spate-inject smtp HOST:PORT [-n N] [-s SIZE] [-c CONNS] [-p PERCONN]\n"
            "       spate-inject http URL [-n N] [-s SIZE] [-c CONNS] [-b BATCH]\n"
            "       spate-inject http URL --raw [-n N] [-s SIZE] [-c CONNS]\n"
            "  common: [--from ADDR] [--to-domains D] [--to-pattern 'u%%d@b%%d.dom']\n"
            "          [--run-id ID] [-t SECONDS]\n"
            "  smtp: [--starttls]  STARTTLS on every connection, no certificate check\n"
            "        [--header LINE] [--sample]  a field before every message; print one\n");
    exit(2);
}

/* die - report a fatal error and exit 2 */
static void
die(const char *what)
{
    fprintf(stderr, "spate-inject: %s\n", what);
    exit(2);
}

/* xrealloc - realloc or die */
static void *
xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (p == NULL)
        die("out of memory");
    return p;
}

/* rcpt_format - recipient of message i from the pattern; -1 if it does not fit */
static int
rcpt_format(long i, char *buf, size_t cap)
{
    size_t o = 0;
    int nd = 0;

    for (const char *p = g.pattern; *p != '\0'; p++) {
        char num[24];
        const char *s = num;
        size_t k;
        if (p[0] == '%' && p[1] == 'd' && nd < 2) {
            snprintf(num, sizeof(num), "%ld", nd == 0 ? i : i % g.domains + 1);
            nd++;
            p++;
        } else {
            num[0] = *p;
            num[1] = '\0';
        }
        k = strlen(s);
        if (o + k + 1 > cap)
            return -1;
        memcpy(buf + o, s, k);
        o += k;
    }
    buf[o] = '\0';
    return 0;
}

/* msg_headers - the header block of message i (CRLF line ends, blank line included) */
static size_t
msg_headers(long i, const char *rcpt, char *buf, size_t cap)
{
    int n = snprintf(buf, cap,
                     "From: <%s>\r\nTo: <%s>\r\nSubject: bench message %ld\r\n"
                     "Message-ID: <%s.%ld@inject.bench-test>\r\n"
                     "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n",
                     g.from, rcpt, i, g.run_id, i);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/* pad_build - body lines of 78 octets (76 + CRLF) bringing the messages to about SIZE */
static void
pad_build(void)
{
    const char *alpha = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    char rcpt[320], hdr[INJ_HDR_CAP];
    size_t hl, want;

    if (rcpt_format(g.n - 1, rcpt, sizeof(rcpt)) != 0)
        die("recipient pattern too long");
    hl = msg_headers(g.n - 1, rcpt, hdr, sizeof(hdr));
    want = (size_t)g.size > hl + 78 ? ((size_t)g.size - hl + 39) / 78 * 78 : 78;
    g.pad = xrealloc(NULL, want + 1);
    for (size_t o = 0; o < want; o += 78) {
        for (size_t k = 0; k < 76; k++)
            g.pad[o + k] = alpha[(o / 78 + k) % 62];
        g.pad[o + 76] = '\r';
        g.pad[o + 77] = '\n';
    }
    g.pad[want] = '\0';
    g.pad_len = want;
    /* only CR LF needs escaping: "\r\n" for every 78 octets */
    g.pad_json = xrealloc(NULL, want / 78 * 80 + 1);
    for (size_t o = 0; o < want; o += 78) {
        memcpy(g.pad_json + g.pad_json_len, g.pad + o, 76);
        memcpy(g.pad_json + g.pad_json_len + 76, "\\r\\n", 4);
        g.pad_json_len += 80;
    }
    g.msg_size = (long)(hl + want);
}

/* sample_print - --sample: message 0 as sent (without --header) on stdout */
static int
sample_print(void)
{
    char rcpt[320], hdr[INJ_HDR_CAP];

    if (rcpt_format(0, rcpt, sizeof(rcpt)) != 0)
        die("recipient pattern too long");
    fwrite(hdr, 1, msg_headers(0, rcpt, hdr, sizeof(hdr)), stdout);
    fwrite(g.pad, 1, g.pad_len, stdout);
    return fflush(stdout) == 0 ? 0 : 1; /* g.pad stays reachable until exit */
}

/* out_add - append n octets to a connection's output */
static void
out_add(struct inj_conn *c, const char *s, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        c->out_cap = (c->out_len + n) * 2;
        c->out = xrealloc(c->out, c->out_cap);
    }
    memcpy(c->out + c->out_len, s, n);
    c->out_len += n;
}

/* out_printf - append formatted text to a connection's output */
__attribute__((format(printf, 2, 3))) static void
out_printf(struct inj_conn *c, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > 0)
        out_add(c, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* conn_watch - epoll interest: input always, output while some is pending */
static void
conn_watch(struct inj_conn *c, int op)
{
    struct epoll_event e = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};

    if (c->state == ST_CONNECTING || (c->out_off < c->out_len && !c->tls_wait_read))
        e.events |= EPOLLOUT;
    epoll_ctl(g.epfd, op, c->fd, &e);
}

/* conn_flush - write pending output; -1 on a write error */
static int
conn_flush(struct inj_conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = c->tls != NULL ? inj_tls_write(c->tls, c->out + c->out_off,
                                                   c->out_len - c->out_off, &c->tls_wait_read)
                                   : write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN)
            break;
        if (w <= 0)
            return -1;
        c->out_off += (size_t)w;
    }
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    conn_watch(c, EPOLL_CTL_MOD);
    return 0;
}

/* conn_open - start a non-blocking connect; -1 on failure */
static int
conn_open(struct inj_conn *c)
{
    int one = 1;

    c->fd = socket(g.ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, g.ai->ai_addr, g.ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    c->state = ST_CONNECTING;
    c->in_len = c->out_len = c->out_off = 0;
    c->msg = -1;
    c->batch_n = 0;
    c->on_conn = 0;
    c->pipelining = false;
    c->tls = NULL;
    c->tls_wait_read = false;
    conn_watch(c, EPOLL_CTL_ADD);
    return 0;
}

/* work_left - whether messages remain to be started */
static bool
work_left(void)
{
    return g.next < g.n && g.errors < INJ_MAX_ERRORS && now_s() < g.start + (double)g.timeout_s;
}

/* conn_close - close; reopen when messages remain */
static void
conn_close(struct inj_conn *c, bool error)
{
    if (c->fd >= 0) {
        epoll_ctl(g.epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    inj_tls_free(c->tls);
    c->tls = NULL;
    if (c->msg >= 0)
        g.done++; /* the message in progress is lost: it stays unacked */
    if (c->batch_n > 0)
        g.done += c->batch_n;
    c->msg = -1;
    c->batch_n = 0;
    c->state = ST_CLOSED;
    if (error)
        g.errors++;
    if (work_left() && conn_open(c) != 0)
        g.errors++;
}

/* smtp_start_msg - begin the next transaction, or QUIT when none is left */
static void
smtp_start_msg(struct inj_conn *c)
{
    char rcpt[320];

    if (!work_left() || (g.perconn > 0 && c->on_conn >= g.perconn)) {
        out_printf(c, "QUIT\r\n");
        c->state = ST_QUIT;
        return;
    }
    c->msg = g.next++;
    c->on_conn++;
    g.sent++;
    c->txn_bad = false;
    if (rcpt_format(c->msg, rcpt, sizeof(rcpt)) != 0)
        die("recipient pattern too long");
    c->state = ST_MAIL;
    c->step = 0;
    if (c->pipelining) {
        out_printf(c, "MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n", g.from, rcpt);
        c->replies_due = 3;
    } else {
        out_printf(c, "MAIL FROM:<%s>\r\n", g.from);
        c->replies_due = 1;
    }
}

/* smtp_send_body - the message after a 354, ended by CRLF.CRLF */
static void
smtp_send_body(struct inj_conn *c)
{
    char rcpt[320], hdr[INJ_HDR_CAP];
    size_t hl;

    rcpt_format(c->msg, rcpt, sizeof(rcpt));
    hl = msg_headers(c->msg, rcpt, hdr, sizeof(hdr));
    if (g.header != NULL) {
        out_add(c, g.header, strlen(g.header));
        out_add(c, "\r\n", 2);
    }
    out_add(c, hdr, hl);
    out_add(c, g.pad, g.pad_len);
    out_add(c, ".\r\n", 3);
    c->state = ST_BODY;
}

/* smtp_txn_reply - one reply to MAIL, RCPT or DATA */
static void
smtp_txn_reply(struct inj_conn *c, int code)
{
    char rcpt[320];

    if (code == 354 && !c->txn_bad && c->replies_due == 1) {
        smtp_send_body(c);
        return;
    }
    if (code == 354) { /* DATA accepted after a refused RCPT: end an empty message */
        out_add(c, ".\r\n", 3);
        c->state = ST_BODY;
        return;
    }
    if (code / 100 != 2)
        c->txn_bad = true;
    c->replies_due--;
    if (!c->pipelining && !c->txn_bad && c->step < 2) {
        c->step++;
        rcpt_format(c->msg, rcpt, sizeof(rcpt));
        if (c->step == 1)
            out_printf(c, "RCPT TO:<%s>\r\n", rcpt);
        else
            out_printf(c, "DATA\r\n");
        c->replies_due = 1;
        return;
    }
    if (c->replies_due > 0)
        return;
    c->msg = -1;
    g.done++;
    out_printf(c, "RSET\r\n");
    c->state = ST_RSET;
}

/* smtp_reply - act on one complete reply; -1 closes the connection */
static int
smtp_reply(struct inj_conn *c, int code, const char *text)
{
    switch (c->state) {
    case ST_GREETING:
        if (code != 220)
            return -1;
        out_printf(c, "EHLO inject.bench-test\r\n");
        c->state = ST_EHLO;
        return 0;
    case ST_EHLO:
        if (code != 250)
            return -1;
        if (g.starttls && c->tls == NULL) {
            if (strstr(text, "STARTTLS") == NULL)
                return -1;
            out_printf(c, "STARTTLS\r\n");
            c->state = ST_STARTTLS;
            return 0;
        }
        c->pipelining = strstr(text, "PIPELINING") != NULL;
        smtp_start_msg(c);
        return 0;
    case ST_STARTTLS: /* all that was sent is read: the session starts clean */
        if (code != 220 || (c->tls = inj_tls_new(c->fd)) == NULL)
            return -1;
        g.tls_sessions++;
        out_printf(c, "EHLO inject.bench-test\r\n");
        c->state = ST_EHLO;
        return 0;
    case ST_MAIL:
        smtp_txn_reply(c, code);
        return 0;
    case ST_BODY:
        if (c->txn_bad) { /* the final reply to an empty message: ignore it */
            c->msg = -1;
            g.done++;
            out_printf(c, "RSET\r\n");
            c->state = ST_RSET;
            return 0;
        }
        if (code / 100 == 2)
            g.acked++;
        g.done++;
        c->msg = -1;
        smtp_start_msg(c);
        return 0;
    case ST_RSET:
        smtp_start_msg(c);
        return 0;
    default:
        return -1; /* ST_QUIT: 221, then close */
    }
}

/* smtp_input - split input into replies (multi-line ones joined); -1 closes */
static int
smtp_input(struct inj_conn *c)
{
    static char text[INJ_IN_CAP];
    size_t tl = 0, start = 0;

    for (size_t i = 0; i + 1 < c->in_len; i++) {
        if (c->in[i] != '\r' || c->in[i + 1] != '\n')
            continue;
        size_t ll = i - start;
        const char *line = c->in + start;
        memcpy(text + tl, line, ll);
        tl += ll;
        text[tl++] = '\n';
        start = i + 2;
        i++;
        if (ll >= 4 && line[3] == '-')
            continue;
        text[tl] = '\0';
        int code = ll >= 3 ? atoi(line) : 0;
        tl = 0;
        if (code < 200 || smtp_reply(c, code, text) != 0)
            return -1;
        if (c->state == ST_CLOSED)
            return -1;
    }
    memmove(c->in, c->in + start, c->in_len - start);
    c->in_len -= start;
    return 0;
}

/* json_escape_add - append s as the inside of a JSON string */
static void
json_escape_add(struct inj_conn *c, const char *s, size_t n)
{
    size_t run = 0;

    for (size_t i = 0; i < n; i++) {
        const char *esc = s[i] == '\r'   ? "\\r"
                          : s[i] == '\n' ? "\\n"
                          : s[i] == '"'  ? "\\\""
                          : s[i] == '\\' ? "\\\\"
                                         : NULL;
        if (esc == NULL) {
            run++;
            continue;
        }
        out_add(c, s + i - run, run);
        out_add(c, esc, 2);
        run = 0;
    }
    out_add(c, s + n - run, run);
}

/* http_message - one message object of the batch */
static void
http_message(struct inj_conn *c, long i)
{
    char rcpt[320], hdr[INJ_HDR_CAP];
    size_t hl;

    if (rcpt_format(i, rcpt, sizeof(rcpt)) != 0)
        die("recipient pattern too long");
    hl = msg_headers(i, rcpt, hdr, sizeof(hdr));
    out_printf(c, "{\"envelope_sender\":\"%s\",\"recipients\":[\"%s\"],\"content\":\"", g.from,
               rcpt);
    json_escape_add(c, hdr, hl);
    out_add(c, g.pad_json, g.pad_json_len);
    out_add(c, "\"}", 2);
}

/* url_encode_add - append s percent-encoded (all but A-Z a-z 0-9 - . _ ~) */
static void
url_encode_add(struct inj_conn *c, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            out_add(c, s, 1);
        } else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            out_add(c, e, 3);
        }
    }
}

/* http_raw_request - message i as one message/rfc822 request */
static void
http_raw_request(struct inj_conn *c, long i)
{
    char rcpt[320], hdr[INJ_HDR_CAP];
    size_t hl;

    if (rcpt_format(i, rcpt, sizeof(rcpt)) != 0)
        die("recipient pattern too long");
    hl = msg_headers(i, rcpt, hdr, sizeof(hdr));
    out_printf(c, "POST %s%cenvelope_sender=", g.path, strchr(g.path, '?') != NULL ? '&' : '?');
    url_encode_add(c, g.from);
    out_add(c, "&recipient=", 11);
    url_encode_add(c, rcpt);
    out_printf(c,
               " HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: message/rfc822\r\n"
               "Content-Length: %zu\r\n\r\n",
               g.host, g.port, hl + g.pad_len);
    out_add(c, hdr, hl);
    out_add(c, g.pad, g.pad_len);
}

/* http_start_batch - send the next request, or close when none is left */
static void
http_start_batch(struct inj_conn *c)
{
    size_t head, body_at;
    char hbuf[512] = {0};
    int hn;

    if (!work_left()) {
        c->state = ST_CLOSED;
        return;
    }
    c->batch_lo = g.next;
    c->batch_n = g.raw ? 1 : g.n - g.next < g.batch ? g.n - g.next : g.batch;
    g.next += c->batch_n;
    g.sent += c->batch_n;
    if (g.raw) {
        http_raw_request(c, c->batch_lo);
        c->in_len = 0;
        c->state = ST_HTTP;
        return;
    }
    head = c->out_len;
    /* room for the request head, filled in once the body length is known */
    out_add(c, hbuf, 256);
    body_at = c->out_len;
    out_add(c, "{\"messages\":[", 13);
    for (long k = 0; k < c->batch_n; k++) {
        if (k > 0)
            out_add(c, ",", 1);
        http_message(c, c->batch_lo + k);
    }
    out_add(c, "]}", 2);
    hn = snprintf(hbuf, sizeof(hbuf),
                  "POST %s HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: application/json\r\n"
                  "Content-Length: %zu\r\n\r\n",
                  g.path, g.host, g.port, c->out_len - body_at);
    if (hn <= 0 || hn > 256)
        die("request head too long");
    memmove(c->out + head + (size_t)hn, c->out + body_at, c->out_len - body_at);
    memcpy(c->out + head, hbuf, (size_t)hn);
    c->out_len -= 256 - (size_t)hn;
    c->in_len = 0;
    c->state = ST_HTTP;
}

/* http_count_ids - how many strings the "ids" array of a response lists */
static long
http_count_ids(const char *body)
{
    const char *p = strstr(body, "\"ids\"");
    long quotes = 0;

    if (p == NULL || (p = strchr(p + 5, '[')) == NULL)
        return 0;
    for (p++; *p != '\0' && *p != ']'; p++)
        quotes += *p == '"';
    return quotes / 2;
}

/* http_input - a complete response settles the batch; -1 closes */
static int
http_input(struct inj_conn *c)
{
    char *end, *cl, *acc;
    size_t hlen, blen = 0;
    long acked;
    int status;

    c->in[c->in_len < INJ_IN_CAP ? c->in_len : INJ_IN_CAP - 1] = '\0';
    if ((end = strstr(c->in, "\r\n\r\n")) == NULL)
        return c->in_len >= INJ_IN_CAP - 1 ? -1 : 0;
    hlen = (size_t)(end - c->in) + 4;
    if ((cl = strcasestr(c->in, "\r\nContent-Length:")) != NULL && cl < end)
        blen = strtoul(cl + 17, NULL, 10);
    if (c->in_len < hlen + blen)
        return c->in_len >= INJ_IN_CAP - 1 ? -1 : 0;
    if (sscanf(c->in, "HTTP/1.%*d %d", &status) != 1)
        status = 0;
    c->in[hlen + blen] = '\0';
    if (status == 200) {
        acc = strstr(c->in + hlen, "\"accepted\":");
        acked = acc != NULL ? strtol(acc + 11, NULL, 10) : c->batch_n;
    } else {
        acked = http_count_ids(c->in + hlen);
    }
    g.acked += acked < c->batch_n ? acked : c->batch_n;
    g.done += c->batch_n;
    c->batch_n = 0;
    if (strcasestr(c->in, "\r\nConnection: close") != NULL)
        return -1;
    c->in_len = 0;
    http_start_batch(c);
    return c->state == ST_CLOSED ? -1 : 0;
}

/* conn_connected - the connect finished: wait for the greeting or send a request */
static int
conn_connected(struct inj_conn *c)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
        return -1;
    g.opened++;
    if (g.mode == INJ_SMTP) {
        c->state = ST_GREETING;
        return 0;
    }
    http_start_batch(c);
    return c->state == ST_CLOSED ? -1 : 0;
}

/* conn_readable - read what is there and act on it; -1 closes */
static int
conn_readable(struct inj_conn *c)
{
    for (int rounds = 0; rounds < 16; rounds++) {
        if (c->in_len >= INJ_IN_CAP - 1)
            return -1;
        size_t room = INJ_IN_CAP - 1 - c->in_len;
        bool wants_read; /* a read that waits says nothing of the output */
        c->tls_wait_read = false;
        ssize_t r = c->tls != NULL ? inj_tls_read(c->tls, c->in + c->in_len, room, &wants_read)
                                   : read(c->fd, c->in + c->in_len, room);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EAGAIN)
            return 0;
        if (r <= 0)
            return -1;
        c->in_len += (size_t)r;
        if ((g.mode == INJ_SMTP ? smtp_input(c) : http_input(c)) != 0)
            return -1;
    }
    return 0;
}

/* conn_event - one epoll event for a connection */
static void
conn_event(struct inj_conn *c, uint32_t ev)
{
    bool quitting;

    if (c->state == ST_CONNECTING) {
        if (conn_connected(c) != 0) {
            conn_close(c, true);
            return;
        }
        ev &= ~(uint32_t)EPOLLIN;
    }
    if ((ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && conn_readable(c) != 0) {
        quitting = c->state == ST_QUIT || c->state == ST_CLOSED;
        conn_close(c, !quitting || c->msg >= 0 || c->batch_n > 0);
        return;
    }
    if (conn_flush(c) != 0)
        conn_close(c, true);
}

/* parse_target - HOST:PORT for smtp, http://HOST:PORT/PATH for http */
static void
parse_target(const char *t)
{
    const char *hp = t, *colon, *slash;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};

    snprintf(g.path, sizeof(g.path), "/api/v1/inject");
    if (g.mode == INJ_HTTP) {
        if (strncmp(t, "http://", 7) != 0)
            die("URL must start with http://");
        hp = t + 7;
    }
    slash = strchr(hp, '/');
    if (slash != NULL && g.mode == INJ_HTTP)
        snprintf(g.path, sizeof(g.path), "%s", slash);
    colon = strrchr(hp, ':');
    if (colon == NULL || (slash != NULL && colon > slash) || (size_t)(colon - hp) >= sizeof(g.host))
        die("target needs HOST:PORT");
    memcpy(g.host, hp, (size_t)(colon - hp));
    g.host[colon - hp] = '\0';
    snprintf(g.port, sizeof(g.port), "%.*s",
             (int)(slash != NULL ? slash - colon - 1 : (long)strlen(colon + 1)), colon + 1);
    if (getaddrinfo(g.host, g.port, &hints, &g.ai) != 0)
        die("cannot resolve target");
}

/* long_arg - a number within bounds, or die */
static long
long_arg(const char *s, long lo, long hi, const char *what)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "spate-inject: bad %s: %s\n", what, s);
        exit(2);
    }
    return v;
}

/* parse_args - the command line into g */
static void
parse_args(int argc, char **argv)
{
    static const struct option opts[] = {{"from", 1, NULL, 'F'},       {"to-domains", 1, NULL, 'D'},
                                         {"to-pattern", 1, NULL, 'P'}, {"run-id", 1, NULL, 'R'},
                                         {"raw", 0, NULL, 'r'},        {"help", 0, NULL, 'h'},
                                         {"starttls", 0, NULL, 'T'},   {"header", 1, NULL, 'H'},
                                         {"sample", 0, NULL, 'S'},     {NULL, 0, NULL, 0}};
    bool conns_given = false;
    int ch;

    if (argc < 3)
        usage();
    if (strcmp(argv[1], "smtp") == 0)
        g.mode = INJ_SMTP;
    else if (strcmp(argv[1], "http") == 0)
        g.mode = INJ_HTTP;
    else
        usage();
    g.target = argv[2];
    g.n = 1000, g.size = 2048, g.conns = g.mode == INJ_SMTP ? 20 : 4, g.batch = 100;
    g.domains = 100, g.timeout_s = 600;
    g.from = "sender@inject.bench-test", g.pattern = "u%d@b%d.bench-test", g.run_id = "run";
    optind = 3;
    while ((ch = getopt_long(argc, argv, "n:s:c:p:b:t:rh", opts, NULL)) != -1) {
        switch (ch) {
        case 'n':
            g.n = long_arg(optarg, 1, 100000000, "-n");
            break;
        case 's':
            g.size = long_arg(optarg, 1, INJ_MAX_SIZE, "-s");
            break;
        case 'c':
            g.conns = long_arg(optarg, 1, INJ_MAX_CONNS, "-c");
            conns_given = true;
            break;
        case 'r':
            g.raw = true;
            break;
        case 'p':
            g.perconn = long_arg(optarg, 0, 100000000, "-p");
            break;
        case 'b':
            g.batch = long_arg(optarg, 1, 10000, "-b");
            break;
        case 't':
            g.timeout_s = long_arg(optarg, 1, 86400, "-t");
            break;
        case 'D':
            g.domains = long_arg(optarg, 1, 1000000, "--to-domains");
            break;
        case 'F':
            g.from = optarg;
            break;
        case 'P':
            g.pattern = optarg;
            break;
        case 'R':
            g.run_id = optarg;
            break;
        case 'T':
            g.starttls = true;
            break;
        case 'H':
            g.header = optarg;
            break;
        case 'S':
            g.sample = true;
            break;
        default:
            usage();
        }
    }
    if (g.raw && !conns_given)
        g.conns = 20;
    if (optind != argc || (g.raw && g.mode != INJ_HTTP) || (g.starttls && g.mode != INJ_SMTP) ||
        ((g.header != NULL || g.sample) && g.mode != INJ_SMTP) ||
        (g.header != NULL && strpbrk(g.header, "\r\n") != NULL) || strlen(g.from) > 250 ||
        strlen(g.run_id) > 100 || strlen(g.pattern) > 200 ||
        strpbrk(g.from, "\"\\<>\r\n") != NULL || strpbrk(g.pattern, "\"\\<>\r\n") != NULL ||
        strpbrk(g.run_id, "\"\\<>@\r\n ") != NULL)
        usage();
    parse_target(g.target);
}

/* run_loop - drive every connection until all messages are answered or time is up */
static void
run_loop(struct inj_conn *conns, long nc)
{
    struct epoll_event ev[64];

    for (long i = 0; i < nc; i++)
        if (conn_open(&conns[i]) != 0)
            g.errors++;
    while (g.done < g.n && g.errors < INJ_MAX_ERRORS && now_s() < g.start + (double)g.timeout_s) {
        int n = epoll_wait(g.epfd, ev, 64, 200);
        if (n < 0 && errno != EINTR)
            die("epoll_wait failed");
        for (int i = 0; i < n; i++)
            conn_event(ev[i].data.ptr, ev[i].events);
        bool any = false;
        for (long i = 0; i < nc; i++)
            any = any || conns[i].state != ST_CLOSED;
        if (!any)
            break;
    }
}

/* main - parse, send, report */
int
main(int argc, char **argv)
{
    struct inj_conn *conns;
    long nc;

    parse_args(argc, argv);
    if (g.starttls && inj_tls_init() != 0)
        die("cannot make a TLS context");
    pad_build();
    if (g.sample)
        return sample_print();
    g.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (g.epfd < 0)
        die("epoll_create1 failed");
    nc = g.mode == INJ_HTTP && !g.raw ? (g.n + g.batch - 1) / g.batch : g.n;
    nc = nc < g.conns ? nc : g.conns;
    conns = calloc((size_t)nc, sizeof(*conns));
    if (conns == NULL)
        die("out of memory");
    g.start = now_s();
    run_loop(conns, nc);
    g.end = now_s();
    for (long i = 0; i < nc; i++) {
        if (conns[i].fd >= 0)
            close(conns[i].fd);
        inj_tls_free(conns[i].tls);
        free(conns[i].out);
    }
    double secs = g.end - g.start;
    printf("{\"mode\":\"%s\",\"requested\":%ld,\"sent\":%ld,\"acked\":%ld,\"failed\":%ld,"
           "\"seconds\":%.6f,\"msgs_per_s\":%.1f,\"start\":%.6f,\"end\":%.6f,"
           "\"connections\":%ld,\"errors\":%ld,\"size\":%ld,\"tls_sessions\":%ld}\n",
           g.mode == INJ_SMTP ? "smtp"
           : g.raw            ? "http-raw"
                              : "http",
           g.n, g.sent, g.acked, g.n - g.acked, secs, secs > 0 ? (double)g.acked / secs : 0.0,
           g.start, g.end, g.opened, g.errors, g.msg_size, g.tls_sessions);
    free(conns);
    free(g.pad);
    free(g.pad_json);
    freeaddrinfo(g.ai);
    inj_tls_done();
    close(g.epfd);
    return g.acked == g.n ? 0 : 1;
}
