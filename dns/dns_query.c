/*
 * dns_query.c - the query layer of the resolver (dns_query.h): one c-ares
 *               channel driven by an engine loop, a cache of answers with
 *               lookups coalesced, and a cap on the queries in flight.
 *
 * Synopsis
 *   dns__query_open(r, servers, n, opts, err, errlen);
 *   dns__lookup(r, "mx.example.com", T_A, waiter, arg, idx);  ... waiter later
 *   r->closing = 1; dns__query_cancel(r); dns__query_free(r);
 *
 * Description
 *   Channel. c-ares tells us which sockets to watch (ARES_OPT_SOCK_STATE_CB);
 *   each gets an eng_io, and its events go to ares_process_fd(). After every
 *   call into c-ares the loop timer is re-armed from ares_timeout(), and its
 *   expiry calls ares_process_fd(BAD, BAD) so retransmissions and timeouts
 *   happen with nothing blocking. Every UDP socket c-ares opens gets a
 *   DNS_SOCK_RCVBUF receive buffer (sock_config), so that a burst of answers
 *   waits in the kernel while the loop thread is busy elsewhere.
 *
 *   Cache. Entries are keyed by (lower-case name, type) in a chained hash
 *   table. An entry is queued (waiting for a slot), in flight, or answered
 *   (kept until its TTL runs out; dns_wire.c decides the TTL, negative answers
 *   included). While not answered it holds a list of waiters: every lookup of
 *   the same key made meanwhile joins it, so one query serves them all.
 *   Temporary failures are handed to the waiters and not kept. When the table
 *   holds cache_max answers, expired entries are swept (at most once a
 *   second), then the least recently used answer goes; entries not answered
 *   are never evicted. Answers are reference counted, so a reader holds one
 *   safely while the entry is evicted under it. Served from cache or joined:
 *   a "hit"; handed to c-ares: a "query" (dns_cache_stats, MC_DNS_*).
 *
 *   Cap. At most max_inflight queries are with c-ares at once; a new key
 *   beyond that waits in a FIFO queue, and each answer that comes back starts
 *   the oldest waiting one (queue_pump). A query's timeout runs from when it
 *   is sent, so waiting costs no tries. Unbounded, a wide fan-out sent every
 *   query at once and the answers overflowed the socket's receive buffer.
 *
 *   Shutdown. dns__query_cancel() ends the queued entries as c-ares ends its
 *   own at ares_destroy() (ARES_EDESTRUCTION); lookups made by their waiters
 *   meanwhile are answered at once, and nothing new is sent.
 *
 * Diagnostics
 *   Out of memory aborts (engine rule). A socket whose buffer cannot be
 *   enlarged keeps the kernel's default; the query still goes out.
 */
#include "dns/dns_query.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/metrics.h"

#define CACHE_MAX_DEFAULT 100000
#define SWEEP_EVERY_MS 1000
#define TIMEOUT_MS_DEFAULT 2000
#define TRIES_DEFAULT 2

struct waiter {
    struct waiter *next;
    dns__waiter_fn fn;
    void *arg;
    size_t idx;
};

struct dns__centry {
    struct dns__centry *hnext;         /* hash chain */
    struct dns__centry *lprev, *lnext; /* LRU list; answered entries only */
    struct dns__centry *qnext;         /* r->qhead list; queued entries only */
    dns_resolver *r;
    uint32_t hash;
    int type;
    struct dns__answer *ans; /* NULL while queued or in flight */
    uint64_t expires_ms;
    struct waiter *waiters, **wtail;
    char name[];
};

struct dns__sockw {
    struct dns__sockw *next;
    struct eng_io io;
    dns_resolver *r;
};

/* xcalloc - calloc that aborts on failure (engine rule) */
static void *
xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (p == NULL)
        abort();
    return p;
}

/* ---- channel plumbing ---- */

/* arm_timer - follow c-ares' next deadline with the loop timer */
static void
arm_timer(dns_resolver *r)
{
    struct timeval tv, *tp;
    if (r->closing)
        return;
    tp = ares_timeout(r->ch, NULL, &tv);
    if (tp == NULL) {
        eng_timer_stop(r->loop, &r->tmo);
        return;
    }
    eng_timer_start(r->loop, &r->tmo,
                    (uint64_t)tp->tv_sec * 1000u + ((uint64_t)tp->tv_usec + 999u) / 1000u);
}

/* on_tmo - c-ares deadline: retransmit or time queries out */
static void
on_tmo(eng_loop *loop, struct eng_timer *t)
{
    dns_resolver *r = t->data;
    (void)loop;
    ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    arm_timer(r);
}

/* on_sock - a c-ares socket is ready; io may be freed inside ares_process_fd */
static void
on_sock(eng_loop *loop, struct eng_io *io, uint32_t ev)
{
    struct dns__sockw *w = io->data;
    dns_resolver *r = w->r;
    int fd = io->fd;
    (void)loop;
    ares_process_fd(r->ch, (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) ? fd : ARES_SOCKET_BAD,
                    (ev & EPOLLOUT) ? fd : ARES_SOCKET_BAD);
    arm_timer(r);
}

/* sock_state - c-ares wants fd watched for read/write, or no longer */
static void
sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    dns_resolver *r = data;
    struct dns__sockw **pp = &r->socks, *w;
    uint32_t ev = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);
    while (*pp != NULL && (*pp)->io.fd != fd)
        pp = &(*pp)->next;
    w = *pp;
    if (ev == 0) {
        if (w != NULL) {
            eng_io_set(r->loop, &w->io, 0);
            *pp = w->next;
            free(w);
        }
        return;
    }
    if (w == NULL) {
        w = xcalloc(1, sizeof(*w));
        w->r = r;
        eng_io_init(&w->io, fd, on_sock, w);
        w->next = r->socks;
        r->socks = w;
    }
    eng_io_set(r->loop, &w->io, ev); /* failure: c-ares times the query out */
}

/* sock_config - a new c-ares socket: give a UDP one a DNS_SOCK_RCVBUF receive
 * buffer, past net.core.rmem_max where privileged (SO_RCVBUFFORCE), else up
 * to it (SO_RCVBUF); never smaller than it is, never failing the socket */
static int
sock_config(ares_socket_t fd, int type, void *data)
{
    int want = DNS_SOCK_RCVBUF, have = 0;
    socklen_t len = sizeof(have);
    (void)data;
    if (type != SOCK_DGRAM)
        return 0;
    if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &have, &len) == 0 && have / 2 >= want)
        return 0; /* the kernel reports twice what was set */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof(want)) < 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want));
    return 0;
}

/* ---- cache ---- */

/* key_hash - FNV-1a over name and type */
static uint32_t
key_hash(const char *name, int type)
{
    uint32_t h = 2166136261u ^ (uint32_t)type;
    for (; *name; name++)
        h = (h ^ (unsigned char)*name) * 16777619u;
    return h;
}

/* lru_unlink - take an answered entry off the LRU list */
static void
lru_unlink(dns_resolver *r, struct dns__centry *e)
{
    if (e->lprev)
        e->lprev->lnext = e->lnext;
    else if (r->lru_head == e)
        r->lru_head = e->lnext;
    if (e->lnext)
        e->lnext->lprev = e->lprev;
    else if (r->lru_tail == e)
        r->lru_tail = e->lprev;
    e->lprev = e->lnext = NULL;
}

/* lru_append - make e the most recently used */
static void
lru_append(dns_resolver *r, struct dns__centry *e)
{
    e->lprev = r->lru_tail;
    e->lnext = NULL;
    if (r->lru_tail)
        r->lru_tail->lnext = e;
    else
        r->lru_head = e;
    r->lru_tail = e;
}

/* cache_remove - unlink and free an entry (its waiters already detached,
 * not queued) */
static void
cache_remove(dns_resolver *r, struct dns__centry *e)
{
    struct dns__centry **pp = &r->tab[e->hash & (r->nbuckets - 1)];
    while (*pp != NULL && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp == e)
        *pp = e->hnext;
    if (e->ans != NULL)
        lru_unlink(r, e);
    dns__answer_unref(e->ans);
    r->count--;
    free(e);
}

/* cache_find - the entry for (name, type), or NULL */
static struct dns__centry *
cache_find(dns_resolver *r, const char *name, int type, uint32_t h)
{
    for (struct dns__centry *e = r->tab[h & (r->nbuckets - 1)]; e != NULL; e = e->hnext)
        if (e->hash == h && e->type == type && strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

/* cache_grow - double the bucket array */
static void
cache_grow(dns_resolver *r)
{
    size_t nb = r->nbuckets * 2;
    struct dns__centry **tab = xcalloc(nb, sizeof(*tab));
    for (size_t i = 0; i < r->nbuckets; i++) {
        struct dns__centry *e = r->tab[i], *next;
        for (; e != NULL; e = next) {
            next = e->hnext;
            e->hnext = tab[e->hash & (nb - 1)];
            tab[e->hash & (nb - 1)] = e;
        }
    }
    free(r->tab);
    r->tab = tab;
    r->nbuckets = nb;
}

/* cache_make_room - keep the table under cache_max: expired first, then LRU */
static void
cache_make_room(dns_resolver *r, uint64_t now)
{
    if (r->count < r->cache_max)
        return;
    if (now >= r->next_sweep_ms) {
        struct dns__centry *e = r->lru_head, *next;
        for (; e != NULL; e = next) {
            next = e->lnext;
            if (e->expires_ms <= now)
                cache_remove(r, e);
        }
        r->next_sweep_ms = now + SWEEP_EVERY_MS;
    }
    while (r->count >= r->cache_max && r->lru_head != NULL)
        cache_remove(r, r->lru_head);
}

/* cache_insert - a new unanswered entry for (name, type) */
static struct dns__centry *
cache_insert(dns_resolver *r, const char *name, int type, uint32_t h)
{
    size_t len = strlen(name);
    struct dns__centry *e = xcalloc(1, sizeof(*e) + len + 1);
    cache_make_room(r, eng_now_ms());
    if (r->count >= r->nbuckets && r->nbuckets < (1u << 24))
        cache_grow(r);
    memcpy(e->name, name, len + 1);
    e->r = r;
    e->hash = h;
    e->type = type;
    e->wtail = &e->waiters;
    e->hnext = r->tab[h & (r->nbuckets - 1)];
    r->tab[h & (r->nbuckets - 1)] = e;
    r->count++;
    return e;
}

/* entry_complete - an answer arrived: keep it (unless temporary), tell waiters */
static void
entry_complete(dns_resolver *r, struct dns__centry *e, struct dns__answer *a)
{
    struct waiter *w = e->waiters, *next;
    e->waiters = NULL;
    e->wtail = &e->waiters;
    if (a->status == DNS__ANS_TEMP) {
        cache_remove(r, e);
    } else {
        e->ans = a;
        a->refs++;
        e->expires_ms = eng_now_ms() + (uint64_t)a->ttl * 1000u;
        lru_append(r, e);
        while (r->count > r->cache_max && r->lru_head != NULL) /* over by those unanswered */
            cache_remove(r, r->lru_head);
    }
    /* e may be evicted by what the waiters start: only a is used from here */
    for (; w != NULL; w = next) {
        next = w->next;
        w->fn(r, a, w->arg, w->idx);
        free(w);
    }
    dns__answer_unref(a);
}

/* cache_free_all - drop every entry (none queued or in flight any more) */
static void
cache_free_all(dns_resolver *r)
{
    for (size_t i = 0; i < r->nbuckets; i++) {
        struct dns__centry *e = r->tab[i], *next;
        for (; e != NULL; e = next) {
            next = e->hnext;
            dns__answer_unref(e->ans);
            free(e);
        }
    }
    free(r->tab);
    r->tab = NULL;
}

/* ---- the cap on queries in flight ---- */

static void queue_pump(dns_resolver *r);

/* on_ares - c-ares finished a query (also with ARES_EDESTRUCTION at shutdown);
 * its slot goes to the oldest queued query */
static void
on_ares(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct dns__centry *e = arg;
    dns_resolver *r = e->r;
    (void)timeouts;
    r->inflight--;
    entry_complete(r, e, dns__answer_parse(e->type, status, abuf, alen));
    queue_pump(r);
}

/* query_send - hand e's query to c-ares, taking a slot; may complete e at once */
static void
query_send(dns_resolver *r, struct dns__centry *e)
{
    if (++r->inflight > r->peak)
        r->peak = r->inflight;
    r->queries++;
    metrics_inc(MC_DNS_QUERIES);
    ares_query(r->ch, e->name, C_IN, e->type, on_ares, e);
}

/* queue_push - e waits for a slot, after those waiting already */
static void
queue_push(dns_resolver *r, struct dns__centry *e)
{
    e->qnext = NULL;
    *r->qtail = e;
    r->qtail = &e->qnext;
    r->queued++;
}

/* queue_pop - the oldest waiting entry, off the queue; NULL when none */
static struct dns__centry *
queue_pop(dns_resolver *r)
{
    struct dns__centry *e = r->qhead;
    if (e == NULL)
        return NULL;
    r->qhead = e->qnext;
    if (r->qhead == NULL)
        r->qtail = &r->qhead;
    e->qnext = NULL;
    r->queued--;
    return e;
}

/* queue_pump - send queued queries, oldest first, while slots are free. A
 * query that completes at once re-enters through on_ares: the outer call
 * goes on, so the stack stays flat. */
static void
queue_pump(dns_resolver *r)
{
    if (r->pumping)
        return;
    r->pumping = 1;
    while (!r->closing && r->qhead != NULL && r->inflight < r->max_inflight)
        query_send(r, queue_pop(r));
    r->pumping = 0;
}

/* lookup_closing - the resolver is shutting down: a temporary answer now */
static void
lookup_closing(dns_resolver *r, int type, dns__waiter_fn fn, void *arg, size_t idx)
{
    struct dns__answer *a = dns__answer_temp(type, ARES_EDESTRUCTION);
    fn(r, a, arg, idx);
    dns__answer_unref(a);
}

/* lookup_cached - e's answer to fn now */
static void
lookup_cached(dns_resolver *r, struct dns__centry *e, dns__waiter_fn fn, void *arg, size_t idx)
{
    struct dns__answer *a = e->ans;
    r->hits++;
    metrics_inc(MC_DNS_CACHE_HITS);
    lru_unlink(r, e);
    lru_append(r, e);
    a->refs++;
    fn(r, a, arg, idx);
    dns__answer_unref(a);
}

/* dns__lookup - answer (name, type) from the cache, a query queued or in
 * flight, or a new one (sent now while under the cap and none waits before it) */
void
dns__lookup(dns_resolver *r, const char *name, int type, dns__waiter_fn fn, void *arg, size_t idx)
{
    uint32_t h = key_hash(name, type);
    struct dns__centry *e;
    struct waiter *w;
    if (r->closing) {
        lookup_closing(r, type, fn, arg, idx);
        return;
    }
    e = cache_find(r, name, type, h);
    if (e != NULL && e->ans != NULL && e->expires_ms <= eng_now_ms()) {
        cache_remove(r, e);
        e = NULL;
    }
    if (e != NULL && e->ans != NULL) {
        lookup_cached(r, e, fn, arg, idx);
        return;
    }
    w = xcalloc(1, sizeof(*w));
    w->fn = fn;
    w->arg = arg;
    w->idx = idx;
    if (e != NULL) { /* queued or in flight: join it */
        r->hits++;
        metrics_inc(MC_DNS_CACHE_HITS);
        *e->wtail = w;
        e->wtail = &w->next;
        return;
    }
    e = cache_insert(r, name, type, h);
    *e->wtail = w;
    e->wtail = &w->next;
    if (r->qhead != NULL || r->inflight >= r->max_inflight) {
        queue_push(r, e);
        return;
    }
    query_send(r, e);
    arm_timer(r);
}

/* dns_cache_stats - hits and queries so far */
void
dns_cache_stats(const dns_resolver *r, uint64_t *hits, uint64_t *queries)
{
    if (hits)
        *hits = r->hits;
    if (queries)
        *queries = r->queries;
}

/* dns_cache_size - entries held */
size_t
dns_cache_size(const dns_resolver *r)
{
    return r->count;
}

/* dns_resolver_inflight - queries with c-ares now; queued and peak on request */
size_t
dns_resolver_inflight(const dns_resolver *r, size_t *queued, size_t *peak)
{
    if (queued)
        *queued = r->queued;
    if (peak)
        *peak = r->peak;
    return r->inflight;
}

/* ---- open and close ---- */

/* servers_csv - "ip:port,[ip6]:port" for ares_set_servers_ports_csv; 0 or -1 */
static int
servers_csv(const struct net_addr *sv, size_t n, char *out, size_t outlen)
{
    size_t off = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char ip[INET6_ADDRSTRLEN];
        unsigned port;
        int w;
        if (sv[i].ss.ss_family == AF_INET) {
            const struct sockaddr_in *s = (const struct sockaddr_in *)&sv[i].ss;
            inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
            port = ntohs(s->sin_port);
        } else if (sv[i].ss.ss_family == AF_INET6) {
            const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&sv[i].ss;
            inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
            port = ntohs(s->sin6_port);
        } else {
            return -1;
        }
        w = snprintf(out + off, outlen - off,
                     sv[i].ss.ss_family == AF_INET6 ? "%s[%s]:%u" : "%s%s:%u", i ? "," : "", ip,
                     port ? port : 53);
        if (w < 0 || (size_t)w >= outlen - off)
            return -1;
        off += (size_t)w;
    }
    return 0;
}

/* channel_servers - point the channel at the given servers; 0 or -1 with err */
static int
channel_servers(dns_resolver *r, const struct net_addr *servers, size_t n, char *err, size_t errlen)
{
    char *csv = xcalloc(n, 64);
    int rc = ARES_SUCCESS;
    if (servers_csv(servers, n, csv, n * 64) < 0) {
        snprintf(err, errlen, "dns_servers: unusable address");
        rc = ARES_EBADSTR;
    } else if ((rc = ares_set_servers_ports_csv(r->ch, csv)) != ARES_SUCCESS) {
        snprintf(err, errlen, "dns_servers %s: %s", csv, ares_strerror(rc));
    }
    free(csv);
    return rc == ARES_SUCCESS ? 0 : -1;
}

/* channel_open - the c-ares channel with our options and servers */
static int
channel_open(dns_resolver *r, const struct net_addr *servers, size_t n, const struct dns_opts *o,
             char *err, size_t errlen)
{
    struct ares_options ao;
    char lookups[] = "b";
    int rc;
    memset(&ao, 0, sizeof(ao));
    ao.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
    ao.timeout = o && o->timeout_ms > 0 ? o->timeout_ms : TIMEOUT_MS_DEFAULT;
    ao.tries = o && o->tries > 0 ? o->tries : TRIES_DEFAULT;
    ao.lookups = lookups;
    ao.sock_state_cb = sock_state;
    ao.sock_state_cb_data = r;
    rc = ares_init_options(&r->ch, &ao,
                           ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS |
                               ARES_OPT_SOCK_STATE_CB);
    if (rc != ARES_SUCCESS) {
        snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
        return -1;
    }
    ares_set_socket_configure_callback(r->ch, sock_config, r);
    if (n > 0 && channel_servers(r, servers, n, err, errlen) < 0) {
        ares_destroy(r->ch);
        return -1;
    }
    return 0;
}

/* dns__query_open - cache, cap and channel for r */
int
dns__query_open(dns_resolver *r, const struct net_addr *servers, size_t n,
                const struct dns_opts *opts, char *err, size_t errlen)
{
    r->nbuckets = 256;
    r->tab = xcalloc(r->nbuckets, sizeof(*r->tab));
    r->cache_max = opts && opts->cache_max > 0 ? opts->cache_max : CACHE_MAX_DEFAULT;
    r->max_inflight = opts && opts->max_inflight > 0 ? opts->max_inflight : DNS_MAX_INFLIGHT;
    r->qtail = &r->qhead;
    eng_timer_init(&r->tmo, on_tmo, r);
    if (channel_open(r, servers, n, opts, err, errlen) < 0) {
        free(r->tab);
        r->tab = NULL;
        return -1;
    }
    return 0;
}

/* dns__query_cancel - end everything queued or in flight; destroy the channel */
void
dns__query_cancel(dns_resolver *r)
{
    struct dns__centry *e;
    eng_timer_stop(r->loop, &r->tmo);
    while ((e = queue_pop(r)) != NULL) /* never sent: ended as c-ares ends its own */
        entry_complete(r, e, dns__answer_temp(e->type, ARES_EDESTRUCTION));
    ares_destroy(r->ch); /* every query in flight ends: ARES_EDESTRUCTION */
}

/* dns__query_free - socket watchers and cache */
void
dns__query_free(dns_resolver *r)
{
    while (r->socks != NULL) {
        struct dns__sockw *w = r->socks;
        eng_io_set(r->loop, &w->io, 0);
        r->socks = w->next;
        free(w);
    }
    cache_free_all(r);
}
