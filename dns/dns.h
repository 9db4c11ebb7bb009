/*
 * dns.h - asynchronous resolution for routing: MX (RFC 5321 §5.1) and
 *         host addresses, through c-ares, driven by an engine loop.
 *
 * One resolver per event loop (c-ares 1.18 channels have no locking): all
 * calls on the loop's thread. Sockets are watched through the loop
 * (ARES_OPT_SOCK_STATE_CB) and c-ares timeouts through a loop timer, so
 * nothing blocks. Answers are cached per resolver, honouring TTLs, with
 * negative caching (NXDOMAIN/NODATA for the SOA minimum, or 60 s); concurrent
 * lookups of one name are coalesced into a single query.
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

#include "engine/config.h"
#include "engine/loop.h"

enum dns_status { DNS_OK = 0, DNS_RETRY, DNS_FAIL, DNS_NULLMX };

struct dns_host {
    char *name;            /* MX target or host name, lower case, no trailing dot */
    uint16_t pref;         /* MX preference (0 for implicit MX / plain hosts) */
    size_t naddr;
    struct sockaddr_storage *addrs; /* IPv4 first then IPv6, ports 0 */
};

struct dns_result {
    enum dns_status status;
    char why[160];         /* human text for logs when status != DNS_OK */
    int implicit_mx;       /* no MX records: the domain itself is the host */
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
dns_resolver *dns_resolver_new(eng_loop *loop, const struct cfg_sockaddr *servers, size_t n,
                               char *err, size_t errlen);
/* dns_resolver_free - cancels pending lookups (their callbacks get DNS_RETRY) */
void dns_resolver_free(dns_resolver *r);

/* dns_resolve_mx - MX for domain, ordered per RFC 5321 §5.1 (preference,
 * random among equals), every target's A/AAAA resolved; implicit MX when the
 * domain has no MX; DNS_NULLMX for "MX 0 ."; 0 or -ENOMEM */
int dns_resolve_mx(dns_resolver *r, const char *domain, dns_cb cb, void *arg);
/* dns_resolve_hosts - the given names in order (manualroute), each resolved */
int dns_resolve_hosts(dns_resolver *r, const char *const *names, size_t n, dns_cb cb, void *arg);

void dns_result_free(struct dns_result *res);

/* dns_mx_order - sort hosts by preference, shuffling equal preferences with
 * rnd (a function returning uniform random values); pure, for tests */
void dns_mx_order(struct dns_host *hosts, size_t n, uint32_t (*rnd)(void *), void *rnd_arg);

/* dns_cache_stats - lookups served from cache / sent (this resolver) */
void dns_cache_stats(const dns_resolver *r, uint64_t *hits, uint64_t *queries);

#endif
