/*
 * config_match.c - reading a loaded configuration: host and domain list
 *                  matching, the manualroute rule, retry rule and
 *                  destination entry for a domain (see config.h). Uses
 *                  nothing of the parser; any thread may call these.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "conf/config.h"

/* ---- match functions ------------------------------------------------ */

/* cfg_prefix_eq - do a and b agree in their first bits bits? */
static int
cfg_prefix_eq(const uint8_t *a, const uint8_t *b, int bits)
{
    int full = bits / 8, rem = bits % 8;
    if (memcmp(a, b, (size_t)full) != 0)
        return 0;
    if (rem == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rem));
    return (a[full] & mask) == (b[full] & mask);
}

/* cfg_hostlist_match_addr - the list walk, with the address in both forms */
static int
cfg_hostlist_match_addr(const struct cfg_hostlist *l, const char *name, const uint8_t *a4,
                        const uint8_t *a6, int depth)
{
    if (l == NULL || depth > 32)
        return 0;
    for (size_t i = 0; i < l->n; i++) {
        const struct cfg_hostitem *it = &l->items[i];
        int m = 0;
        if (it->any)
            m = 1;
        else if (it->name != NULL)
            m = name != NULL && cfg_domain_match(it->name, name);
        else if (it->sub != NULL)
            m = cfg_hostlist_match_addr(it->sub, name, a4, a6, depth + 1);
        else if (it->family == AF_INET && a4 != NULL)
            m = cfg_prefix_eq(it->addr, a4, it->prefix);
        else if (it->family == AF_INET6 && a6 != NULL)
            m = cfg_prefix_eq(it->addr, a6, it->prefix);
        if (m)
            return !it->negate;
    }
    return l->n > 0 && l->items[l->n - 1].negate;
}

/* cfg_hostlist_match - does the address match the list? */
int
cfg_hostlist_match(const struct cfg_hostlist *l, const struct sockaddr *sa)
{
    return sa != NULL && cfg_hostlist_match_host(l, NULL, sa);
}

/* cfg_hostlist_match_host - names and addresses (see config.h); an IPv4-mapped
 * IPv6 address also matches IPv4 items */
int
cfg_hostlist_match_host(const struct cfg_hostlist *l, const char *name, const struct sockaddr *sa)
{
    uint8_t a4[4], a6[16];
    const uint8_t *p4 = NULL, *p6 = NULL;
    if (l == NULL)
        return 0;
    if (sa != NULL && sa->sa_family == AF_INET) {
        memcpy(a4, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        p4 = a4;
    } else if (sa != NULL && sa->sa_family == AF_INET6) {
        const struct in6_addr *in6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        memcpy(a6, in6, 16);
        p6 = a6;
        if (IN6_IS_ADDR_V4MAPPED(in6)) {
            memcpy(a4, a6 + 12, 4);
            p4 = a4;
        }
    }
    return cfg_hostlist_match_addr(l, name, p4, p6, 0);
}

/* cfg_domain_match - one item against a domain (case-insensitive), ignoring negate */
int
cfg_domain_match(const struct cfg_domainitem *it, const char *domain)
{
    if (it == NULL || domain == NULL)
        return 0;
    size_t len = strlen(domain);
    if (len > 1 && domain[len - 1] == '.')
        len--;
    switch (it->kind) {
    case 0:
        return strlen(it->name) == len && strncasecmp(domain, it->name, len) == 0;
    case 1: {
        size_t nl = strlen(it->name);
        return len > nl + 1 && domain[len - nl - 1] == '.' &&
               strncasecmp(domain + len - nl, it->name, nl) == 0;
    }
    case 2:
        return 1;
    case 3:
        return cfg_domainlist_match(it->sub, domain);
    default:
        return 0;
    }
}

/* cfg_domainlist_match - first matching item decides; 1 match, 0 not */
int
cfg_domainlist_match(const struct cfg_domainlist *l, const char *domain)
{
    if (l == NULL || domain == NULL)
        return 0;
    for (size_t i = 0; i < l->n; i++)
        if (cfg_domain_match(&l->items[i], domain))
            return !l->items[i].negate;
    return l->n > 0 && l->items[l->n - 1].negate;
}

/* cfg_router_find_route - for a manualroute router, the first rule matching domain */
const struct cfg_route_rule *
cfg_router_find_route(const struct cfg_router *r, const char *domain)
{
    if (r == NULL || domain == NULL || r->driver != CFG_ROUTER_MANUALROUTE)
        return NULL;
    for (size_t i = 0; i < r->nroutes; i++)
        if (cfg_domain_match(&r->route_list[i].pattern, domain))
            return &r->route_list[i];
    return NULL;
}

/* cfg_retry_find_error - first rule for the domain whose error is "*" or error */
const struct cfg_retry_rule *
cfg_retry_find_error(const struct cfg *c, const char *domain, const char *error)
{
    if (c == NULL || domain == NULL)
        return NULL;
    for (size_t i = 0; i < c->nretry; i++) {
        const struct cfg_retry_rule *r = &c->retry[i];
        if (!cfg_domain_match(&r->pattern, domain))
            continue;
        if (strcmp(r->error, "*") == 0 || (error != NULL && strcasecmp(r->error, error) == 0))
            return r;
    }
    return NULL;
}

/* cfg_retry_find - the first retry rule matching the domain with error "*" */
const struct cfg_retry_rule *
cfg_retry_find(const struct cfg *c, const char *domain)
{
    return cfg_retry_find_error(c, domain, NULL);
}

/* cfg_destination_find - the entry for a destination (see config.h) */
const struct cfg_destination *
cfg_destination_find(const struct cfg *c, const char *domain, const char *const *hosts,
                     size_t nhosts)
{
    const struct cfg_destination *star = NULL;
    for (size_t i = 0; i < c->ndestinations; i++) {
        const struct cfg_destination *d = &c->destinations[i];
        if (d->pattern.kind == 2) {
            if (star == NULL)
                star = d;
            continue;
        }
        if (domain != NULL && cfg_domain_match(&d->pattern, domain))
            return d;
        for (size_t k = 0; k < nhosts; k++)
            if (cfg_domain_match(&d->pattern, hosts[k]))
                return d;
    }
    return star;
}
