/*
 * test_config.c - unit tests for the configuration parser (conf/config*.c):
 *                 the main section, the file syntax (comments, continuations,
 *                 macros, named lists), values and their errors, unknown
 *                 options and sections, -o overrides, loading from a file
 *                 and the embedded default. Routers,
 *                 transports, retry, destinations and list matching are in
 *                 test_config_drivers.c.
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
#include <unistd.h>

#include "cfgfx.h"
#include "conf/config.h"
#include "engine/retry.h"

#include <cmocka.h>

/* test_defaults - an empty file gives every documented default */
static void
test_defaults(void **state)
{
    (void)state;
    struct cfg *c = load("");
    assert_non_null(c);
    char host[256] = "";
    gethostname(host, sizeof host);
    assert_string_equal(c->primary_hostname, host[0] ? host : "localhost");
    assert_string_equal(c->spool_directory, "./var/spool");
    assert_string_equal(c->log_file_path, "");
    assert_int_equal(c->n_smtp_listen, 1);
    assert_string_equal(c->smtp_listen[0].text, "127.0.0.1:2525");
    assert_int_equal(c->n_http_listen, 1);
    assert_string_equal(c->http_listen[0].text, "127.0.0.1:8025");
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    assert_int_equal(c->worker_threads, ncpu < 1 ? 1 : ncpu > 256 ? 256 : ncpu);
    assert_true(host_in(&c->relay_from_hosts, "127.0.0.1"));
    assert_true(host_in(&c->relay_from_hosts, "127.9.8.7"));
    assert_true(host_in(&c->relay_from_hosts, "::1"));
    assert_false(host_in(&c->relay_from_hosts, "10.0.0.1"));
    assert_int_equal(c->n_dns_servers, 0);
    assert_int_equal(c->message_size_limit, 50 * 1024 * 1024);
    assert_int_equal(c->smtp_accept_max, 1000);
    assert_int_equal(c->smtp_receive_timeout_s, 300);
    assert_int_equal(c->queue_run_interval_s, 60);
    assert_int_equal(c->bounce_return_size_limit, 100 * 1024);
    assert_int_equal(c->spool_commit_max_batch, 512);
    assert_int_equal(c->json_log, 0);
    assert_int_equal(c->proxy_required_hosts.n, 0);
    assert_int_equal(c->nrouters, 0);
    assert_int_equal(c->ntransports, 0);
    assert_int_equal(c->nretry, 0);
    cfg_free(c);
}

/* test_main_options - each main option is parsed into its field */
static void
test_main_options(void **state)
{
    (void)state;
    struct cfg *c = load("primary_hostname = mx.example.org\n"
                         "spool_directory = /tmp/spool\n"
                         "log_file_path = /tmp/spate.log\n"
                         "smtp_listen = 127.0.0.2:25, [::1]:2526 127.0.0.3\n"
                         "http_listen = <; [::1]:9000 ; 127.0.0.1\n"
                         "worker_threads = 7\n"
                         "relay_from_hosts = 10.0.0.0/8 : 192.168.1.1\n"
                         "dns_servers = 127.0.0.53 [::1]:5353, 127.0.0.1:5300\n"
                         "message_size_limit = 10M\n"
                         "smtp_accept_max = 20\n"
                         "smtp_receive_timeout = 1h30m\n"
                         "queue_run_interval = 45s\n"
                         "bounce_return_size_limit = 512K\n"
                         "spool_commit_max_batch = 64\n"
                         "json_log = true\n"
                         "proxy_required_hosts=127.0.0.5\n");
    assert_non_null(c);
    assert_string_equal(c->primary_hostname, "mx.example.org");
    assert_string_equal(c->spool_directory, "/tmp/spool");
    assert_string_equal(c->log_file_path, "/tmp/spate.log");
    assert_int_equal(c->n_smtp_listen, 3);
    assert_string_equal(c->smtp_listen[0].text, "127.0.0.2:25");
    assert_string_equal(c->smtp_listen[1].text, "[::1]:2526");
    assert_string_equal(c->smtp_listen[2].text, "127.0.0.3:2525");
    assert_int_equal(c->smtp_listen[1].ss.ss_family, AF_INET6);
    assert_int_equal(c->smtp_listen[1].len, sizeof(struct sockaddr_in6));
    assert_int_equal(c->n_http_listen, 2);
    assert_string_equal(c->http_listen[0].text, "[::1]:9000");
    assert_string_equal(c->http_listen[1].text, "127.0.0.1:8025");
    assert_int_equal(c->worker_threads, 7);
    assert_true(host_in(&c->relay_from_hosts, "10.1.2.3"));
    assert_true(host_in(&c->relay_from_hosts, "192.168.1.1"));
    assert_false(host_in(&c->relay_from_hosts, "192.168.1.2"));
    assert_false(host_in(&c->relay_from_hosts, "127.0.0.1"));
    assert_int_equal(c->n_dns_servers, 3);
    assert_string_equal(c->dns_servers[0].text, "127.0.0.53:53");
    assert_string_equal(c->dns_servers[1].text, "[::1]:5353");
    assert_string_equal(c->dns_servers[2].text, "127.0.0.1:5300");
    assert_int_equal(c->message_size_limit, 10 * 1024 * 1024);
    assert_int_equal(c->smtp_accept_max, 20);
    assert_int_equal(c->smtp_receive_timeout_s, 5400);
    assert_int_equal(c->queue_run_interval_s, 45);
    assert_int_equal(c->bounce_return_size_limit, 512 * 1024);
    assert_int_equal(c->spool_commit_max_batch, 64);
    assert_int_equal(c->json_log, 1);
    assert_true(host_in(&c->proxy_required_hosts, "127.0.0.5"));
    assert_false(host_in(&c->proxy_required_hosts, "127.0.0.6"));
    cfg_free(c);
}

/* test_bool_forms - name, no_name and name = true|false|yes|no */
static void
test_bool_forms(void **state)
{
    (void)state;
    const struct {
        const char *text;
        int want;
    } cases[] = {
        {"json_log\n", 1},
        {"no_json_log\n", 0},
        {"json_log = yes\n", 1},
        {"json_log = no\n", 0},
        {"json_log = TRUE\n", 1},
        {"json_log = false\n", 0},
        {"json_log\nno_json_log\n", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct cfg *c = load(cases[i].text);
        if (c == NULL)
            fail_msg("%s: %s", cases[i].text, load_err);
        assert_int_equal(c->json_log, cases[i].want);
        cfg_free(c);
    }
    load_fails("json_log = maybe\n", "t.conf:1:", "json_log");
    load_fails("no_json_log = true\n", "t.conf:1:", "no_json_log");
    load_fails("no_worker_threads\n", "t.conf:1:", "worker_threads");
}

/* test_comments_and_continuation - comment lines and backslash continuations */
static void
test_comments_and_continuation(void **state)
{
    (void)state;
    struct cfg *c = load("# a comment\n"
                         "json_log=yes\n"
                         "   # an indented comment\n"
                         "\n"
                         "relay_from_hosts = 10.0.0.1 : \\\n"
                         "      10.0.0.2 : \\\n"
                         "# a comment inside the continuation is skipped\n"
                         "      10.0.0.3\n"
                         "primary_hostname = a\\\n"
                         "   b.example\r\n"
                         "worker_threads = 3\n");
    assert_non_null(c);
    assert_int_equal(c->relay_from_hosts.n, 3);
    assert_true(host_in(&c->relay_from_hosts, "10.0.0.3"));
    assert_string_equal(c->primary_hostname, "ab.example");
    assert_int_equal(c->worker_threads, 3);
    assert_int_equal(c->json_log, 1);
    cfg_free(c);

    /* the error is reported on the first physical line of the logical one */
    load_fails("\n\nworker_threads = \\\n  nine\n", "t.conf:3:", "worker_threads");
    load_fails("worker_threads = 2\nrelay_from_hosts = 10.0.0.1 : \\\n",
               "t.conf:2:", "continuation");
}

/* test_macros - macro definition, whole-word substitution, redefinition */
static void
test_macros(void **state)
{
    (void)state;
    struct cfg *c = load("SPOOL = /var/spool/spate\n"
                         "PORT = 2600\n"
                         "ADDR = 127.0.0.9:PORT\n"
                         "spool_directory = SPOOL\n"
                         "smtp_listen = ADDR\n"
                         "primary_hostname = SPOOLX.example\n"
                         "PORT == 2700\n"
                         "http_listen = 127.0.0.1:PORT\n");
    assert_non_null(c);
    assert_string_equal(c->spool_directory, "/var/spool/spate");
    assert_string_equal(c->smtp_listen[0].text, "127.0.0.9:2600"); /* expanded when defined */
    assert_string_equal(c->primary_hostname, "SPOOLX.example");    /* not a whole word */
    assert_string_equal(c->http_listen[0].text, "127.0.0.1:2700");
    cfg_free(c);

    load_fails("PORT = 1\nPORT = 2\n", "t.conf:2:", "PORT");
    load_fails("LIMIT = 12Q\nmessage_size_limit = LIMIT\n", "t.conf:2:", "12Q");
}

/* test_named_lists - hostlist/domainlist definitions and +name references */
static void
test_named_lists(void **state)
{
    (void)state;
    struct cfg *c = load("hostlist trusted = 10.1.0.0/16 : 10.2.0.1\n"
                         "hostlist relays = <; ::1 ; +trusted\n"
                         "domainlist local_domains = example.com : *.example.com\n"
                         "relay_from_hosts = ! 10.1.2.3 : +relays\n"
                         "begin routers\n"
                         "remote:\n"
                         "  driver = dnslookup\n"
                         "  domains = ! +local_domains\n"
                         "  transport = t\n"
                         "begin transports\n"
                         "t:\n"
                         "  driver = smtp\n");
    assert_non_null(c);
    assert_false(host_in(&c->relay_from_hosts, "10.1.2.3")); /* negated first */
    assert_true(host_in(&c->relay_from_hosts, "10.1.2.4"));
    assert_true(host_in(&c->relay_from_hosts, "10.2.0.1"));
    assert_true(host_in(&c->relay_from_hosts, "::1"));
    assert_false(host_in(&c->relay_from_hosts, "10.3.0.1"));
    const struct cfg_router *r = &c->routers[0];
    assert_true(r->has_domains);
    assert_false(cfg_domainlist_match(&r->domains, "example.com"));
    assert_false(cfg_domainlist_match(&r->domains, "a.EXAMPLE.com"));
    assert_true(cfg_domainlist_match(&r->domains, "example.net")); /* "! +list": all others */
    cfg_free(c);

    load_fails("relay_from_hosts = +nosuch\n", "t.conf:1:", "+nosuch");
    load_fails("hostlist a = 10.0.0.1\nhostlist a = 10.0.0.2\n", "t.conf:2:", "hostlist a");
    load_fails("hostlist a = bad.host.name\n", "t.conf:1:", "bad.host.name");
    load_fails("domainlist d = exa mple.com\n", "t.conf:1:", "exa mple.com");
    load_fails("hostlist = 10.0.0.1\n", "t.conf:1:", "hostlist");
}

/* test_unknown_option - unknown options are refused with file:line and the name */
static void
test_unknown_option(void **state)
{
    (void)state;
    load_fails("worker_threads = 2\n\nno_such_option = 1\n", "t.conf:3:", "\"no_such_option\"");
    load_fails("begin routers\nr:\n  driver = accept\n  frobnicate = yes\n",
               "t.conf:4:", "frobnicate");
    load_fails("begin transports\nt:\n  driver = smtp\n  nosuch\n", "t.conf:4:", "nosuch");
    load_fails("worker_threads 4\n", "t.conf:1:", "syntax");
    load_fails("mystery value\n", "t.conf:1:", "mystery");
}

/* test_bad_values - bad times, sizes, booleans, numbers and addresses */
static void
test_bad_values(void **state)
{
    (void)state;
    const struct {
        const char *text, *frag;
    } cases[] = {
        {"smtp_receive_timeout = 5 minutes\n", "smtp_receive_timeout"},
        {"queue_run_interval = 0\n", "queue_run_interval"},
        {"queue_run_interval = -5\n", "queue_run_interval"},
        {"message_size_limit = 10X\n", "message_size_limit"},
        {"bounce_return_size_limit = 4G\n", "bounce_return_size_limit"},
        {"json_log = 2\n", "json_log"},
        {"worker_threads = 0\n", "worker_threads"},
        {"worker_threads = 257\n", "worker_threads"},
        {"worker_threads = 4x\n", "worker_threads"},
        {"smtp_accept_max = 99999999999999999999\n", "smtp_accept_max"},
        {"smtp_listen = 127.0.0.1:70000\n", "smtp_listen"},
        {"smtp_listen = localhost:25\n", "smtp_listen"},
        {"http_listen = [::1\n", "http_listen"},
        {"dns_servers = 300.1.1.1\n", "dns_servers"},
        {"relay_from_hosts = 10.0.0.0/33\n", "relay_from_hosts"},
        {"relay_from_hosts = <; ::1/129\n", "relay_from_hosts"},
        {"spool_directory =\n", "spool_directory"},
        {"primary_hostname = \"unterminated\n", "primary_hostname"},
        {"worker_threads\n", "worker_threads"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "# line 1\n%s", cases[i].text);
        load_fails(text, "t.conf:2:", cases[i].frag);
    }
    /* the offending value is named too */
    load_fails("smtp_receive_timeout = 5 minutes\n", "\"5 minutes\"", NULL);
    load_fails("message_size_limit = 10X\n", "\"10X\"", NULL);
    load_fails("begin transports\nt:\n driver = smtp\n port = 0\n", "t.conf:4:", "port");
    load_fails("begin transports\nt:\n driver = smtp\n max_rcpt = 0\n", "t.conf:4:", "max_rcpt");
    load_fails("begin transports\nt:\n driver = smtp\n connect_timeout = 1y\n",
               "t.conf:4:", "connect_timeout");
}

/* test_wrong_section - an option from another section is refused as such */
static void
test_wrong_section(void **state)
{
    (void)state;
    load_fails("port = 25\n", "t.conf:1:", "not valid in the main section");
    load_fails("begin routers\nr:\n  driver = accept\n  worker_threads = 2\n",
               "t.conf:4:", "worker_threads");
    load_fails("begin routers\nr:\n  driver = accept\n  port = 2\n",
               "t.conf:4:", "not valid in the routers section");
    load_fails("begin routers\n  driver = accept\n", "t.conf:2:", "before any router");
    load_fails("begin transports\nhostlist x = 10.0.0.1\n", "t.conf:2:", "before any transport");
}

/* test_unknown_section - "begin" with an unknown or missing section name */
static void
test_unknown_section(void **state)
{
    (void)state;
    load_fails("worker_threads = 2\nbegin rewrite\n", "t.conf:2:", "unknown section \"rewrite\"");
    load_fails("begin acls\n", "t.conf:1:", "unknown section");
    load_fails("begin\n", "t.conf:1:", "begin");
    load_fails("begin routers extra\n", "t.conf:1:", "begin");
}

/* test_overrides - -o overrides: applied last, errors named "-o NAME" */
static void
test_overrides(void **state)
{
    (void)state;
    const char *ov[] = {"worker_threads=3", " json_log ", "smtp_listen = [::1]:2600",
                        "relay_from_hosts=+mine"};
    struct cfg *c = NULL;
    int rc = cfg_load_string("worker_threads = 9\nhostlist mine = 10.9.0.0/16\n", "t.conf", ov, 4,
                             &c, load_err, sizeof load_err);
    if (rc != 0)
        fail_msg("%s", load_err);
    assert_int_equal(c->worker_threads, 3); /* applied after the file */
    assert_int_equal(c->json_log, 1);
    assert_string_equal(c->smtp_listen[0].text, "[::1]:2600");
    assert_true(host_in(&c->relay_from_hosts, "10.9.1.1"));
    cfg_free(c);

    const char *bad1[] = {"nosuch=1"};
    c = (struct cfg *)1;
    assert_int_equal(cfg_load_string("", "t.conf", bad1, 1, &c, load_err, sizeof load_err), -1);
    assert_null(c);
    assert_non_null(strstr(load_err, "-o nosuch:"));
    assert_non_null(strstr(load_err, "unknown option \"nosuch\""));
    const char *bad2[] = {"worker_threads=zero"};
    assert_int_equal(cfg_load_string("", "t.conf", bad2, 1, &c, load_err, sizeof load_err), -1);
    assert_non_null(strstr(load_err, "-o worker_threads:"));
    assert_non_null(strstr(load_err, "\"zero\""));
    const char *bad3[] = {"port=25"};
    assert_int_equal(cfg_load_string("", "t.conf", bad3, 1, &c, load_err, sizeof load_err), -1);
    assert_non_null(strstr(load_err, "-o port:"));
    const char *bad4[] = {"=5"};
    assert_int_equal(cfg_load_string("", "t.conf", bad4, 1, &c, load_err, sizeof load_err), -1);
}

/* test_load_file - loading from a file, errors carry the path */
static void
test_load_file(void **state)
{
    (void)state;
    char path[] = "/tmp/spate_cfg_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "worker_threads = 5\nbogus = 1\n";
    assert_int_equal(write(fd, text, 19), 19); /* only the first line */
    close(fd);
    struct cfg *c = NULL;
    assert_int_equal(cfg_load_file(path, NULL, 0, &c, load_err, sizeof load_err), 0);
    assert_int_equal(c->worker_threads, 5);
    cfg_free(c);

    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(cfg_load_file(path, NULL, 0, &c, load_err, sizeof load_err), -1);
    char want[64];
    snprintf(want, sizeof want, "%s:2:", path);
    assert_non_null(strstr(load_err, want));
    assert_non_null(strstr(load_err, "bogus"));
    unlink(path);
    assert_int_equal(cfg_load_file(path, NULL, 0, &c, load_err, sizeof load_err), -1);
    assert_non_null(strstr(load_err, path));
}

/* test_default_config - the embedded default loads with its documented values */
static void
test_default_config(void **state)
{
    (void)state;
    struct cfg *c = NULL;
    assert_int_equal(
        cfg_load_string(cfg_default_text, "(default)", NULL, 0, &c, load_err, sizeof load_err), 0);
    assert_string_equal(c->spool_directory, "./var/spool");
    assert_int_equal(c->n_smtp_listen, 1);
    assert_string_equal(c->smtp_listen[0].text, "127.0.0.1:2525");
    assert_int_equal(c->n_http_listen, 1);
    assert_string_equal(c->http_listen[0].text, "127.0.0.1:8025");
    assert_true(host_in(&c->relay_from_hosts, "127.0.0.1"));
    assert_true(host_in(&c->relay_from_hosts, "::1"));
    assert_false(host_in(&c->relay_from_hosts, "192.0.2.1"));
    assert_int_equal(c->nrouters, 1);
    assert_int_equal(c->routers[0].driver, CFG_ROUTER_DNSLOOKUP);
    assert_int_equal(c->routers[0].has_domains, 0);
    assert_string_equal(c->routers[0].transport_name, "remote_smtp");
    assert_int_equal(c->ntransports, 1);
    assert_ptr_equal(c->routers[0].transport, &c->transports[0]);
    assert_int_equal(c->transports[0].driver, CFG_TRANSPORT_SMTP);
    assert_int_equal(c->transports[0].port, 25);
    assert_int_equal(c->nretry, 1);
    const struct cfg_retry_rule *r = cfg_retry_find(c, "any.example");
    assert_non_null(r);
    assert_int_equal(r->nsteps, retry_default_rule.nsteps);
    for (size_t i = 0; i < r->nsteps; i++) {
        assert_int_equal(r->steps[i].kind, retry_default_rule.steps[i].kind);
        assert_int_equal(r->steps[i].cutoff_s, retry_default_rule.steps[i].cutoff_s);
        assert_int_equal(r->steps[i].interval_s, retry_default_rule.steps[i].interval_s);
    }
    cfg_free(c);
    /* and overrides apply to it like to any file */
    const char *ov[] = {"smtp_listen=127.0.0.1:2999"};
    assert_int_equal(
        cfg_load_string(cfg_default_text, "(default)", ov, 1, &c, load_err, sizeof load_err), 0);
    assert_string_equal(c->smtp_listen[0].text, "127.0.0.1:2999");
    cfg_free(c);
}

/* test_parse_time - Exim time values */
static void
test_parse_time(void **state)
{
    (void)state;
    assert_int_equal(cfg_parse_time("90"), 90);
    assert_int_equal(cfg_parse_time("45s"), 45);
    assert_int_equal(cfg_parse_time("5m"), 300);
    assert_int_equal(cfg_parse_time("2h"), 7200);
    assert_int_equal(cfg_parse_time("1d"), 86400);
    assert_int_equal(cfg_parse_time("1w"), 604800);
    assert_int_equal(cfg_parse_time("1h30m"), 5400);
    assert_int_equal(cfg_parse_time("1d2h3m4s"), 93784);
    assert_int_equal(cfg_parse_time("0"), 0);
    assert_int_equal(cfg_parse_time(""), -1);
    assert_int_equal(cfg_parse_time(NULL), -1);
    assert_int_equal(cfg_parse_time("h"), -1);
    assert_int_equal(cfg_parse_time("5x"), -1);
    assert_int_equal(cfg_parse_time("-5"), -1);
    assert_int_equal(cfg_parse_time("1.5h"), -1);
    assert_int_equal(cfg_parse_time(" 5m"), -1);
    assert_int_equal(cfg_parse_time("99999999999"), -1);
    assert_int_equal(cfg_parse_time("9999999w"), -1);
}

/* test_parse_size - size values with K/M/G */
static void
test_parse_size(void **state)
{
    (void)state;
    assert_int_equal(cfg_parse_size("1000"), 1000);
    assert_int_equal(cfg_parse_size("512K"), 524288);
    assert_int_equal(cfg_parse_size("512k"), 524288);
    assert_int_equal(cfg_parse_size("10M"), 10485760);
    assert_int_equal(cfg_parse_size("1G"), 1073741824);
    assert_int_equal(cfg_parse_size("0"), 0);
    assert_int_equal(cfg_parse_size(""), -1);
    assert_int_equal(cfg_parse_size("M"), -1);
    assert_int_equal(cfg_parse_size("-1"), -1);
    assert_int_equal(cfg_parse_size("10MB"), -1);
    assert_int_equal(cfg_parse_size("1T"), -1);
    assert_int_equal(cfg_parse_size("99999999999999999999"), -1);
    assert_int_equal(cfg_parse_size("9999999999999G"), -1);
}

/* test_parse_sockaddr - ip, ip:port and [v6]:port addresses */
static void
test_parse_sockaddr(void **state)
{
    (void)state;
    struct net_addr a;
    assert_int_equal(net_addr_parse("127.0.0.1", 25, &a), 0);
    assert_string_equal(a.text, "127.0.0.1:25");
    assert_int_equal(a.len, sizeof(struct sockaddr_in));
    assert_int_equal(ntohs(((struct sockaddr_in *)&a.ss)->sin_port), 25);
    assert_int_equal(net_addr_parse("10.1.2.3:2525", 25, &a), 0);
    assert_string_equal(a.text, "10.1.2.3:2525");
    assert_int_equal(net_addr_parse("[::1]:53", 25, &a), 0);
    assert_string_equal(a.text, "[::1]:53");
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&a.ss)->sin6_port), 53);
    assert_int_equal(net_addr_parse("[2001:DB8::1]", 8025, &a), 0);
    assert_string_equal(a.text, "[2001:db8::1]:8025");
    assert_int_equal(net_addr_parse("::1", 53, &a), 0);
    assert_string_equal(a.text, "[::1]:53");
    assert_int_equal(net_addr_parse("", 25, &a), -1);
    assert_int_equal(net_addr_parse("localhost", 25, &a), -1);
    assert_int_equal(net_addr_parse("1.2.3.4:", 25, &a), -1);
    assert_int_equal(net_addr_parse("1.2.3.4:0", 25, &a), -1);
    assert_int_equal(net_addr_parse("1.2.3.4:65536", 25, &a), -1);
    assert_int_equal(net_addr_parse("1.2.3.4:x", 25, &a), -1);
    assert_int_equal(net_addr_parse("[::1", 25, &a), -1);
    assert_int_equal(net_addr_parse("[::1]x", 25, &a), -1);
    assert_int_equal(net_addr_parse("[1.2.3.4]:25", 25, &a), -1);
    assert_int_equal(net_addr_parse("1.2.3.4.5", 25, &a), -1);
    assert_int_equal(net_addr_parse(NULL, 25, &a), -1);
}

/* test_garbage_input - malformed lines are refused with a position, never accepted */
static void
test_garbage_input(void **state)
{
    (void)state;
    /* nothing here may crash; each must be refused with a position */
    const char *bad[] = {
        "=\n",
        ":\n",
        "begin routers\n:\n",
        "begin routers\nr::\n driver\n",
        "\\",
        "A=\nA B\n",
        "begin retry\n* * ;;;\n",
        "begin retry\n* * F,,\n",
        "hostlist x = <",
        "relay_from_hosts = !\n",
        "begin transports\nt: driver = smtp ;\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct cfg *c = load(bad[i]);
        if (c != NULL) {
            cfg_free(c);
            fail_msg("accepted: %s", bad[i]);
        }
        assert_non_null(strstr(load_err, "t.conf:"));
    }
    /* an over-long line after macro expansion is refused, not truncated */
    char *big = malloc(300000);
    assert_non_null(big);
    strcpy(big, "X = ");
    memset(big + 4, 'a', 40000);
    strcpy(big + 40004, "\nprimary_hostname = X X\n");
    load_fails(big, "t.conf:2:", "too long");
    free(big);
}

/* test_crlf_in_primary_hostname - an escaped or raw CR LF never reaches the
 * greeting: refused with file:line */
static void
test_crlf_in_primary_hostname(void **state)
{
    (void)state;
    load_fails("json_log\nprimary_hostname = \"evil.example\\r\\n250-INJECTED\"\n",
               "t.conf:2:", "control character");
    load_fails("primary_hostname = evil.example\r250-INJECTED\n", "t.conf:1:", "control character");
    ovr_fails("primary_hostname=evil.example\r\n250-INJECTED", "-o primary_hostname:");
}

/* test_ctl_in_any_string_option - control octets are refused in every
 * section's options, raw or through an escape */
static void
test_ctl_in_any_string_option(void **state)
{
    (void)state;
    load_fails("spool_directory = \"/tmp/a\\nb\"\n", "t.conf:1:", "control character");
    load_fails("log_file_path = /tmp/a\x01"
               "b\n",
               "t.conf:1:", "control character");
    load_fails("redis_servers = \"a\x7f\"\n", "t.conf:1:", "control character");
    load_fails("event_action = \"x\\ry\"\n", "t.conf:1:", "control character");
    load_fails("relay_from_hosts = 127.0.0.1\x0b/8\n", "t.conf:1:", "control character");
    load_fails("begin transports\nt:\n driver = smtp\n tls_certificate = \"/c\\n\"\n",
               "t.conf:4:", "control character");
    load_fails("begin routers\nr:\n driver = dnslookup\n domains = a.exa\x0cmple\n",
               "t.conf:4:", "control character");
    load_fails("begin destinations\n*:\n max_message_rate = 5\x1b/s\n",
               "t.conf:3:", "control character");
    ovr_fails("spool_directory=/tmp/x\ty", "control character");
    ovr_fails("redis_servers=\"a\\tb\"", "control character");
}

/* test_hostname_options - primary_hostname and helo_data are host names
 * (helo_data may also be an address literal) */
static void
test_hostname_options(void **state)
{
    struct cfg *c;
    (void)state;
    load_fails("primary_hostname = \"evil example\"\n", "t.conf:1:", "host name");
    load_fails("primary_hostname = -bad.example\n", "t.conf:1:", "host name");
    load_fails("primary_hostname = a..example\n", "t.conf:1:", "host name");
    load_fails("primary_hostname = a_b.example\n", "t.conf:1:", "host name");
    load_fails("primary_hostname = mail.example.\n", "t.conf:1:", "host name");
    load_fails("begin transports\nt:\n driver = smtp\n helo_data = \"x y\"\n",
               "t.conf:4:", "host name");
    load_fails("begin transports\nt:\n driver = smtp\n helo_data = [1.2.3]\n",
               "t.conf:4:", "host name");
    c = load("primary_hostname = Mail-1.Example.COM\nbegin transports\nt:\n driver = smtp\n"
             " helo_data = [IPv6:2001:db8::1]\nu:\n driver = smtp\n helo_data = out.example\n");
    if (c == NULL)
        fail_msg("%s", load_err);
    assert_string_equal(c->primary_hostname, "Mail-1.Example.COM");
    assert_string_equal(c->transports[0].helo_data, "[IPv6:2001:db8::1]");
    cfg_free(c);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_defaults),
    cmocka_unit_test(test_main_options),
    cmocka_unit_test(test_bool_forms),
    cmocka_unit_test(test_comments_and_continuation),
    cmocka_unit_test(test_macros),
    cmocka_unit_test(test_named_lists),
    cmocka_unit_test(test_unknown_option),
    cmocka_unit_test(test_bad_values),
    cmocka_unit_test(test_wrong_section),
    cmocka_unit_test(test_unknown_section),
    cmocka_unit_test(test_overrides),
    cmocka_unit_test(test_load_file),
    cmocka_unit_test(test_default_config),
    cmocka_unit_test(test_parse_time),
    cmocka_unit_test(test_parse_size),
    cmocka_unit_test(test_parse_sockaddr),
    cmocka_unit_test(test_garbage_input),
    cmocka_unit_test(test_crlf_in_primary_hostname),
    cmocka_unit_test(test_ctl_in_any_string_option),
    cmocka_unit_test(test_hostname_options),
};

/* clang-format off */
int main(int argc, char **argv) { if (argc > 1) cmocka_set_test_filter(argv[1]); return cmocka_run_group_tests(tests, NULL, NULL); }
/* clang-format on */
