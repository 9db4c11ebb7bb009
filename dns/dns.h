/*
 * dns.h - asynchronous resolution for routing: MX (RFC 5321 §5.1) and
 *         host addresses, through c-ares, driven by an engine loop.
 *
 * One resolver per event loop (c-ares 1.18 channels have no locking): all
 * calls on the loop's thread, including dns_resolver_inflight() and the
 * other read-only counters. Sockets are watched through the loop
 * (ARES_OPT_SOCK_STATE_CB) and c-ares timeouts through a loop timer, so
 * nothing blocks. Answers are cached per resolver, honouring TTLs, with
 * negative caching (NXDOMAIN/NODATA for the SOA minimum, or 60 s); concurrent
 * lookups of one name are coalesced into a single query.
 *
 * Queries in flight are capped per resolver (DNS_MAX_INFLIGHT, or
 * dns_opts.max_inflight): a lookup of a name and type that is neither cached
 * nor already asked waits in a FIFO queue while the cap is reached, and each
 * answer that comes back sends the oldest waiting query. Lookups of a queued
 * name join it like any other, and its timeout starts only when it is sent
 * (so with the server unreachable, the last of N waiting lookups fails after
 * about N / cap rounds of timeouts).
 * Why: a wide fan-out (one message to a thousand domains) used to send every
 * query at once, and the answers, arriving together, overflowed the UDP
 * socket's receive buffer while the loop was busy: the kernel dropped them
 * and the domains were deferred after the timeouts. For the same reason
 * c-ares' UDP sockets get a DNS_SOCK_RCVBUF receive buffer (above
 * net.core.rmem_max only with CAP_NET_ADMIN, else up to it).
 *
 * Results separate "try again" from "give up" (STYLE.md):
 *   DNS_OK      hosts[] holds at least one host with at least one address
 *   DNS_RETRY   temporary: SERVFAIL, timeout, refused, no host resolved yet
 *   DNS_FAIL    permanent: NXDOMAIN, or no MX and no address for the domain
 *   DNS_NULLMX  the domain publishes a null MX (RFC 7505): accepts no mail
 */
#ifndef SPATE_DNS_DNS_H
#define SPATE_DNS_DNS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/loop.h"
#include "base/sockaddr.h"

enum dns_status { DNS_OK = 0, DNS_RETRY, DNS_FAIL, DNS_NULLMX };

/* Most queries a resolver has with c-ares at once (the rest wait, FIFO):
 * enough to keep a server busy, few enough that their answers, arriving
 * together while the loop is busy, fit the socket's enlarged receive buffer
 * (DNS_SOCK_RCVBUF) many times over: 256 answers take well under 1 MB of
 * kernel memory, though more than the kernel's default buffer holds. */
#define DNS_MAX_INFLIGHT 256
/* Receive buffer asked for each c-ares UDP socket (bytes; the kernel counts
 * twice this for its bookkeeping) */
#define DNS_SOCK_RCVBUF (4 * 1024 * 1024)

struct dns_host {
    char *name;    /* MX target or host name, lower case, no trailing dot */
    uint16_t pref; /* MX preference (0 for implicit MX / plain hosts) */
    size_t naddr;
    struct sockaddr_storage *addrs; /* IPv4 first then IPv6, ports 0 */
};

struct dns_result {
    enum dns_status status;
    char why[160];   /* human text for logs when status != DNS_OK */
    int implicit_mx; /* no MX records: the domain itself is the host */
    size_t nhosts;
    struct dns_host *hosts; /* in delivery order */
};

typedef struct dns_resolver dns_resolver;
/* The callback owns res; free it with dns_result_free(). Called on the loop
 * thread, never from inside the dns_resolve_*() call itself. */
typedef void (*dns_cb)(struct dns_result *res, void *arg);

/* dns_init - once per process before any thread starts (ares_library_init) */
int dns_init(void);
/* dns_resolver_new - servers: n == 0 means /etc/resolv.conf; NULL with err */
dns_resolver *dns_resolver_new(eng_loop *loop, const struct net_addr *servers, size_t n, char *err,
                               size_t errlen);
/* Tuning for dns_resolver_new_opts(); a zero field takes the default. */
struct dns_opts {
    int timeout_ms;      /* first try's timeout per server, default 2000 */
    int tries;           /* tries per server, default 2 */
    size_t cache_max;    /* cached answers kept, default 100000 (expired evicted first) */
    size_t max_inflight; /* queries in flight at once, default DNS_MAX_INFLIGHT */
};
/* dns_resolver_new_opts - dns_resolver_new() with tuning (opts may be NULL) */
dns_resolver *dns_resolver_new_opts(eng_loop *loop, const struct net_addr *servers, size_t n,
                                    const struct dns_opts *opts, char *err, size_t errlen);
/* dns_resolver_free - cancels pending lookups (their callbacks get DNS_RETRY)
 * On the loop thread, before the loop is freed. Every lookup not yet
 * delivered gets its callback from inside dns_resolver_free(), before it
 * returns: cancelled ones (in flight or still queued under the cap) with
 * DNS_RETRY ("lookup cancelled: resolver shut down"), finished ones with
 * their result. dns_resolve_*() called from such a callback returns
 * -ESHUTDOWN. */
void dns_resolver_free(dns_resolver *r);

/* dns_resolve_mx - MX for domain, ordered per RFC 5321 §5.1 (preference,
 * random among equals), every target's A/AAAA resolved; implicit MX when the
 * domain has no MX; DNS_NULLMX for "MX 0 ."; 0 or -ENOMEM (-ESHUTDOWN while
 * the resolver is being freed). A malformed domain (empty label, over 253
 * octets) is answered DNS_FAIL through the callback, with no query. */
int dns_resolve_mx(dns_resolver *r, const char *domain, dns_cb cb, void *arg);
/* dns_resolve_hosts - the given names in order (manualroute), each resolved;
 * IP literals ("192.0.2.1", "2001:db8::1", "[2001:db8::1]") need no query */
int dns_resolve_hosts(dns_resolver *r, const char *const *names, size_t n, dns_cb cb, void *arg);

void dns_result_free(struct dns_result *res);

/* ---- Single-type lookups (SPF and other policy checks) ----
 * dns_lookup - ask (name, type) for type A, AAAA, MX, TXT or PTR (the
 * DNS_T_* values) and hand the records to cb: shared cache, coalescing and
 * cap as the other lookups; CNAMEs followed by the server (A/AAAA also by
 * c-ares). The callback owns res (dns_records_free) and never runs inside
 * dns_lookup() itself; on resolver shutdown it gets DNS_REC_TEMP. A
 * malformed name is answered DNS_REC_NXDOMAIN without a query. Returns 0,
 * -EINVAL for another type, -ESHUTDOWN while the resolver is being freed.
 * Same thread rules as the rest of the resolver. */
enum { DNS_T_A = 1, DNS_T_PTR = 12, DNS_T_MX = 15, DNS_T_TXT = 16, DNS_T_AAAA = 28 };
enum dns_rstatus { DNS_REC_OK, DNS_REC_NXDOMAIN, DNS_REC_NODATA, DNS_REC_TEMP };
struct dns_rr {
    char *text;     /* TXT: the record's strings joined, len bytes + NUL; MX, PTR: the name */
    size_t len;     /* bytes of text */
    uint16_t pref;  /* MX preference */
    uint8_t family; /* A/AAAA: AF_INET or AF_INET6 */
    uint8_t addr[16];
};
struct dns_records {
    enum dns_rstatus status;
    char why[96]; /* for DNS_REC_TEMP */
    size_t n;     /* records (n > 0 only with DNS_REC_OK) */
    struct dns_rr *rr;
};
typedef void (*dns_records_cb)(struct dns_records *res, void *arg);
int dns_lookup(dns_resolver *r, const char *name, int type, dns_records_cb cb, void *arg);
void dns_records_free(struct dns_records *res);

/* dns_mx_order - sort hosts by preference, shuffling equal preferences with
 * rnd (a function returning uniform random values); pure, for tests */
void dns_mx_order(struct dns_host *hosts, size_t n, uint32_t (*rnd)(void *), void *rnd_arg);

/* dns_cache_stats - lookups served from cache or joined to one in flight or
 * queued / queries sent (this resolver) */
void dns_cache_stats(const dns_resolver *r, uint64_t *hits, uint64_t *queries);
/* dns_cache_size - entries held now: cached answers, and lookups in flight
 * or queued */
size_t dns_cache_size(const dns_resolver *r);
/* dns_resolver_inflight - queries sent and not yet answered now (never above
 * the cap); *queued (if not NULL): queries waiting for a slot; *peak (if not
 * NULL): the most ever in flight at once on this resolver */
size_t dns_resolver_inflight(const dns_resolver *r, size_t *queued, size_t *peak);

/* ---- Module internals, shared by the dns/ sources, the unit tests and fuzz targets ---- */

#define DNS__MAX_ADDRS 32 /* addresses kept per A or AAAA answer */
#define DNS__MAX_MX 64    /* MX records kept per answer */
#define DNS__MAX_TXT 64   /* TXT or PTR records kept per answer */

enum dns__astatus { DNS__ANS_OK, DNS__ANS_NXDOMAIN, DNS__ANS_NODATA, DNS__ANS_TEMP };

struct dns__mx {
    uint16_t pref;
    char name[256]; /* normalised; "" is the root (null MX target) */
};
struct dns__addr {
    uint8_t family; /* AF_INET or AF_INET6 */
    uint8_t a[16];
};
/* One parsed answer for (name, type); shared by the cache and its readers. */
struct dns__answer {
    unsigned refs;
    int type; /* 1 A, 28 AAAA, 15 MX, 16 TXT, 12 PTR */
    enum dns__astatus status;
    int ares_status; /* for DNS__ANS_TEMP: why */
    uint32_t ttl;    /* seconds to keep it (unused for TEMP) */
    size_t n;
    struct dns__mx *mx;      /* MX: n records */
    struct dns__addr *addrs; /* A/AAAA: n addresses */
    char **txt;              /* TXT: n records (strings joined); PTR: n names */
    size_t *tlen;            /* their lengths */
};
/* dns__records_from - a dns_lookup() result from an answer (NULL: a
 * malformed name, answered as a name error) */
struct dns_records *dns__records_from(const struct dns__answer *a);
/* dns__records_finish - on shutdown (closing) replace *res by a temporary
 * failure; make sure there is one */
void dns__records_finish(dns_resolver *r, struct dns_records **res, int closing);

/* dns__answer_parse - turn a c-ares query result (status, reply bytes) into
 * an answer with refs = 1; abuf may be NULL; never NULL (aborts on no memory) */
struct dns__answer *dns__answer_parse(int type, int ares_status, const unsigned char *abuf,
                                      int alen);
/* dns__answer_temp - a TEMP answer for ares_status, refs = 1 */
struct dns__answer *dns__answer_temp(int type, int ares_status);
/* dns__answer_unref - drop one reference, freeing on the last */
void dns__answer_unref(struct dns__answer *a);
/* dns__scan_ttls - min TTL of the answer RRs of type (*ans_ttl) and the
 * negative TTL min(SOA TTL, SOA MINIMUM) from the authority section (*neg_ttl);
 * -1 where absent; 0 or -1 on a malformed message */
int dns__scan_ttls(const unsigned char *m, size_t len, int type, long *ans_ttl, long *neg_ttl);
/* dns__name_norm - lower-case in, strip one trailing dot; 0, or -1 when empty,
 * over 253 octets, with an empty or over-long label or odd characters */
int dns__name_norm(const char *in, char *out, size_t outlen);

#endif
