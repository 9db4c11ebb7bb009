/*
 * test_message.c - the Received: header and the CRLF wire form
 *                  (api/message.c).
 */
#include <regex.h>
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

#include "api/api.h"

/* normn - normalise len octets of text after prefix; compare with wantlen octets */
static void
normn(const char *prefix, const char *text, size_t len, const char *want, size_t wantlen)
{
    size_t outlen = 12345;
    char *out = api_normalize_body(prefix, text, len, &outlen);
    assert_non_null(out);
    assert_int_equal(outlen, wantlen);
    assert_memory_equal(out, want, outlen);
    free(out);
}

/* norm - normn for text and want without NUL octets */
static void
norm(const char *prefix, const char *text, size_t len, const char *want)
{
    assert_int_equal(len, strlen(text));
    normn(prefix, text, len, want, strlen(want));
}

/* test_norm_lf - bare LF line ends become CRLF */
static void
test_norm_lf(void **state)
{
    (void)state;
    norm(NULL, "a\nb\n", 4, "a\r\nb\r\n");
    norm(NULL, "\n\n", 2, "\r\n\r\n");
}

/* test_norm_crlf - CRLF is kept as it is */
static void
test_norm_crlf(void **state)
{
    (void)state;
    norm(NULL, "a\r\nb\r\n", 6, "a\r\nb\r\n");
    norm(NULL, "\r\n", 2, "\r\n");
}

/* test_norm_bare_cr - a CR not followed by LF becomes CRLF */
static void
test_norm_bare_cr(void **state)
{
    (void)state;
    norm(NULL, "a\rb\r", 4, "a\r\nb\r\n");
    norm(NULL, "a\r\rb\r\n", 6, "a\r\n\r\nb\r\n");
}

/* test_norm_mixed - LF, CRLF and CR together; other octets untouched */
static void
test_norm_mixed(void **state)
{
    (void)state;
    norm(NULL, "1\n2\r\n3\r4\n\r5", 11, "1\r\n2\r\n3\r\n4\r\n\r\n5\r\n");
    normn(NULL, "x\0y\xff\n", 5, "x\0y\xff\r\n", 6);
}

/* test_norm_no_final_newline - a final CRLF is added */
static void
test_norm_no_final_newline(void **state)
{
    (void)state;
    norm(NULL, "Subject: x\n\nbody", 16, "Subject: x\r\n\r\nbody\r\n");
    norm(NULL, "a", 1, "a\r\n");
}

/* test_norm_empty - empty text gives the prefix alone */
static void
test_norm_empty(void **state)
{
    (void)state;
    norm(NULL, "", 0, "");
    norm("Received: x\r\n", "", 0, "Received: x\r\n");
}

/* test_norm_prefix - the prefix is put in front unchanged */
static void
test_norm_prefix(void **state)
{
    (void)state;
    norm("Received: from a\r\n\tby b\r\n", "X: y\nz", 6,
         "Received: from a\r\n\tby b\r\nX: y\r\nz\r\n");
}

/* match - assert that s matches the extended regular expression re */
static void
match(const char *s, const char *re)
{
    regex_t rx;
    assert_int_equal(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0);
    if (regexec(&rx, s, 0, NULL, 0) != 0)
        fail_msg("\"%s\" does not match /%s/", s, re);
    regfree(&rx);
}

#define DATE_RE                                                                                    \
    "(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{1,2} "                                                   \
    "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "                                  \
    "[0-9]{2}:[0-9]{2}:[0-9]{2} [-+][0-9]{4}"

/* test_received_smtp - the full form with helo, host and one recipient */
static void
test_received_smtp(void **state)
{
    struct cfg cfg;
    char *h;
    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    cfg.primary_hostname = "mx.example";
    h = api_received_header(&cfg, "client.example", "[192.0.2.1]:40000", "esmtp",
                            "0AbCdEfGhIj-0001", "rcpt@example.net");
    assert_non_null(h);
    match(h, "^Received: from client\\.example \\(\\[192\\.0\\.2\\.1\\]:40000\\)\r\n"
             "\tby mx\\.example \\(spate\\) with ESMTP id 0AbCdEfGhIj-0001\r\n"
             "\tfor <rcpt@example\\.net>; " DATE_RE "\r\n$");
    free(h);
}

/* test_received_no_rcpt - several recipients: no "for" clause */
static void
test_received_no_rcpt(void **state)
{
    struct cfg cfg;
    char *h;
    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    cfg.primary_hostname = "mx.example";
    h = api_received_header(&cfg, "c", "[::1]:25", "smtp", "ID", NULL);
    assert_non_null(h);
    match(h, "^Received: from c \\(\\[::1\\]:25\\)\r\n"
             "\tby mx\\.example \\(spate\\) with SMTP id ID; " DATE_RE "\r\n$");
    assert_null(strstr(h, "for <"));
    free(h);
}

/* test_received_http - no helo, no host: no "from" clause */
static void
test_received_http(void **state)
{
    struct cfg cfg;
    char *h;
    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    cfg.primary_hostname = "mx.example";
    h = api_received_header(&cfg, NULL, "", "http", "ID2", "r@example.net");
    assert_non_null(h);
    match(h, "^Received: by mx\\.example \\(spate\\) with HTTP id ID2\r\n"
             "\tfor <r@example\\.net>; " DATE_RE "\r\n$");
    free(h);
    h = api_received_header(&cfg, "", "[127.0.0.1]:5", "http", "ID3", NULL);
    assert_non_null(h);
    match(h, "^Received: from \\[127\\.0\\.0\\.1\\]:5\r\n\tby mx\\.example \\(spate\\) with HTTP "
             "id ID3; " DATE_RE "\r\n$");
    free(h);
}

const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_norm_lf),
    cmocka_unit_test(test_norm_crlf),
    cmocka_unit_test(test_norm_bare_cr),
    cmocka_unit_test(test_norm_mixed),
    cmocka_unit_test(test_norm_no_final_newline),
    cmocka_unit_test(test_norm_empty),
    cmocka_unit_test(test_norm_prefix),
    cmocka_unit_test(test_received_smtp),
    cmocka_unit_test(test_received_no_rcpt),
    cmocka_unit_test(test_received_http),
};

int
main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
