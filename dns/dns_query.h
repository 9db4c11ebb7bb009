/*
 * dns_query.h - private to dns/: the query layer under the lookups of dns.c.
 *
 * It owns the c-ares channel (driven by the resolver's loop), the cache of
 * answers keyed by (name, type) with concurrent lookups of one key coalesced,
 * and the cap on queries in flight with its FIFO queue of those waiting for
 * a slot. dns.c calls in; nothing here calls dns.c back by name (a lookup's
 * waiter is a function pointer), so the two objects form no circle.
 *
 * All on the resolver's loop thread, like everything in dns/.
 */
#ifndef SPATE_DNS_DNS_QUERY_H
#define SPATE_DNS_DNS_QUERY_H

#include <ares.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/dns.h"

struct dns__centry;
struct dns__sockw;
struct dns__job;

struct dns_resolver {
    eng_loop *loop;
    ares_channel ch;
    int closing; /* dns_resolver_free() has begun */
    struct eng_timer tmo;
    struct dns__sockw *socks;
    struct dns__job *jobs; /* dns.c: lookups not yet delivered */
    /* the cache (dns_query.c) */
    struct dns__centry **tab;
    size_t nbuckets, count, cache_max;
    struct dns__centry *lru_head, *lru_tail;
    uint64_t next_sweep_ms;
    uint64_t hits, queries;
    /* the cap: queries handed to c-ares and not yet answered, and the rest */
    size_t inflight, max_inflight, peak;
    struct dns__centry *qhead, **qtail; /* waiting for a slot, oldest first */
    size_t queued;
    int pumping;  /* queue_pump() is running (it may be re-entered) */
    uint64_t rnd; /* dns.c: shuffles equal MX preferences */
};

/* A lookup's continuation: a (held for the call only; take a reference to
 * keep it), with the arg and idx given to dns__lookup(). */
typedef void (*dns__waiter_fn)(dns_resolver *r, struct dns__answer *a, void *arg, size_t idx);

/* dns__query_open - the cache, the cap and the c-ares channel of a fresh r
 * (loop set, the rest zero) with opts (may be NULL) and servers (n == 0:
 * /etc/resolv.conf); 0, or -1 with err and nothing left allocated */
int dns__query_open(dns_resolver *r, const struct net_addr *servers, size_t n,
                    const struct dns_opts *opts, char *err, size_t errlen);
/* dns__lookup - answer (name, type) to fn from the cache, by joining the same
 * lookup in flight or queued, or with a new query (queued while the cap is
 * reached); fn may run before this returns. With r->closing set, fn gets a
 * temporary answer (ARES_EDESTRUCTION) at once. */
void dns__lookup(dns_resolver *r, const char *name, int type, dns__waiter_fn fn, void *arg,
                 size_t idx);
/* dns__query_cancel - with r->closing set: end every queued and in-flight
 * lookup with a temporary answer (ARES_EDESTRUCTION), their waiters called
 * from here, and destroy the channel */
void dns__query_cancel(dns_resolver *r);
/* dns__query_free - release the socket watchers and the cache, after cancel */
void dns__query_free(dns_resolver *r);

#endif
