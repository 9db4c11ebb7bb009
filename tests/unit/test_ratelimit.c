/*
 * test_ratelimit.c - unit tests for conf/ratelimit.c with the memory store:
 * parsing (good specs, their state keys, malformed ones), Exim's smoothed
 * rate against an independent copy of the formula for a fixed sequence of
 * times, the first event, count=, leaky against strict, readonly and
 * noupdate, a zero limit, per-scope counting (per_conn, per_mail, per_byte),
 * state shared between limits, unique= and per_addr with the filter's
 * period, the memory bounds, bad costs, and concurrent checks.
 * Time is injected with rl_set_clock().
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "conf/config.h"
#include "conf/ratelimit.h"
#include "testutil.h"

#include <cmocka.h>

static double fake_now;

/* fake_clock - the injected time */
static double
fake_clock(void)
{
    return fake_now;
}

/* setup - a clean store at t = 1,000,000 s */
static int
setup(void **state)
{
    (void)state;
    rl_configure(0, NULL, 0);
    rl_reset();
    rl_set_bounds(0, 0);
    rl_set_clock(fake_clock);
    fake_now = 1000000.0;
    return 0;
}

/* teardown - back to the real clock */
static int
teardown(void **state)
{
    (void)state;
    rl_reset();
    rl_set_bounds(0, 0);
    rl_set_clock(NULL);
    return 0;
}

/* P - parse, failing the test on error */
static struct rl_spec *
P(const char *text)
{
    char err[256] = "";
    struct rl_spec *s = rl_parse(text, err, sizeof err);
    if (s == NULL)
        fail_msg("rl_parse(\"%s\"): %s", text, err);
    return s;
}

/* C - check at the fake time; the verdict, the rate in *rate */
static int
C(const struct rl_spec *s, double cost, const char *scope, double *rate)
{
    char err[256] = "";
    int rc = rl_check(s, cost, scope, rate, err, sizeof err);
    if (rc < 0)
        fail_msg("rl_check: %s", err);
    return rc;
}

/* exim_rate - the reference: Exim's acl_ratelimit() update, written out again */
static double
exim_rate(int first, double old, double prev, double now, double period, double count)
{
    if (first)
        return count;
    double interval = now - prev <= 0 ? 1e-9 : now - prev;
    double a = exp(-interval / period);
    double r = (1 - a) * count * period / interval + a * old;
    return r < count ? count : r;
}

static void
parse_good_specs(void **state)
{
    (void)state;
    static const struct {
        const char *text, *key;
        int per, readonly;
        double limit;
    } cases[] = {
        {"100 / 1h / per_rcpt / strict / 192.0.2.1", "1h/per_rcpt/192.0.2.1", RL_PER_RCPT, 0, 100},
        {"2.5k/30m", "30m/per_mail/", RL_PER_MAIL, 0, 2560},
        {"1M / 1d / per_byte", "1d/per_byte/", RL_PER_BYTE, 0, 1048576},
        {"0.5/1h30m/PER_CONN/Leaky/a", "1h30m/per_conn/a", RL_PER_CONN, 0, 0.5},
        {"5/5s/per_cmd/readonly/x", "5s/per_cmd/x", RL_PER_CMD, 1, 5},
        {"5/5s/strict/noupdate/x", "5s/per_mail/x", RL_PER_MAIL, 1, 5},
        {"1/1h/a/b/ c ", "1h/per_mail/a/b/c", RL_PER_MAIL, 0, 1},
        {"1/1h/a//b", "1h/per_mail/a/b", RL_PER_MAIL, 0, 1},
        {"1/1h/unique=x/count=2/k", "1h/per_mail/unique/k", RL_PER_MAIL, 0, 1},
        {"10/1w/per_addr", "1w/per_addr/unique/", RL_PER_ADDR, 0, 10},
        {"0/1s/2001:db8::1", "1s/per_mail/2001:db8::1", RL_PER_MAIL, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct rl_spec *s = P(cases[i].text);
        assert_string_equal(rl_key(s), cases[i].key);
        assert_int_equal(rl_per(s), cases[i].per);
        assert_int_equal(rl_readonly(s), cases[i].readonly);
        assert_true(fabs(rl_limit(s) - cases[i].limit) < 1e-9);
        rl_spec_free(s);
    }
    struct rl_spec *s = P(" 7 / 2h ");
    assert_string_equal(rl_limit_text(s), "7");
    assert_string_equal(rl_period_text(s), "2h");
    rl_spec_default_key(s, "198.51.100.7");
    assert_string_equal(rl_key(s), "2h/per_mail/198.51.100.7");
    rl_spec_free(s);
    s = P("7/2h/mykey");
    rl_spec_default_key(s, "198.51.100.7"); /* a written key wins */
    assert_string_equal(rl_key(s), "2h/per_mail/mykey");
    rl_spec_free(s);
    rl_spec_free(NULL);
}

static void
parse_bad_specs(void **state)
{
    (void)state;
    static const struct {
        const char *text, *why;
    } cases[] = {
        {"", "not set"},
        {"   ", "not set"},
        {"abc/1h", "not a positive number"},
        {"-1/1h", "not a positive number"},
        {"10x/1h", "not a positive number"},
        {"nan/1h", "not a positive number"},
        {"inf/1h", "not a positive number"},
        {"1e400/1h", "not a positive number"},
        {"k/1h", "not a positive number"},
        {"10", "not a time value"},
        {"10/", "not a time value"},
        {"10/0s", "not a time value"},
        {"10/xyz", "not a time value"},
        {"10/-5m", "not a time value"},
        {"10/1h/per_mail/per_conn", "conflicting per_"},
        {"10/1h/per_rcpt/per_rcpt", "conflicting per_"},
        {"10/1h/leaky/strict", "conflicting update"},
        {"10/1h/strict/readonly", "conflicting update"},
        {"10/1h/count=-1", "not a positive number"},
        {"10/1h/count=abc", "not a positive number"},
        {"10/1h/count=", "not a positive number"},
        {"10/1h/count=inf", "not a positive number"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "";
        struct rl_spec *s = rl_parse(cases[i].text, err, sizeof err);
        if (s != NULL)
            fail_msg("\"%s\" parsed", cases[i].text);
        if (strstr(err, cases[i].why) == NULL)
            fail_msg("\"%s\": \"%s\" lacks \"%s\"", cases[i].text, err, cases[i].why);
    }
    char err[64] = "";
    assert_null(rl_parse(NULL, err, sizeof err));
}

static void
rate_follows_exim_formula(void **state)
{
    (void)state;
    static const double dt[] = {0, 10, 0, 0.5, 15, 120, 3, 3, 3, 7200, 1, 59.25};
    static const double cost[] = {1, 1, 2, 1, 3, 1, 1, 1, 1, 1, 10, 0.5};
    struct rl_spec *s = P("1000/1m/strict/formula");
    double want = 0, prev = 0, got;

    for (size_t i = 0; i < sizeof dt / sizeof dt[0]; i++) {
        fake_now += dt[i];
        want = exim_rate(i == 0, want, prev, fake_now, 60, cost[i]);
        prev = fake_now;
        assert_int_equal(C(s, cost[i], NULL, &got), 0);
        if (fabs(got - want) > 1e-9 * (1 + want))
            fail_msg("step %zu: rate %.12g, Exim gives %.12g", i, got, want);
    }
    rl_spec_free(s);
}

static void
first_event_and_count(void **state)
{
    (void)state;
    struct rl_spec *s = P("10/1h/strict/first"), *c = P("10/1h/count=4/strict/counted");
    double r;

    assert_int_equal(C(s, 5, NULL, &r), 0);
    assert_true(r == 5.0); /* a new key's rate is the first event's cost */
    assert_int_equal(C(c, 1, NULL, &r), 0);
    assert_true(r == 4.0); /* count= wins over the caller's cost */
    fake_now += 1;
    assert_int_equal(C(c, 1, NULL, &r), 0);
    assert_true(fabs(r - exim_rate(0, 4, fake_now - 1, fake_now, 3600, 4)) < 1e-9);
    assert_int_equal(C(s, 6, NULL, &r), 1); /* 5 + ~6 >= 10 */
    rl_spec_free(s);
    rl_spec_free(c);
}

/* burst - n checks one second apart; the verdicts as a string of 0/1 */
static void
burst(const struct rl_spec *s, int n, char *out, double *last)
{
    for (int i = 0; i < n; i++) {
        fake_now += 1;
        out[i] = (char)('0' + C(s, 1, NULL, last));
    }
    out[n] = '\0';
}

static void
leaky_and_strict(void **state)
{
    (void)state;
    struct rl_spec *leaky = P("3/1h/leaky/L"), *dflt = P("3/1h/D"), *strict = P("3/1h/strict/S");
    char v[16];
    double r1, r2;

    burst(leaky, 6, v, &r1);
    assert_string_equal(v, "000111");
    burst(dflt, 6, v, &r2); /* leaky is the default */
    assert_string_equal(v, "000111");
    assert_true(fabs(r1 - r2) < 1e-9);
    assert_true(r1 < 4.0); /* over-limit checks did not raise the stored rate */
    burst(strict, 6, v, &r2);
    assert_string_equal(v, "000111");
    assert_true(r2 > 5.9); /* every check counted */
    /* an hour later the leaky sender is let through; the strict one is still over */
    fake_now += 1800;
    assert_int_equal(C(leaky, 1, NULL, &r1), 0);
    assert_int_equal(C(strict, 1, NULL, &r2), 1);
    rl_spec_free(leaky);
    rl_spec_free(dflt);
    rl_spec_free(strict);
}

static void
readonly_never_updates(void **state)
{
    (void)state;
    struct rl_spec *w = P("10/1h/strict/k"), *ro = P("2/1h/readonly/k"), *nu = P("2/1h/noupdate/k");
    struct rl_spec *fresh = P("1/1h/readonly/other"), *zero = P("0/1h/readonly/z");
    double r, r0;

    C(w, 3, NULL, &r0);
    fake_now += 60;
    assert_int_equal(C(ro, 1, NULL, &r), 1);
    assert_true(r < r0 && r > 2.0); /* decayed, nothing added */
    assert_true(fabs(r - exim_rate(0, r0, fake_now - 60, fake_now, 3600, 0)) < 1e-9);
    assert_int_equal(C(nu, 1, NULL, &r0), 1);
    assert_true(r0 == r); /* the stored state did not move */
    assert_int_equal(C(fresh, 1, NULL, &r), 0);
    assert_true(r == 0.0);
    assert_int_equal(C(zero, 1, NULL, &r), 1); /* a zero limit is always over */
    size_t keys;
    rl_mem_usage(&keys, NULL);
    assert_int_equal(keys, 1); /* readonly checks created nothing */
    rl_spec_free(w);
    rl_spec_free(ro);
    rl_spec_free(nu);
    rl_spec_free(fresh);
    rl_spec_free(zero);
}

static void
scope_counts_once(void **state)
{
    (void)state;
    struct rl_spec *conn = P("2/5s/per_conn/strict/h"), *conn9 = P("1/5s/per_conn/leaky/h");
    double r;

    for (int i = 0; i < 4; i++) /* one connection, however often evaluated */
        assert_int_equal(C(conn, 1, "conn-1", &r), 0);
    assert_true(r == 1.0);
    assert_int_equal(C(conn9, 1, "conn-1", &r), 1); /* remembered rate, this spec's limit */
    assert_true(r == 1.0);
    assert_int_equal(C(conn, 1, "conn-2", &r), 1); /* a second connection counts */
    assert_true(r > 1.9);
    assert_int_equal(C(conn, 1, "conn-2", &r), 1);
    assert_true(r > 1.9 && r < 2.1);
    assert_int_equal(C(conn, 1, NULL, &r), 1); /* no scope: counted every time */
    assert_true(r > 2.9);
    rl_spec_free(conn);
    rl_spec_free(conn9);
}

static void
per_mail_and_per_byte(void **state)
{
    (void)state;
    struct rl_spec *mail = P("2/1h/per_mail/strict/s"), *bytes = P("1M/1h/per_byte/strict/s");
    double r;

    assert_int_equal(C(mail, 1, "msg-A", &r), 0);
    assert_int_equal(C(mail, 1, "msg-A", &r), 0); /* rcpt ACL then data ACL: once */
    assert_true(r == 1.0);
    assert_int_equal(C(mail, 1, "msg-B", &r), 1);
    assert_int_equal(C(bytes, 600000, "msg-A", &r), 0);
    assert_true(r == 600000.0);
    assert_int_equal(C(bytes, 600000, "msg-A", &r), 0);
    fake_now += 1;
    assert_int_equal(C(bytes, 600000, "msg-B", &r), 1);
    assert_true(r > 1048576);
    assert_string_equal(rl_key(bytes), "1h/per_byte/s"); /* not the per_mail state */
    rl_spec_free(mail);
    rl_spec_free(bytes);
}

static void
state_shared_by_key(void **state)
{
    (void)state;
    struct rl_spec *a = P("100/1h/strict/k"), *b = P("5/1h/leaky/count=1/k");
    struct rl_spec *other_period = P("100/2h/strict/k"), *other_per = P("100/1h/per_rcpt/k");
    double r;

    for (int i = 0; i < 5; i++)
        C(a, 1, NULL, &r);
    assert_int_equal(C(b, 1, NULL, &r), 1); /* another limit, the same rate */
    assert_true(r > 5.9);
    assert_int_equal(C(other_period, 1, NULL, &r), 0);
    assert_true(r == 1.0);
    assert_int_equal(C(other_per, 1, NULL, &r), 0);
    assert_true(r == 1.0);
    rl_spec_free(a);
    rl_spec_free(b);
    rl_spec_free(other_period);
    rl_spec_free(other_per);
}

static void
unique_counts_values_once(void **state)
{
    (void)state;
    struct rl_spec *u1 = P("100/1h/strict/unique=alpha/k"), *u2 = P("100/1h/strict/unique=beta/k");
    struct rl_spec *addr = P("100/1h/per_addr/strict/k");
    double r;

    C(u1, 1, NULL, &r);
    C(u1, 1, NULL, &r);
    C(u1, 1, NULL, &r);
    assert_true(fabs(r - 1.0) < 1e-6); /* the same value: counted once */
    C(u2, 1, NULL, &r);
    assert_true(r > 1.9 && r < 2.1);
    fake_now += 3601; /* the filter is a period old: values count again */
    C(u1, 1, NULL, &r);
    double r2;
    C(u1, 1, NULL, &r2);
    assert_true(r2 < r + 1e-6 && r2 > r - 1e-6);
    assert_true(r > 1.0);
    /* per_addr: the scope is the recipient */
    C(addr, 1, "a@example.com", &r);
    C(addr, 1, "a@example.com", &r);
    C(addr, 1, "b@example.com", &r);
    C(addr, 1, "a@example.com", &r);
    assert_true(r > 1.9 && r < 2.1);
    rl_spec_free(u1);
    rl_spec_free(u2);
    rl_spec_free(addr);
}

static void
memory_is_bounded(void **state)
{
    (void)state;
    struct rl_spec *victim = P("2/1h/strict/victim");
    char text[64];
    size_t keys, bytes;
    double r;

    C(victim, 5, NULL, &r);
    assert_int_equal(C(victim, 1, NULL, &r), 1);
    rl_set_bounds(100, 0);
    for (int i = 0; i < 1000; i++) { /* an attacker cycling keys */
        snprintf(text, sizeof text, "1/1h/strict/k%d", i);
        struct rl_spec *s = P(text);
        C(s, 1, NULL, &r);
        rl_spec_free(s);
        rl_mem_usage(&keys, NULL);
        assert_true(keys <= 100);
    }
    assert_int_equal(C(victim, 1, NULL, &r), 0); /* forgotten: a new key again */
    assert_true(r == 1.0);
    rl_set_bounds(0, 30000); /* bytes bound, with unique= filters of 2 KiB each */
    for (int i = 0; i < 200; i++) {
        snprintf(text, sizeof text, "1000/1h/strict/unique=v/u%d", i);
        struct rl_spec *s = P(text);
        C(s, 1, NULL, &r);
        rl_spec_free(s);
        rl_mem_usage(&keys, &bytes);
        assert_true(bytes <= 30000);
    }
    assert_true(keys >= 10 && keys <= 15);
    rl_set_bounds(0, 0); /* the defaults keep a thousand keys easily */
    for (int i = 0; i < 1000; i++) {
        snprintf(text, sizeof text, "1/1h/strict/d%d", i);
        struct rl_spec *s = P(text);
        C(s, 1, NULL, &r);
        rl_spec_free(s);
    }
    rl_mem_usage(&keys, NULL);
    assert_true(keys >= 1000);
    rl_spec_free(victim);
}

static void
bad_cost_refused(void **state)
{
    (void)state;
    struct rl_spec *s = P("10/1h/k");
    char err[128] = "";

    assert_int_equal(rl_check(s, -1, NULL, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "bad cost"));
    assert_int_equal(rl_check(s, NAN, NULL, NULL, err, sizeof err), -1);
    assert_int_equal(rl_check(s, INFINITY, NULL, NULL, err, sizeof err), -1);
    assert_int_equal(rl_check(s, 0, NULL, NULL, err, sizeof err), 0);
    rl_spec_free(s);
}

/* hammer - 1000 strict checks of one key at one instant */
static void *
hammer(void *arg)
{
    char err[64];
    for (int i = 0; i < 1000; i++)
        if (rl_check(arg, 1, NULL, NULL, err, sizeof err) < 0)
            return arg;
    return NULL;
}

static void
concurrent_checks(void **state)
{
    (void)state;
    struct rl_spec *s = P("1000000/1h/strict/shared");
    pthread_t t[4];
    double r;

    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, s), 0);
    for (int i = 0; i < 4; i++) {
        void *rv;
        pthread_join(t[i], &rv);
        assert_null(rv);
    }
    C(s, 0, NULL, &r);
    assert_true(fabs(r - 4000) < 0.01); /* no update lost */
    rl_spec_free(s);
}

static void
store_option(void **state)
{
    (void)state;
    const char *redis[] = {"ratelimit_store=redis"}, *bad[] = {"ratelimit_store=disk"};
    struct cfg *c = NULL;
    char err[CFG_ERR_MAX] = "";

    assert_int_equal(cfg_load_string(cfg_default_text, "t.conf", NULL, 0, &c, err, sizeof err), 0);
    assert_int_equal(c->ratelimit_store_redis, 0); /* memory by default */
    cfg_free(c);
    assert_int_equal(cfg_load_string(cfg_default_text, "t.conf", redis, 1, &c, err, sizeof err), 0);
    assert_int_equal(c->ratelimit_store_redis, 1);
    cfg_free(c);
    c = NULL;
    assert_int_equal(cfg_load_string(cfg_default_text, "t.conf", bad, 1, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "ratelimit_store"));
    assert_non_null(strstr(err, "memory or redis"));
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(parse_good_specs, setup, teardown),
        cmocka_unit_test_setup_teardown(parse_bad_specs, setup, teardown),
        cmocka_unit_test_setup_teardown(rate_follows_exim_formula, setup, teardown),
        cmocka_unit_test_setup_teardown(first_event_and_count, setup, teardown),
        cmocka_unit_test_setup_teardown(leaky_and_strict, setup, teardown),
        cmocka_unit_test_setup_teardown(readonly_never_updates, setup, teardown),
        cmocka_unit_test_setup_teardown(scope_counts_once, setup, teardown),
        cmocka_unit_test_setup_teardown(per_mail_and_per_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(state_shared_by_key, setup, teardown),
        cmocka_unit_test_setup_teardown(unique_counts_values_once, setup, teardown),
        cmocka_unit_test_setup_teardown(memory_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_cost_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_checks, setup, teardown),
        cmocka_unit_test(store_option),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
