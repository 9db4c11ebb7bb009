/*
 * test_dns_cache.c - unit tests for dns/ against a real nsd (dnsfx.c): the
 *                    answer cache (hits, bound, coalescing, TTL expiry),
 *                    servers that are down or never answer, freeing a
 *                    resolver with lookups in flight, and server lists.
 *
 * Cases run the engine loop as a chain of steps (see test_dns.c).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns/dns.h"
#include "dnsfx.h"
#include "testutil.h"

#include <cmocka.h>

/* ---- cache, retries, life cycle ---- */

static void
s_two(struct fx *f)
{
    mx(f, "Two." ZONE ".");
}

static void
s_nx(struct fx *f)
{
    mx(f, "nx." ZONE);
}

static void
test_cache_bounded(void **state)
{
    struct fx *f = *state;
    struct dns_opts o = {.timeout_ms = 500, .tries = 2, .cache_max = 3};
    struct net_addr s = server_addr(NSD_ADDR, f->port);
    char err[256];
    dns_resolver_free(f->r);
    f->r = dns_resolver_new_opts(f->loop, &s, 1, &o, err, sizeof(err));
    assert_non_null(f->r);
    run(f, 2, s_two, s_two);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(f->res[i]->status, DNS_OK);
        assert_int_equal(f->res[i]->nhosts, 2);
    }
    assert_true(dns_cache_size(f->r) <= 3);
    /* the second lookup found at most the 3 answers that were kept */
    assert_true(hits(f) <= 3);
    assert_true(queries(f) >= 5 + 2);
}

static void
s_stop_nsd(struct fx *f)
{
    tu_stop(&f->nsd);
}
static void
test_cache_hit_without_server(void **state)
{
    struct fx *f = *state;
    run(f, 3, s_two, s_stop_nsd, s_two);
    assert_int_equal(f->res[1]->status, DNS_OK);
    assert_int_equal(f->res[1]->nhosts, 2);
    host_is(&f->res[1]->hosts[0], "mx1." ZONE, 10, 2, "127.0.1.1", "2001:db8::1");
    host_is(&f->res[1]->hosts[1], "mx2." ZONE, 20, 1, "127.0.1.2");
    assert_int_equal(queries(f), 5);
    assert_int_equal(hits(f), 5); /* MX and four address answers */
    assert_int_equal(dns_cache_size(f->r), 5);
}

static void
s_two_twice(struct fx *f)
{
    mx(f, "two." ZONE);
    mx(f, "TWO." ZONE);
}
static void
test_coalesce_concurrent(void **state)
{
    struct fx *f = *state;
    run(f, 1, s_two_twice);
    assert_int_equal(f->nres, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(f->res[i]->status, DNS_OK);
        assert_int_equal(f->res[i]->nhosts, 2);
    }
    assert_int_equal(queries(f), 5); /* one query per (name, type) */
    assert_int_equal(hits(f), 5);
}

static void
s_wait_1200(struct fx *f)
{
    wait_ms(f, 1200);
}
static void
s_short(struct fx *f)
{
    mx(f, "short." ZONE);
}
static void
test_ttl_expiry(void **state)
{
    struct fx *f = *state;
    /* nx: NXDOMAIN kept for the SOA minimum (1 s), not 60 s; short: MX TTL 1 */
    run(f, 6, s_nx, s_short, s_nx, s_wait_1200, s_short, s_nx);
    assert_int_equal(f->res[0]->status, DNS_FAIL);
    assert_int_equal(f->res[1]->status, DNS_OK);
    assert_int_equal(f->res[2]->status, DNS_FAIL);
    assert_int_equal(f->res[3]->status, DNS_OK);
    assert_int_equal(f->res[4]->status, DNS_FAIL);
    assert_int_equal(f->nres, 5);
    /* nx MX; short MX + mx1 A/AAAA; nx again from cache; after 1.2 s both
     * MX answers are asked again, mx1's addresses (TTL 300) still cached */
    assert_int_equal(queries(f), 6);
    assert_int_equal(hits(f), 3);
}

static void
test_server_down_retry(void **state)
{
    struct fx *f = *state;
    uint64_t t0;
    uint16_t port = 15399;
    while (port > 15300 && !tu_port_free(NSD_ADDR, port))
        port--;
    f->r = new_resolver(f->loop, NSD_ADDR, port, 300, 2); /* nothing listens there */
    t0 = eng_now_ms();
    run(f, 1, s_two);
    assert_int_equal(f->res[0]->status, DNS_RETRY);
    assert_true(eng_now_ms() - t0 < 3000);
}

static void
test_timeout_retry(void **state)
{
    struct fx *f = *state;
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sin);
    int hole = socket(AF_INET, SOCK_DGRAM, 0);
    uint64_t t0, q;
    /* a bound UDP socket that never answers: queries time out */
    inet_pton(AF_INET, NSD_ADDR, &sin.sin_addr);
    assert_int_equal(bind(hole, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(hole, (struct sockaddr *)&sin, &sl), 0);
    f->r = new_resolver(f->loop, NSD_ADDR, ntohs(sin.sin_port), 150, 2);
    t0 = eng_now_ms();
    run(f, 2, s_two, s_two);
    close(hole);
    assert_int_equal(f->res[0]->status, DNS_RETRY);
    assert_int_equal(f->res[1]->status, DNS_RETRY);
    assert_non_null(strstr(f->res[0]->why, "MX lookup failed"));
    assert_true(eng_now_ms() - t0 >= 2 * 150);
    assert_true(eng_now_ms() - t0 < 5000);
    dns_cache_stats(f->r, NULL, &q);
    assert_int_equal(q, 2); /* the timeout was not cached */
    assert_int_equal(dns_cache_size(f->r), 0);
}

/* on_result_only - collect a result, nothing else */
static void
on_result_only(struct dns_result *res, void *arg)
{
    struct fx *f = arg;
    f->res[f->nres++] = res;
}

/* on_free_timer - free the resolver while a lookup is in flight */
static void
on_free_timer(eng_loop *loop, struct eng_timer *t)
{
    struct fx *f = t->data;
    (void)loop;
    dns_resolver_free(f->r);
    f->r = NULL;
}
static void
s_free_soon(struct fx *f)
{
    mx(f, "two." ZONE);
    eng_timer_start(f->loop, &f->delay, 50);
}
static void
test_free_cancels(void **state)
{
    struct fx *f = *state;
    static const char *const lit[] = {"192.0.2.7"};
    int hole = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sin);
    inet_pton(AF_INET, NSD_ADDR, &sin.sin_addr);
    assert_int_equal(bind(hole, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(hole, (struct sockaddr *)&sin, &sl), 0);
    f->r = new_resolver(f->loop, NSD_ADDR, ntohs(sin.sin_port), 5000, 2);
    /* a finished lookup still waiting for its delivery: freed before the loop runs */
    assert_int_equal(dns_resolve_hosts(f->r, lit, 1, on_result_only, f), 0);
    assert_int_equal(f->nres, 0);
    dns_resolver_free(f->r);
    assert_int_equal(f->nres, 1);
    assert_int_equal(f->res[0]->status, DNS_OK);
    /* a lookup waiting on the network: cancelled with DNS_RETRY */
    f->r = new_resolver(f->loop, NSD_ADDR, ntohs(sin.sin_port), 5000, 2);
    eng_timer_init(&f->delay, on_free_timer, f);
    f->steps[0] = s_free_soon;
    f->nsteps = 1;
    f->cur = 0;
    eng_timer_init(&f->safety, on_safety, f);
    eng_timer_start(f->loop, &f->safety, SAFETY_MS);
    advance(f);
    eng_loop_run(f->loop);
    close(hole);
    assert_false(f->timed_out);
    assert_null(f->r);
    assert_int_equal(f->nres, 2);
    assert_int_equal(f->res[1]->status, DNS_RETRY);
    assert_non_null(strstr(f->res[1]->why, "shut down"));
    eng_timer_stop(f->loop, &f->safety);
}

static void
test_resolver_servers(void **state)
{
    struct fx *f = *state;
    struct net_addr sv[3] = {server_addr("127.0.0.1", 5353), server_addr("::1", 0),
                             server_addr("127.0.0.2", 0)};
    char err[256] = "";
    dns_resolver *r = dns_resolver_new(f->loop, sv, 3, err, sizeof(err));
    assert_non_null(r);
    dns_resolver_free(r);
    /* resolv.conf when no servers are configured */
    r = dns_resolver_new(f->loop, NULL, 0, err, sizeof(err));
    assert_non_null(r);
    dns_resolver_free(r);
    /* an address family c-ares cannot use */
    sv[1].ss.ss_family = AF_UNIX;
    assert_null(dns_resolver_new(f->loop, sv, 3, err, sizeof(err)));
    assert_true(strlen(err) > 0);
}

const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_cache_hit_without_server, setup_nsd, teardown),
    cmocka_unit_test_setup_teardown(test_cache_bounded, setup_nsd, teardown),
    cmocka_unit_test_setup_teardown(test_coalesce_concurrent, setup_nsd, teardown),
    cmocka_unit_test_setup_teardown(test_ttl_expiry, setup_nsd, teardown),
    cmocka_unit_test_setup_teardown(test_server_down_retry, setup_plain, teardown),
    cmocka_unit_test_setup_teardown(test_timeout_retry, setup_plain, teardown),
    cmocka_unit_test_setup_teardown(test_free_cancels, setup_plain, teardown),
    cmocka_unit_test_setup_teardown(test_resolver_servers, setup_plain, teardown),
};

int
main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
