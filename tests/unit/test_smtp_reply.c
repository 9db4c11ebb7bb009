/*
 * test_smtp_reply.c - the SMTP client's reply parser (engine/smtp_reply.c):
 *                     reply codes and their separators, line ends (CR LF,
 *                     bare LF, CR without LF, NUL), overlong lines, replies
 *                     of several lines, and the EHLO keywords the session
 *                     acts on. Each malformed form has its own case, so
 *                     that removing one of the parser's checks fails one.
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

#include "engine/smtp_reply.h"

/* code_of - smtp_reply_code on a C string; *more set */
static int
code_of(const char *line, int *more)
{
    *more = -1;
    return smtp_reply_code(line, strlen(line), more);
}

/* feed_str - feed n octets of p to r */
static enum smtp_reply_rc
feed_str(struct smtp_reply *r, const char *p, size_t n, size_t *used)
{
    return smtp_reply_feed(r, p, n, used);
}

/* ehlo_of - the extensions of a whole reply to EHLO (every line fed in
 * turn, as the session does); -1 when a line is not MORE or DONE */
static int
ehlo_of(const char *text, struct smtp_ehlo *e)
{
    struct smtp_reply r;
    size_t off = 0, len = strlen(text), used;
    smtp_reply_init(&r);
    memset(e, 0, sizeof(*e));
    while (off < len) {
        enum smtp_reply_rc rc = smtp_reply_feed(&r, text + off, len - off, &used);
        if (rc != SMTP_REPLY_MORE && rc != SMTP_REPLY_DONE)
            return -1;
        smtp_ehlo_line(e, &r);
        off += used;
    }
    return 0;
}

static void
test_code_good(void **state)
{
    int more;
    (void)state;
    assert_int_equal(code_of("250 ok", &more), 250);
    assert_int_equal(more, 0);
    assert_int_equal(code_of("250-ok", &more), 250);
    assert_int_equal(more, 1);
    assert_int_equal(code_of("221", &more), 221);
    assert_int_equal(more, 0);
    assert_int_equal(code_of("599 x", &more), 599);
    assert_int_equal(code_of("200-", &more), 200);
    assert_int_equal(more, 1);
}

static void
test_code_first_digit(void **state)
{
    int more;
    (void)state;
    assert_int_equal(code_of("150 starting", &more), -1);
    assert_int_equal(code_of("650 no such class", &more), -1);
    assert_int_equal(code_of("050 x", &more), -1);
    assert_int_equal(code_of("x50 x", &more), -1);
    assert_int_equal(code_of("/50 x", &more), -1);
    assert_int_equal(code_of(":50 x", &more), -1);
}

static void
test_code_second_digit(void **state)
{
    int more;
    (void)state;
    assert_int_equal(code_of("2x0 ok", &more), -1);
    assert_int_equal(code_of("2/0 ok", &more), -1);
    assert_int_equal(code_of("2:0 ok", &more), -1);
    assert_int_equal(code_of("2 0 ok", &more), -1);
}

static void
test_code_third_digit(void **state)
{
    int more;
    (void)state;
    assert_int_equal(code_of("25x ok", &more), -1);
    assert_int_equal(code_of("25/ ok", &more), -1);
    assert_int_equal(code_of("25: ok", &more), -1);
    assert_int_equal(code_of("25 ok", &more), -1);
}

static void
test_code_separator(void **state)
{
    int more;
    (void)state;
    assert_int_equal(code_of("250ok", &more), -1);
    assert_int_equal(code_of("250\tok", &more), -1);
    assert_int_equal(code_of("250_ok", &more), -1);
    assert_int_equal(code_of("2500 ok", &more), -1);
    assert_int_equal(smtp_reply_code("250\0ok", 6, &more), -1);
}

static void
test_code_too_short(void **state)
{
    int more;
    (void)state;
    assert_int_equal(smtp_reply_code("", 0, &more), -1);
    assert_int_equal(smtp_reply_code("2", 1, &more), -1);
    assert_int_equal(smtp_reply_code("25", 2, &more), -1);
    /* the length counts, not a NUL: "25" followed by a digit out of range */
    assert_int_equal(smtp_reply_code("250", 2, &more), -1);
}

static void
test_feed_crlf_and_bare_lf(void **state)
{
    struct smtp_reply r;
    size_t used;
    (void)state;
    smtp_reply_init(&r);
    assert_int_equal(feed_str(&r, "250 ok\r\n", 8, &used), SMTP_REPLY_DONE);
    assert_int_equal(used, 8);
    assert_string_equal(r.text, "250 ok");
    assert_int_equal(r.code, 250);
    assert_int_equal(feed_str(&r, "251 bare\n", 9, &used), SMTP_REPLY_DONE);
    assert_int_equal(used, 9);
    assert_string_equal(r.text, "251 bare");
    assert_int_equal(r.code, 251);
}

static void
test_feed_cr_without_lf(void **state)
{
    struct smtp_reply r;
    size_t used = 99;
    (void)state;
    smtp_reply_init(&r);
    assert_int_equal(feed_str(&r, "250 ok\r", 7, &used), SMTP_REPLY_PARTIAL);
    assert_int_equal(used, 0);
    /* a CR inside the line is part of it; only the one before LF goes */
    assert_int_equal(feed_str(&r, "250 a\rb\r\n", 9, &used), SMTP_REPLY_DONE);
    assert_int_equal(used, 9);
    assert_string_equal(r.text, "250 a\rb");
    /* "250\r" then LF: the code stands alone once the CR is dropped */
    assert_int_equal(feed_str(&r, "250\r\r\n", 6, &used), SMTP_REPLY_BAD);
}

static void
test_feed_nul(void **state)
{
    static const char line[] = "250 ok\0evil\r\n";
    static const char early[] = "25\0 ok\r\n";
    struct smtp_reply r;
    size_t used;
    (void)state;
    smtp_reply_init(&r);
    assert_int_equal(feed_str(&r, line, sizeof(line) - 1, &used), SMTP_REPLY_DONE);
    assert_int_equal(used, sizeof(line) - 1);
    assert_string_equal(r.text, "250 ok");
    assert_int_equal(feed_str(&r, early, sizeof(early) - 1, &used), SMTP_REPLY_BAD);
    assert_int_equal(used, sizeof(early) - 1);
}

static void
test_feed_overlong(void **state)
{
    char *buf = malloc(SMTP_REPLY_LINE_MAX + 8);
    struct smtp_reply r;
    size_t used;
    (void)state;
    assert_non_null(buf);
    memcpy(buf, "250 ", 4);
    memset(buf + 4, 'x', SMTP_REPLY_LINE_MAX + 4);
    smtp_reply_init(&r);
    assert_int_equal(feed_str(&r, buf, SMTP_REPLY_LINE_MAX - 1, &used), SMTP_REPLY_PARTIAL);
    assert_int_equal(feed_str(&r, buf, SMTP_REPLY_LINE_MAX, &used), SMTP_REPLY_TOO_LONG);
    assert_int_equal(used, 0);
    buf[SMTP_REPLY_LINE_MAX - 1] = '\n'; /* the longest line taken whole */
    assert_int_equal(feed_str(&r, buf, SMTP_REPLY_LINE_MAX, &used), SMTP_REPLY_DONE);
    assert_int_equal(used, SMTP_REPLY_LINE_MAX);
    assert_int_equal(strlen(r.text), SMTP_REPLY_TEXT_MAX - 1);
    assert_memory_equal(r.text, "250 xxx", 7);
    free(buf);
}

static void
test_feed_multiline(void **state)
{
    static const char in[] = "250-mx.example\r\n250-SIZE 10\r\n250 OK\r\n220 next\r\n";
    static const enum smtp_reply_rc want[] = {SMTP_REPLY_MORE, SMTP_REPLY_MORE, SMTP_REPLY_DONE,
                                              SMTP_REPLY_DONE};
    static const int lines[] = {1, 2, 3, 1};
    struct smtp_reply r;
    size_t off = 0, used;
    (void)state;
    smtp_reply_init(&r);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(feed_str(&r, in + off, sizeof(in) - 1 - off, &used), want[i]);
        assert_int_equal(r.nlines, lines[i]);
        assert_int_equal(r.more, want[i] == SMTP_REPLY_MORE);
        off += used;
    }
    assert_int_equal(off, sizeof(in) - 1);
    assert_int_equal(r.code, 220);
    assert_int_equal(feed_str(&r, in + off, 0, &used), SMTP_REPLY_PARTIAL);
}

static void
test_feed_split_line(void **state)
{
    struct smtp_reply r;
    size_t used;
    (void)state;
    smtp_reply_init(&r);
    assert_int_equal(feed_str(&r, "250-a\r\n25", 9, &used), SMTP_REPLY_MORE);
    assert_int_equal(used, 7);
    assert_int_equal(feed_str(&r, "25", 2, &used), SMTP_REPLY_PARTIAL);
    assert_int_equal(feed_str(&r, "250 b\r\n", 7, &used), SMTP_REPLY_DONE);
    assert_int_equal(r.nlines, 2);
}

static void
test_feed_bad_continuation(void **state)
{
    struct smtp_reply r;
    size_t used;
    (void)state;
    smtp_reply_init(&r);
    assert_int_equal(feed_str(&r, "250-a\r\n", 7, &used), SMTP_REPLY_MORE);
    assert_int_equal(feed_str(&r, "250+b\r\n", 7, &used), SMTP_REPLY_BAD);
    assert_string_equal(r.text, "250+b");
    assert_int_equal(r.more, 0);
    assert_int_equal(feed_str(&r, "\r\n", 2, &used), SMTP_REPLY_BAD);
    assert_int_equal(feed_str(&r, "250 c\r\n", 7, &used), SMTP_REPLY_DONE);
    assert_int_equal(r.nlines, 1); /* after a bad line, a new reply */
}

static void
test_feed_code_mismatch(void **state)
{
    struct smtp_reply r;
    size_t used;
    (void)state;
    /* lines whose codes differ are not refused: the final line decides */
    smtp_reply_init(&r);
    assert_int_equal(feed_str(&r, "250-a\r\n", 7, &used), SMTP_REPLY_MORE);
    assert_int_equal(feed_str(&r, "550 b\r\n", 7, &used), SMTP_REPLY_DONE);
    assert_int_equal(r.code, 550);
    assert_int_equal(r.nlines, 2);
}

static void
test_rest(void **state)
{
    struct smtp_reply r;
    size_t used;
    (void)state;
    smtp_reply_init(&r);
    feed_str(&r, "250-PIPELINING\r\n", 16, &used);
    assert_string_equal(smtp_reply_rest(&r), "PIPELINING");
    feed_str(&r, "250\r\n", 5, &used); /* the text of the line before must not show */
    assert_string_equal(smtp_reply_rest(&r), "");
    feed_str(&r, "250 \r\n", 6, &used);
    assert_string_equal(smtp_reply_rest(&r), "");
}

static void
test_ehlo_extensions(void **state)
{
    struct smtp_ehlo e;
    (void)state;
    assert_int_equal(ehlo_of("250-mx.example greets you\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n"
                             "250-CHUNKING\r\n250-STARTTLS\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
                             &e),
                     0);
    assert_int_equal(e.ext, SMTP_EXT_PIPELINING | SMTP_EXT_SIZE | SMTP_EXT_CHUNKING |
                                SMTP_EXT_STARTTLS | SMTP_EXT_8BITMIME | SMTP_EXT_SMTPUTF8);
    assert_int_equal(e.size, 52428800);
    assert_int_equal(ehlo_of("250-mx\r\n250-pipelining\r\n250 size 7\n", &e), 0);
    assert_int_equal(e.ext, SMTP_EXT_PIPELINING | SMTP_EXT_SIZE);
    assert_int_equal(e.size, 7);
}

static void
test_ehlo_first_line(void **state)
{
    struct smtp_ehlo e;
    (void)state;
    /* the first line names the server, whatever it says */
    assert_int_equal(ehlo_of("250 PIPELINING\r\n", &e), 0);
    assert_int_equal(e.ext, 0);
    assert_int_equal(ehlo_of("250-STARTTLS\r\n250 SIZE 9\r\n", &e), 0);
    assert_int_equal(e.ext, SMTP_EXT_SIZE);
}

static void
test_ehlo_short_last_line(void **state)
{
    struct smtp_ehlo e;
    (void)state;
    assert_int_equal(ehlo_of("250-STARTTLS\r\n250\r\n", &e), 0);
    assert_int_equal(e.ext, 0);
    assert_int_equal(ehlo_of("250-mx\r\n250-PIPELINING\r\n250\r\n", &e), 0);
    assert_int_equal(e.ext, SMTP_EXT_PIPELINING);
}

static void
test_ehlo_word_ends(void **state)
{
    uint64_t size = 99;
    (void)state;
    assert_int_equal(smtp_ehlo_keyword("PIPELININGX", &size), 0);
    assert_int_equal(smtp_ehlo_keyword("PIPELINING extra", &size), SMTP_EXT_PIPELINING);
    assert_int_equal(smtp_ehlo_keyword("STARTTLSX", &size), 0);
    assert_int_equal(smtp_ehlo_keyword("SIZEX 10", &size), 0);
    assert_int_equal(size, 99);
    assert_int_equal(smtp_ehlo_keyword("SIZE", &size), SMTP_EXT_SIZE);
    assert_int_equal(size, 0);
    assert_int_equal(smtp_ehlo_keyword("PIPELIN", &size), 0);
    assert_int_equal(smtp_ehlo_keyword("", &size), 0);
    assert_int_equal(smtp_ehlo_keyword("AUTH PLAIN LOGIN", &size), 0);
    assert_int_equal(smtp_ehlo_keyword("8BITMIM", &size), 0);
    assert_int_equal(smtp_ehlo_keyword("CHUNKIN", &size), 0);
    assert_int_equal(smtp_ehlo_keyword("SMTPUTF", &size), 0);
}

static void
test_ehlo_size_values(void **state)
{
    struct smtp_ehlo e;
    uint64_t size = 0;
    (void)state;
    assert_int_equal(smtp_ehlo_keyword("SIZE 18446744073709551615", &size), SMTP_EXT_SIZE);
    assert_true(size == UINT64_MAX);
    assert_int_equal(smtp_ehlo_keyword("SIZE 99999999999999999999999", &size), SMTP_EXT_SIZE);
    assert_true(size == UINT64_MAX); /* saturates */
    assert_int_equal(smtp_ehlo_keyword("SIZE junk", &size), SMTP_EXT_SIZE);
    assert_true(size == 0);
    assert_int_equal(ehlo_of("250-mx\r\n250-SIZE 100\r\n250 SIZE 200\r\n", &e), 0);
    assert_true(e.size == 200); /* the last one given */
}

static void
test_ehlo_dsn_prdr(void **state)
{
    uint64_t size = 0;
    struct smtp_ehlo e;
    (void)state;
    assert_int_equal(smtp_ehlo_keyword("DSN", &size), SMTP_EXT_DSN);
    assert_int_equal(smtp_ehlo_keyword("dsn", &size), SMTP_EXT_DSN);
    assert_int_equal(smtp_ehlo_keyword("PRDR", &size), SMTP_EXT_PRDR);
    assert_int_equal(smtp_ehlo_keyword("DSNX", &size), 0);
    assert_int_equal(smtp_ehlo_keyword("DS", &size), 0);
    assert_int_equal(smtp_ehlo_keyword("PRDRX", &size), 0);
    assert_int_equal(ehlo_of("250-mx\r\n250-DSN\r\n250 PRDR\r\n", &e), 0);
    assert_int_equal(e.ext, SMTP_EXT_DSN | SMTP_EXT_PRDR);
    assert_int_equal(ehlo_of("250-DSN PRDR\r\n250 8BITMIME\r\n", &e), 0);
    assert_int_equal(e.ext, SMTP_EXT_8BITMIME); /* the first line names the server */
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_code_good),
    cmocka_unit_test(test_code_first_digit),
    cmocka_unit_test(test_code_second_digit),
    cmocka_unit_test(test_code_third_digit),
    cmocka_unit_test(test_code_separator),
    cmocka_unit_test(test_code_too_short),
    cmocka_unit_test(test_feed_crlf_and_bare_lf),
    cmocka_unit_test(test_feed_cr_without_lf),
    cmocka_unit_test(test_feed_nul),
    cmocka_unit_test(test_feed_overlong),
    cmocka_unit_test(test_feed_multiline),
    cmocka_unit_test(test_feed_split_line),
    cmocka_unit_test(test_feed_bad_continuation),
    cmocka_unit_test(test_feed_code_mismatch),
    cmocka_unit_test(test_rest),
    cmocka_unit_test(test_ehlo_extensions),
    cmocka_unit_test(test_ehlo_first_line),
    cmocka_unit_test(test_ehlo_short_last_line),
    cmocka_unit_test(test_ehlo_word_ends),
    cmocka_unit_test(test_ehlo_size_values),
    cmocka_unit_test(test_ehlo_dsn_prdr),
};

/* clang-format off */
int main(int argc, char **argv) { if (argc > 1) cmocka_set_test_filter(argv[1]); return cmocka_run_group_tests(tests, NULL, NULL); }
/* clang-format on */
