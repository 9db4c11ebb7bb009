/*
 * test_acl.c - unit tests for the ACL engine's compiler and verbs
 *              (conf/acl_parse.c, conf/acl_run.c): the "begin acl" syntax
 *              and its errors (file:line and the offending word), the
 *              acl_smtp_* options, every verb, implicit deny, messages,
 *              nested "acl =". Conditions, lists, modifiers, suspension and
 *              ${acl} are in test_acl_run.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aclfx.h"

#include <cmocka.h>

/* test_parse_ok - a section with several ACLs; options resolved to them */
static void
test_parse_ok(void **state)
{
    (void)state;
    fx_load("acl_smtp_rcpt = check_rcpt\n"
            "acl_smtp_connect = accept\n"
            "acl_smtp_mail = deny\n"
            "acl_data_smtp_prdr = check_rcpt\n"
            "begin acl\n"
            "check_rcpt:\n"
            "  accept hosts = 192.0.2.0/24\n"
            "         endpass\n"
            "  deny   message = relay not permitted\n"
            "empty:\n");
    assert_non_null(fx.cfg->acls);
    assert_ptr_equal(fx.cfg->acl_smtp_rcpt, acl_find(fx.cfg, "check_rcpt"));
    assert_ptr_equal(fx.cfg->acl_smtp_data_prdr, fx.cfg->acl_smtp_rcpt);
    assert_string_equal(acl_name(fx.cfg->acl_smtp_rcpt), "check_rcpt");
    assert_string_equal(acl_name(fx.cfg->acl_smtp_connect), "accept");
    assert_string_equal(acl_name(fx.cfg->acl_smtp_mail), "deny");
    assert_null(fx.cfg->acl_smtp_helo);
    assert_null(fx.cfg->acl_smtp_quit);
    assert_null(acl_find(fx.cfg, "nosuch"));
    assert_non_null(acl_find(fx.cfg, "empty"));
    assert_int_equal(acl_run(fx.cfg->acl_smtp_connect, &fx.env, &fx.res), ACL_ACCEPT);
    assert_int_equal(acl_run(fx.cfg->acl_smtp_mail, &fx.env, &fx.res), ACL_DENY);
    assert_int_equal(acl_run(fx.cfg->acl_smtp_rcpt, &fx.env, &fx.res), ACL_ACCEPT);
    fx_done();
}

/* test_parse_errors - each refusal names the file, line and word */
static void
test_parse_errors(void **state)
{
    (void)state;
    load_fails("begin acl\na:\n  accept hots = *\n", "t.conf:3:", "hots");
    load_fails("begin acl\na:\n  allow\n", "t.conf:3:", "allow");
    load_fails("begin acl\n  accept\n", "t.conf:2:", "before any ACL name");
    load_fails("begin acl\na:\n  hosts = *\n", "t.conf:3:", "before any verb");
    load_fails("begin acl\na:\n accept\na:\n deny\n", "t.conf:4:", "duplicate ACL name \"a\"");
    load_fails("begin acl\na:\n accept control = fly\n", "t.conf:3:", "fly");
    load_fails("begin acl\na:\n require verify = helo\n", "t.conf:3:", "helo");
    load_fails("begin acl\na:\n accept !message = x\n", "t.conf:3:", "message");
    load_fails("begin acl\na:\n accept condition = ${if eq{a}\n", "t.conf:3:", "condition");
    load_fails("begin acl\na:\n accept hosts\n", "t.conf:3:", "hosts = value");
    load_fails("begin acl\na:\n accept hosts = 10.0.0.0/33\n", "t.conf:3:", "10.0.0.0/33");
    load_fails("begin acl\na:\n accept hosts = mail.example.com\n",
               "t.conf:3:", "host names are not supported");
    load_fails("begin acl\na:\n accept domains = +nosuch\n", "t.conf:3:", "+nosuch");
    load_fails("begin acl\na:\n accept recipients = ^(bad\n", "t.conf:3:", "^(bad");
    load_fails("begin acl\na:\n warn set foo = 1\n", "t.conf:3:", "foo");
    load_fails("begin acl\na:\n warn set acl_x = 1\n", "t.conf:3:", "acl_x");
    load_fails("begin acl\na:\n accept acl = \n", "t.conf:3:", "ACL name");
    load_fails("begin acl\na: accept\n", "t.conf:2:", "a:");
    load_fails("begin acl\na:\n accept hosts = lsearch;\n", "t.conf:3:", "file");
    load_fails("begin acl\na:\n accept hosts = nosuchtype;/x\n", "t.conf:3:", "nosuchtype");
}

/* test_unknown_names - ACL names are resolved after the whole file */
static void
test_unknown_names(void **state)
{
    (void)state;
    load_fails("acl_smtp_rcpt = nosuch\nbegin acl\na:\n accept\n", "t.conf:1:", "nosuch");
    load_fails("acl_smtp_helo = bad name\n", "t.conf:1:", "acl_smtp_helo");
    load_fails("begin acl\na:\n accept acl = b\n", "t.conf:3:", "no ACL named \"b\"");
    /* forward references work */
    fx_load("acl_smtp_quit = later\nbegin acl\nfirst:\n accept acl = later\nlater:\n deny\n");
    assert_int_equal(fx_run("first"), ACL_DENY);
    assert_int_equal(fx.res.implicit_deny, 1); /* first ran off its end */
    fx_done();
    /* an override naming an unknown ACL */
    struct cfg *c = NULL;
    const char *ov[] = {"acl_smtp_rcpt=ghost"};
    char err[CFG_ERR_MAX];
    assert_int_equal(
        cfg_load_string("begin acl\na:\n accept\n", "t.conf", ov, 1, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "-o acl_smtp_rcpt"));
    assert_non_null(strstr(err, "ghost"));
    const char *ov2[] = {"acl_smtp_rcpt=a"};
    assert_int_equal(
        cfg_load_string("begin acl\na:\n accept\n", "t.conf", ov2, 1, &c, err, sizeof err), 0);
    assert_ptr_equal(c->acl_smtp_rcpt, acl_find(c, "a"));
    cfg_free(c);
}

/* test_null_acl - an unset ACL accepts and does nothing */
static void
test_null_acl(void **state)
{
    (void)state;
    fx_load("");
    assert_int_equal(fx_run(NULL), ACL_ACCEPT);
    assert_null(fx.res.message);
    assert_int_equal(fx.res.implicit_deny, 0);
    assert_string_equal(acl_rc_name(ACL_ACCEPT), "accept");
    assert_string_equal(acl_rc_name(ACL_DISCARD), "discard");
    assert_string_equal(acl_rc_name(ACL_SUSPEND), "suspend");
    fx_done();
}

/* test_verb_accept - accept when all true, otherwise on to the next */
static void
test_verb_accept(void **state)
{
    (void)state;
    fx_load("begin acl\na:\n accept hosts = 10.0.0.0/8\n accept hosts = 192.0.2.10\n"
            "  message = hello\n");
    assert_int_equal(fx_run("a"), ACL_ACCEPT);
    assert_string_equal(fx.res.message, "hello");
    fx_ip("203.0.113.1");
    assert_int_equal(fx_run("a"), ACL_DENY);
    assert_int_equal(fx.res.implicit_deny, 1);
    fx_done();
}

/* test_verb_deny - deny with its message and log_message */
static void
test_verb_deny(void **state)
{
    (void)state;
    fx_load("begin acl\na:\n deny message = no $sender_host_address\n"
            "  log_message = denied $local_part\n  hosts = 192.0.2.0/24\n accept\n");
    assert_int_equal(fx_run("a"), ACL_DENY);
    assert_string_equal(fx.res.message, "no 192.0.2.10");
    assert_string_equal(fx.res.log_message, "denied user");
    assert_int_equal(fx.res.implicit_deny, 0);
    fx_ip("2001:db8::1");
    assert_int_equal(fx_run("a"), ACL_ACCEPT);
    fx_done();
}

/* test_verb_defer_drop_discard - the other ending verbs */
static void
test_verb_defer_drop_discard(void **state)
{
    (void)state;
    fx_load("begin acl\n"
            "d:\n defer message = try later\n"
            "x:\n drop condition = false\n drop message = go away\n"
            "s:\n discard senders = *@sender.example\n accept\n");
    assert_int_equal(fx_run("d"), ACL_DEFER);
    assert_string_equal(fx.res.message, "try later");
    assert_int_equal(fx_run("x"), ACL_DROP);
    assert_string_equal(fx.res.message, "go away");
    assert_int_equal(fx_run("s"), ACL_DISCARD);
    fx.env.sender = "b@other.example";
    assert_int_equal(fx_run("s"), ACL_ACCEPT);
    fx_done();
}

/* test_verb_require - a false condition denies, all true goes on */
static void
test_verb_require(void **state)
{
    (void)state;
    fx_load("begin acl\na:\n require message = need auth\n  authenticated = *\n"
            " accept message = ok\n");
    assert_int_equal(fx_run("a"), ACL_DENY);
    assert_string_equal(fx.res.message, "need auth");
    fx.env.authenticated_id = "bob";
    assert_int_equal(fx_run("a"), ACL_ACCEPT);
    assert_string_equal(fx.res.message, "ok");
    fx_done();
}

/* test_verb_warn - never ends the ACL; its messages do not leak */
static void
test_verb_warn(void **state)
{
    (void)state;
    fx_load("begin acl\na:\n warn log_message = warned\n  message = not used\n"
            "  set acl_m_w = yes\n deny\n");
    assert_int_equal(fx_run("a"), ACL_DENY);
    assert_null(fx.res.message);
    assert_null(fx.res.log_message);
    assert_string_equal(acl_vars_get(fx.env.mvars, "acl_m_w"), "yes");
    fx_done();
}

/* test_implicit_deny - running off the end, also of an empty ACL */
static void
test_implicit_deny(void **state)
{
    (void)state;
    fx_load("begin acl\nempty:\nnone:\n accept hosts = 10.0.0.1\n");
    assert_int_equal(fx_run("empty"), ACL_DENY);
    assert_int_equal(fx.res.implicit_deny, 1);
    assert_int_equal(fx_run("none"), ACL_DENY);
    assert_int_equal(fx.res.implicit_deny, 1);
    fx_done();
}

/* test_message_remembered - a message reached before a false condition
 * stays for a later deny; one after it is never reached */
static void
test_message_remembered(void **state)
{
    (void)state;
    fx_load("begin acl\n"
            "a:\n accept message = first\n  hosts = 10.0.0.1\n deny\n"
            "b:\n accept hosts = 10.0.0.1\n  message = never\n deny\n");
    assert_int_equal(fx_run("a"), ACL_DENY);
    assert_string_equal(fx.res.message, "first");
    assert_int_equal(fx_run("b"), ACL_DENY);
    assert_null(fx.res.message);
    fx_done();
}

/* test_nested_acl - acl = NAME with args, negation, results passed up */
static void
test_nested_acl(void **state)
{
    (void)state;
    fx_load("begin acl\n"
            "top:\n accept acl = isok $local_part other\n  message = ok $acl_narg\n"
            " deny message = bad\n"
            "isok:\n accept condition = ${if eq{$acl_arg1}{user}}\n"
            "  condition = ${if eq{$acl_arg2}{other}}\n"
            "neg:\n deny !acl = isok nobody\n  message = negated\n accept\n"
            "def:\n accept acl = d2\nd2:\n defer message = later\n"
            "dr:\n accept acl = d3\nd3:\n drop\n");
    assert_int_equal(fx_run("top"), ACL_ACCEPT);
    assert_string_equal(fx.res.message, "ok 0");
    fx.env.recipient = "someone@example.com";
    assert_int_equal(fx_run("top"), ACL_DENY);
    assert_string_equal(fx.res.message, "bad");
    assert_int_equal(fx_run("neg"), ACL_DENY);
    assert_string_equal(fx.res.message, "negated");
    assert_int_equal(fx_run("def"), ACL_DEFER);
    assert_string_equal(fx.res.message, "later"); /* the nested ACL's message */
    assert_int_equal(fx_run("dr"), ACL_DROP);
    fx_done();
}

/* test_nesting_limit - an ACL that calls itself ends in an error */
static void
test_nesting_limit(void **state)
{
    (void)state;
    fx_load("begin acl\nloop:\n accept acl = loop\n");
    assert_int_equal(fx_run("loop"), ACL_ERROR);
    assert_non_null(fx.res.log_message);
    assert_non_null(strstr(fx.res.log_message, "nested"));
    fx_done();
}

/* test_expansion_error - an error ends the ACL with ACL_ERROR; forced
 * failure ignores the item */
static void
test_expansion_error(void **state)
{
    (void)state;
    fx_load("begin acl\n"
            "e:\n accept condition = $nosuchvar\n"
            "f:\n deny condition = ${if eq{a}{b}{yes}fail}\n  message = forced\n");
    assert_int_equal(fx_run("e"), ACL_ERROR);
    assert_non_null(strstr(fx.res.log_message, "nosuchvar"));
    assert_non_null(strstr(fx.res.log_message, "t.conf:3"));
    assert_int_equal(fx_run("f"), ACL_DENY);
    assert_string_equal(fx.res.message, "forced");
    fx_done();
    /* a message that cannot be expanded when the ACL runs off its end */
    fx_load("begin acl\ng:\n accept message = $nosuchvar\n  condition = false\n");
    assert_int_equal(fx_run("g"), ACL_DENY);
    assert_int_equal(fx.res.implicit_deny, 1);
    assert_null(fx.res.message);
    fx_done();
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_parse_ok),
    cmocka_unit_test(test_parse_errors),
    cmocka_unit_test(test_unknown_names),
    cmocka_unit_test(test_null_acl),
    cmocka_unit_test(test_verb_accept),
    cmocka_unit_test(test_verb_deny),
    cmocka_unit_test(test_verb_defer_drop_discard),
    cmocka_unit_test(test_verb_require),
    cmocka_unit_test(test_verb_warn),
    cmocka_unit_test(test_implicit_deny),
    cmocka_unit_test(test_message_remembered),
    cmocka_unit_test(test_nested_acl),
    cmocka_unit_test(test_nesting_limit),
    cmocka_unit_test(test_expansion_error),
};

/* clang-format off */
int main(int argc, char **argv) { if (argc > 1) cmocka_set_test_filter(argv[1]); return cmocka_run_group_tests(tests, NULL, NULL); }
/* clang-format on */
