/*
 * test_acl_run.c - unit tests for ACL conditions, lists and modifiers
 *                  (conf/acl_list.c, conf/acl_run.c, conf/acl_vars.c,
 *                  conf/lookup_lsearch.c): every condition with and without
 *                  negation, list items (+name, !, CIDR, wildcards, @, @[],
 *                  lsearch with a temporary file, regex), every modifier,
 *                  suspension and resumption for delay and verify, and the
 *                  ${acl{...}} expansion item.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aclfx.h"
#include "conf/expand.h"
#include "conf/ratelimit.h"

#include <cmocka.h>

/* acl__vars_set - conf/acl_vars.c's setter (internal), to preset variables */
void acl__vars_set(struct acl_vars *v, const char *name, const char *value);

/* yes - run the ACL and expect accept (1) or deny (0) */
static int
yes(const char *name)
{
    int rc = fx_run(name);
    if (rc != ACL_ACCEPT && rc != ACL_DENY)
        fail_msg("ACL %s returned %s: %s", name, acl_rc_name(rc),
                 fx.res.log_message ? fx.res.log_message : "");
    return rc == ACL_ACCEPT;
}

/* test_hosts - CIDR, v6, negation, +name, @[], "*" */
static void
test_hosts(void **state)
{
    (void)state;
    fx_load("hostlist trusted = <; 192.0.2.0/28 ; 2001:db8::/32\n"
            "begin acl\n"
            "a:\n accept hosts = +trusted\n"
            "n:\n accept !hosts = +trusted\n"
            "x:\n accept hosts = !192.0.2.10 : 192.0.2.0/24\n"
            "i:\n accept hosts = @[]\n"
            "s:\n accept hosts = *\n");
    assert_true(yes("a"));
    assert_false(yes("n"));
    assert_false(yes("x"));
    assert_true(yes("s"));
    assert_false(yes("i"));
    fx_ip("::ffff:192.0.2.1"); /* v4-mapped matches v4 items */
    assert_true(yes("a"));
    assert_true(yes("x"));
    fx_ip("2001:db8::5");
    assert_true(yes("a"));
    fx_ip("198.51.100.1"); /* the local address itself */
    assert_true(yes("i"));
    assert_false(yes("a"));
    assert_true(yes("n"));
    fx.env.client = NULL; /* no host: host lists never match */
    assert_false(yes("s"));
    fx_done();
}

/* test_domains - exact, wildcard, @, regex, +name, negated last item */
static void
test_domains(void **state)
{
    (void)state;
    fx_load("primary_hostname = mx.example.net\n"
            "domainlist locals = @ : example.com : *.example.org\n"
            "begin acl\n"
            "l:\n accept domains = +locals\n"
            "r:\n accept domains = \\N^ex[a-z]+\\.com$\\N\n"
            "g:\n accept domains = !example.com : !foo.test\n"
            "m:\n accept !domains = +locals\n");
    assert_true(yes("l"));
    assert_true(yes("r"));
    assert_false(yes("g"));
    assert_false(yes("m"));
    fx.env.recipient = "x@MX.example.NET";
    assert_true(yes("l"));
    assert_false(yes("r"));
    assert_true(yes("g")); /* a list ending with a negated item matches all others */
    fx.env.recipient = "x@a.b.example.org";
    assert_true(yes("l"));
    fx.env.recipient = "x@example.org"; /* *.x: sub-domains only */
    assert_false(yes("l"));
    assert_true(yes("m"));
    fx.env.recipient = NULL; /* no recipient at this stage: an error */
    assert_int_equal(fx_run("l"), ACL_ERROR);
    fx_done();
}

/* test_local_parts_senders_recipients - address lists and wildcards */
static void
test_local_parts_senders_recipients(void **state)
{
    (void)state;
    fx_load("addresslist blocked = *@spam.example : bad@*\n"
            "localpartlist admins = postmaster : abuse : *-owner\n"
            "begin acl\n"
            "lp:\n accept local_parts = +admins\n"
            "snd:\n deny senders = +blocked\n accept\n"
            "null:\n accept senders = :\n"
            "dom:\n accept senders = sender.example\n"
            "rc:\n accept recipients = User@Example.com : @other.example\n");
    assert_false(yes("lp"));
    assert_true(yes("snd"));
    assert_false(yes("null"));
    assert_true(yes("dom"));
    assert_true(yes("rc"));
    fx.env.recipient = "list-owner@example.com";
    assert_true(yes("lp"));
    assert_false(yes("rc"));
    fx.env.recipient = "anyone@other.example";
    assert_true(yes("rc"));
    fx.env.sender = "x@spam.example";
    assert_false(yes("snd"));
    fx.env.sender = "bad@anywhere.test";
    assert_false(yes("snd"));
    fx.env.sender = "";
    assert_true(yes("null"));
    assert_true(yes("snd"));
    fx.env.sender = NULL;
    assert_int_equal(fx_run("snd"), ACL_ERROR);
    fx_done();
}

/* test_authenticated - not authenticated is false, negation true */
static void
test_authenticated(void **state)
{
    (void)state;
    fx_load("begin acl\na:\n accept authenticated = *\nb:\n accept !authenticated = *\n"
            "c:\n accept authenticated = alice : bob\n");
    assert_false(yes("a"));
    assert_true(yes("b"));
    fx.env.authenticated_id = "bob";
    assert_true(yes("a"));
    assert_false(yes("b"));
    assert_true(yes("c"));
    fx.env.authenticated_id = "carol";
    assert_false(yes("c"));
    fx_done();
}

/* test_condition - Exim's truth values, negation, variables */
static void
test_condition(void **state)
{
    (void)state;
    fx_load("begin acl\n"
            "t:\n accept condition = $acl_m_v\n"
            "n:\n accept !condition = $acl_m_v\n"
            "v:\n accept condition = ${if and{{eq{$sender_helo_name}{client.example}}"
            "{eq{$sender_host_port}{4000}}{eq{$sender_address}{a@sender.example}}"
            "{eq{$domain}{example.com}}{eq{$message_size}{1234}}}}\n");
    const char *falses[] = {"", "0", "no", "FALSE"};
    for (size_t i = 0; i < 4; i++) {
        acl__vars_set(fx.env.mvars, "acl_m_v", falses[i]);
        assert_false(yes("t"));
        assert_true(yes("n"));
    }
    acl__vars_set(fx.env.mvars, "acl_m_v", "yes");
    assert_true(yes("t"));
    acl__vars_set(fx.env.mvars, "acl_m_v", "anything");
    assert_true(yes("t"));
    assert_true(yes("v"));
    fx_done();
}

static double
fixed_now(void)
{
    return 1000000.0;
}

/* test_ratelimit - conf/ratelimit is asked (at one fixed instant), $sender_rate* are set */
static void
test_ratelimit(void **state)
{
    char err[128];
    int i, rc = ACL_ACCEPT;

    (void)state;
    rl_reset();
    rl_set_clock(fixed_now);
    fx_load("begin acl\n"
            "r:\n deny ratelimit = 2 / 1h / per_rcpt / strict / $sender_host_address\n"
            "  message = rate $sender_rate limit $sender_rate_limit per $sender_rate_period\n"
            " accept\n"
            "b:\n defer ratelimit = 1 / 1h\n accept\n"
            "bad:\n accept ratelimit = nonsense\n"
            "bytes:\n accept !ratelimit = 10000 / 1d / per_byte\n  message = $sender_rate\n");
    assert_int_equal(fx_run("r"), ACL_ACCEPT); /* the first event is under any limit */
    for (i = 0; i < 10 && rc == ACL_ACCEPT; i++)
        rc = fx_run("r");
    assert_int_equal(rc, ACL_DENY); /* the same key, at once, soon passes 2 per hour */
    assert_non_null(strstr(fx.res.message, " limit 2 per 1h"));
    assert_int_equal(strncmp(fx.res.message, "rate ", 5), 0);
    assert_int_equal(rl_configure(1, err, sizeof err), 0); /* Redis store, no servers */
    assert_int_equal(fx_run("b"), ACL_DEFER);
    assert_int_equal(rl_configure(0, err, sizeof err), 0);
    assert_int_equal(fx_run("bad"), ACL_ERROR);
    assert_int_equal(fx_run("bytes"), ACL_ACCEPT);
    assert_true(strtod(fx.res.message, NULL) > 0); /* cost: $message_size */
    fx_done();
    rl_set_clock(NULL);
}

/* test_verify - answers, messages, the address asked about */
static void
test_verify(void **state)
{
    (void)state;
    fx_load("begin acl\n"
            "r:\n require verify = recipient\n accept\n"
            "s:\n deny !verify = sender\n  message = bad sender: $acl_verify_message\n"
            " accept\n");
    fx.verify_answer = ACL_VERIFY_OK;
    assert_int_equal(fx_run("r"), ACL_ACCEPT);
    assert_string_equal(fx.verify_addr, "rcpt:user@example.com");
    fx.verify_answer = ACL_VERIFY_FAIL;
    assert_int_equal(fx_run("r"), ACL_DENY);
    assert_string_equal(fx.res.message, "Unrouteable address");
    assert_int_equal(fx_run("s"), ACL_DENY);
    assert_string_equal(fx.res.message, "bad sender: Unrouteable address");
    assert_string_equal(fx.verify_addr, "sender:a@sender.example");
    fx.verify_answer = ACL_VERIFY_DEFER;
    assert_int_equal(fx_run("r"), ACL_DEFER);
    fx.env.verify = NULL;
    assert_int_equal(fx_run("r"), ACL_ERROR);
    fx_done();
}

/* test_verify_suspend - a pending verify suspends; resume asks again */
static void
test_verify_suspend(void **state)
{
    (void)state;
    fx_load("begin acl\n"
            "top:\n warn set acl_m_before = 1\n accept acl = inner\n  message = done\n"
            "inner:\n require verify = recipient\n  set acl_m_after = 1\n accept\n");
    fx.verify_answer = ACL_VERIFY_PENDING;
    assert_int_equal(fx_run("top"), ACL_SUSPEND);
    assert_int_equal(fx.res.wait_verify, 1);
    assert_int_equal(fx.verify_calls, 1);
    assert_null(acl_vars_get(fx.env.mvars, "acl_m_after"));
    fx.verify_answer = ACL_VERIFY_OK;
    assert_int_equal(acl_resume(acl_find(fx.cfg, "top"), &fx.env, &fx.res), ACL_ACCEPT);
    assert_int_equal(fx.verify_calls, 2);
    assert_string_equal(fx.res.message, "done");
    assert_string_equal(acl_vars_get(fx.env.mvars, "acl_m_before"), "1");
    assert_string_equal(acl_vars_get(fx.env.mvars, "acl_m_after"), "1");
    /* pending again after resumption is an error */
    fx.verify_answer = ACL_VERIFY_PENDING;
    assert_int_equal(fx_run("top"), ACL_SUSPEND);
    assert_int_equal(acl_resume(acl_find(fx.cfg, "top"), &fx.env, &fx.res), ACL_ERROR);
    fx_done();
}

/* test_delay_suspend - delay suspends with its time; resume skips it */
static void
test_delay_suspend(void **state)
{
    (void)state;
    fx_load("begin acl\n"
            "d:\n warn delay = 2s\n warn delay = 250ms\n  logwrite = delayed\n"
            " deny delay = 0s\n  message = after\n"
            "bad:\n accept delay = soon\n");
    assert_int_equal(fx_run("d"), ACL_SUSPEND);
    assert_int_equal(fx.res.delay_ms, 2000);
    const struct acl *a = acl_find(fx.cfg, "d");
    assert_int_equal(acl_resume(a, &fx.env, &fx.res), ACL_SUSPEND);
    assert_int_equal(fx.res.delay_ms, 250);
    assert_int_equal(acl_resume(a, &fx.env, &fx.res), ACL_DENY);
    assert_string_equal(fx.res.message, "after");
    assert_int_equal(fx.res.delay_ms, 0);
    assert_int_equal(acl_resume(a, &fx.env, &fx.res), ACL_DENY); /* over: no change */
    assert_int_equal(fx_run("bad"), ACL_ERROR);
    fx_done();
}

/* test_modifiers - add_header, remove_header, set, control, logwrite */
static void
test_modifiers(void **state)
{
    (void)state;
    fx_load("begin acl\n"
            "m:\n warn add_header = X-Checked: $sender_host_address\n"
            "  add_header = just text\n"
            "  remove_header = X-Spam: X-Other\n"
            "  set acl_c_seen = yes\n"
            "  set acl_m3 = ${uc:$local_part}\n"
            "  control = queue_only\n"
            "  control = no_enforce_sync\n"
            "  control = enforce_sync\n"
            "  control = dmarc_disable_verify\n"
            "  logwrite = checked $local_part\n"
            " accept message = $acl_c_seen $acl_m3 [$acl_m_unset]\n");
    assert_int_equal(fx_run("m"), ACL_ACCEPT);
    assert_int_equal(fx.res.nadd, 2);
    assert_string_equal(fx.res.add_headers[0], "X-Checked: 192.0.2.10");
    assert_string_equal(fx.res.add_headers[1], "X-ACL-Warn: just text");
    assert_int_equal(fx.res.nremove, 2);
    assert_string_equal(fx.res.remove_headers[0], "X-Spam");
    assert_string_equal(fx.res.remove_headers[1], "X-Other");
    assert_int_equal(fx.res.controls, ACL_CONTROL_QUEUE_ONLY | ACL_CONTROL_DMARC_DISABLE_VERIFY);
    assert_string_equal(fx.res.message, "yes USER []");
    assert_string_equal(acl_vars_get(fx.env.cvars, "acl_c_seen"), "yes");
    acl_vars_clear(fx.env.mvars);
    assert_null(acl_vars_get(fx.env.mvars, "acl_m3"));
    struct acl_vars *keep = fx.env.cvars;
    fx.env.cvars = NULL; /* the caller keeps none: set is an error */
    assert_int_equal(fx_run("m"), ACL_ERROR);
    fx.env.cvars = keep;
    fx_done();
}

/* write_file - replace path's contents */
static void
write_file(const char *path, const char *text)
{
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s.new", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(rename(tmp, path), 0);
}

/* test_lsearch - lsearch items in host, domain and address lists; the
 * file is re-read when it changes; a missing file defers */
static void
test_lsearch(void **state)
{
    (void)state;
    char dir[] = "/tmp/acltestXXXXXX", file[300], conf[1200];
    assert_non_null(mkdtemp(dir));
    snprintf(file, sizeof file, "%s/list", dir);
    write_file(file, "# comment\nexample.com: yes\n192.0.2.10 trusted\n"
                     "\"a@sender.example\"\nother.test:\n  continued\n");
    snprintf(conf, sizeof conf,
             "begin acl\n"
             "d:\n accept domains = lsearch;%s\n"
             "h:\n accept hosts = net-lsearch;%s\n"
             "s:\n accept senders = lsearch;%s\n"
             "m:\n accept domains = lsearch;%s/missing\n",
             file, file, file, dir);
    fx_load(conf);
    assert_true(yes("d"));
    assert_true(yes("h"));
    assert_true(yes("s"));
    assert_int_equal(fx_run("m"), ACL_DEFER);
    fx.env.recipient = "x@EXAMPLE.COM"; /* keys match case-insensitively */
    assert_true(yes("d"));
    fx.env.recipient = "x@nope.test";
    assert_false(yes("d"));
    fx.env.recipient = "x@other.test";
    assert_true(yes("d"));
    sleep(1); /* a new mtime even on coarse file systems */
    write_file(file, "nope.test\n");
    assert_true(yes("d") == 0); /* other.test is gone */
    fx.env.recipient = "x@nope.test";
    assert_true(yes("d"));
    fx.env.recipient = "x@example.com";
    assert_false(yes("d"));
    fx_done();
    unlink(file);
    rmdir(dir);
}

/* test_expand_acl - ${acl{NAME}{args}}: accept gives the message, deny
 * forces failure, defer defers; verify is not available there */
static void
test_expand_acl(void **state)
{
    (void)state;
    fx_load("begin acl\n"
            "ok:\n accept message = hi $acl_arg1 $acl_narg\n"
            "no:\n deny\n"
            "later:\n defer\n"
            "ver:\n accept verify = recipient\n"
            "outer:\n accept condition = ${acl{ok}{x}}\n  message = ${acl{ok}{y}{z}}\n");
    struct acl_env env = {.where = ACL_WHERE_EXPAND, .cfg = fx.cfg};
    char err[256], *out = NULL;
    struct exp_ctx ctx = {.err = err, .errlen = sizeof err, .acl = acl_exp_hook, .acl_arg = &env};
    struct exp_str *e = exp_compile("[${acl{ok}{a}{b}}]", err, sizeof err);
    assert_non_null(e);
    assert_int_equal(exp_eval(e, &ctx, &out), EXP_OK);
    assert_string_equal(out, "[hi a 2]");
    free(out);
    exp_free(e);
    const char *cases[][2] = {
        {"${acl{no}}", "f"}, {"${acl{later}}", "d"}, {"${acl{ver}}", "e"}, {"${acl{ghost}}", "e"}};
    int want[] = {EXP_FAIL, EXP_DEFER, EXP_ERROR, EXP_ERROR};
    for (int i = 0; i < 4; i++) {
        e = exp_compile(cases[i][0], err, sizeof err);
        assert_non_null(e);
        assert_int_equal(exp_eval(e, &ctx, &out), want[i]);
        assert_null(out);
        exp_free(e);
    }
    assert_int_equal(fx_run("outer"), ACL_ACCEPT);
    assert_string_equal(fx.res.message, "hi y 2");
    /* without the hook ${acl} is an error */
    struct exp_ctx bare = {.err = err, .errlen = sizeof err};
    e = exp_compile("${acl{ok}}", err, sizeof err);
    assert_int_equal(exp_eval(e, &bare, &out), EXP_ERROR);
    assert_non_null(strstr(err, "ACLs not available"));
    exp_free(e);
    fx_done();
}

/* test_local_domains - the option, with @ and a named list */
static void
test_local_domains(void **state)
{
    (void)state;
    fx_load("primary_hostname = mx.example.net\n"
            "domainlist extra = *.example.org\n"
            "local_domains = @ : example.com : +extra\n");
    assert_int_equal(acl_local_domain(fx.cfg, "example.com"), 1);
    assert_int_equal(acl_local_domain(fx.cfg, "MX.example.net"), 1);
    assert_int_equal(acl_local_domain(fx.cfg, "a.example.org"), 1);
    assert_int_equal(acl_local_domain(fx.cfg, "example.net"), 0);
    fx_done();
    fx_load("");
    assert_int_equal(acl_local_domain(fx.cfg, "example.com"), 0); /* default: empty */
    fx_done();
    load_fails("local_domains = exa mple.com\n", "t.conf:1:", "exa mple.com");
}

/* test_expanded_list - a list holding '$' is expanded at each use */
static void
test_expanded_list(void **state)
{
    (void)state;
    fx_load("begin acl\na:\n accept hosts = <; $acl_c_net ; 10.0.0.1\n"
            "b:\n accept domains = ${if eq{1}{2}{x}fail}\n");
    acl__vars_set(fx.env.cvars, "acl_c_net", "192.0.2.0/24");
    assert_true(yes("a"));
    acl__vars_set(fx.env.cvars, "acl_c_net", "198.51.100.0/24");
    assert_false(yes("a"));
    acl__vars_set(fx.env.cvars, "acl_c_net", "not an address");
    assert_int_equal(fx_run("a"), ACL_ERROR);
    assert_true(yes("b")); /* forced failure: the condition is ignored */
    fx_done();
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_hosts),
    cmocka_unit_test(test_domains),
    cmocka_unit_test(test_local_parts_senders_recipients),
    cmocka_unit_test(test_authenticated),
    cmocka_unit_test(test_condition),
    cmocka_unit_test(test_ratelimit),
    cmocka_unit_test(test_verify),
    cmocka_unit_test(test_verify_suspend),
    cmocka_unit_test(test_delay_suspend),
    cmocka_unit_test(test_modifiers),
    cmocka_unit_test(test_lsearch),
    cmocka_unit_test(test_expand_acl),
    cmocka_unit_test(test_local_domains),
    cmocka_unit_test(test_expanded_list),
};

/* clang-format off */
int main(int argc, char **argv) { if (argc > 1) cmocka_set_test_filter(argv[1]); return cmocka_run_group_tests(tests, NULL, NULL); }
/* clang-format on */
