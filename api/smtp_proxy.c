/*
 * smtp_proxy.c - the PROXY protocol (v1 and v2) on the SMTP listener, for
 *                clients in proxy_required_hosts only (never guessed from
 *                the input): Exim's "Proxy Protocol Support".
 *
 * A session from such a client starts in SS_PROXY (SMTP_PROXY_WAIT): no
 * command is read, no connect ACL runs and no greeting is sent until the
 * header is in. Then (api/proxy.h parses it):
 *   - a header naming a client: the session's peer, ip, port and host
 *     become the client's, the proxy's address is kept in proxy_peer,
 *     proxy_ip and proxy_port, the address the client reached in
 *     proxy_dst_ip/port; relay_from_hosts is matched again; the per-host
 *     count moves from the proxy to the client, and a client already at
 *     smtp_accept_max_per_host gets 421 4.7.0 and is dropped. Input that
 *     followed the header stays buffered for the SMTP commands.
 *   - a header naming none (v1 UNKNOWN, v2 LOCAL, a proxy's health check):
 *     the connection's own addresses stay; $proxy_host_address is the
 *     proxy (so it equals $sender_host_address).
 *   - a malformed header, an over-long one, or one cut short by the end of
 *     the connection: logged, and the connection is closed without a
 *     reply (as Postfix does); nothing can have been queued.
 *   - nothing within SMTP_PROXY_WAIT_MS (3 s, as Exim): the connect ACL
 *     runs and the greeting is sent with the proxy's address, then every
 *     command but QUIT is answered "503 Command refused, required Proxy
 *     negotiation failed" (SMTP_PROXY_FAILED). If part of a header had
 *     arrived by then, the connection is closed instead, as truncated.
 * spate looks up no host names for clients, so none is looked up again.
 *
 * Listener thread only, like the rest of the session.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/proxy.h"
#include "api/smtp_int.h"
#include "base/log.h"
#include "base/metrics.h"

/* addr_text - ip and port of an AF_INET/AF_INET6 address as text */
static void
addr_text(const struct sockaddr_storage *ss, char *ip, size_t iplen, char *port, size_t portlen)
{
    unsigned p = 0;

    snprintf(ip, iplen, "?");
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, (socklen_t)iplen);
        p = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, (socklen_t)iplen);
        p = ntohs(a->sin6_port);
    }
    snprintf(port, portlen, "%u", p);
}

/* smtp_proxy_begin - enter SS_PROXY for a client in proxy_required_hosts */
int
smtp_proxy_begin(struct sess *s)
{
    if (!cfg_hostlist_match(&s->lis->cfg->proxy_required_hosts, (const struct sockaddr *)&s->peer))
        return 0;
    s->proxy_state = SMTP_PROXY_WAIT;
    s->st = SS_PROXY;
    eng_timer_start(s->lis->loop, &s->timer, SMTP_PROXY_WAIT_MS);
    return 1;
}

/* refuse - a header that cannot be used: log, close without a reply */
static void
refuse(struct sess *s, const char *why)
{
    metrics_inc(MC_REJECTED);
    log_info("PROXY header from %s refused: %s", s->host, why);
    s->close_after = 1;
    eng_timer_start(s->lis->loop, &s->timer, CLOSE_GRACE_MS);
}

/* take_local - a header without a client: the proxy is the client */
static void
take_local(struct sess *s)
{
    s->proxy_peer = s->peer;
    snprintf(s->proxy_ip, sizeof(s->proxy_ip), "%s", s->ip);
    snprintf(s->proxy_port, sizeof(s->proxy_port), "%s", s->port);
    addr_text(&s->local, s->proxy_dst_ip, sizeof(s->proxy_dst_ip), s->proxy_dst_port,
              sizeof(s->proxy_dst_port));
}

/* take_client - the header's client becomes the session's; -1 (and a
 * 421 on its way) when that client has too many connections already */
static int
take_client(struct sess *s, const struct proxy_hdr *h)
{
    struct smtp_listener *lis = s->lis;
    const struct sockaddr *src = (const struct sockaddr *)&h->src;

    if (hostcount_add(lis->hosts, src, lis->cfg->smtp_accept_max_per_host) < 0) {
        char ip[INET6_ADDRSTRLEN], port[8], why[128];
        addr_text(&h->src, ip, sizeof(ip), port, sizeof(port));
        snprintf(why, sizeof(why), "too many connections from proxied client [%s]:%s", ip, port);
        metrics_inc(MC_REJECTED);
        smtp_drop(s, why, "421 4.7.0 too many connections from your host");
        return -1;
    }
    hostcount_del(lis->hosts, (const struct sockaddr *)&s->peer);
    take_local(s);
    addr_text(&h->dst, s->proxy_dst_ip, sizeof(s->proxy_dst_ip), s->proxy_dst_port,
              sizeof(s->proxy_dst_port));
    s->peer = h->src;
    addr_text(&s->peer, s->ip, sizeof(s->ip), s->port, sizeof(s->port));
    snprintf(s->host, sizeof(s->host), "[%s]:%s", s->ip, s->port);
    s->relay_ok = cfg_hostlist_match(&lis->cfg->relay_from_hosts, src);
    return 0;
}

/* header_step - SMTP_PROXY_WAIT: parse what has arrived */
static int
header_step(struct sess *s)
{
    struct proxy_hdr h;
    size_t have = s->inlen - s->inoff;
    int rc = proxy_parse((const uint8_t *)s->in + s->inoff, have, &h);

    if (rc == 0) {
        if (s->eof && have > 0)
            refuse(s, "truncated header (connection closed)");
        return 0;
    }
    if (rc < 0) {
        refuse(s, proxy_strerror(rc));
        return 0;
    }
    s->inoff += (size_t)rc;
    if (h.local)
        take_local(s);
    else if (take_client(s, &h) < 0)
        return 0;
    s->proxy_state = SMTP_PROXY_DONE;
    s->st = SS_CMD;
    eng_timer_start(s->lis->loop, &s->timer, smtp_idle_ms(s)); /* the first command's wait */
    return 1;
}

/* is_quit - "QUIT", any case, trailing blanks allowed */
static int
is_quit(const char *p, size_t n)
{
    while (n > 4 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    return n == 4 && strncasecmp(p, "QUIT", 4) == 0;
}

/* failed_step - SMTP_PROXY_FAILED: 221 to QUIT, 503 to anything else */
static int
failed_step(struct sess *s)
{
    struct smtp_frame_out o;
    size_t used = smtp_frame_cmd(&s->fr, s->in + s->inoff, s->inlen - s->inoff, &o);

    s->inoff += used;
    if (o.kind != SMTP_FRAME_NONE && !s->had_cmd) { /* smtp_receive_timeout from now on */
        s->had_cmd = 1;
        eng_timer_start(s->lis->loop, &s->timer, smtp_idle_ms(s));
    }
    if (o.kind == SMTP_FRAME_LINE && is_quit(o.data, o.len)) {
        smtp_reply(s, "221 %s closing connection", s->lis->cfg->primary_hostname);
        s->close_after = 1;
        eng_timer_start(s->lis->loop, &s->timer, CLOSE_GRACE_MS);
    } else if (o.kind != SMTP_FRAME_NONE) {
        smtp_reply(s, "503 Command refused, required Proxy negotiation failed");
    }
    return used > 0;
}

/* smtp_proxy_step - SS_PROXY: the header, or a command after a failure */
int
smtp_proxy_step(struct sess *s)
{
    if (s->proxy_state == SMTP_PROXY_FAILED)
        return failed_step(s);
    return header_step(s);
}

/* smtp_proxy_timeout - no complete header in 3 s */
int
smtp_proxy_timeout(struct sess *s)
{
    if (s->inlen > s->inoff) {
        refuse(s, "truncated header (timeout)");
        return 0;
    }
    log_info("PROXY header from %s: none within %d ms; only QUIT will be accepted", s->host,
             SMTP_PROXY_WAIT_MS);
    s->proxy_state = SMTP_PROXY_FAILED;
    eng_timer_start(s->lis->loop, &s->timer, smtp_idle_ms(s));
    return 1;
}

/* smtp_proxy_var - $proxy_* of the session, or NULL for another name */
const char *
smtp_proxy_var(struct sess *s, const char *name)
{
    if (strncmp(name, "proxy_", 6) != 0)
        return NULL;
    name += 6;
    if (strcmp(name, "session") == 0)
        return s->proxy_state != SMTP_PROXY_NONE ? "yes" : "no";
    if (strcmp(name, "host_address") == 0)
        return s->proxy_ip;
    if (strcmp(name, "host_port") == 0)
        return s->proxy_port;
    if (strcmp(name, "target_address") == 0)
        return s->proxy_dst_ip;
    if (strcmp(name, "target_port") == 0)
        return s->proxy_dst_port;
    return NULL;
}

/* smtp_proxy_logfield - " PRX=ip" with log_selector = +proxy */
void
smtp_proxy_logfield(const struct sess *s, char *out, size_t len)
{
    out[0] = '\0';
    if ((s->lis->cfg->log_selector & CFG_LOG_PROXY) && s->proxy_ip[0] != '\0')
        snprintf(out, len, " PRX=%s", s->proxy_ip);
}
