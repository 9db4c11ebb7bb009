/*
 * test_acl_spf.c - the "spf" ACL condition (seed "SPF"): result words and
 *                  aliases, '!' negation, left-to-right first match, a
 *                  pending result suspending the ACL, load-time checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "aclfx.h"
#include "conf/acl_int.h"
#include "testutil.h"

#include <cmocka.h>

static const char *spf_answer = "fail";
static int spf_pending, spf_calls;

/* fx_spf - acl_env.spf for the cases */
static int
fx_spf(void *arg, char *result, size_t len)
{
    (void)arg;
    spf_calls++;
    if (spf_pending)
        return ACL_VERIFY_PENDING;
    snprintf(result, len, "%s", spf_answer);
    return ACL_VERIFY_OK;
}

static void
load_spf(const char *text)
{
    fx_load(text);
    fx.env.spf = fx_spf;
    spf_pending = spf_calls = 0;
}

/* every word matches its own result, and only it */
static void
test_spf_words(void **state)
{
    static const char *const w[] = {"pass",    "fail",      "softfail", "none",
                                    "neutral", "permerror", "temperror"};
    (void)state;
    load_spf("begin acl\n"
             "a:\n deny spf = $acl_m_w\n accept\n");
    for (size_t i = 0; i < 7; i++)
        for (size_t j = 0; j < 7; j++) {
            spf_answer = w[j];
            acl__vars_set(fx.env.mvars, "acl_m_w", w[i]);
            assert_int_equal(fx_run("a"), i == j ? ACL_DENY : ACL_ACCEPT);
            acl_result_clear(&fx.res);
        }
    fx_done();
}

/* err_perm / err_temp are the deprecated names of permerror / temperror */
static void
test_spf_aliases(void **state)
{
    (void)state;
    load_spf("begin acl\n"
             "p:\n deny spf = err_perm\n accept\n"
             "t:\n deny spf = ERR_TEMP\n accept\n");
    spf_answer = "permerror";
    assert_int_equal(fx_run("p"), ACL_DENY);
    acl_result_clear(&fx.res);
    assert_int_equal(fx_run("t"), ACL_ACCEPT);
    acl_result_clear(&fx.res);
    spf_answer = "temperror";
    assert_int_equal(fx_run("t"), ACL_DENY);
    fx_done();
}

/* "!word" matches the other results; the first matching item decides; a
 * negated condition inverts the whole */
static void
test_spf_negation_and_order(void **state)
{
    (void)state;
    load_spf("begin acl\n"
             "n:\n deny spf = !pass\n accept\n"
             "l:\n deny spf = <; neutral ; softfail ; fail\n accept\n"
             "c:\n accept !spf = fail : softfail\n deny\n");
    spf_answer = "pass";
    fx_expect("n l c", ACL_ACCEPT);
    spf_answer = "softfail";
    fx_expect("n l c", ACL_DENY);
    fx_done();
}

/* a result not known yet suspends; resumption asks again */
static void
test_spf_suspend(void **state)
{
    (void)state;
    load_spf("begin acl\n"
             "s:\n warn set acl_m_x = 1\n deny spf = fail\n  message = SPF says no\n accept\n");
    spf_pending = 1;
    assert_int_equal(fx_run("s"), ACL_SUSPEND);
    assert_int_equal(fx.res.wait_verify, 1);
    spf_pending = 0;
    spf_answer = "fail";
    assert_int_equal(acl_resume(acl_find(fx.cfg, "s"), &fx.env, &fx.res), ACL_DENY);
    assert_string_equal(fx.res.message, "SPF says no");
    assert_int_equal(spf_calls, 2);
    acl_result_clear(&fx.res);
    /* still pending after resumption: an error, not a hang */
    spf_pending = 1;
    assert_int_equal(fx_run("s"), ACL_SUSPEND);
    assert_int_equal(acl_resume(acl_find(fx.cfg, "s"), &fx.env, &fx.res), ACL_ERROR);
    acl_result_clear(&fx.res);
    /* no SPF hook (e.g. ${acl} in an expansion): an error */
    fx.env.spf = NULL;
    assert_int_equal(fx_run("s"), ACL_ERROR);
    fx_done();
}

/* unknown words stop the load; an expanded list with one is an ACL error */
static void
test_spf_bad_words(void **state)
{
    (void)state;
    assert_null(load("begin acl\na:\n deny spf = pass : sucess\n"));
    assert_non_null(strstr(load_err, "sucess"));
    assert_null(load("begin acl\na:\n deny spf =\n"));
    load_spf("begin acl\n"
             "a:\n deny spf = ${if eq{1}{1}{bogus}{pass}}\n accept\n");
    assert_int_equal(fx_run("a"), ACL_ERROR);
    fx_done();
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spf_words),
        cmocka_unit_test(test_spf_aliases),
        cmocka_unit_test(test_spf_negation_and_order),
        cmocka_unit_test(test_spf_suspend),
        cmocka_unit_test(test_spf_bad_words),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
