/*
 * test_dns_fanout.c - unit tests for dns/ against a real nsd (dnsfx.c): the
 *                     cap on queries in flight. Thousands of distinct names
 *                     at once are all answered with never more than the cap
 *                     in flight; the queue is FIFO, joined by lookups of the
 *                     same name, and backed by the cache; lookups still
 *                     queued when the resolver is freed end cleanly; c-ares'
 *                     UDP sockets get the large receive buffer.
 *
 * The zone's wildcards give any number of names: NAME.fan has MX 10 mx1,
 * NAME.fanh an A record (dnsfx.c). Each case runs the loop until its
 * lookups are in, bounded by the fixture's safety timer.
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

#define NFAN 2048
#define MAX_ORDER 16

struct fan {
    struct fx *f;
    size_t cap;                      /* the resolver's cap on queries in flight */
    size_t n, got;                   /* lookups started, results in */
    size_t ok, retry;                /* results by status */
    size_t shut;                     /* DNS_RETRY from a resolver shutting down */
    size_t over_cap;                 /* results that saw more than the cap in flight */
    size_t order[MAX_ORDER], norder; /* item ids in the order of their results */
    uint64_t at[MAX_ORDER];          /* when each result came (eng_now_ms) */
    int want_mx;                     /* results must be mx1's */
};

struct item {
    struct fan *fan;
    size_t id;
};

/* check_mx1 - a fan-out MX result: the one host mx1 with both addresses */
static void
check_mx1(const struct dns_result *res)
{
    assert_int_equal(res->nhosts, 1);
    host_is(&res->hosts[0], "mx1." ZONE, 10, 2, "127.0.1.1", "2001:db8::1");
}

/* on_fan - one result: count it, check the cap, stop the loop after the last */
static void
on_fan(struct dns_result *res, void *arg)
{
    struct item *it = arg;
    struct fan *fan = it->fan;
    if (fan->f->r != NULL && dns_resolver_inflight(fan->f->r, NULL, NULL) > fan->cap)
        fan->over_cap++;
    if (res->status == DNS_OK) {
        fan->ok++;
        if (fan->want_mx)
            check_mx1(res);
    } else if (res->status == DNS_RETRY) {
        fan->retry++;
        fan->shut += strstr(res->why, "shut down") != NULL;
    }
    if (fan->norder < MAX_ORDER) {
        fan->at[fan->norder] = eng_now_ms();
        fan->order[fan->norder++] = it->id;
    }
    dns_result_free(res);
    fan->got++;
    if (fan->got == fan->n)
        eng_loop_stop(fan->f->loop);
}

/* fan_run - run the loop until on_fan stops it, bounded by SAFETY_MS */
static void
fan_run(struct fan *fan)
{
    struct fx *f = fan->f;
    eng_timer_init(&f->safety, on_safety, f);
    eng_timer_start(f->loop, &f->safety, SAFETY_MS);
    eng_loop_run(f->loop);
    eng_timer_stop(f->loop, &f->safety);
    assert_false(f->timed_out);
}

/* capped_resolver - replace the fixture's resolver with one capped at cap,
 * pointed at the nsd's address and port */
static void
capped_resolver(struct fx *f, uint16_t port, size_t cap, int timeout_ms, int tries)
{
    struct net_addr s = server_addr(NSD_ADDR, port);
    struct dns_opts o = {.timeout_ms = timeout_ms, .tries = tries, .max_inflight = cap};
    char err[256] = "";
    dns_resolver_free(f->r);
    f->r = dns_resolver_new_opts(f->loop, &s, 1, &o, err, sizeof(err));
    if (f->r == NULL)
        fail_msg("dns_resolver_new_opts: %s", err);
}

/* hole - a UDP socket on the nsd's address that never answers; its port */
static int
hole(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sin);
    inet_pton(AF_INET, NSD_ADDR, &sin.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
    *port = ntohs(sin.sin_port);
    return fd;
}

/* on_pause - a wait is over */
static void
on_pause(eng_loop *loop, struct eng_timer *t)
{
    (void)t;
    eng_loop_stop(loop);
}

/* fan_mx - start n MX lookups of distinct names dI.fan */
static struct item *
fan_mx(struct fan *fan, size_t n)
{
    struct item *items = calloc(n, sizeof(*items));
    char name[64];
    assert_non_null(items);
    for (size_t i = 0; i < n; i++) {
        items[i].fan = fan;
        items[i].id = i;
        snprintf(name, sizeof(name), "d%zu.fan." ZONE, i);
        fan->n++;
        assert_int_equal(dns_resolve_mx(fan->f->r, name, on_fan, &items[i]), 0);
    }
    return items;
}

/* fan_host - start a host-list lookup of NAME.fanh with the given id */
static void
fan_host(struct fan *fan, struct item *it, size_t id, const char *label)
{
    char name[64];
    const char *names[1] = {name};
    snprintf(name, sizeof(name), "%s.fanh." ZONE, label);
    it->fan = fan;
    it->id = id;
    fan->n++;
    assert_int_equal(dns_resolve_hosts(fan->f->r, names, 1, on_fan, it), 0);
}

/* ---- cases ---- */

static void
test_fanout_all_answered_under_cap(void **state)
{
    struct fx *f = *state;
    struct fan fan = {.f = f, .cap = DNS_MAX_INFLIGHT, .want_mx = 1};
    struct item *items;
    size_t queued, peak;
    items = fan_mx(&fan, NFAN);
    /* the cap's worth went out at once, the rest wait */
    assert_int_equal(dns_resolver_inflight(f->r, &queued, NULL), DNS_MAX_INFLIGHT);
    assert_int_equal(queued, NFAN - DNS_MAX_INFLIGHT);
    fan_run(&fan);
    assert_int_equal(fan.got, NFAN);
    assert_int_equal(fan.ok, NFAN); /* none DNS_RETRY */
    assert_int_equal(fan.over_cap, 0);
    assert_int_equal(dns_resolver_inflight(f->r, &queued, &peak), 0);
    assert_int_equal(queued, 0);
    assert_int_equal(peak, DNS_MAX_INFLIGHT);
    /* one query per domain, and mx1's A and AAAA once for all */
    assert_int_equal(queries(f), NFAN + 2);
    assert_int_equal(hits(f), 2 * (NFAN - 1));
    free(items);
}

static void
test_fanout_queue_joined_cached(void **state)
{
    struct fx *f = *state;
    struct fan fan = {.f = f, .cap = 1};
    struct item it[5];
    size_t queued, peak;
    capped_resolver(f, f->port, 1, 500, 2);
    fan_host(&fan, &it[0], 0, "a"); /* A(a) sent; AAAA(a) waits */
    fan_host(&fan, &it[1], 1, "b"); /* A(b), AAAA(b) wait */
    fan_host(&fan, &it[2], 2, "a"); /* joins A(a) in flight and AAAA(a) queued */
    fan_host(&fan, &it[3], 3, "c");
    assert_int_equal(dns_resolver_inflight(f->r, &queued, NULL), 1);
    assert_int_equal(queued, 5);
    assert_int_equal(hits(f), 2);
    fan_run(&fan);
    assert_int_equal(fan.ok, 4);
    assert_int_equal(queries(f), 6); /* A and AAAA of a, b and c */
    assert_int_equal(dns_resolver_inflight(f->r, &queued, &peak), 0);
    assert_int_equal(peak, 1);
    /* a again: from the cache, no query, nothing in flight */
    fan_host(&fan, &it[4], 4, "a");
    assert_int_equal(dns_resolver_inflight(f->r, NULL, NULL), 0);
    fan_run(&fan);
    assert_int_equal(fan.ok, 5);
    assert_int_equal(queries(f), 6);
}

static void
test_fanout_free_before_any_answer(void **state)
{
    struct fx *f = *state;
    struct fan fan = {.f = f, .cap = DNS_MAX_INFLIGHT};
    struct item *items = fan_mx(&fan, 600);
    size_t queued;
    uint64_t q = queries(f);
    assert_int_equal(dns_resolver_inflight(f->r, &queued, NULL), DNS_MAX_INFLIGHT);
    assert_int_equal(queued, 600 - DNS_MAX_INFLIGHT);
    assert_int_equal(q, DNS_MAX_INFLIGHT); /* the queued ones were never sent */
    dns_resolver_free(f->r);               /* in flight and queued: every callback from in here */
    f->r = NULL;
    assert_int_equal(fan.got, 600);
    assert_int_equal(fan.retry, 600);
    assert_int_equal(fan.shut, 600);
    free(items);
}

static void
test_fanout_free_with_queue_waiting(void **state)
{
    struct fx *f = *state;
    struct fan fan = {.f = f, .cap = 4};
    struct item *items;
    size_t queued;
    uint16_t port;
    int fd = hole(&port);
    capped_resolver(f, port, 4, 5000, 2);
    items = fan_mx(&fan, 50);
    eng_timer_init(&f->delay, on_pause, f); /* the loop runs a while: nothing comes */
    eng_timer_start(f->loop, &f->delay, 200);
    eng_loop_run(f->loop);
    assert_int_equal(fan.got, 0);
    assert_int_equal(dns_resolver_inflight(f->r, &queued, NULL), 4);
    assert_int_equal(queued, 46);
    assert_int_equal(queries(f), 4);
    dns_resolver_free(f->r);
    f->r = NULL;
    close(fd);
    assert_int_equal(fan.got, 50);
    assert_int_equal(fan.shut, 50);
    free(items);
}

static void
test_fanout_queue_fifo(void **state)
{
    struct fx *f = *state;
    struct fan fan = {.f = f, .cap = 1};
    struct item it[4];
    uint64_t t0 = eng_now_ms();
    size_t peak;
    uint16_t port;
    int fd = hole(&port);
    /* one at a time, each timing out 100 ms after it is sent, so the
     * results come in separate loop rounds, in the order of the queries */
    capped_resolver(f, port, 1, 100, 1);
    fan_host(&fan, &it[0], 0, "a"); /* A(a) sent; AAAA(a) waits */
    fan_host(&fan, &it[1], 1, "b"); /* A(b), AAAA(b) wait */
    fan_host(&fan, &it[2], 2, "a"); /* joins A(a) in flight and AAAA(a) queued */
    fan_host(&fan, &it[3], 3, "c");
    fan_run(&fan);
    close(fd);
    assert_int_equal(fan.retry, 4);
    assert_int_equal(fan.order[0] + fan.order[1], 0 + 2); /* a twice: one pair of queries */
    assert_int_equal(fan.order[2], 1);
    assert_int_equal(fan.order[3], 3);
    assert_true(fan.at[0] - t0 >= 2 * 100); /* time spent queued is no try lost */
    assert_true(fan.at[2] - t0 >= 4 * 100);
    assert_true(fan.at[3] - t0 >= 6 * 100);
    assert_int_equal(fan.over_cap, 0);
    assert_int_equal(dns_resolver_inflight(f->r, NULL, &peak), 0);
    assert_int_equal(peak, 1);
    assert_int_equal(queries(f), 6);
}

/* rmem_max - net.core.rmem_max, or 0 */
static long
rmem_max(void)
{
    FILE *fp = fopen("/proc/sys/net/core/rmem_max", "r");
    long v = 0;
    if (fp != NULL) {
        if (fscanf(fp, "%ld", &v) != 1)
            v = 0;
        fclose(fp);
    }
    return v;
}

/* dns_udp_rcvbuf - SO_RCVBUF of our UDP socket connected to the nsd, or -1 */
static int
dns_udp_rcvbuf(uint16_t port)
{
    for (int fd = 3; fd < 4096; fd++) {
        struct sockaddr_in peer;
        socklen_t len = sizeof(peer);
        int type = 0, buf = 0;
        socklen_t tl = sizeof(type), bl = sizeof(buf);
        char ip[INET_ADDRSTRLEN];
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_DGRAM)
            continue;
        if (getpeername(fd, (struct sockaddr *)&peer, &len) < 0 || peer.sin_family != AF_INET)
            continue;
        inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof(ip));
        if (strcmp(ip, NSD_ADDR) == 0 && ntohs(peer.sin_port) == port &&
            getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, &bl) == 0)
            return buf;
    }
    return -1;
}

static void
test_fanout_udp_receive_buffer(void **state)
{
    struct fx *f = *state;
    struct fan fan = {.f = f, .cap = DNS_MAX_INFLIGHT, .want_mx = 1};
    struct item *items = fan_mx(&fan, 1); /* c-ares opens its socket now */
    long want = DNS_SOCK_RCVBUF, max = rmem_max();
    int have = dns_udp_rcvbuf(f->port);
    assert_true(have > 0);
    /* the kernel reports twice what was set; without CAP_NET_ADMIN,
     * net.core.rmem_max caps it */
    if (max > 0 && max < want)
        want = max;
    assert_true((long)have >= 2 * want);
    fan_run(&fan);
    assert_int_equal(fan.ok, 1);
    free(items);
}

const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_fanout_all_answered_under_cap, setup_nsd, teardown),
    cmocka_unit_test_setup_teardown(test_fanout_queue_joined_cached, setup_nsd, teardown),
    cmocka_unit_test_setup_teardown(test_fanout_free_before_any_answer, setup_nsd, teardown),
    cmocka_unit_test_setup_teardown(test_fanout_free_with_queue_waiting, setup_nsd, teardown),
    cmocka_unit_test_setup_teardown(test_fanout_queue_fifo, setup_nsd, teardown),
    cmocka_unit_test_setup_teardown(test_fanout_udp_receive_buffer, setup_nsd, teardown),
};

int
main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
