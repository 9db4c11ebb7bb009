/*
 * test_acl_dmarc.c - the "dmarc_status" ACL condition (seed "DMARC
 *                    Support"): the eight status words in any case, '!'
 *                    negation, first match, negated condition, no status
 *                    yet (an error), unknown words at load and at run time;
 *                    the seed's example DATA ACL loads; the dmarc controls.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "aclfx.h"
#include "conf/acl_int.h"
#include "conf/expand.h"
#include "testutil.h"

#include <cmocka.h>

static const char *status = "reject";

/* dm_var - $dmarc_status for the cases; NULL for other names */
static const char *
dm_var(void *arg, const char *name)
{
    (void)arg;
    if (strcmp(name, "dmarc_status") == 0)
        return status;
    if (strcmp(name, "dmarc_domain_policy") == 0)
        return "reject";
    if (strncmp(name, "dmarc_", 6) == 0)
        return "x";
    return NULL;
}

static void
load_dmarc(const char *text)
{
    fx_load(text);
    fx.env.var = dm_var;
}

/* every word matches its own status, and only it */
static void
test_dmarc_words(void **state)
{
    static const char *const w[] = {"accept",   "reject", "quarantine", "none",
                                    "norecord", "nofrom", "temperror",  "off"};
    (void)state;
    load_dmarc("begin acl\n"
               "a:\n deny dmarc_status = $acl_m_w\n accept\n");
    for (size_t i = 0; i < 8; i++)
        for (size_t j = 0; j < 8; j++) {
            status = w[j];
            acl__vars_set(fx.env.mvars, "acl_m_w", w[i]);
            assert_int_equal(fx_run("a"), i == j ? ACL_DENY : ACL_ACCEPT);
            acl_result_clear(&fx.res);
        }
    fx_done();
}

/* "!word" matches the others; the first matching item decides; "!" before
 * the condition inverts it; words in any case, "<;" separators */
static void
test_dmarc_negation_and_order(void **state)
{
    (void)state;
    load_dmarc("begin acl\n"
               "n:\n deny dmarc_status = !accept\n accept\n"
               "l:\n deny dmarc_status = <; Quarantine ; REJECT ; temperror\n accept\n"
               "c:\n accept !dmarc_status = reject : quarantine\n deny\n");
    status = "accept";
    fx_expect("n l c", ACL_ACCEPT);
    status = "quarantine";
    fx_expect("n l c", ACL_DENY);
    status = "off";
    fx_expect("n", ACL_DENY);
    fx_expect("l", ACL_ACCEPT);
    fx_done();
}

/* before the evaluation ($dmarc_status "" or unknown) the condition is an
 * error, not a silent match */
static void
test_dmarc_no_status(void **state)
{
    (void)state;
    load_dmarc("begin acl\n"
               "a:\n deny dmarc_status = !accept\n accept\n");
    status = "";
    fx_error_names("a", "dmarc_status");
    fx.env.var = NULL;
    fx_expect("a", ACL_ERROR);
    fx_done();
}

/* unknown words stop the load; an expanded list with one is an ACL error */
static void
test_dmarc_bad_words(void **state)
{
    (void)state;
    assert_null(load("begin acl\na:\n deny dmarc_status = accept : pass\n"));
    assert_non_null(strstr(load_err, "pass"));
    assert_null(load("begin acl\na:\n deny dmarc_status = !fail\n"));
    assert_non_null(strstr(load_err, "fail"));
    assert_null(load("begin acl\na:\n deny dmarc_status =\n"));
    assert_null(load("begin acl\na:\n deny dmarc_status = <;\n"));
    load_dmarc("begin acl\n"
               "a:\n deny dmarc_status = ${if eq{1}{1}{bogus}{reject}}\n accept\n");
    status = "reject";
    assert_int_equal(fx_run("a"), ACL_ERROR);
    fx_done();
}

/* the seed's example ACLs load as written, and the DATA one refuses a
 * "reject" and sets the quarantine flag for "quarantine" */
static void
test_dmarc_seed_example(void **state)
{
    (void)state;
    load_dmarc("begin acl\n"
               "rcpt:\n"
               " warn hosts = 10.0.0.0/8\n"
               "   control = dmarc_disable_verify\n"
               " warn !hosts = 10.0.0.0/8\n"
               "   control = dmarc_enable_forensic\n"
               " accept\n"
               "data:\n"
               " warn dmarc_status = accept : none : off\n"
               "   !authenticated = *\n"
               "   log_message = DMARC DEBUG: $dmarc_status $dmarc_used_domain\n"
               "   add_header = $dmarc_ar_header\n"
               " warn dmarc_status = !accept\n"
               "   !authenticated = *\n"
               "   log_message = DMARC DEBUG: '$dmarc_status' for $dmarc_used_domain\n"
               " warn dmarc_status = quarantine\n"
               "   !authenticated = *\n"
               "   set acl_m_quarantine = 1\n"
               " deny condition = ${if eq{$dmarc_domain_policy}{reject}}\n"
               "   condition = ${if eq{$acl_m_mailing_list}{1}}\n"
               "   message = Messages from $dmarc_used_domain break mailing lists\n"
               " deny dmarc_status = reject\n"
               "   !authenticated = *\n"
               "   message = Message from $dmarc_used_domain failed sender's DMARC policy, "
               "REJECT\n"
               " accept\n");
    status = "reject";
    assert_int_equal(fx_run("data"), ACL_DENY);
    assert_non_null(strstr(fx.res.message, "REJECT"));
    acl_result_clear(&fx.res);
    status = "quarantine";
    assert_int_equal(fx_run("data"), ACL_ACCEPT);
    assert_string_equal(acl_vars_get(fx.env.mvars, "acl_m_quarantine"), "1");
    acl_result_clear(&fx.res);
    status = "accept";
    assert_int_equal(fx_run("data"), ACL_ACCEPT);
    assert_int_equal(fx.res.nadd, 1);
    acl_result_clear(&fx.res);
    assert_int_equal(fx_run("rcpt"), ACL_ACCEPT);
    assert_int_equal(fx.res.controls & ACL_CONTROL_DMARC_ENABLE_FORENSIC,
                     ACL_CONTROL_DMARC_ENABLE_FORENSIC);
    assert_int_equal(fx.res.controls & ACL_CONTROL_DMARC_DISABLE_VERIFY, 0);
    fx_done();
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dmarc_words),        cmocka_unit_test(test_dmarc_negation_and_order),
        cmocka_unit_test(test_dmarc_no_status),    cmocka_unit_test(test_dmarc_bad_words),
        cmocka_unit_test(test_dmarc_seed_example),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
