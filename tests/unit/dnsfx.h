/*
 * dnsfx.h - what the dns/ unit programs that talk to a real server
 *           (test_dns.c, test_dns_cache.c, test_dns_fanout.c) share: an nsd
 *           serving the made-up zone "spate-dns-test." on 127.0.0.153 (a
 *           free high port), a loop and a resolver pointed at it, and the
 *           runner that drives a case as a chain of steps on the loop,
 *           bounded by a safety timer.
 */
#ifndef SPATE_TESTS_DNSFX_H
#define SPATE_TESTS_DNSFX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "dns/dns.h"

#define NSD_BIN "/usr/sbin/nsd"
#define NSD_ADDR "127.0.0.153"
#define ZONE "spate-dns-test"
#define MAX_RES 32
#define MAX_STEPS 8
#define SAFETY_MS 10000

struct fx;
typedef void (*step_fn)(struct fx *f);

struct fx {
    char dir[64];
    pid_t nsd;
    uint16_t port;
    eng_loop *loop;
    dns_resolver *r;
    struct eng_timer safety, delay;
    int timed_out;
    step_fn steps[MAX_STEPS];
    size_t nsteps, cur;
    int outstanding;
    struct dns_result *res[MAX_RES];
    size_t nres;
    int in_call; /* set while a dns_resolve_*() call runs */
    int reentered;
};

/* server_addr - a net_addr for ip:port */
struct net_addr server_addr(const char *ip, uint16_t port);
/* new_resolver - a resolver for loop pointed at ip:port with short timeouts */
dns_resolver *new_resolver(eng_loop *loop, const char *ip, uint16_t port, int timeout_ms,
                           int tries);

/* on_safety - a run took too long */
void on_safety(eng_loop *loop, struct eng_timer *t);
/* advance - run steps while nothing is outstanding; stop after the last */
void advance(struct fx *f);
/* on_result - collect a result; the step's last one moves on */
void on_result(struct dns_result *res, void *arg);
/* wait_ms - a step body: wait ms before the next step */
void wait_ms(struct fx *f, uint64_t ms);
/* mx - start an MX lookup in a step */
void mx(struct fx *f, const char *domain);
/* run - run the given steps on the loop, bounded by SAFETY_MS */
void run(struct fx *f, size_t n, ...);

/* host_is - name, preference and the exact address list of a host */
void host_is(const struct dns_host *h, const char *name, uint16_t pref, size_t naddr, ...);
/* queries, hits - queries and hits of the fixture's resolver */
uint64_t queries(struct fx *f);
uint64_t hits(struct fx *f);

/* setup_nsd - nsd with the test zone, a loop and a resolver pointed at it */
int setup_nsd(void **state);
/* setup_plain - a loop only (cases that make their own resolver) */
int setup_plain(void **state);
/* teardown - free results, resolver, loop; stop nsd */
int teardown(void **state);

#endif
