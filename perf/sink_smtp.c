/*
 * sink_smtp.c - spate-sink: the SMTP commands, the recipient behaviours
 * and the DATA and BDAT transfers of one session.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sink.h"

/* once_hash - FNV-1a of a string */
static size_t
once_hash(const char *s)
{
    size_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* once_insert_locked - insert into the open-addressing set; 1 if new, 0 if present */
static int
once_insert_locked(const char *addr)
{
    size_t i = once_hash(addr) & (g.once_cap - 1);
    while (g.once_tab[i]) {
        if (strcmp(g.once_tab[i], addr) == 0)
            return 0;
        i = (i + 1) & (g.once_cap - 1);
    }
    g.once_tab[i] = xstrdup(addr);
    g.once_n++;
    return 1;
}

/* once_first - 1 the first time an address is seen (tempfail-once), else 0 */
static int
once_first(const char *addr)
{
    pthread_mutex_lock(&g.once_lock);
    if (2 * (g.once_n + 1) > g.once_cap) {
        char **old = g.once_tab;
        size_t oldcap = g.once_cap;
        g.once_cap = oldcap ? oldcap * 2 : 64;
        g.once_tab = calloc(g.once_cap, sizeof(char *));
        if (!g.once_tab)
            die("out of memory");
        g.once_n = 0;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i]) {
                once_insert_locked(old[i]);
                free(old[i]);
            }
        free(old);
    }
    int r = once_insert_locked(addr);
    pthread_mutex_unlock(&g.once_lock);
    return r;
}

/* msg_accept - count and store an accepted message; writes the reply text */
static void
msg_accept(struct conn *c, char *rep, size_t replen)
{
    unsigned long seq = atomic_fetch_add(&g.seq, 1) + 1;
    c->nmsg++;
    if (g.dir && store_message(c, seq) < 0) {
        c->nmsg--;
        snprintf(rep, replen, "451 4.3.0 cannot store message");
        return;
    }
    stat_add(c->l, ST_MESSAGES, 1);
    stat_add(c->l, ST_RECIPIENTS, (long)c->nrcpt);
    stat_max(c->l, ST_MAX_MPC, c->nmsg);
    snprintf(rep, replen, "250 2.0.0 Ok: queued as %08lu", seq);
}

/* msg_finish - end of DATA or BDAT LAST: decide, store, reply (maybe later) */
static void
msg_finish(struct conn *c)
{
    char rep[sizeof(c->delayed_reply)];
    if (c->too_big) {
        snprintf(rep, sizeof(rep), "552 5.3.4 message size exceeds fixed limit");
        stat_add(c->l, ST_MSG_REJECTED, 1);
    } else if (c->datafail) {
        snprintf(rep, sizeof(rep), "554 5.6.0 rejected content");
        stat_add(c->l, ST_MSG_REJECTED, 1);
    } else {
        msg_accept(c, rep, sizeof(rep));
    }
    bool slow = c->slow || g.dot_delay > 0;
    tx_reset(c);
    if (slow) {
        memcpy(c->delayed_reply, rep, sizeof(rep));
        c->state = CS_DELAY;
        timer_add(&c->w->slowq, c);
        return;
    }
    reply(c, "%s", rep);
    c->state = CS_CMD;
}

/* data_feed - consume DATA bytes from the input buffer, unstuffing dots */
void
data_feed(struct conn *c)
{
    while (c->in_pos < c->in_len) {
        char *p = c->in + c->in_pos;
        size_t avail = c->in_len - c->in_pos;
        if (c->at_bol && p[0] == '.') {
            if (avail < 2 || (p[1] == '\r' && avail < 3))
                return; /* wait for more to tell "." from ".." */
            size_t end = p[1] == '\n' ? 2 : (p[1] == '\r' && p[2] == '\n') ? 3 : 0;
            if (end) {
                c->in_pos += end;
                msg_finish(c);
                return;
            }
            c->in_pos++; /* a stuffed dot: drop it */
            c->at_bol = false;
            continue;
        }
        char *lf = memchr(p, '\n', avail);
        size_t n = lf ? (size_t)(lf - p) + 1 : avail;
        body_append(c, p, n);
        c->in_pos += n;
        c->at_bol = lf != NULL;
    }
}

/* bdat_feed - consume BDAT chunk bytes */
void
bdat_feed(struct conn *c)
{
    size_t avail = c->in_len - c->in_pos;
    size_t n = avail < c->bdat_left ? avail : (size_t)c->bdat_left;
    if (!c->bdat_bad)
        body_append(c, c->in + c->in_pos, n);
    c->in_pos += n;
    c->bdat_left -= n;
    if (c->bdat_left)
        return;
    c->state = CS_CMD;
    if (c->bdat_bad)
        reply(c, "503 5.5.1 no valid recipients or no MAIL command");
    else if (c->bdat_last)
        msg_finish(c);
    else
        reply(c, "250 2.0.0 %llu octets received", (unsigned long long)c->body_size);
}

/* rcpt_behaviour - classify a recipient by its local part */
static const char *
rcpt_behaviour(const char *addr)
{
    static const char *const kinds[] = {"tempfail-once", "tempfail", "permfail", "datafail",
                                        "slow"};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strncasecmp(addr, kinds[i], strlen(kinds[i])) == 0)
            return kinds[i];
    return "";
}

/* parse_path - "<addr>" after "FROM:" / "TO:"; copies addr; returns pointer past '>' or NULL */
static const char *
parse_path(const char *s, char *out, size_t outlen)
{
    while (*s == ' ')
        s++;
    if (*s != '<')
        return NULL;
    const char *gt = strchr(s, '>');
    if (!gt || (size_t)(gt - s - 1) >= outlen)
        return NULL;
    memcpy(out, s + 1, (size_t)(gt - s - 1));
    out[gt - s - 1] = '\0';
    if (strpbrk(out, " <\t"))
        return NULL;
    return gt + 1;
}

/* cmd_mail - MAIL FROM:<path> [SIZE=n ...]; returns the reply */
static const char *
cmd_mail(struct conn *c, const char *arg)
{
    char addr[600];
    if (!c->greeted)
        return "503 5.5.1 send EHLO/HELO first";
    if (c->in_tx)
        return "503 5.5.1 nested MAIL command";
    const char *rest =
        strncasecmp(arg, "FROM:", 5) == 0 ? parse_path(arg + 5, addr, sizeof(addr)) : NULL;
    if (!rest || (*rest && *rest != ' '))
        return "501 5.5.4 syntax: MAIL FROM:<address>";
    const char *sz = strcasestr(rest, " SIZE=");
    if (sz && strtoull(sz + 6, NULL, 10) > size_max())
        return "552 5.3.4 message size exceeds fixed limit";
    c->mail_from = xstrdup(addr);
    c->in_tx = true;
    return "250 2.1.0 Ok";
}

/* cmd_rcpt - RCPT TO:<path> [params]; answers per the local part */
static const char *
cmd_rcpt(struct conn *c, const char *arg)
{
    char addr[600];
    if (!c->in_tx)
        return "503 5.5.1 need MAIL command";
    const char *rest =
        strncasecmp(arg, "TO:", 3) == 0 ? parse_path(arg + 3, addr, sizeof(addr)) : NULL;
    if (!rest || (*rest && *rest != ' ') || !addr[0])
        return "501 5.5.4 syntax: RCPT TO:<address>";
    if (c->nrcpt >= MAX_RCPT)
        return "452 4.5.3 too many recipients";
    const char *kind = rcpt_behaviour(addr);
    if (strcmp(kind, "tempfail") == 0 || (strcmp(kind, "tempfail-once") == 0 && once_first(addr))) {
        stat_add(c->l, ST_RCPT_TEMPFAIL, 1);
        return "451 4.3.0 try again later";
    }
    if (strcmp(kind, "permfail") == 0) {
        stat_add(c->l, ST_RCPT_PERMFAIL, 1);
        return "550 5.1.1 no such user";
    }
    c->datafail |= strcmp(kind, "datafail") == 0;
    c->slow |= strcmp(kind, "slow") == 0;
    if (!c->rcpts)
        c->rcpts = xmalloc(MAX_RCPT * sizeof(char *));
    c->rcpts[c->nrcpt++] = xstrdup(addr);
    return "250 2.1.5 Ok";
}

/* cmd_data - DATA: 354 and switch to message mode */
static const char *
cmd_data(struct conn *c, const char *arg)
{
    if (*arg)
        return "501 5.5.4 syntax: DATA";
    if (!c->in_tx)
        return "503 5.5.1 need MAIL command";
    if (!c->nrcpt)
        return "554 5.5.1 no valid recipients";
    if (c->body_size)
        return "503 5.5.1 BDAT in progress";
    c->state = CS_DATA;
    c->at_bol = true;
    return "354 End data with <CR><LF>.<CR><LF>";
}

/* cmd_bdat - BDAT size [LAST] (RFC 3030); the reply comes after the chunk */
static const char *
cmd_bdat(struct conn *c, const char *arg)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(arg, &end, 10);
    if (!g.chunking)
        return "502 5.5.1 CHUNKING not offered";
    if (end == arg || !isdigit((unsigned char)*arg) || errno)
        return "501 5.5.4 syntax: BDAT size [LAST]";
    while (*end == ' ')
        end++;
    if (*end && strcasecmp(end, "LAST") != 0)
        return "501 5.5.4 syntax: BDAT size [LAST]";
    c->bdat_last = *end != '\0';
    c->bdat_left = n;
    c->bdat_bad = !c->in_tx || !c->nrcpt;
    c->via_bdat = true;
    c->state = CS_BDAT;
    if (n == 0)
        bdat_feed(c);
    return NULL;
}

/* tls_offered - does this session offer STARTTLS (certificate, not stripped, not yet TLS) */
static bool
tls_offered(const struct conn *c)
{
    return g.tls_ctx && g.starttls && !c->ssl;
}

/* cmd_starttls - STARTTLS (RFC 3207): the handshake begins once the 220 is sent */
static const char *
cmd_starttls(struct conn *c, const char *arg)
{
    if (*arg)
        return "501 5.5.4 syntax: STARTTLS";
    if (c->in_tx)
        return "503 5.5.1 STARTTLS not allowed in a mail transaction";
    c->state = CS_TLS;
    return "220 2.0.0 Ready to start TLS";
}

/* cmd_ehlo - EHLO/HELO: greet, list extensions, reset the transaction */
static const char *
cmd_ehlo(struct conn *c, const char *arg, bool esmtp)
{
    const char *ext[10];
    int n = 0;
    if (!*arg)
        return esmtp ? "501 5.5.4 syntax: EHLO hostname" : "501 5.5.4 syntax: HELO hostname";
    tx_reset(c);
    c->greeted = true;
    snprintf(c->helo, sizeof(c->helo), "%s", arg);
    if (!esmtp)
        return "250 " SINK_HOSTNAME;
    if (g.pipelining)
        ext[n++] = "PIPELINING";
    static _Thread_local char size_ext[32];
    snprintf(size_ext, sizeof(size_ext), "SIZE %llu", (unsigned long long)size_max());
    ext[n++] = size_ext;
    ext[n++] = "8BITMIME";
    ext[n++] = "ENHANCEDSTATUSCODES";
    ext[n++] = "SMTPUTF8";
    if (!g.no_dsn)
        ext[n++] = "DSN";
    if (g.chunking)
        ext[n++] = "CHUNKING";
    if (tls_offered(c))
        ext[n++] = "STARTTLS";
    reply(c, "250-%s Hello %.200s", SINK_HOSTNAME, arg);
    for (int i = 0; i < n; i++)
        reply(c, "250%c%s", i == n - 1 ? ' ' : '-', ext[i]);
    return NULL;
}

/* cmd_other - the commands without arguments worth parsing */
static const char *
cmd_other(struct conn *c, const char *verb, size_t vlen)
{
    if (vlen != 4)
        return "500 5.5.2 command unrecognized";
    if (strncasecmp(verb, "RSET", 4) == 0) {
        tx_reset(c);
        return "250 2.0.0 Ok";
    }
    if (strncasecmp(verb, "NOOP", 4) == 0)
        return "250 2.0.0 Ok";
    if (strncasecmp(verb, "QUIT", 4) == 0) {
        c->state = CS_CLOSING;
        return "221 2.0.0 Bye";
    }
    if (strncasecmp(verb, "VRFY", 4) == 0)
        return "252 2.1.5 cannot VRFY user";
    if (strncasecmp(verb, "HELP", 4) == 0)
        return "214 2.0.0 spate-sink";
    return "500 5.5.2 command unrecognized";
}

/* cmd_dispatch - run one command line (CRLF stripped) and queue its reply */
static void
cmd_dispatch(struct conn *c, char *line)
{
    size_t vlen = strcspn(line, " ");
    char *arg = line + vlen;
    const char *r;
    while (*arg == ' ')
        arg++;
    if (vlen == 4 && strncasecmp(line, "EHLO", 4) == 0)
        r = cmd_ehlo(c, arg, true);
    else if (vlen == 4 && strncasecmp(line, "HELO", 4) == 0)
        r = cmd_ehlo(c, arg, false);
    else if (vlen == 4 && strncasecmp(line, "MAIL", 4) == 0)
        r = cmd_mail(c, arg);
    else if (vlen == 4 && strncasecmp(line, "RCPT", 4) == 0)
        r = cmd_rcpt(c, arg);
    else if (vlen == 4 && strncasecmp(line, "DATA", 4) == 0)
        r = cmd_data(c, arg);
    else if (vlen == 4 && strncasecmp(line, "BDAT", 4) == 0)
        r = cmd_bdat(c, arg);
    else if (vlen == 8 && strncasecmp(line, "STARTTLS", 8) == 0 && tls_offered(c))
        r = cmd_starttls(c, arg);
    else
        r = cmd_other(c, line, vlen);
    if (r)
        reply(c, "%s", r);
}

/* cmd_feed - take complete command lines from the input buffer */
void
cmd_feed(struct conn *c)
{
    char line[LINE_MAX_OCTETS + 1];
    char *p = c->in + c->in_pos;
    size_t avail = c->in_len - c->in_pos;
    char *lf = memchr(p, '\n', avail);
    if (!lf) {
        if (avail > LINE_MAX_OCTETS) { /* too long: drop what we have, answer at its end */
            c->overlong = true;
            c->in_pos = c->in_len;
        }
        return;
    }
    size_t n = (size_t)(lf - p) + 1;
    c->in_pos += n;
    if (c->overlong || n > LINE_MAX_OCTETS) {
        c->overlong = false;
        reply(c, "500 5.5.2 line too long");
        return;
    }
    n -= (n >= 2 && p[n - 2] == '\r') ? 2 : 1;
    memcpy(line, p, n);
    line[n] = '\0';
    if (memchr(line, '\0', n)) {
        reply(c, "500 5.5.2 NUL in command");
        return;
    }
    cmd_dispatch(c, line);
}
