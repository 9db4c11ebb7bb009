/*
 * dns.c - the resolver's lookups: MX and host-list resolution built on the
 *         query layer (dns_query.c: channel, cache, cap on queries in
 *         flight), and the resolver's life cycle (see dns.h for the contract).
 *
 * Synopsis
 *   dns_init();
 *   r = dns_resolver_new(loop, cfg->dns_servers, cfg->n_dns_servers, err, sizeof(err));
 *   dns_resolve_mx(r, "example.com", done, ctx);   ... done(res, ctx) later
 *   dns_resolver_free(r);
 *
 * Description
 *   Lookups (jobs). A job counts its outstanding lookups of (name, type)
 *   through dns__lookup() (plus a guard while it issues them) and, once they
 *   are all in, builds the dns_result and hands it over from a zero-delay loop
 *   timer: the callback never runs inside dns_resolve_*(), even when
 *   everything came from the cache. An MX job looks up the MX, then A and
 *   AAAA of every target; the query layer may hold any of them in its queue
 *   for a while (the cap), which the job does not notice.
 *
 *   Shutdown. dns_resolver_free() has the query layer end every lookup,
 *   queued or in flight, with ARES_EDESTRUCTION, which finishes every job
 *   still waiting with DNS_RETRY ("resolver shut down"); then every job,
 *   finished or not, gets its callback from inside dns_resolver_free(), and
 *   nothing is left behind.
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

#include "dns/dns_query.h"

struct jhost {
    char name[256];
    uint16_t pref;
    struct dns__answer *a4, *a6; /* held answers with addresses */
    struct dns__addr lit;        /* IP literal (family != 0) */
    int temp;                    /* a lookup failed temporarily */
};

struct dns__job {
    struct dns__job *prev, *next; /* r->jobs */
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
    /* dns_lookup(): a single-type lookup delivered as records */
    dns_records_cb rcb;
    struct dns_records *rres;
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

/* ---- jobs ---- */

/* job_decide - fix the outcome without a host list */
static void
job_decide(struct dns__job *j, enum dns_status st, const char *why)
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
job_build(struct dns__job *j)
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
job_free(struct dns__job *j)
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
job_unlink(struct dns__job *j)
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
    struct dns__job *j = t->data;
    dns_cb cb = j->cb;
    void *arg = j->arg;
    struct dns_result *res = j->res;
    dns_records_cb rcb = j->rcb;
    struct dns_records *rres = j->rres;
    (void)loop;
    job_unlink(j);
    job_free(j);
    if (rcb != NULL)
        rcb(rres, arg);
    else
        cb(res, arg);
}

/* job_release - one lookup is in; the last one finishes the job */
static void
job_release(struct dns__job *j)
{
    if (--j->pending > 0)
        return;
    if (j->r->closing) { /* whatever the cancelled lookups said */
        j->decided = 0;
        job_decide(j, DNS_RETRY, "lookup cancelled: resolver shut down");
    }
    if (j->rcb != NULL)
        dns__records_finish(j->r, &j->rres, j->r->closing);
    else
        j->res = job_build(j);
    eng_timer_start(j->r->loop, &j->done, 0);
}

/* on_addr - an A (idx even) or AAAA (idx odd) answer for host idx/2 */
static void
on_addr(dns_resolver *r, struct dns__answer *a, void *arg, size_t idx)
{
    struct dns__job *j = arg;
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
job_lookup_hosts(struct dns__job *j)
{
    j->pending++; /* guard: answers from the cache arrive during the loop */
    for (size_t i = 0; i < j->nhosts; i++) {
        if (j->hosts[i].lit.family != 0 || j->hosts[i].name[0] == '\0')
            continue;
        j->pending += 2;
        dns__lookup(j->r, j->hosts[i].name, T_A, on_addr, j, 2 * i);
        dns__lookup(j->r, j->hosts[i].name, T_AAAA, on_addr, j, 2 * i + 1);
    }
    job_release(j);
}

/* mx_hosts - ordered, de-duplicated MX targets of an answer into the job */
static void
mx_hosts(struct dns__job *j, struct dns__answer *a)
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
    struct dns__job *j = arg;
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
static struct dns__job *
job_new(dns_resolver *r, int is_mx, dns_cb cb, void *arg)
{
    struct dns__job *j = xcalloc(1, sizeof(*j));
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
    struct dns__job *j;
    if (r->closing)
        return -ESHUTDOWN;
    j = job_new(r, 1, cb, arg);
    if (dns__name_norm(domain, j->domain, sizeof(j->domain)) < 0) {
        job_decide(j, DNS_FAIL, "malformed domain name");
    } else {
        j->pending++;
        dns__lookup(r, j->domain, T_MX, on_mx, j, 0);
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
    struct dns__job *j;
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

/* on_rec - the answer of a dns_lookup() job */
static void
on_rec(dns_resolver *r, struct dns__answer *a, void *arg, size_t idx)
{
    struct dns__job *j = arg;
    (void)r, (void)idx;
    j->rres = dns__records_from(a);
    job_release(j);
}

/* dns_lookup - one query of one type, answered with its records */
int
dns_lookup(dns_resolver *r, const char *name, int type, dns_records_cb cb, void *arg)
{
    struct dns__job *j;
    if (r->closing)
        return -ESHUTDOWN;
    if (type != T_A && type != T_AAAA && type != T_MX && type != T_TXT && type != T_PTR)
        return -EINVAL;
    j = job_new(r, 0, NULL, arg);
    j->rcb = cb;
    if (dns__name_norm(name, j->domain, sizeof(j->domain)) < 0) {
        j->rres = dns__records_from(NULL); /* malformed: like a name error */
    } else {
        j->pending++;
        dns__lookup(r, j->domain, type, on_rec, j, 0);
    }
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
    if (getrandom(&r->rnd, sizeof(r->rnd), GRND_NONBLOCK) != sizeof(r->rnd))
        r->rnd = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)r;
    r->rnd |= 1; /* xorshift state must not be zero */
    if (dns__query_open(r, servers, n, opts, err, errlen) < 0) {
        free(r);
        return NULL;
    }
    return r;
}

/* dns_resolver_new - a resolver with the default tuning */
dns_resolver *
dns_resolver_new(eng_loop *loop, const struct net_addr *servers, size_t n, char *err, size_t errlen)
{
    return dns_resolver_new_opts(loop, servers, n, NULL, err, errlen);
}

/* dns_resolver_free - cancel everything, deliver every callback, release */
void
dns_resolver_free(dns_resolver *r)
{
    struct dns__job *j;
    if (r == NULL)
        return;
    r->closing = 1;
    dns__query_cancel(r); /* every lookup ends: ARES_EDESTRUCTION */
    while ((j = r->jobs) != NULL) {
        struct dns_result *res = j->res;
        dns_cb cb = j->cb;
        void *arg = j->arg;
        eng_timer_stop(r->loop, &j->done);
        if (j->rcb != NULL) {
            dns_records_cb rcb = j->rcb;
            struct dns_records *rres = j->rres;
            dns__records_finish(r, &rres, 0);
            job_unlink(j);
            job_free(j);
            rcb(rres, arg);
            continue;
        }
        if (res == NULL) { /* cannot happen: every lookup ended above */
            job_decide(j, DNS_RETRY, "lookup cancelled: resolver shut down");
            res = job_build(j);
        }
        job_unlink(j);
        job_free(j);
        cb(res, arg);
    }
    dns__query_free(r);
    free(r);
}
