/*
 * dnssec.c - DNSSEC-validated lookups (libunbound, thread mode, answer pipe
 *            watched by the engine loop) and the RFC 7672 §2.2 DANE decision.
 *            See dnssec.h for the contract.
 *
 * Each lookup is a struct dq on the resolver's list, with a loop timer as the
 * upper bound. libunbound answers through ub_process(), called when ub_fd()
 * is readable; cancelled (timed-out) queries get no libunbound callback.
 * A DANE lookup is a small state machine over such queries: addresses
 * (A + AAAA together), then TLSA for the expanded name, then perhaps TLSA for
 * the original name.
 */
#include "dns/dnssec.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unbound.h>

#define DQ_TIMEOUT_MS 10000

struct dq;

struct dnssec_resolver {
    eng_loop *loop;
    struct ub_ctx *ub;
    struct eng_io io;
    int timeout_ms;
    int closing;
    size_t pending;
    struct dq *head;
};

/* One libunbound query in flight. */
struct dq {
    dnssec_resolver *r;
    int async_id;
    int type;
    char name[256];
    struct eng_timer timer;
    dnssec_cb cb;
    void *arg;
    struct dq *prev, *next;
};

/* ------------------------------------------------------------- helpers */

/* name_norm - lower-case, strip one trailing dot, check the syntax; 0 or -1 */
static int
name_norm(const char *in, char *out, size_t outlen)
{
    size_t n = strlen(in), lab = 0;
    if (n > 0 && in[n - 1] == '.')
        n--;
    if (n == 0 || n > 253 || n >= outlen)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '.') {
            if (lab == 0)
                return -1;
            lab = 0;
        } else if (isalnum(c) || c == '-' || c == '_') {
            if (++lab > 63)
                return -1;
        } else {
            return -1;
        }
        out[i] = (char)tolower(c);
    }
    out[n] = '\0';
    return lab == 0 ? -1 : 0;
}

/* wire_name - decode an uncompressed wire-format name at p (len left) into
 * out (normalised, no trailing dot); octets used, or -1 */
static int
wire_name(const unsigned char *p, size_t len, char *out, size_t outlen)
{
    size_t i = 0, o = 0;
    for (;;) {
        if (i >= len)
            return -1;
        size_t l = p[i++];
        if (l == 0)
            break;
        if (l > 63 || i + l > len || o + l + 2 > outlen)
            return -1;
        if (o > 0)
            out[o++] = '.';
        for (size_t k = 0; k < l; k++) {
            unsigned char c = p[i + k];
            out[o++] = (char)(isprint(c) && c != '.' ? tolower(c) : '?');
        }
        i += l;
    }
    out[o] = '\0';
    return (int)i;
}

/* dnssec_sec_text - log name of an answer's security */
const char *
dnssec_sec_text(enum dnssec_sec s)
{
    static const char *const t[] = {"secure", "insecure", "bogus", "error"};
    return (unsigned)s < 4 ? t[s] : "?";
}

/* dane_status_text - log name of a DANE outcome */
const char *
dane_status_text(enum dane_status s)
{
    static const char *const t[] = {"secure-usable", "secure-none-usable", "insecure", "fail"};
    return (unsigned)s < 4 ? t[s] : "?";
}

/* dnssec_tlsa_usable - usage 2/3, selector 0/1, matching type 0/1/2 with the right length */
int
dnssec_tlsa_usable(const struct dnssec_tlsa *t)
{
    if (t->usage != 2 && t->usage != 3)
        return 0;
    if (t->selector > 1)
        return 0;
    switch (t->mtype) {
    case 0:
        return t->len > 0;
    case 1:
        return t->len == 32;
    case 2:
        return t->len == 64;
    default:
        return 0;
    }
}

/* ------------------------------------------------------------ answers */

/* add_addr - append one A/AAAA rdata item */
static void
add_addr(struct dnssec_answer *a, const unsigned char *d, int len)
{
    struct sockaddr_storage *ss = &a->addrs[a->n];
    memset(ss, 0, sizeof(*ss));
    if (a->type == DNSSEC_T_A && len == 4) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        memcpy(&s4->sin_addr, d, 4);
        a->n++;
    } else if (a->type == DNSSEC_T_AAAA && len == 16) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        memcpy(&s6->sin6_addr, d, 16);
        a->n++;
    }
}

/* add_rr - append one MX or TLSA rdata item; -ENOMEM or 0 */
static int
add_rr(struct dnssec_answer *a, const unsigned char *d, int len)
{
    if (a->type == DNSSEC_T_MX) {
        struct dnssec_mx *m = &a->mx[a->n];
        if (len < 3 || wire_name(d + 2, (size_t)len - 2, m->name, sizeof(m->name)) != len - 2)
            return 0;
        m->pref = (uint16_t)(d[0] << 8 | d[1]);
        a->n++;
    } else if (a->type == DNSSEC_T_TLSA) {
        struct dnssec_tlsa *t = &a->tlsa[a->n];
        if (len < 4 || len - 3 > 65535)
            return 0;
        t->usage = d[0];
        t->selector = d[1];
        t->mtype = d[2];
        t->len = (uint16_t)(len - 3);
        if ((t->data = malloc(t->len)) == NULL)
            return -ENOMEM;
        memcpy(t->data, d + 3, t->len);
        a->n++;
    }
    return 0;
}

/* dnssec__rdata_parse - records of a->type from unbound's rdata list */
int
dnssec__rdata_parse(struct dnssec_answer *a, char *const *data, const int *len)
{
    size_t cnt = 0;
    while (data != NULL && data[cnt] != NULL && cnt < 4096)
        cnt++;
    if (cnt == 0)
        return 0;
    if (a->type == DNSSEC_T_MX)
        a->mx = calloc(cnt, sizeof(*a->mx));
    else if (a->type == DNSSEC_T_TLSA)
        a->tlsa = calloc(cnt, sizeof(*a->tlsa));
    else
        a->addrs = calloc(cnt, sizeof(*a->addrs));
    if (a->mx == NULL && a->tlsa == NULL && a->addrs == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < cnt; i++) {
        const unsigned char *d = (const unsigned char *)data[i];
        if (len[i] <= 0)
            continue;
        if (a->type == DNSSEC_T_A || a->type == DNSSEC_T_AAAA)
            add_addr(a, d, len[i]);
        else if (add_rr(a, d, len[i]) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* answer_new - an empty answer for (name, type) */
static struct dnssec_answer *
answer_new(const char *name, int type)
{
    struct dnssec_answer *a = calloc(1, sizeof(*a));
    if (a == NULL)
        abort();
    a->type = type;
    snprintf(a->qname, sizeof(a->qname), "%s", name);
    snprintf(a->canonname, sizeof(a->canonname), "%s", name);
    return a;
}

/* answer_classify - security and data of an unbound result */
static void
answer_classify(struct dnssec_answer *a, struct ub_result *res)
{
    a->rcode = res->rcode;
    if (res->canonname != NULL && name_norm(res->canonname, a->canonname, sizeof(a->canonname)) < 0)
        snprintf(a->canonname, sizeof(a->canonname), "%s", a->qname);
    if (res->bogus) { /* rcode 0 and havedata 1 are normal here: never trust the data */
        a->sec = DNSSEC_BOGUS;
        snprintf(a->why, sizeof(a->why), "DNSSEC validation failed for %s: %s", a->qname,
                 res->why_bogus ? res->why_bogus : "bogus");
        return;
    }
    if (res->rcode != 0 && res->rcode != 3) {
        a->sec = DNSSEC_ERROR;
        snprintf(a->why, sizeof(a->why), "lookup of %s failed: rcode %d%s", a->qname, res->rcode,
                 res->rcode == 2   ? " (SERVFAIL)"
                 : res->rcode == 5 ? " (REFUSED)"
                                   : "");
        return;
    }
    a->sec = res->secure ? DNSSEC_SECURE : DNSSEC_INSECURE;
    a->ttl = res->ttl > 0 ? (uint32_t)res->ttl : 0;
    if (!res->havedata) {
        a->nxdomain = res->nxdomain || res->rcode == 3;
        a->nodata = 1;
        return;
    }
    if (dnssec__rdata_parse(a, res->data, res->len) < 0)
        abort();
    if (a->n == 0)
        a->nodata = 1;
}

/* dnssec_answer_free - release an answer */
void
dnssec_answer_free(struct dnssec_answer *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; a->tlsa != NULL && i < a->n; i++)
        free(a->tlsa[i].data);
    free(a->tlsa);
    free(a->mx);
    free(a->addrs);
    free(a);
}

/* ------------------------------------------------------------ queries */

/* dq_unlink - take q off the resolver's list and stop its timer */
static void
dq_unlink(struct dq *q)
{
    dnssec_resolver *r = q->r;
    eng_timer_stop(r->loop, &q->timer);
    if (q->prev)
        q->prev->next = q->next;
    else
        r->head = q->next;
    if (q->next)
        q->next->prev = q->prev;
    r->pending--;
}

/* dq_fail - answer q with DNSSEC_ERROR and free it */
static void
dq_fail(struct dq *q, const char *fmt, const char *detail)
{
    struct dnssec_answer *a = answer_new(q->name, q->type);
    dnssec_cb cb = q->cb;
    void *arg = q->arg;
    a->sec = DNSSEC_ERROR;
    a->rcode = 2;
    snprintf(a->why, sizeof(a->why), fmt, q->name, detail);
    dq_unlink(q);
    free(q);
    cb(a, arg);
}

/* on_ub_answer - libunbound's callback (inside ub_process, loop thread) */
static void
on_ub_answer(void *arg, int err, struct ub_result *res)
{
    struct dq *q = arg;
    struct dnssec_answer *a;
    dnssec_cb cb = q->cb;
    void *cbarg = q->arg;
    if (err != 0 || res == NULL) {
        if (res)
            ub_resolve_free(res);
        dq_fail(q, "lookup of %s failed: %s", ub_strerror(err));
        return;
    }
    a = answer_new(q->name, q->type);
    answer_classify(a, res);
    ub_resolve_free(res);
    dq_unlink(q);
    free(q);
    cb(a, cbarg);
}

/* on_dq_timeout - the lookup took too long: cancel it */
static void
on_dq_timeout(eng_loop *loop, struct eng_timer *t)
{
    struct dq *q = t->data;
    (void)loop;
    ub_cancel(q->r->ub, q->async_id);
    dq_fail(q, "lookup of %s failed: %s", "timed out");
}

/* on_ub_fd - answers are waiting in libunbound's pipe */
static void
on_ub_fd(eng_loop *loop, struct eng_io *io, uint32_t events)
{
    dnssec_resolver *r = io->data;
    (void)loop;
    (void)events;
    ub_process(r->ub);
}

/* dnssec_resolve - start one validated lookup */
int
dnssec_resolve(dnssec_resolver *r, const char *name, int type, dnssec_cb cb, void *arg)
{
    struct dq *q;
    int rc;
    if (r->closing)
        return -ESHUTDOWN;
    if (type != DNSSEC_T_A && type != DNSSEC_T_AAAA && type != DNSSEC_T_MX && type != DNSSEC_T_TLSA)
        return -EINVAL;
    if ((q = calloc(1, sizeof(*q))) == NULL)
        return -ENOMEM;
    if (name == NULL || name_norm(name, q->name, sizeof(q->name)) < 0) {
        free(q);
        return -EINVAL;
    }
    q->r = r;
    q->type = type;
    q->cb = cb;
    q->arg = arg;
    rc = ub_resolve_async(r->ub, q->name, type, 1, q, on_ub_answer, &q->async_id);
    if (rc != 0) {
        free(q);
        return rc == UB_NOMEM ? -ENOMEM : -EIO;
    }
    eng_timer_init(&q->timer, on_dq_timeout, q);
    eng_timer_start(r->loop, &q->timer, (uint64_t)r->timeout_ms);
    q->next = r->head;
    if (r->head)
        r->head->prev = q;
    r->head = q;
    r->pending++;
    return 0;
}

/* dnssec_resolve_tlsa - TLSA at _PORT._tcp.HOST */
int
dnssec_resolve_tlsa(dnssec_resolver *r, const char *host, uint16_t port, dnssec_cb cb, void *arg)
{
    char name[300];
    if (host == NULL || strlen(host) > 240)
        return -EINVAL;
    snprintf(name, sizeof(name), "_%u._tcp.%s", (unsigned)port, host);
    return dnssec_resolve(r, name, DNSSEC_T_TLSA, cb, arg);
}

/* dnssec_pending - lookups in flight */
size_t
dnssec_pending(const dnssec_resolver *r)
{
    return r->pending;
}

/* --------------------------------------------------------- set-up */

/* server_text - "ip" or "ip@port" for unbound */
static void
server_text(const struct net_addr *s, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN] = "";
    unsigned port = 53;
    if (s->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&s->ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
        port = ntohs(a->sin6_port);
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&s->ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
        port = ntohs(a->sin_port);
    }
    if (port == 0 || port == 53)
        snprintf(out, outlen, "%s", ip);
    else
        snprintf(out, outlen, "%s@%u", ip, port);
}

/* ub_check - turn a libunbound error into err text; 0 or -1 */
static int
ub_check(int rc, const char *what, char *err, size_t errlen)
{
    if (rc == 0)
        return 0;
    snprintf(err, errlen, "libunbound: %s: %s", what, ub_strerror(rc));
    return -1;
}

/* setup_servers - forwarders or stubs, and the transparent zones */
static int
setup_servers(struct ub_ctx *ub, const struct dnssec_opts *o, char *err, size_t errlen)
{
    char addr[80], zone[300];
    for (size_t z = 0; z < o->nzones; z++) {
        snprintf(zone, sizeof(zone), "%s transparent", o->zones[z]);
        if (ub_check(ub_ctx_set_option(ub, "local-zone:", zone), "local-zone", err, errlen))
            return -1;
    }
    if (o->nservers == 0)
        return ub_check(ub_ctx_resolvconf(ub, NULL), "resolv.conf", err, errlen);
    for (size_t i = 0; i < o->nservers; i++) {
        server_text(&o->servers[i], addr, sizeof(addr));
        if (!o->stub) {
            if (ub_check(ub_ctx_set_fwd(ub, addr), addr, err, errlen))
                return -1;
            continue;
        }
        if (o->nzones == 0 && ub_check(ub_ctx_set_stub(ub, ".", addr, 0), addr, err, errlen))
            return -1;
        for (size_t z = 0; z < o->nzones; z++)
            if (ub_check(ub_ctx_set_stub(ub, o->zones[z], addr, 0), addr, err, errlen))
                return -1;
    }
    return 0;
}

/* make_ctx - a configured libunbound context, or NULL with err */
static struct ub_ctx *
make_ctx(const struct dnssec_opts *o, char *err, size_t errlen)
{
    struct ub_ctx *ub = ub_ctx_create();
    if (ub == NULL) {
        snprintf(err, errlen, "libunbound: cannot create a context");
        return NULL;
    }
    if (ub_check(ub_ctx_async(ub, 1), "async", err, errlen) ||
        ub_check(ub_ctx_set_option(ub, "do-not-query-localhost:", "no"), "option", err, errlen) ||
        ub_check(ub_ctx_set_option(ub, "val-log-level:", "2"), "option", err, errlen) ||
        ub_check(ub_ctx_set_option(ub, "use-syslog:", "no"), "option", err, errlen) ||
        ub_check(ub_ctx_set_option(ub, "logfile:", "/dev/null"), "option", err, errlen) ||
        setup_servers(ub, o, err, errlen) < 0)
        goto fail;
    if (o->trust_anchor_file != NULL &&
        ub_check(ub_ctx_add_ta_file(ub, o->trust_anchor_file), o->trust_anchor_file, err, errlen))
        goto fail;
    return ub;
fail:
    ub_ctx_delete(ub);
    return NULL;
}

/* dnssec_resolver_new - a context per loop, its answer pipe on the loop */
dnssec_resolver *
dnssec_resolver_new(eng_loop *loop, const struct dnssec_opts *o, char *err, size_t errlen)
{
    dnssec_resolver *r = calloc(1, sizeof(*r));
    int fd;
    if (r == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->loop = loop;
    r->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : DQ_TIMEOUT_MS;
    if ((r->ub = make_ctx(o, err, errlen)) == NULL) {
        free(r);
        return NULL;
    }
    fd = ub_fd(r->ub);
    eng_io_init(&r->io, fd, on_ub_fd, r);
    if (fd < 0 || eng_io_set(loop, &r->io, EPOLLIN) < 0) {
        snprintf(err, errlen, "libunbound: cannot watch its answer pipe");
        ub_ctx_delete(r->ub);
        free(r);
        return NULL;
    }
    return r;
}

/* dnssec_resolver_free - cancel pending lookups (their callbacks run), release */
void
dnssec_resolver_free(dnssec_resolver *r)
{
    if (r == NULL)
        return;
    r->closing = 1;
    while (r->head != NULL) {
        struct dq *q = r->head;
        ub_cancel(r->ub, q->async_id);
        dq_fail(q, "lookup of %s failed: %s", "cancelled");
    }
    eng_io_set(r->loop, &r->io, 0);
    ub_ctx_delete(r->ub);
    free(r);
}

/* ------------------------------------------------------ DANE decision */

/* One dnssec_dane_lookup() in progress. */
struct dane_job {
    dnssec_resolver *r;
    uint16_t port;
    dnssec_dane_cb cb;
    void *arg;
    int waiting; /* address answers outstanding */
    struct dnssec_answer *a4, *a6;
    int tried_host; /* the TLSA for the un-expanded name has been asked */
    struct dnssec_dane *d;
};

/* dane_finish - deliver the outcome and free the job */
static void
dane_finish(struct dane_job *j, enum dane_status st)
{
    struct dnssec_dane *d = j->d;
    dnssec_dane_cb cb = j->cb;
    void *arg = j->arg;
    d->status = st;
    dnssec_answer_free(j->a4);
    dnssec_answer_free(j->a6);
    free(j);
    cb(d, arg);
}

/* ttl_min - fold one answer's TTL into the outcome */
static void
ttl_min(struct dnssec_dane *d, const struct dnssec_answer *a)
{
    if (a != NULL && a->ttl > 0 && (d->ttl == 0 || a->ttl < d->ttl))
        d->ttl = a->ttl;
}

/* take_tlsa - move a secure TLSA RRset into the outcome; its status */
static enum dane_status
take_tlsa(struct dane_job *j, struct dnssec_answer *a, const char *base)
{
    struct dnssec_dane *d = j->d;
    snprintf(d->base, sizeof(d->base), "%s", base);
    d->tlsa = a->tlsa;
    d->ntlsa = a->n;
    a->tlsa = NULL;
    a->n = 0;
    for (size_t i = 0; i < d->ntlsa; i++) {
        if (dnssec_tlsa_usable(&d->tlsa[i])) {
            d->nusable++;
            d->usage_bits |= 1u << d->tlsa[i].usage;
        }
    }
    if (d->nusable > 0)
        return DANE_SECURE_USABLE;
    snprintf(d->why, sizeof(d->why), "no usable TLSA record at _%u._tcp.%s", j->port, base);
    return DANE_SECURE_NONE_USABLE;
}

/* on_dane_tlsa - a TLSA answer for the expanded name or the original */
static void
on_dane_tlsa(struct dnssec_answer *a, void *arg)
{
    struct dane_job *j = arg;
    struct dnssec_dane *d = j->d;
    const char *base = j->tried_host ? d->host : d->canon;
    enum dane_status st;
    ttl_min(d, a);
    if (a->sec == DNSSEC_BOGUS || a->sec == DNSSEC_ERROR) {
        snprintf(d->why, sizeof(d->why), "TLSA %s", a->why);
        st = DANE_FAIL;
    } else if (a->sec == DNSSEC_INSECURE) {
        snprintf(d->why, sizeof(d->why), "TLSA at _%u._tcp.%s is not DNSSEC-signed", j->port, base);
        st = DANE_INSECURE;
    } else if (a->n > 0) {
        st = take_tlsa(j, a, base);
    } else if (!j->tried_host && strcmp(d->canon, d->host) != 0) {
        dnssec_answer_free(a);
        j->tried_host = 1;
        if (dnssec_resolve_tlsa(j->r, d->host, j->port, on_dane_tlsa, j) == 0)
            return;
        snprintf(d->why, sizeof(d->why), "TLSA lookup for %s could not start", d->host);
        dane_finish(j, DANE_FAIL);
        return;
    } else {
        snprintf(d->why, sizeof(d->why), "no TLSA records for %s (proven absent)", d->host);
        st = DANE_INSECURE;
    }
    dnssec_answer_free(a);
    dane_finish(j, st);
}

/* take_addrs - copy the addresses of both answers, IPv4 first */
static void
take_addrs(struct dane_job *j)
{
    struct dnssec_dane *d = j->d;
    size_t n = j->a4->n + j->a6->n;
    if (n == 0)
        return;
    if ((d->addrs = calloc(n, sizeof(*d->addrs))) == NULL)
        abort();
    if (j->a4->n)
        memcpy(d->addrs, j->a4->addrs, j->a4->n * sizeof(*d->addrs));
    if (j->a6->n)
        memcpy(d->addrs + j->a4->n, j->a6->addrs, j->a6->n * sizeof(*d->addrs));
    d->naddr = n;
}

/* dane_addrs_done - both address answers are in: decide whether TLSA applies */
static void
dane_addrs_done(struct dane_job *j)
{
    struct dnssec_dane *d = j->d;
    struct dnssec_answer *bad = NULL;
    if (j->a4->sec == DNSSEC_BOGUS || j->a4->sec == DNSSEC_ERROR)
        bad = j->a4;
    else if (j->a6->sec == DNSSEC_BOGUS || j->a6->sec == DNSSEC_ERROR)
        bad = j->a6;
    ttl_min(d, j->a4);
    ttl_min(d, j->a6);
    if (bad != NULL) {
        snprintf(d->why, sizeof(d->why), "address %s", bad->why);
        dane_finish(j, DANE_FAIL);
        return;
    }
    take_addrs(j);
    snprintf(d->canon, sizeof(d->canon), "%s", j->a4->n ? j->a4->canonname : j->a6->canonname);
    if (d->naddr == 0) {
        snprintf(d->why, sizeof(d->why), "%s has no A or AAAA records", d->host);
        dane_finish(j, DANE_FAIL);
        return;
    }
    d->addr_secure = j->a4->sec == DNSSEC_SECURE && j->a6->sec == DNSSEC_SECURE;
    if (!d->addr_secure) {
        snprintf(d->why, sizeof(d->why), "address records of %s are not DNSSEC-signed", d->host);
        dane_finish(j, DANE_INSECURE);
        return;
    }
    if (dnssec_resolve_tlsa(j->r, d->canon, j->port, on_dane_tlsa, j) != 0) {
        snprintf(d->why, sizeof(d->why), "TLSA lookup for %s could not start", d->canon);
        dane_finish(j, DANE_FAIL);
    }
}

/* on_dane_addr - one of the A / AAAA answers */
static void
on_dane_addr(struct dnssec_answer *a, void *arg)
{
    struct dane_job *j = arg;
    if (a->type == DNSSEC_T_A)
        j->a4 = a;
    else
        j->a6 = a;
    if (--j->waiting == 0)
        dane_addrs_done(j);
}

/* on_dane_bad_name - a malformed host is answered DANE_FAIL from the loop */
static void
on_dane_bad_name(eng_loop *loop, void *arg)
{
    struct dane_job *j = arg;
    (void)loop;
    snprintf(j->d->why, sizeof(j->d->why), "malformed host name");
    dane_finish(j, DANE_FAIL);
}

/* dnssec_dane_lookup - A/AAAA, then TLSA, for one MX host */
int
dnssec_dane_lookup(dnssec_resolver *r, const char *host, uint16_t port, dnssec_dane_cb cb,
                   void *arg)
{
    struct dane_job *j;
    if (r->closing)
        return -ESHUTDOWN;
    if ((j = calloc(1, sizeof(*j))) == NULL || (j->d = calloc(1, sizeof(*j->d))) == NULL) {
        free(j);
        return -ENOMEM;
    }
    *j = (struct dane_job){.r = r, .port = port, .cb = cb, .arg = arg, .d = j->d};
    if (host == NULL || strlen(host) > 240 || name_norm(host, j->d->host, sizeof(j->d->host))) {
        snprintf(j->d->host, sizeof(j->d->host), "%.200s", host ? host : "");
        return eng_loop_post(r->loop, on_dane_bad_name, j) == 0 ? 0 : -ENOMEM;
    }
    snprintf(j->d->canon, sizeof(j->d->canon), "%s", j->d->host);
    snprintf(j->d->base, sizeof(j->d->base), "%s", j->d->host);
    j->waiting = 2;
    if (dnssec_resolve(r, j->d->host, DNSSEC_T_A, on_dane_addr, j) != 0) {
        free(j->d);
        free(j);
        return -ENOMEM;
    }
    if (dnssec_resolve(r, j->d->host, DNSSEC_T_AAAA, on_dane_addr, j) != 0) {
        /* the A query is on its way and owns j: answer the AAAA half as an error */
        struct dnssec_answer *a = answer_new(j->d->host, DNSSEC_T_AAAA);
        a->sec = DNSSEC_ERROR;
        snprintf(a->why, sizeof(a->why), "AAAA lookup of %s could not start", j->d->host);
        j->a6 = a;
        j->waiting = 1;
    }
    return 0;
}

/* dnssec_dane_free - release an outcome */
void
dnssec_dane_free(struct dnssec_dane *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->ntlsa; i++)
        free(d->tlsa[i].data);
    free(d->tlsa);
    free(d->addrs);
    free(d);
}
