/*
 * test_dns.c - unit tests for dns/: real MX and host-list resolution against
 *              an nsd that each case starts on 127.0.0.153 (a free high port)
 *              with the made-up zone "spate-dns-test." (dnsfx.c). The cache,
 *              retries and the resolver's life cycle are in test_dns_cache.c;
 *              ordering and reply parsing, without a server, in
 *              test_dns_parse.c.
 *
 * Every case that talks DNS runs the engine loop once, as a chain of steps:
 * a step starts lookups (or stops nsd, or waits); when all of a step's
 * results are in, the next step runs; after the last, the loop stops. A
 * safety timer bounds every run.
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

/* ---- real resolution ---- */

static void
s_two(struct fx *f)
{
    mx(f, "Two." ZONE ".");
}
static void
test_mx_two_prefs(void **state)
{
    struct fx *f = *state;
    struct dns_result *res;
    run(f, 1, s_two);
    res = f->res[0];
    assert_int_equal(res->status, DNS_OK);
    assert_false(res->implicit_mx);
    assert_int_equal(res->nhosts, 2);
    host_is(&res->hosts[0], "mx1." ZONE, 10, 2, "127.0.1.1", "2001:db8::1");
    host_is(&res->hosts[1], "mx2." ZONE, 20, 1, "127.0.1.2");
    assert_int_equal(queries(f), 5); /* MX, then A and AAAA of both targets */
}

static void
s_eq12(struct fx *f)
{
    for (int i = 0; i < 12; i++)
        mx(f, "eq." ZONE);
}
static void
test_mx_equal_prefs(void **state)
{
    struct fx *f = *state;
    int different = 0;
    run(f, 1, s_eq12);
    assert_int_equal(f->nres, 12);
    for (size_t i = 0; i < f->nres; i++) {
        struct dns_result *res = f->res[i];
        int seen = 0;
        assert_int_equal(res->status, DNS_OK);
        assert_int_equal(res->nhosts, 3);
        for (size_t k = 0; k < 3; k++) {
            assert_int_equal(res->hosts[k].pref, 10);
            assert_int_equal(res->hosts[k].naddr, res->hosts[k].name[2] == '1' ? 2 : 1);
            seen |= 1 << (res->hosts[k].name[2] - '1');
        }
        assert_int_equal(seen, 7); /* mx1, mx2, mx3 each once */
        if (strcmp(res->hosts[0].name, f->res[0]->hosts[0].name) != 0 ||
            strcmp(res->hosts[1].name, f->res[0]->hosts[1].name) != 0)
            different = 1;
    }
    assert_true(different);          /* all 12 in one order: chance 6^-11 */
    assert_int_equal(queries(f), 7); /* coalesced: MX + 3 x (A, AAAA) */
}

static void
s_nullmx(struct fx *f)
{
    mx(f, "nullmx." ZONE);
}
static void
test_mx_null(void **state)
{
    struct fx *f = *state;
    run(f, 1, s_nullmx);
    assert_int_equal(f->res[0]->status, DNS_NULLMX);
    assert_int_equal(f->res[0]->nhosts, 0);
    assert_non_null(strstr(f->res[0]->why, "null MX"));
}

static void
s_implicit(struct fx *f)
{
    mx(f, "implicit." ZONE);
}
static void
s_txtonly(struct fx *f)
{
    mx(f, "txtonly." ZONE);
}
static void
test_mx_implicit(void **state)
{
    struct fx *f = *state;
    run(f, 2, s_implicit, s_txtonly);
    assert_int_equal(f->res[0]->status, DNS_OK);
    assert_true(f->res[0]->implicit_mx);
    assert_int_equal(f->res[0]->nhosts, 1);
    host_is(&f->res[0]->hosts[0], "implicit." ZONE, 0, 2, "127.0.1.10", "2001:db8::10");
    /* no MX and no address: permanent */
    assert_int_equal(f->res[1]->status, DNS_FAIL);
    assert_true(f->res[1]->implicit_mx);
    assert_int_equal(f->res[1]->nhosts, 0);
}

static void
s_nx(struct fx *f)
{
    mx(f, "nx." ZONE);
}
static void
test_mx_nxdomain(void **state)
{
    struct fx *f = *state;
    run(f, 1, s_nx);
    assert_int_equal(f->res[0]->status, DNS_FAIL);
    assert_string_equal(f->res[0]->why, "domain does not exist");
    assert_int_equal(f->res[0]->nhosts, 0);
    assert_null(f->res[0]->hosts);
}

static void
s_cname(struct fx *f)
{
    mx(f, "mxc." ZONE);
}
static void
test_mx_target_cname(void **state)
{
    struct fx *f = *state;
    run(f, 1, s_cname);
    assert_int_equal(f->res[0]->status, DNS_OK);
    assert_int_equal(f->res[0]->nhosts, 1);
    host_is(&f->res[0]->hosts[0], "alias." ZONE, 10, 2, "127.0.1.1", "2001:db8::1");
}

static void
s_partial(struct fx *f)
{
    mx(f, "partial." ZONE);
}
static void
s_noaddr(struct fx *f)
{
    mx(f, "noaddr." ZONE);
}
static void
test_mx_target_without_address(void **state)
{
    struct fx *f = *state;
    run(f, 2, s_partial, s_noaddr);
    /* ghost (NXDOMAIN) is dropped, mx2 stays */
    assert_int_equal(f->res[0]->status, DNS_OK);
    assert_int_equal(f->res[0]->nhosts, 1);
    host_is(&f->res[0]->hosts[0], "mx2." ZONE, 20, 1, "127.0.1.2");
    /* no target has an address, for permanent reasons: DNS_FAIL */
    assert_int_equal(f->res[1]->status, DNS_FAIL);
    assert_int_equal(f->res[1]->nhosts, 0);
    assert_non_null(strstr(f->res[1]->why, "no address"));
}

static void
s_refused(struct fx *f)
{
    mx(f, "not-served.example");
}
static void
test_mx_refused_is_retry(void **state)
{
    struct fx *f = *state;
    run(f, 2, s_refused, s_refused);
    /* nsd answers REFUSED outside its zone: temporary, and never cached */
    assert_int_equal(f->res[0]->status, DNS_RETRY);
    assert_int_equal(f->res[1]->status, DNS_RETRY);
    assert_non_null(strstr(f->res[0]->why, "MX lookup failed"));
    assert_int_equal(queries(f), 2);
    assert_int_equal(hits(f), 0);
}

/* hosts - start a host-list lookup in a step */
static void
hosts(struct fx *f, const char *const *names, size_t n)
{
    f->outstanding++;
    f->in_call = 1;
    assert_int_equal(dns_resolve_hosts(f->r, names, n, on_result, f), 0);
    f->in_call = 0;
}
static void
s_hosts(struct fx *f)
{
    static const char *const names[] = {"192.0.2.1",     "[2001:db8::5]", ("DUAL." ZONE "."),
                                        ("ghost." ZONE), "bad..name",     "2001:db8::6"};
    hosts(f, names, 6);
}
static void
test_hosts_in_order(void **state)
{
    struct fx *f = *state;
    struct dns_result *res;
    run(f, 1, s_hosts);
    res = f->res[0];
    assert_int_equal(res->status, DNS_OK);
    assert_int_equal(res->nhosts, 4);
    host_is(&res->hosts[0], "192.0.2.1", 0, 1, "192.0.2.1");
    host_is(&res->hosts[1], "2001:db8::5", 0, 1, "2001:db8::5");
    host_is(&res->hosts[2], "dual." ZONE, 0, 2, "127.0.1.4", "2001:db8::4");
    host_is(&res->hosts[3], "2001:db8::6", 0, 1, "2001:db8::6");
    assert_int_equal(queries(f), 4); /* dual and ghost: A + AAAA each */
}

static void
s_lit(struct fx *f)
{
    static const char *const lit[] = {"127.0.0.9"};
    hosts(f, lit, 1);
}
static void
s_lit_bad(struct fx *f)
{
    static const char *const bad[] = {"[127.0.0.1]", "a..b"};
    hosts(f, bad, 2);
}
static void
s_lit_none(struct fx *f)
{
    hosts(f, NULL, 0);
}
static void
test_hosts_literals_and_malformed(void **state)
{
    struct fx *f = *state;
    f->r = new_resolver(f->loop, "127.0.0.1", 9, 200, 1); /* never asked */
    run(f, 3, s_lit, s_lit_bad, s_lit_none);
    assert_int_equal(f->nres, 3);
    assert_int_equal(f->res[0]->status, DNS_OK);
    host_is(&f->res[0]->hosts[0], "127.0.0.9", 0, 1, "127.0.0.9");
    /* a bracketed IPv4 literal is no literal and no name; an empty label */
    assert_int_equal(f->res[1]->status, DNS_FAIL);
    assert_int_equal(f->res[2]->status, DNS_FAIL);
    assert_string_equal(f->res[2]->why, "no hosts given");
    assert_int_equal(queries(f), 0);
}

static void
s_malformed(struct fx *f)
{
    char longname[300];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    mx(f, "");
    mx(f, "a..example");
    mx(f, ".");
    mx(f, longname);
    mx(f, "sp ace.example");
}
static void
test_mx_malformed_domain(void **state)
{
    struct fx *f = *state;
    f->r = new_resolver(f->loop, "127.0.0.1", 9, 200, 1);
    run(f, 1, s_malformed);
    assert_int_equal(f->nres, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(f->res[i]->status, DNS_FAIL);
        assert_string_equal(f->res[i]->why, "malformed domain name");
    }
    assert_int_equal(queries(f), 0);
}

static void
s_many(struct fx *f)
{
    mx(f, "many." ZONE);
}
static void
test_mx_large_answer_over_tcp(void **state)
{
    struct fx *f = *state;
    struct dns_result *res;
    /* 16 MX records do not fit 512 octets: truncated over UDP, asked again over TCP */
    run(f, 1, s_many);
    res = f->res[0];
    assert_int_equal(res->status, DNS_OK);
    assert_int_equal(res->nhosts, 16);
    for (size_t i = 0; i < 16; i++) {
        char name[80], ip[32];
        snprintf(name, sizeof(name), "long-mail-exchanger-name-number-%02zu." ZONE, 15 - i);
        snprintf(ip, sizeof(ip), "127.0.2.%zu", 15 - i);
        host_is(&res->hosts[i], name, (uint16_t)(10 * (i + 1)), 1, ip);
    }
}

const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_mx_two_prefs, setup_nsd, teardown),
    cmocka_unit_test_setup_teardown(test_mx_equal_prefs, setup_nsd, teardown),
    cmocka_unit_test_setup_teardown(test_mx_null, setup_nsd, teardown),
    cmocka_unit_test_setup_teardown(test_mx_implicit, setup_nsd, teardown),
    cmocka_unit_test_setup_teardown(test_mx_nxdomain, setup_nsd, teardown),
    cmocka_unit_test_setup_teardown(test_mx_target_cname, setup_nsd, teardown),
    cmocka_unit_test_setup_teardown(test_mx_target_without_address, setup_nsd, teardown),
    cmocka_unit_test_setup_teardown(test_mx_refused_is_retry, setup_nsd, teardown),
    cmocka_unit_test_setup_teardown(test_hosts_in_order, setup_nsd, teardown),
    cmocka_unit_test_setup_teardown(test_hosts_literals_and_malformed, setup_plain, teardown),
    cmocka_unit_test_setup_teardown(test_mx_malformed_domain, setup_plain, teardown),
    cmocka_unit_test_setup_teardown(test_mx_large_answer_over_tcp, setup_nsd, teardown),
};

int
main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
