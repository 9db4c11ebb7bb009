/*
 * test_acl_dkim.c - the "dkim_status" ACL condition (Exim's DKIM chapter):
 *                   status words in any case, '!' negation, first match,
 *                   negated condition, no status yet (an error), load-time
 *                   checks; acl_smtp_dkim and dkim_verify_signers load;
 *                   add_header's ":at_start:" position word.
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

static const char *status = "fail";

/* dk_var - $dkim_verify_status for the cases; NULL for other names */
static const char *
dk_var(void *arg, const char *name)
{
    (void)arg;
    return strcmp(name, "dkim_verify_status") == 0 ? status : NULL;
}

static void
load_dkim(const char *text)
{
    fx_load(text);
    fx.env.var = dk_var;
}

/* every word matches its own status, and only it */
static void
test_dkim_words(void **state)
{
    static const char *const w[] = {"none", "invalid", "fail", "pass"};
    (void)state;
    load_dkim("begin acl\n"
              "a:\n deny dkim_status = $acl_m_w\n accept\n");
    for (size_t i = 0; i < 4; i++)
        for (size_t j = 0; j < 4; j++) {
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
test_dkim_negation_and_order(void **state)
{
    (void)state;
    load_dkim("begin acl\n"
              "n:\n deny dkim_status = !pass\n accept\n"
              "l:\n deny dkim_status = <; none ; INVALID ; Fail\n accept\n"
              "c:\n accept !dkim_status = fail : invalid\n deny\n");
    status = "pass";
    fx_expect("n l c", ACL_ACCEPT);
    status = "invalid";
    fx_expect("n l c", ACL_DENY);
    fx_done();
}

/* before any verification ($dkim_verify_status "" or unknown) the
 * condition is an error, not a silent match */
static void
test_dkim_no_status(void **state)
{
    (void)state;
    load_dkim("begin acl\n"
              "a:\n deny dkim_status = none\n accept\n");
    status = "";
    fx_error_names("a", "dkim_status");
    fx.env.var = NULL;
    fx_expect("a", ACL_ERROR);
    fx_done();
}

/* unknown words stop the load; an expanded list with one is an ACL error */
static void
test_dkim_bad_words(void **state)
{
    (void)state;
    assert_null(load("begin acl\na:\n deny dkim_status = pass : passed\n"));
    assert_non_null(strstr(load_err, "passed"));
    assert_null(load("begin acl\na:\n deny dkim_status = softfail\n"));
    assert_non_null(strstr(load_err, "softfail"));
    assert_null(load("begin acl\na:\n deny dkim_status =\n"));
    load_dkim("begin acl\n"
              "a:\n deny dkim_status = ${if eq{1}{1}{bogus}{pass}}\n accept\n");
    status = "pass";
    assert_int_equal(fx_run("a"), ACL_ERROR);
    fx_done();
}

/* acl_smtp_dkim names an ACL (resolved after the file); dkim_verify_signers
 * is an expanded string */
static void
test_dkim_options(void **state)
{
    struct cfg *c;
    (void)state;
    c = load("acl_smtp_dkim = dk\n"
             "dkim_verify_signers = example.com : $dkim_signers\n"
             "begin acl\ndk:\n accept\n");
    assert_non_null(c);
    assert_ptr_equal(c->acl_smtp_dkim, acl_find(c, "dk"));
    assert_string_equal(exp_source(c->dkim_verify_signers), "example.com : $dkim_signers");
    cfg_free(c);
    c = load("begin acl\ndk:\n accept\n");
    assert_non_null(c);
    assert_null(c->acl_smtp_dkim);
    assert_null(c->dkim_verify_signers);
    cfg_free(c);
    assert_null(load("acl_smtp_dkim = nosuch\nbegin acl\ndk:\n accept\n"));
    assert_non_null(strstr(load_err, "nosuch"));
}

/* add_header = :at_start:... keeps the marker on every line for the
 * server; :at_end: is the default and is dropped */
static void
test_add_header_at_start(void **state)
{
    (void)state;
    load_dkim("begin acl\n"
              "a:\n warn add_header = :at_start:X-One: 1\\nX-Two: 2\n"
              " warn add_header = :at_end:X-Three: 3\n"
              " accept\n");
    assert_int_equal(fx_run("a"), ACL_ACCEPT);
    assert_int_equal(fx.res.nadd, 3);
    assert_string_equal(fx.res.add_headers[0], ":at_start:X-One: 1");
    assert_string_equal(fx.res.add_headers[1], ":at_start:X-Two: 2");
    assert_string_equal(fx.res.add_headers[2], "X-Three: 3");
    fx_done();
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dkim_words),     cmocka_unit_test(test_dkim_negation_and_order),
        cmocka_unit_test(test_dkim_no_status), cmocka_unit_test(test_dkim_bad_words),
        cmocka_unit_test(test_dkim_options),   cmocka_unit_test(test_add_header_at_start),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
