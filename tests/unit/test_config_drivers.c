/*
 * test_config_drivers.c - unit tests for the configuration parser's driver
 *                         sections (routers with route_list, transports with
 *                         their TLS host lists, destinations), the retry
 *                         section, and host and domain list matching.
 *
 * Each case loads a small configuration from memory (named "t.conf" so error
 * positions can be checked, cfgfx.c) and asserts on the parsed structure or on
 * the exact error position and wording.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cfgfx.h"
#include "conf/config.h"
#include "engine/retry.h"

#include <cmocka.h>

static const char router_text[] =
    "begin routers\n"
    "\n"
    "smarthost:\n"
    "  driver = manualroute\n"
    "  domains = *.example.com : example.com\n"
    "  route_list = *.example.com 10.0.0.1::2526 : relay.example.net "
    "randomize ; \\\n"
    "     example.com \"[::1]::2527 : [2001:db8::1] : 10.0.0.2\" ; \\\n"
    "     * <,[2001:db8::2]:25,host.example byname\n"
    "  transport = remote\n"
    "  dsn_lasthop\n"
    "\n"
    "dns: driver = dnslookup\n"
    "  transport = remote\n"
    "\n"
    "local:\n"
    "  driver = accept\n"
    "\n"
    "begin transports\n"
    "\n"
    "remote:\n"
    "  driver = smtp\n"
    "  port = 2525\n"
    "  helo_data = \"helo\\.exampl\\e\"\n"
    "  connect_timeout = 10s\n"
    "  command_timeout = 2m\n"
    "  data_timeout = 1h\n"
    "  max_rcpt = 50\n"
    "  hosts_avoid_pipelining = *\n"
    "  chunking\n"
    "plain:\n"
    "  driver = smtp\n";

/* test_routers_transports - router and transport instances with all their options */
static void
test_routers_transports(void **state)
{
    (void)state;
    struct cfg *c = load(router_text);
    if (c == NULL)
        fail_msg("%s", load_err);
    assert_int_equal(c->nrouters, 3);
    assert_int_equal(c->ntransports, 2);
    const struct cfg_router *r = &c->routers[0];
    assert_string_equal(r->name, "smarthost");
    assert_int_equal(r->driver, CFG_ROUTER_MANUALROUTE);
    assert_true(r->has_domains);
    assert_true(cfg_domainlist_match(&r->domains, "mail.example.com"));
    assert_false(cfg_domainlist_match(&r->domains, "example.org"));
    assert_ptr_equal(r->transport, &c->transports[0]);
    assert_int_equal(r->dsn_lasthop, 1);
    assert_string_equal(r->file, "t.conf");
    assert_int_equal(r->line, 3);
    assert_int_equal(c->routers[1].driver, CFG_ROUTER_DNSLOOKUP);
    assert_string_equal(c->routers[1].name, "dns");
    assert_int_equal(c->routers[1].has_domains, 0);
    assert_int_equal(c->routers[1].dsn_lasthop, 0);
    assert_int_equal(c->routers[2].driver, CFG_ROUTER_ACCEPT);
    assert_null(c->routers[2].transport);

    const struct cfg_transport *t = &c->transports[0];
    assert_string_equal(t->name, "remote");
    assert_int_equal(t->driver, CFG_TRANSPORT_SMTP);
    assert_int_equal(t->port, 2525);
    assert_string_equal(t->helo_data, "helo.example"); /* escapes undone */
    assert_int_equal(t->connect_timeout_s, 10);
    assert_int_equal(t->command_timeout_s, 120);
    assert_int_equal(t->data_timeout_s, 3600);
    assert_int_equal(t->max_rcpt, 50);
    assert_int_equal(t->hosts_avoid_pipelining_all, 1);
    assert_int_equal(t->chunking, 1);
    t = &c->transports[1];
    assert_int_equal(t->port, 25);
    assert_null(t->helo_data);
    assert_int_equal(t->connect_timeout_s, 30);
    assert_int_equal(t->command_timeout_s, 300);
    assert_int_equal(t->data_timeout_s, 300);
    assert_int_equal(t->max_rcpt, 100);
    assert_int_equal(t->hosts_avoid_pipelining_all, 0);
    assert_int_equal(t->chunking, 0);
    cfg_free(c);
}

/* test_route_list - manualroute rules with ports, IPv6, randomize and byname */
static void
test_route_list(void **state)
{
    (void)state;
    struct cfg *c = load(router_text);
    assert_non_null(c);
    const struct cfg_router *r = &c->routers[0];
    assert_int_equal(r->nroutes, 3);

    const struct cfg_route_rule *rule = cfg_router_find_route(r, "a.b.example.com");
    assert_ptr_equal(rule, &r->route_list[0]);
    assert_int_equal(rule->pattern.kind, 1);
    assert_int_equal(rule->randomize, 1);
    assert_int_equal(rule->nhosts, 2);
    assert_string_equal(rule->hosts[0].name, "10.0.0.1");
    assert_int_equal(rule->hosts[0].port, 2526);
    assert_string_equal(rule->hosts[1].name, "relay.example.net");
    assert_int_equal(rule->hosts[1].port, 0);

    rule = cfg_router_find_route(r, "EXAMPLE.COM");
    assert_ptr_equal(rule, &r->route_list[1]);
    assert_int_equal(rule->randomize, 0);
    assert_int_equal(rule->nhosts, 3);
    assert_string_equal(rule->hosts[0].name, "::1");
    assert_int_equal(rule->hosts[0].port, 2527);
    assert_string_equal(rule->hosts[1].name, "2001:db8::1");
    assert_int_equal(rule->hosts[1].port, 0);
    assert_string_equal(rule->hosts[2].name, "10.0.0.2");

    rule = cfg_router_find_route(r, "other.org");
    assert_ptr_equal(rule, &r->route_list[2]);
    assert_int_equal(rule->byname, 1);
    assert_int_equal(rule->nhosts, 2);
    assert_string_equal(rule->hosts[0].name, "2001:db8::2");
    assert_int_equal(rule->hosts[0].port, 25);
    assert_string_equal(rule->hosts[1].name, "host.example");

    assert_null(cfg_router_find_route(&c->routers[1], "example.com")); /* not manualroute */
    cfg_free(c);
}

/* test_route_list_errors - bad route_list rules and driver-dependent checks */
static void
test_route_list_errors(void **state)
{
    (void)state;
    const char *tp = "begin transports\nt:\n  driver = smtp\n";
    char buf[1024];
    snprintf(buf, sizeof buf, "begin routers\nr:\n  driver = manualroute\n  transport = t\n%s", tp);
    load_fails(buf, "t.conf:2:", "route_list");
    snprintf(buf, sizeof buf,
             "begin routers\nr:\n  driver = manualroute\n  transport = t\n"
             "  route_list = * bad_host!name\n%s",
             tp);
    load_fails(buf, "t.conf:5:", "bad_host!name");
    snprintf(buf, sizeof buf,
             "begin routers\nr:\n  driver = manualroute\n  transport = t\n"
             "  route_list = * 10.0.0.1::99999\n%s",
             tp);
    load_fails(buf, "t.conf:5:", "10.0.0.1:99999");
    snprintf(buf, sizeof buf,
             "begin routers\nr:\n  driver = manualroute\n  transport = t\n"
             "  route_list = example.com\n%s",
             tp);
    load_fails(buf, "t.conf:5:", "no host list");
    snprintf(buf, sizeof buf,
             "begin routers\nr:\n  driver = dnslookup\n  transport = t\n"
             "  route_list = * 10.0.0.1\n%s",
             tp);
    load_fails(buf, "t.conf:2:", "manualroute");
    snprintf(buf, sizeof buf, "begin routers\nr:\n  driver = dnslookup\n%s", tp);
    load_fails(buf, "t.conf:2:", "no transport");
    load_fails("begin routers\nr:\n  transport = t\nbegin transports\nt:\n driver = smtp\n",
               "t.conf:2:", "no driver");
}

/* test_unknown_driver - driver names outside the section's table */
static void
test_unknown_driver(void **state)
{
    (void)state;
    load_fails("begin routers\nr:\n  driver = ipliteral\n", "t.conf:3:", "ipliteral");
    load_fails("begin transports\nt:\n  driver = pipe\n", "t.conf:3:", "pipe");
    load_fails("begin transports\nt:\n  driver = dnslookup\n", "t.conf:3:", "unknown driver");
}

/* test_unknown_transport - router transport names are resolved after the whole file */
static void
test_unknown_transport(void **state)
{
    (void)state;
    /* routers before transports resolve; the error points at "transport =" */
    load_fails("begin routers\nr:\n  driver = dnslookup\n\n  transport = nosuch\n"
               "begin transports\nt:\n  driver = smtp\n",
               "t.conf:5:", "nosuch");
    struct cfg *c = load("begin transports\nt:\n driver = smtp\nbegin routers\nr:\n"
                         " driver = dnslookup\n transport = t\n");
    assert_non_null(c);
    assert_ptr_equal(c->routers[0].transport, &c->transports[0]);
    assert_int_equal(c->routers[0].transport_line, 7);
    cfg_free(c);
}

/* test_duplicate_instance - two instances with one name */
static void
test_duplicate_instance(void **state)
{
    (void)state;
    load_fails("begin routers\nr:\n driver = accept\nr:\n driver = accept\n",
               "t.conf:4:", "duplicate router name \"r\"");
    load_fails("begin transports\nt:\n driver = smtp\n\nt:\n driver = smtp\n",
               "t.conf:5:", "duplicate transport");
}

/* test_hostlist_match - CIDR, IPv6, v4-mapped, negation and "*" matching */
static void
test_hostlist_match(void **state)
{
    (void)state;
    struct cfg *c = load("relay_from_hosts = <; !192.168.1.7 ; !::1 ; 192.168.1.0/24 ; 10.0.0.1 ; "
                         "2001:db8::/32\n"
                         "proxy_required_hosts = *\n");
    if (c == NULL)
        fail_msg("%s", load_err);
    const struct cfg_hostlist *l = &c->relay_from_hosts;
    assert_true(host_in(l, "192.168.1.1"));
    assert_true(host_in(l, "192.168.1.255"));
    assert_false(host_in(l, "192.168.1.7")); /* negated before the CIDR */
    assert_false(host_in(l, "192.168.2.1"));
    assert_true(host_in(l, "10.0.0.1"));
    assert_false(host_in(l, "10.0.0.2"));
    assert_true(host_in(l, "2001:db8:1::5"));
    assert_false(host_in(l, "2001:db9::5"));
    assert_true(host_in(l, "::ffff:192.168.1.9"));  /* v4-mapped matches v4 items */
    assert_false(host_in(l, "::ffff:192.168.1.7")); /* and v4 negations */
    assert_false(host_in(l, "::ffff:10.0.0.2"));
    assert_false(host_in(l, "::1"));
    assert_true(host_in(&c->proxy_required_hosts, "203.0.113.1"));
    assert_true(host_in(&c->proxy_required_hosts, "2001:db8::1"));
    struct sockaddr sa = {.sa_family = AF_UNIX};
    assert_false(cfg_hostlist_match(l, &sa));
    assert_false(cfg_hostlist_match(NULL, &sa));
    cfg_free(c);

    /* odd prefix lengths, and a list ending in a negation matches the rest */
    c = load("relay_from_hosts = 10.0.0.0/9\nproxy_required_hosts = !10.0.0.1\n");
    assert_non_null(c);
    assert_true(host_in(&c->relay_from_hosts, "10.127.255.255"));
    assert_false(host_in(&c->relay_from_hosts, "10.128.0.0"));
    assert_false(host_in(&c->proxy_required_hosts, "10.0.0.1"));
    assert_true(host_in(&c->proxy_required_hosts, "10.0.0.2"));
    cfg_free(c);
}

/* test_domain_match - exact, wildcard, "*", named and negated domain items */
static void
test_domain_match(void **state)
{
    (void)state;
    struct cfg *c = load("domainlist d = !bad.example.com : *.example.com : Example.ORG. : "
                         "xn--bcher-kva.example\n"
                         "domainlist all = *\n"
                         "domainlist only_neg = ! a.example : ! b.example\n"
                         "begin routers\n"
                         "r1:\n driver = accept\n domains = +d\n"
                         "r2:\n driver = accept\n domains = +all\n"
                         "r3:\n driver = accept\n domains = +only_neg\n");
    if (c == NULL)
        fail_msg("%s", load_err);
    const struct cfg_domainlist *d = &c->routers[0].domains;
    assert_true(cfg_domainlist_match(d, "mail.example.com"));
    assert_true(cfg_domainlist_match(d, "a.b.EXAMPLE.com"));
    assert_false(cfg_domainlist_match(d, "example.com")); /* *.x: sub-domains only */
    assert_false(cfg_domainlist_match(d, "bad.example.com"));
    assert_false(cfg_domainlist_match(d, "notexample.com"));
    assert_true(cfg_domainlist_match(d, "example.org"));
    assert_true(cfg_domainlist_match(d, "EXAMPLE.org."));
    assert_false(cfg_domainlist_match(d, "www.example.org"));
    assert_true(cfg_domainlist_match(d, "XN--BCHER-KVA.example"));
    assert_true(cfg_domainlist_match(&c->routers[1].domains, "anything.test"));
    assert_false(cfg_domainlist_match(&c->routers[2].domains, "a.example"));
    assert_true(cfg_domainlist_match(&c->routers[2].domains, "c.example"));

    struct cfg_domainitem it = {.kind = 1, .name = "example.net"};
    assert_true(cfg_domain_match(&it, "x.example.net"));
    assert_false(cfg_domain_match(&it, "example.net"));
    assert_false(cfg_domain_match(&it, "xexample.net"));
    it.negate = 1; /* ignored by cfg_domain_match */
    assert_true(cfg_domain_match(&it, "x.example.net"));
    struct cfg_domainitem exact = {.kind = 0, .name = "example.net"};
    assert_true(cfg_domain_match(&exact, "Example.Net"));
    assert_false(cfg_domain_match(&exact, "example.ne"));
    assert_false(cfg_domain_match(NULL, "example.net"));
    cfg_free(c);

    /* a regex is for ACL conditions only: options taking +d refuse it */
    load_fails("domainlist d = ^regex$\nbegin routers\nr:\n driver = accept\n domains = +d\n",
               "t.conf:5:", "only ACL conditions support");
    load_fails("domainlist d = a..b\n", "t.conf:1:", "a..b");
}

/* test_retry_section - retry rules: patterns, error types, steps, refusals */
static void
test_retry_section(void **state)
{
    (void)state;
    struct cfg *c = load("begin retry\n"
                         "*@slow.example   *        F,1h,5m\n"
                         "*.example.net    rcpt_4xx F,1d,1h\n"
                         "*.example.net    *        G,2d,10m,2 ; H,3d,1h,1.5;\n"
                         "never.example    *\n"
                         "*                *        F,2h,15m; G,16h,1h,1.5; F,4d,6h\n");
    if (c == NULL)
        fail_msg("%s", load_err);
    assert_int_equal(c->nretry, 5);
    const struct cfg_retry_rule *r = cfg_retry_find(c, "SLOW.example");
    assert_ptr_equal(r, &c->retry[0]);
    assert_int_equal(r->pattern.kind, 0);
    assert_string_equal(r->pattern.name, "slow.example");
    assert_int_equal(r->nsteps, 1);
    assert_int_equal(r->steps[0].kind, CFG_RETRY_F);
    assert_int_equal(r->steps[0].cutoff_s, 3600);
    assert_int_equal(r->steps[0].interval_s, 300);

    r = cfg_retry_find(c, "mx.example.net"); /* skips the rcpt_4xx rule */
    assert_ptr_equal(r, &c->retry[2]);
    assert_int_equal(r->nsteps, 2);
    assert_int_equal(r->steps[1].kind, CFG_RETRY_H);
    assert_true(r->steps[1].factor > 1.49 && r->steps[1].factor < 1.51);
    assert_ptr_equal(cfg_retry_find_error(c, "mx.example.net", "rcpt_4xx"), &c->retry[1]);
    assert_string_equal(c->retry[1].error, "rcpt_4xx");

    r = cfg_retry_find(c, "never.example");
    assert_int_equal(r->nsteps, 0);
    assert_int_equal(retry_next_interval(r, 0, 0, 0.5), -1);
    r = cfg_retry_find(c, "other.org");
    assert_ptr_equal(r, &c->retry[4]);
    assert_int_equal(r->nsteps, 3);
    assert_null(cfg_retry_find(NULL, "x"));
    cfg_free(c);

    c = load("");
    assert_null(cfg_retry_find(c, "example.com"));
    cfg_free(c);

    load_fails("begin retry\n*\n", "t.conf:2:", "retry rule");
    load_fails("begin retry\n* * F,2h\n", "t.conf:2:", "F needs");
    load_fails("begin retry\n* F,2h,15m\n", "t.conf:2:", "F,2h,15m"); /* error type left out */
    load_fails("begin retry\n\n* * G,2h,1h,0.5\n", "t.conf:3:", "factor");
    load_fails("begin retry\n* * F,2h,15m; F,1h,5m\n", "t.conf:2:", "cutoff");
    load_fails("begin retry\n* * X,2h,15m\n", "t.conf:2:", "F, G or H");
    load_fails("begin retry\nuser@example.com * F,2h,15m\n", "t.conf:2:", "user@example.com");
    load_fails("begin retry\n!example.com * F,2h,15m\n", "t.conf:2:", "!");
}

/* test_destinations - the "begin destinations" section and its matching */
static void
test_destinations(void **state)
{
    (void)state;
    struct cfg *c = load("begin destinations\n"
                         "*:\n"
                         "  max_connections = 7\n"
                         "mx.d1.example:\n"
                         "  max_connections = 2\n"
                         "  max_messages_per_connection = 3\n"
                         "  max_message_rate = 10/s\n"
                         "  connection_idle_timeout = 1s\n"
                         "  connect_timeout = 4s\n"
                         "*.example.net: max_message_rate = 120 / m\n"
                         "slow.example: max_message_rate = 3600/h\n");
    assert_non_null(c);
    assert_int_equal(c->ndestinations, 4);
    const char *h1[] = {"mx.d1.example"}, *h2[] = {"mx.other.example"};
    const struct cfg_destination *d = cfg_destination_find(c, "d1.example", h1, 1);
    assert_non_null(d);
    assert_string_equal(d->name, "mx.d1.example");
    assert_int_equal(d->max_connections, 2);
    assert_int_equal(d->max_messages_per_connection, 3);
    assert_int_equal(d->rate_count, 10);
    assert_int_equal(d->rate_period_s, 1);
    assert_int_equal(d->connection_idle_timeout_s, 1);
    assert_int_equal(d->connect_timeout_s, 4);
    /* the domain matches too; a wildcard matches names below it only */
    d = cfg_destination_find(c, "a.example.net", h2, 1);
    assert_string_equal(d->name, "*.example.net");
    assert_int_equal(d->rate_count, 120);
    assert_int_equal(d->rate_period_s, 60);
    assert_int_equal(d->max_connections, 20); /* default, not the "*" entry's */
    d = cfg_destination_find(c, "slow.example", NULL, 0);
    assert_int_equal(d->rate_period_s, 3600);
    /* "*" only when nothing else matches, even though it comes first */
    d = cfg_destination_find(c, "example.net", h2, 1);
    assert_string_equal(d->name, "*");
    assert_int_equal(d->max_connections, 7);
    assert_int_equal(d->rate_count, 0);
    cfg_free(c);
    c = load("primary_hostname = a.example\n");
    assert_non_null(c);
    assert_null(cfg_destination_find(c, "x.example", h1, 1));
    cfg_free(c);
}

/* test_destinations_errors - bad entries name the file and line */
static void
test_destinations_errors(void **state)
{
    (void)state;
    load_fails("begin destinations\nfoo.example:\n  max_message_rate = 10/x\n", "t.conf:3",
               "max_message_rate");
    load_fails("begin destinations\nfoo.example:\n  max_message_rate = 0/s\n", "t.conf:3", NULL);
    load_fails("begin destinations\nfoo.example:\n  max_connections = 0\n", "t.conf:3",
               "max_connections");
    load_fails("begin destinations\nfoo.example:\n  driver = smtp\n", "t.conf:3", "driver");
    load_fails("begin destinations\n  max_connections = 3\n", "t.conf:2", NULL);
    load_fails("begin destinations\nfoo.example:\n  no_such_option = 1\n", "t.conf:3",
               "no_such_option");
    load_fails("begin destinations\nfoo.example:\nfoo.example:\n", "t.conf:3", "duplicate");
}

/* test_tls_host_lists - transport TLS lists match host names and addresses */
static void
test_tls_host_lists(void **state)
{
    (void)state;
    struct cfg *c = load("begin transports\n"
                         "t:\n"
                         "  driver = smtp\n"
                         "  hosts_require_tls = mx.example.com : *.other.example : 192.0.2.0/24\n"
                         "  hosts_try_dane = ! bad.other.example : *.other.example\n"
                         "  hosts_request_ocsp = mx.example.com\n");
    assert_non_null(c);
    const struct cfg_transport *t = &c->transports[0];
    struct sockaddr_storage a = sa4("192.0.2.9"), b = sa4("198.51.100.1");
    const struct sockaddr *sa = (const struct sockaddr *)&a, *sb = (const struct sockaddr *)&b;
    assert_true(cfg_hostlist_match_host(&t->hosts_require_tls, "mx.example.com", sb));
    assert_true(cfg_hostlist_match_host(&t->hosts_require_tls, "MX.Example.COM", NULL));
    assert_true(cfg_hostlist_match_host(&t->hosts_require_tls, "a.other.example", sb));
    assert_false(cfg_hostlist_match_host(&t->hosts_require_tls, "other.example", sb));
    assert_true(cfg_hostlist_match_host(&t->hosts_require_tls, "unknown.example", sa));
    assert_false(cfg_hostlist_match_host(&t->hosts_require_tls, "unknown.example", sb));
    assert_false(cfg_hostlist_match(&t->hosts_require_tls, sb)); /* names need a name */
    assert_false(cfg_hostlist_match_host(&t->hosts_try_dane, "bad.other.example", sb));
    assert_true(cfg_hostlist_match_host(&t->hosts_try_dane, "good.other.example", sb));
    assert_false(t->hosts_request_ocsp_default);
    /* defaults: tls_try_verify_hosts and tls_verify_cert_hostnames are "*",
     * hosts_request_ocsp "*" and marked as the default */
    cfg_free(c);
    c = load("begin transports\nt:\n  driver = smtp\n");
    t = &c->transports[0];
    assert_true(cfg_hostlist_match_host(&t->tls_try_verify_hosts, "x.example", sb));
    assert_true(cfg_hostlist_match_host(&t->tls_verify_cert_hostnames, "x.example", sb));
    assert_true(cfg_hostlist_match_host(&t->hosts_request_ocsp, "x.example", sb));
    assert_true(t->hosts_request_ocsp_default);
    assert_false(cfg_hostlist_match_host(&t->hosts_require_tls, "x.example", sa));
    cfg_free(c);
    /* host names stay an error where only addresses make sense */
    load_fails("relay_from_hosts = localhost\n", "t.conf:1", "relay_from_hosts");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_routers_transports),  cmocka_unit_test(test_route_list),
    cmocka_unit_test(test_route_list_errors),   cmocka_unit_test(test_unknown_driver),
    cmocka_unit_test(test_unknown_transport),   cmocka_unit_test(test_duplicate_instance),
    cmocka_unit_test(test_hostlist_match),      cmocka_unit_test(test_domain_match),
    cmocka_unit_test(test_retry_section),       cmocka_unit_test(test_destinations),
    cmocka_unit_test(test_destinations_errors), cmocka_unit_test(test_tls_host_lists),
};

/* clang-format off */
int main(int argc, char **argv) { if (argc > 1) cmocka_set_test_filter(argv[1]); return cmocka_run_group_tests(tests, NULL, NULL); }
/* clang-format on */
