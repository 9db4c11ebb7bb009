/*
 * test_dsn.c - the RFC 3464 report (engine/dsn.h): status codes and the
 *              quoted SMTP reply, xtext decoding (malformed input included),
 *              the report's structure, RET and the SMTPUTF8 variant, and the
 *              DSN options (delay_warning lists, template files).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config.h"
#include "engine/dsn.h"

#include <cmocka.h>

static void
test_status_from_reply(void **state)
{
    char s[16];
    (void)state;
    dsn_status(DSN_FAILURE, "SMTP error from remote mail server after RCPT TO:<a@b>: 550 5.1.1 no",
               s);
    assert_string_equal(s, "5.1.1");
    dsn_status(DSN_FAILURE, "550 5.7.26 unauthenticated", s);
    assert_string_equal(s, "5.7.26");
    dsn_status(DSN_FAILURE, "retry timeout exceeded (last error: x: 451 4.3.0 busy)", s);
    assert_string_equal(s, "5.0.0"); /* the class must agree with the outcome */
    dsn_status(DSN_DELAY, "x: 451 4.3.0 busy", s);
    assert_string_equal(s, "4.3.0");
    dsn_status(DSN_FAILURE, "Unrouteable address", s);
    assert_string_equal(s, "5.0.0");
    dsn_status(DSN_SUCCESS, NULL, s);
    assert_string_equal(s, "2.0.0");
    dsn_status(DSN_FAILURE, "550 5.1 short", s); /* not an enhanced code */
    assert_string_equal(s, "5.0.0");
    dsn_status(DSN_FAILURE, "550 5.1.1234 too long", s);
    assert_string_equal(s, "5.0.0");
}

static void
test_smtp_reply_found(void **state)
{
    (void)state;
    assert_string_equal(dsn_smtp_reply("after RCPT TO:<a@b>: 550 no"), "550 no");
    assert_string_equal(dsn_smtp_reply("421-busy"), "421-busy");
    assert_null(dsn_smtp_reply("connect: Connection refused"));
    assert_null(dsn_smtp_reply("host: 999 nonsense: 12 x"));
    assert_null(dsn_smtp_reply(NULL));
}

static void
test_xtext(void **state)
{
    char out[32];
    (void)state;
    assert_int_equal(dsn_xtext_decode("a+2Bb+3Dc", out, sizeof(out)), 5);
    assert_string_equal(out, "a+b=c");
    assert_int_equal(dsn_xtext_decode("", out, sizeof(out)), 0);
    assert_int_equal(dsn_xtext_decode("a+2b", out, sizeof(out)), -1); /* lower-case hex */
    assert_int_equal(dsn_xtext_decode("a+2", out, sizeof(out)), -1);
    assert_int_equal(dsn_xtext_decode("a b", out, sizeof(out)), -1);
    assert_int_equal(dsn_xtext_decode("a=b", out, sizeof(out)), -1);
    assert_int_equal(dsn_xtext_decode("a+0Db", out, sizeof(out)), -1); /* CR */
    assert_int_equal(dsn_xtext_decode("abcdef", out, 4), -1);
}

static const char orig[] = "Subject: hi\r\nFrom: a@b\r\n\r\nline one\r\nline two\r\n";

/* build - a report of kind for one recipient with the configuration text */
static char *
build(const char *conf, enum dsn_kind kind, uint32_t flags, uint8_t ret, size_t *len)
{
    struct cfg *c = NULL;
    char err[256], *out;
    struct spool_msg m = {.id = "008E8pGzhBh-0000",
                          .sender = "a@b.example",
                          .flags = flags,
                          .arrival_us = 1700000000000000LL,
                          .dsn_ret = ret,
                          .dsn_envid = "id+2B1"};
    struct dsn_rcpt rc = {.address = "u@d.example",
                          .orcpt = "rfc822;o+2Bx@d.example",
                          .text = "SMTP error from remote mail server after RCPT TO:<u@d.example>: "
                                  "550 5.1.1 no\r\nsuch",
                          .remote_mta = "mx.d.example",
                          .remote_ip = "192.0.2.1",
                          .remote_port = "587",
                          .greeting = "220 mx ESMTP",
                          .last_attempt = 1700000100,
                          .retry_until = 1700400000};
    struct dsn_report r = {.kind = kind,
                           .msg = &m,
                           .rcpts = &rc,
                           .n = 1,
                           .body = orig,
                           .body_len = strlen(orig),
                           .notice_id = "008E8pGzlgW-0001",
                           .extra_info = 1,
                           .now = 1700000200};
    assert_int_equal(cfg_load_string(conf, "t.conf", NULL, 0, &c, err, sizeof(err)), 0);
    out = dsn_build(c, &r, len);
    cfg_free(c);
    return out;
}

static void
test_failure_report(void **state)
{
    size_t len;
    char *s = build("primary_hostname = mta.example\n", DSN_FAILURE, 0, SPOOL_RET_NONE, &len);
    (void)state;
    assert_int_equal(strlen(s), len);
    assert_non_null(strstr(s, "Content-Type: multipart/report; report-type=delivery-status;"));
    assert_non_null(strstr(s, "Content-Type: message/delivery-status\r\n"));
    assert_non_null(strstr(s, "Reporting-MTA: dns; mta.example\r\n"));
    assert_non_null(strstr(s, "Original-Envelope-Id: id+1\r\n"));
    assert_non_null(strstr(s, "Original-Recipient: rfc822; o+x@d.example\r\n"));
    assert_non_null(strstr(s, "Final-Recipient: rfc822; u@d.example\r\nAction: failed\r\n"
                              "Status: 5.1.1\r\nRemote-MTA: dns; mx.d.example\r\n"
                              "Remote-MTA: X-ip; [192.0.2.1]:587\r\n"));
    assert_non_null(strstr(s, "X-Remote-MTA-smtp-greeting: X-str; 220 mx ESMTP\r\n"));
    /* a CR LF in remote text never breaks the field */
    assert_non_null(strstr(s, "Diagnostic-Code: smtp; 550 5.1.1 no  such\r\n"));
    assert_non_null(strstr(s, "X-Spate-Diagnostic: X-str; SMTP error"));
    assert_null(strstr(s, "Will-Retry-Until"));
    assert_non_null(strstr(s, "Content-Type: message/rfc822\r\n\r\nSubject: hi"));
    assert_non_null(strstr(s, "line two\r\n--008E8pGzlgW-0001/mta.example--\r\n"));
    free(s);
}

static void
test_ret_hdrs_delay_and_utf8(void **state)
{
    size_t len;
    char *s = build("primary_hostname = mta.example\n", DSN_FAILURE, 0, SPOOL_RET_HDRS, &len);
    (void)state;
    assert_non_null(strstr(s, "Content-Type: text/rfc822-headers\r\n\r\nSubject: hi"));
    assert_null(strstr(s, "line one"));
    free(s);
    s = build("primary_hostname = mta.example\nbounce_return_size_limit = 10\n", DSN_FAILURE, 0,
              SPOOL_RET_FULL, &len);
    assert_null(strstr(s, "line one")); /* above the limit: headers only */
    free(s);
    s = build("primary_hostname = mta.example\n", DSN_DELAY, 0, SPOOL_RET_FULL, &len);
    assert_non_null(strstr(s, "Action: delayed\r\nStatus: 4.0.0\r\n"));
    assert_non_null(strstr(s, "Will-Retry-Until: "));
    assert_non_null(strstr(s, "Subject: Warning: message 008E8pGzhBh-0000 delayed 3 minutes"));
    assert_null(strstr(s, "X-Failed-Recipients"));
    free(s);
    s = build("primary_hostname = mta.example\n", DSN_FAILURE, SPOOL_F_SMTPUTF8, 0, &len);
    assert_non_null(strstr(s, "Content-Type: message/global-delivery-status\r\n"));
    assert_non_null(strstr(s, "Content-Type: message/global\r\n"));
    assert_non_null(strstr(s, "charset=utf-8"));
    free(s);
}

static void
test_options(void **state)
{
    struct cfg *c = NULL;
    char err[256];
    const char *ov[] = {"delay_warning = 1h:4h:1d"};
    (void)state;
    assert_int_equal(cfg_load_string("", "t.conf", ov, 1, &c, err, sizeof(err)), 0);
    assert_int_equal(c->n_delay_warning, 3);
    assert_int_equal(c->delay_warning_s[2], 86400);
    assert_non_null(c->delay_warning_condition);
    assert_int_equal(c->dsn_gather_window_ms, 2000);
    cfg_free(c);
    assert_int_equal(
        cfg_load_string("delay_warning = 0\n", "t.conf", NULL, 0, &c, err, sizeof(err)), 0);
    assert_int_equal(c->n_delay_warning, 0);
    cfg_free(c);
    assert_int_equal(
        cfg_load_string("delay_warning = 4h:1h\n", "t.conf", NULL, 0, &c, err, sizeof(err)), -1);
    assert_int_equal(cfg_load_string("bounce_message_file = /nonexistent/x\n", "t.conf", NULL, 0,
                                     &c, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "/nonexistent/x"));
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_from_reply),
        cmocka_unit_test(test_smtp_reply_found),
        cmocka_unit_test(test_xtext),
        cmocka_unit_test(test_failure_report),
        cmocka_unit_test(test_ret_hdrs_delay_and_utf8),
        cmocka_unit_test(test_options),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
