/*
 * dns.c - the resolver: one c-ares channel driven by an engine loop, a cache
 *         of answers with lookups in flight coalesced, and the MX / host-list
 *         lookups built on them (see dns.h for the contract).
 *
 * Synopsis
 *   dns_init();
 *   r = dns_resolver_new(loop, cfg->dns_servers, cfg->n_dns_servers, err, sizeof(err));
 *   dns_resolve_mx(r, "example.com", done, ctx);   ... done(res, ctx) later
 *   dns_resolver_free(r);
 *
 * Description
 *   Channel. c-ares tells us which sockets to watch (ARES_OPT_SOCK_STATE_CB);
 *   each gets an eng_io, and its events go to ares_process_fd(). After every
 *   call into c-ares the loop timer is re-armed from ares_timeout(), and its
 *   expiry calls ares_process_fd(BAD, BAD) so retransmissions and timeouts
 *   happen with nothing blocking.
 *
 *   Cache. Entries are keyed by (lower-case name, type) in a chained hash
 *   table. An entry is either in flight (answer NULL, a list of waiters: every
 *   lookup of the same key made meanwhile joins it, so one query serves them
 *   all) or answered (kept until its TTL runs out; dns_wire.c decides the TTL,
 *   negative answers included). Temporary failures are handed to the waiters
 *   and not kept. When the table holds cache_max answers, expired entries are
 *   swept (at most once a second), then the least recently used answer goes.
 *   Answers are reference counted, so a reader holds one safely while the
 *   entry is evicted under it. Served from cache or joined: a "hit"; sent: a
 *   "query" (dns_cache_stats, and the MC_DNS_* counters).
 *
 *   Lookups (jobs). A job counts its outstanding cache lookups (plus a guard
 *   while it issues them) and, once they are all in, builds the dns_result and
 *   hands it over from a zero-delay loop timer: the callback never runs inside
 *   dns_resolve_*(), even when everything came from the cache.
 *
 *   Shutdown. dns_resolver_free() destroys the channel; c-ares ends every
 *   query with ARES_EDESTRUCTION, which finishes every job still waiting with
 *   DNS_RETRY ("resolver shut down"); then every job, finished or not, gets
 *   its callback from inside dns_resolver_free(), and nothing is left behind.
 *
 * Diagnostics
 *   Results carry a reason in res->why. Out of memory aborts (engine rule).
 */
#include "dns/dns.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base/metrics.h"

#define CACHE_MAX_DEFAULT 100000
#define SWEEP_EVERY_MS 1000
#define TIMEOUT_MS_DEFAULT 2000
#define TRIES_DEFAULT 2

typedef void (*waiter_fn)(dns_resolver *r, struct dns__answer *a, void *arg, size_t idx);

struct waiter {
    struct waiter *next;
    waiter_fn fn;
    void *arg;
    size_t idx;
};

struct centry {
    struct centry *hnext;         /* hash chain */
    struct centry *lprev, *lnext; /* LRU list; answered entries only */
    dns_resolver *r;
    uint32_t hash;
    int type;
    struct dns__answer *ans; /* NULL while the query is in flight */
    uint64_t expires_ms;
    struct waiter *waiters, **wtail;
    char name[];
};

struct sockw {
    struct sockw *next;
    struct eng_io io;
    dns_resolver *r;
};

struct jhost {
    char name[256];
    uint16_t pref;
    struct dns__answer *a4, *a6; /* held answers with addresses */
    struct dns__addr lit;        /* IP literal (family != 0) */
    int temp;                    /* a lookup failed temporarily */
};

struct job {
    struct job *prev, *next; /* r->jobs */
    dns_resolver *r;
    dns_cb cb;
    void *arg;
    char domain[256];
    int is_mx;
    int implicit_mx;
    int decided; /* status/why fixed early (no host list) */
    enum dns_status status;
    char why[160];
    size_t pending;
    size_t nhosts;
    struct jhost *hosts;
    struct dns_result *res;
    struct eng_timer done;
};

struct dns_resolver {
    eng_loop *loop;
    ares_channel ch;
    int closing;
    struct eng_timer tmo;
    struct sockw *socks;
    struct job *jobs;
    struct centry **tab;
    size_t nbuckets, count, cache_max;
    struct centry *lru_head, *lru_tail;
    uint64_t next_sweep_ms;
    uint64_t hits, queries;
    uint64_t rnd;
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc;

/* xcalloc - calloc that aborts on failure (engine rule) */
static void *
xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (p == NULL)
        abort();
    return p;
}

/* init_lib - ares_library_init, exactly once */
static void
init_lib(void)
{
    init_rc = ares_library_init(ARES_LIB_INIT_ALL) == ARES_SUCCESS ? 0 : -EIO;
}

/* dns_init - initialise c-ares for the process */
int
dns_init(void)
{
    pthread_once(&init_once, init_lib);
    return init_rc;
}

/* rnd_next - xorshift64* for shuffling equal MX preferences */
static uint32_t
rnd_next(void *arg)
{
    uint64_t *s = arg;
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (uint32_t)((*s * 0x2545F4914F6CDD1DULL) >> 32);
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
    struct sockw *w = io->data;
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
    struct sockw **pp = &r->socks, *w;
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
lru_unlink(dns_resolver *r, struct centry *e)
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
lru_append(dns_resolver *r, struct centry *e)
{
    e->lprev = r->lru_tail;
    e->lnext = NULL;
    if (r->lru_tail)
        r->lru_tail->lnext = e;
    else
        r->lru_head = e;
    r->lru_tail = e;
}

/* cache_remove - unlink and free an entry (its waiters already detached) */
static void
cache_remove(dns_resolver *r, struct centry *e)
{
    struct centry **pp = &r->tab[e->hash & (r->nbuckets - 1)];
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
static struct centry *
cache_find(dns_resolver *r, const char *name, int type, uint32_t h)
{
    for (struct centry *e = r->tab[h & (r->nbuckets - 1)]; e != NULL; e = e->hnext)
        if (e->hash == h && e->type == type && strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

/* cache_grow - double the bucket array */
static void
cache_grow(dns_resolver *r)
{
    size_t nb = r->nbuckets * 2;
    struct centry **tab = xcalloc(nb, sizeof(*tab));
    for (size_t i = 0; i < r->nbuckets; i++) {
        struct centry *e = r->tab[i], *next;
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
        struct centry *e = r->lru_head, *next;
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

/* cache_insert - a new in-flight entry for (name, type) */
static struct centry *
cache_insert(dns_resolver *r, const char *name, int type, uint32_t h)
{
    size_t len = strlen(name);
    struct centry *e = xcalloc(1, sizeof(*e) + len + 1);
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
entry_complete(dns_resolver *r, struct centry *e, struct dns__answer *a)
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
        while (r->count > r->cache_max && r->lru_head != NULL) /* over by those in flight */
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

/* on_ares - c-ares finished a query (also with ARES_EDESTRUCTION at shutdown) */
static void
on_ares(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct centry *e = arg;
    (void)timeouts;
    entry_complete(e->r, e, dns__answer_parse(e->type, status, abuf, alen));
}

/* q_lookup - answer (name, type) from the cache, a query in flight, or a new one;
 * fn may run before this returns */
static void
q_lookup(dns_resolver *r, const char *name, int type, waiter_fn fn, void *arg, size_t idx)
{
    uint32_t h = key_hash(name, type);
    struct centry *e;
    struct waiter *w;
    if (r->closing) {
        struct dns__answer *a = dns__answer_temp(type, ARES_EDESTRUCTION);
        fn(r, a, arg, idx);
        dns__answer_unref(a);
        return;
    }
    e = cache_find(r, name, type, h);
    if (e != NULL && e->ans != NULL && e->expires_ms <= eng_now_ms()) {
        cache_remove(r, e);
        e = NULL;
    }
    if (e != NULL && e->ans != NULL) {
        struct dns__answer *a = e->ans;
        r->hits++;
        metrics_inc(MC_DNS_CACHE_HITS);
        lru_unlink(r, e);
        lru_append(r, e);
        a->refs++;
        fn(r, a, arg, idx);
        dns__answer_unref(a);
        return;
    }
    w = xcalloc(1, sizeof(*w));
    w->fn = fn;
    w->arg = arg;
    w->idx = idx;
    if (e != NULL) { /* in flight: join it */
        r->hits++;
        metrics_inc(MC_DNS_CACHE_HITS);
        *e->wtail = w;
        e->wtail = &w->next;
        return;
    }
    e = cache_insert(r, name, type, h);
    *e->wtail = w;
    e->wtail = &w->next;
    r->queries++;
    metrics_inc(MC_DNS_QUERIES);
    ares_query(r->ch, e->name, C_IN, type, on_ares, e); /* may complete e at once */
    arm_timer(r);
}

/* cache_free_all - drop every entry (no query is in flight any more) */
static void
cache_free_all(dns_resolver *r)
{
    for (size_t i = 0; i < r->nbuckets; i++) {
        struct centry *e = r->tab[i], *next;
        for (; e != NULL; e = next) {
            next = e->hnext;
            dns__answer_unref(e->ans);
            free(e);
        }
    }
    free(r->tab);
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

/* ---- jobs ---- */

/* job_decide - fix the outcome without a host list */
static void
job_decide(struct job *j, enum dns_status st, const char *why)
{
    if (j->decided)
        return;
    j->decided = 1;
    j->status = st;
    snprintf(j->why, sizeof(j->why), "%s", why);
}

/* fill_addr - a dns__addr as a sockaddr with port 0 */
static void
fill_addr(struct sockaddr_storage *ss, const struct dns__addr *a)
{
    memset(ss, 0, sizeof(*ss));
    if (a->family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        memcpy(&sin->sin_addr, a->a, 4);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        sin6->sin6_family = AF_INET6;
        memcpy(&sin6->sin6_addr, a->a, 16);
    }
}

/* host_take - move one job host with addresses into the result */
static int
host_take(struct dns_host *out, struct jhost *h)
{
    size_t n4 = h->a4 ? h->a4->n : 0, n6 = h->a6 ? h->a6->n : 0, k = 0;
    size_t n = n4 + n6 + (h->lit.family != 0);
    if (n == 0)
        return 0;
    out->name = strdup(h->name);
    if (out->name == NULL)
        abort();
    out->pref = h->pref;
    out->naddr = n;
    out->addrs = xcalloc(n, sizeof(*out->addrs));
    if (h->lit.family != 0)
        fill_addr(&out->addrs[k++], &h->lit);
    for (size_t i = 0; i < n4; i++)
        fill_addr(&out->addrs[k++], &h->a4->addrs[i]);
    for (size_t i = 0; i < n6; i++)
        fill_addr(&out->addrs[k++], &h->a6->addrs[i]);
    return 1;
}

/* job_build - the dns_result for a job whose lookups are all in */
static struct dns_result *
job_build(struct job *j)
{
    struct dns_result *res = xcalloc(1, sizeof(*res));
    int temp = 0;
    res->implicit_mx = j->implicit_mx;
    if (!j->decided) {
        res->hosts = xcalloc(j->nhosts, sizeof(*res->hosts));
        for (size_t i = 0; i < j->nhosts; i++) {
            if (host_take(&res->hosts[res->nhosts], &j->hosts[i]))
                res->nhosts++;
            else
                temp |= j->hosts[i].temp;
        }
        if (res->nhosts == 0 && temp)
            job_decide(j, DNS_RETRY,
                       j->is_mx ? "address lookup failed temporarily for every MX host"
                                : "address lookup failed temporarily for every host");
        else if (res->nhosts == 0)
            job_decide(j, DNS_FAIL,
                       j->implicit_mx ? "no MX and no address for the domain"
                       : j->is_mx     ? "no address for any MX host"
                                      : "no address for any host");
    }
    if (res->nhosts == 0) {
        free(res->hosts);
        res->hosts = NULL;
        res->status = j->status;
        snprintf(res->why, sizeof(res->why), "%s", j->why);
    }
    return res;
}

/* job_free - release a job and what it holds */
static void
job_free(struct job *j)
{
    for (size_t i = 0; i < j->nhosts; i++) {
        dns__answer_unref(j->hosts[i].a4);
        dns__answer_unref(j->hosts[i].a6);
    }
    free(j->hosts);
    free(j);
}

/* job_unlink - take a job off its resolver's list */
static void
job_unlink(struct job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        j->r->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
}

/* on_job_done - deliver a finished job from the loop, outside dns_resolve_*() */
static void
on_job_done(eng_loop *loop, struct eng_timer *t)
{
    struct job *j = t->data;
    dns_cb cb = j->cb;
    void *arg = j->arg;
    struct dns_result *res = j->res;
    (void)loop;
    job_unlink(j);
    job_free(j);
    cb(res, arg);
}

/* job_release - one lookup is in; the last one finishes the job */
static void
job_release(struct job *j)
{
    if (--j->pending > 0)
        return;
    if (j->r->closing) { /* whatever the cancelled lookups said */
        j->decided = 0;
        job_decide(j, DNS_RETRY, "lookup cancelled: resolver shut down");
    }
    j->res = job_build(j);
    eng_timer_start(j->r->loop, &j->done, 0);
}

/* on_addr - an A (idx even) or AAAA (idx odd) answer for host idx/2 */
static void
on_addr(dns_resolver *r, struct dns__answer *a, void *arg, size_t idx)
{
    struct job *j = arg;
    struct jhost *h = &j->hosts[idx / 2];
    (void)r;
    if (a->status == DNS__ANS_OK && a->n > 0) {
        a->refs++;
        if (idx % 2)
            h->a6 = a;
        else
            h->a4 = a;
    } else if (a->status == DNS__ANS_TEMP) {
        h->temp = 1;
    }
    job_release(j);
}

/* job_lookup_hosts - resolve A then AAAA of every named host */
static void
job_lookup_hosts(struct job *j)
{
    j->pending++; /* guard: answers from the cache arrive during the loop */
    for (size_t i = 0; i < j->nhosts; i++) {
        if (j->hosts[i].lit.family != 0 || j->hosts[i].name[0] == '\0')
            continue;
        j->pending += 2;
        q_lookup(j->r, j->hosts[i].name, T_A, on_addr, j, 2 * i);
        q_lookup(j->r, j->hosts[i].name, T_AAAA, on_addr, j, 2 * i + 1);
    }
    job_release(j);
}

/* mx_hosts - ordered, de-duplicated MX targets of an answer into the job */
static void
mx_hosts(struct job *j, struct dns__answer *a)
{
    struct dns_host *tmp = xcalloc(a->n, sizeof(*tmp));
    size_t n = 0;
    for (size_t i = 0; i < a->n; i++)
        if (a->mx[i].name[0] != '\0') { /* "." among others: not a host */
            tmp[n].name = a->mx[i].name;
            tmp[n++].pref = a->mx[i].pref;
        }
    dns_mx_order(tmp, n, rnd_next, &j->r->rnd);
    j->hosts = xcalloc(n, sizeof(*j->hosts));
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < j->nhosts && strcmp(j->hosts[k].name, tmp[i].name) != 0)
            k++;
        if (k < j->nhosts)
            continue; /* listed twice: keep the most preferred */
        snprintf(j->hosts[j->nhosts].name, sizeof(j->hosts[0].name), "%s", tmp[i].name);
        j->hosts[j->nhosts++].pref = tmp[i].pref;
    }
    free(tmp);
}

/* on_mx - the MX answer for the job's domain */
static void
on_mx(dns_resolver *r, struct dns__answer *a, void *arg, size_t idx)
{
    struct job *j = arg;
    char why[160];
    (void)r, (void)idx;
    if (a->status == DNS__ANS_TEMP) {
        snprintf(why, sizeof(why), "MX lookup failed: %s", ares_strerror(a->ares_status));
        job_decide(j, DNS_RETRY, why);
    } else if (a->status == DNS__ANS_NXDOMAIN) {
        job_decide(j, DNS_FAIL, "domain does not exist");
    } else if (a->status == DNS__ANS_NODATA) {
        j->implicit_mx = 1;
        j->hosts = xcalloc(1, sizeof(*j->hosts));
        snprintf(j->hosts[0].name, sizeof(j->hosts[0].name), "%s", j->domain);
        j->nhosts = 1;
        job_lookup_hosts(j);
    } else if (a->n == 1 && a->mx[0].name[0] == '\0' && a->mx[0].pref == 0) {
        job_decide(j, DNS_NULLMX, "domain does not accept mail (null MX, RFC 7505)");
    } else {
        mx_hosts(j, a);
        if (j->nhosts == 0)
            job_decide(j, DNS_FAIL, "no usable MX host");
        job_lookup_hosts(j);
    }
    job_release(j);
}

/* job_new - a job on r's list, holding one guard reference */
static struct job *
job_new(dns_resolver *r, int is_mx, dns_cb cb, void *arg)
{
    struct job *j = xcalloc(1, sizeof(*j));
    j->r = r;
    j->is_mx = is_mx;
    j->cb = cb;
    j->arg = arg;
    j->pending = 1;
    eng_timer_init(&j->done, on_job_done, j);
    j->next = r->jobs;
    if (r->jobs)
        r->jobs->prev = j;
    r->jobs = j;
    return j;
}

/* dns_resolve_mx - start an MX lookup */
int
dns_resolve_mx(dns_resolver *r, const char *domain, dns_cb cb, void *arg)
{
    struct job *j;
    if (r->closing)
        return -ESHUTDOWN;
    j = job_new(r, 1, cb, arg);
    if (dns__name_norm(domain, j->domain, sizeof(j->domain)) < 0) {
        job_decide(j, DNS_FAIL, "malformed domain name");
    } else {
        j->pending++;
        q_lookup(r, j->domain, T_MX, on_mx, j, 0);
    }
    job_release(j);
    return 0;
}

/* parse_literal - "192.0.2.1", "2001:db8::1" or "[2001:db8::1]"; 0 or -1 */
static int
parse_literal(const char *s, struct dns__addr *out, char *text, size_t textlen)
{
    char buf[64];
    size_t len = strnlen(s, sizeof(buf));
    int v6only = 0;
    if (len >= 2 && len < sizeof(buf) && s[0] == '[' && s[len - 1] == ']') {
        memcpy(buf, s + 1, len - 2);
        buf[len - 2] = '\0';
        s = buf;
        v6only = 1;
    }
    if (!v6only && inet_pton(AF_INET, s, out->a) == 1)
        out->family = AF_INET;
    else if (inet_pton(AF_INET6, s, out->a) == 1)
        out->family = AF_INET6;
    else
        return -1;
    snprintf(text, textlen, "%s", s);
    return 0;
}

/* dns_resolve_hosts - resolve a given host list in order */
int
dns_resolve_hosts(dns_resolver *r, const char *const *names, size_t n, dns_cb cb, void *arg)
{
    struct job *j;
    if (r->closing)
        return -ESHUTDOWN;
    j = job_new(r, 0, cb, arg);
    if (n == 0) {
        job_decide(j, DNS_FAIL, "no hosts given");
        job_release(j);
        return 0;
    }
    j->hosts = xcalloc(n, sizeof(*j->hosts));
    j->nhosts = n;
    for (size_t i = 0; i < n; i++) {
        struct jhost *h = &j->hosts[i];
        if (names[i] == NULL)
            continue;
        if (parse_literal(names[i], &h->lit, h->name, sizeof(h->name)) == 0)
            continue;
        if (dns__name_norm(names[i], h->name, sizeof(h->name)) < 0)
            h->name[0] = '\0'; /* malformed: no address, permanently */
    }
    job_lookup_hosts(j);
    job_release(j);
    return 0;
}

/* dns_result_free - release a result */
void
dns_result_free(struct dns_result *res)
{
    if (res == NULL)
        return;
    for (size_t i = 0; i < res->nhosts; i++) {
        free(res->hosts[i].name);
        free(res->hosts[i].addrs);
    }
    free(res->hosts);
    free(res);
}

/* ---- resolver ---- */

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

/* channel_open - the c-ares channel with our options and servers */
static int
channel_open(dns_resolver *r, const struct net_addr *servers, size_t n,
             const struct dns_opts *o, char *err, size_t errlen)
{
    struct ares_options ao;
    char lookups[] = "b", *csv;
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
    if (n == 0)
        return 0;
    csv = xcalloc(n, 64);
    if (servers_csv(servers, n, csv, n * 64) < 0) {
        snprintf(err, errlen, "dns_servers: unusable address");
        rc = ARES_EBADSTR;
    } else if ((rc = ares_set_servers_ports_csv(r->ch, csv)) != ARES_SUCCESS) {
        snprintf(err, errlen, "dns_servers %s: %s", csv, ares_strerror(rc));
    }
    free(csv);
    if (rc != ARES_SUCCESS) {
        ares_destroy(r->ch);
        return -1;
    }
    return 0;
}

/* dns_resolver_new_opts - a resolver for loop with tuning */
dns_resolver *
dns_resolver_new_opts(eng_loop *loop, const struct net_addr *servers, size_t n,
                      const struct dns_opts *opts, char *err, size_t errlen)
{
    dns_resolver *r;
    if (dns_init() < 0) {
        snprintf(err, errlen, "c-ares library initialisation failed");
        return NULL;
    }
    r = xcalloc(1, sizeof(*r));
    r->loop = loop;
    r->nbuckets = 256;
    r->tab = xcalloc(r->nbuckets, sizeof(*r->tab));
    r->cache_max = opts && opts->cache_max > 0 ? opts->cache_max : CACHE_MAX_DEFAULT;
    eng_timer_init(&r->tmo, on_tmo, r);
    if (getrandom(&r->rnd, sizeof(r->rnd), GRND_NONBLOCK) != sizeof(r->rnd))
        r->rnd = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)r;
    r->rnd |= 1; /* xorshift state must not be zero */
    if (channel_open(r, servers, n, opts, err, errlen) < 0) {
        free(r->tab);
        free(r);
        return NULL;
    }
    return r;
}

/* dns_resolver_new - a resolver with the default tuning */
dns_resolver *
dns_resolver_new(eng_loop *loop, const struct net_addr *servers, size_t n, char *err,
                 size_t errlen)
{
    return dns_resolver_new_opts(loop, servers, n, NULL, err, errlen);
}

/* dns_resolver_free - cancel everything, deliver every callback, release */
void
dns_resolver_free(dns_resolver *r)
{
    struct job *j;
    if (r == NULL)
        return;
    r->closing = 1;
    eng_timer_stop(r->loop, &r->tmo);
    ares_destroy(r->ch); /* every query ends: ARES_EDESTRUCTION */
    while ((j = r->jobs) != NULL) {
        struct dns_result *res = j->res;
        dns_cb cb = j->cb;
        void *arg = j->arg;
        eng_timer_stop(r->loop, &j->done);
        if (res == NULL) { /* cannot happen: every lookup ended above */
            job_decide(j, DNS_RETRY, "lookup cancelled: resolver shut down");
            res = job_build(j);
        }
        job_unlink(j);
        job_free(j);
        cb(res, arg);
    }
    while (r->socks != NULL) {
        struct sockw *w = r->socks;
        eng_io_set(r->loop, &w->io, 0);
        r->socks = w->next;
        free(w);
    }
    cache_free_all(r);
    free(r);
}
