/*
 * test_smtp_params.c - the SMTP client's MAIL and RCPT command lines
 *                      (engine/smtp_params.c): each parameter only when
 *                      asked for, DSN values passed on unchanged, ORCPT
 *                      made when absent (rfc822 xtext, utf-8 unitext),
 *                      unsafe octets in stored values encoded, xtext, and
 *                      which messages need SMTPUTF8.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* cmocka needs the headers above first */
/* clang-format off */
#include <cmocka.h>
/* clang-format on */

#include "engine/smtp_params.h"

/* mail_is - smtp_mail_cmd's line for m and o equals want */
static void
mail_is(const struct spool_msg *m, const struct smtp_mail_opts *o, const char *want)
{
    size_t len = 0;
    char *got = smtp_mail_cmd(m, o, &len);
    assert_string_equal(got, want);
    assert_int_equal(len, strlen(want));
    free(got);
}

/* rcpt_is - smtp_rcpt_cmd's line equals want */
static void
rcpt_is(const struct spool_rcpt *r, int dsn, int utf8, const char *want)
{
    size_t len = 0;
    char *got = smtp_rcpt_cmd(r, dsn, utf8, &len);
    assert_string_equal(got, want);
    assert_int_equal(len, strlen(want));
    free(got);
}

static void
test_mail_bare(void **state)
{
    struct spool_msg m = {.sender = "a@example.com"};
    struct smtp_mail_opts o = {.body_len = 99};
    (void)state;
    mail_is(&m, &o, "MAIL FROM:<a@example.com>\r\n");
    m.sender = "";
    mail_is(&m, &o, "MAIL FROM:<>\r\n");
}

static void
test_mail_every_parameter(void **state)
{
    struct spool_msg m = {
        .sender = "a@example.com", .dsn_ret = SPOOL_RET_HDRS, .dsn_envid = "QQ+2B314"};
    struct smtp_mail_opts o = {
        .size = 1, .body_len = 1234, .body_8bit = 1, .smtputf8 = 1, .dsn = 1, .prdr = 1};
    (void)state;
    mail_is(&m, &o,
            "MAIL FROM:<a@example.com> SIZE=1234 BODY=8BITMIME SMTPUTF8 RET=HDRS "
            "ENVID=QQ+2B314 PRDR\r\n");
    m.dsn_ret = SPOOL_RET_FULL;
    o.size = o.body_8bit = o.smtputf8 = o.prdr = 0;
    mail_is(&m, &o, "MAIL FROM:<a@example.com> RET=FULL ENVID=QQ+2B314\r\n");
}

static void
test_mail_dsn_only_when_offered(void **state)
{
    struct spool_msg m = {.sender = "a@b", .dsn_ret = SPOOL_RET_FULL, .dsn_envid = "x"};
    struct smtp_mail_opts o = {.size = 1, .body_len = 5};
    (void)state;
    mail_is(&m, &o, "MAIL FROM:<a@b> SIZE=5\r\n");
    o.dsn = 1;
    m.dsn_ret = SPOOL_RET_NONE;
    m.dsn_envid = NULL;
    mail_is(&m, &o, "MAIL FROM:<a@b> SIZE=5\r\n"); /* nothing asked for: nothing sent */
}

static void
test_mail_envid_unsafe_octets(void **state)
{
    struct spool_msg m = {.sender = "a@b", .dsn_envid = "a b\r\nRCPT\x7f\xc3\xa9"};
    struct smtp_mail_opts o = {.dsn = 1, .smtputf8 = 1};
    (void)state;
    mail_is(&m, &o, "MAIL FROM:<a@b> SMTPUTF8 ENVID=a+20b+0D+0ARCPT+7F+C3+A9\r\n");
}

static void
test_rcpt_without_dsn(void **state)
{
    struct spool_rcpt r = {
        .address = "b@example.net", .dsn_notify = SPOOL_NOTIFY_SUCCESS, .dsn_orcpt = "rfc822;x@y"};
    (void)state;
    rcpt_is(&r, 0, 0, "RCPT TO:<b@example.net>\r\n");
}

static void
test_rcpt_dsn_passed_on(void **state)
{
    struct spool_rcpt r = {.address = "b@example.net",
                           .dsn_notify =
                               SPOOL_NOTIFY_SUCCESS | SPOOL_NOTIFY_FAILURE | SPOOL_NOTIFY_DELAY,
                           .dsn_orcpt = "rfc822;Orig+2Bx@Example.COM"};
    (void)state;
    rcpt_is(&r, 1, 0,
            "RCPT TO:<b@example.net> NOTIFY=SUCCESS,FAILURE,DELAY "
            "ORCPT=rfc822;Orig+2Bx@Example.COM\r\n");
    r.dsn_notify = SPOOL_NOTIFY_DELAY | SPOOL_NOTIFY_FAILURE;
    rcpt_is(&r, 1, 0,
            "RCPT TO:<b@example.net> NOTIFY=FAILURE,DELAY ORCPT=rfc822;Orig+2Bx@Example.COM\r\n");
    r.dsn_notify = SPOOL_NOTIFY_NEVER;
    rcpt_is(&r, 1, 0, "RCPT TO:<b@example.net> NOTIFY=NEVER ORCPT=rfc822;Orig+2Bx@Example.COM\r\n");
}

static void
test_rcpt_orcpt_added(void **state)
{
    struct spool_rcpt r = {.address = "a+b=c@example.net"};
    (void)state;
    rcpt_is(&r, 1, 0, "RCPT TO:<a+b=c@example.net> ORCPT=rfc822;a+2Bb+3Dc@example.net\r\n");
    r.dsn_orcpt = ""; /* empty counts as absent */
    rcpt_is(&r, 1, 0, "RCPT TO:<a+b=c@example.net> ORCPT=rfc822;a+2Bb+3Dc@example.net\r\n");
}

static void
test_rcpt_orcpt_added_utf8(void **state)
{
    struct spool_rcpt r = {.address = "j\xc3\xbcr+g=n\\@example.net"};
    (void)state;
    rcpt_is(&r, 1, 1,
            "RCPT TO:<j\xc3\xbcr+g=n\\@example.net> "
            "ORCPT=utf-8;j\xc3\xbcr\\x{2B}g\\x{3D}n\\x{5C}@example.net\r\n");
}

static void
test_rcpt_orcpt_unsafe_octets(void **state)
{
    struct spool_rcpt r = {.address = "b@c", .dsn_orcpt = "rfc822;x y\r\n\xc3\xa9"};
    (void)state;
    rcpt_is(&r, 1, 0, "RCPT TO:<b@c> ORCPT=rfc822;x+20y+0D+0A+C3+A9\r\n");
    rcpt_is(&r, 1, 1, "RCPT TO:<b@c> ORCPT=rfc822;x+20y+0D+0A\xc3\xa9\r\n");
}

static void
test_xtext(void **state)
{
    char out[64];
    (void)state;
    assert_int_equal(smtp_xtext("plain@x", out, sizeof(out)), 7);
    assert_string_equal(out, "plain@x");
    assert_int_equal(smtp_xtext("a+b=c d\x01\xff", out, sizeof(out)), 19);
    assert_string_equal(out, "a+2Bb+3Dc+20d+01+FF");
    assert_int_equal(smtp_xtext("++", out, 4), 6); /* cut, but the whole length told */
    assert_string_equal(out, "+2B");
    assert_int_equal(smtp_xtext("", out, sizeof(out)), 0);
    assert_string_equal(out, "");
}

static void
test_needs_utf8(void **state)
{
    struct spool_rcpt r[2] = {{.address = "a@b"}, {.address = "c@d"}};
    struct spool_msg m = {.sender = "s@x", .rcpt = r, .nrcpt = 2};
    (void)state;
    assert_int_equal(smtp_msg_needs_utf8(&m), 0);
    m.flags = SPOOL_F_8BITMIME;
    assert_int_equal(smtp_msg_needs_utf8(&m), 0);
    m.flags = SPOOL_F_SMTPUTF8;
    assert_int_equal(smtp_msg_needs_utf8(&m), 1);
    m.flags = 0;
    r[1].address = "\xc3\xa9@d";
    assert_int_equal(smtp_msg_needs_utf8(&m), 1);
    r[1].address = "c@d";
    m.sender = "s@\xc3\xa9x";
    assert_int_equal(smtp_msg_needs_utf8(&m), 1);
    m.sender = "";
    assert_int_equal(smtp_msg_needs_utf8(&m), 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_mail_bare),
    cmocka_unit_test(test_mail_every_parameter),
    cmocka_unit_test(test_mail_dsn_only_when_offered),
    cmocka_unit_test(test_mail_envid_unsafe_octets),
    cmocka_unit_test(test_rcpt_without_dsn),
    cmocka_unit_test(test_rcpt_dsn_passed_on),
    cmocka_unit_test(test_rcpt_orcpt_added),
    cmocka_unit_test(test_rcpt_orcpt_added_utf8),
    cmocka_unit_test(test_rcpt_orcpt_unsafe_octets),
    cmocka_unit_test(test_xtext),
    cmocka_unit_test(test_needs_utf8),
};

/* clang-format off */
int main(int argc, char **argv) { if (argc > 1) cmocka_set_test_filter(argv[1]); return cmocka_run_group_tests(tests, NULL, NULL); }
/* clang-format on */
