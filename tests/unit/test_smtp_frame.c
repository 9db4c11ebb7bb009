/*
 * test_smtp_frame.c - SMTP server input framing (api/smtp_frame.c): command
 *                     line ends, the final dot of DATA, dot-unstuffing, bare
 *                     <CR>/<LF>, the SMTP smuggling forms, and results that
 *                     do not depend on how the input is split.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* cmocka needs the headers above first */
/* clang-format off */
#include <cmocka.h>
/* clang-format on */

#include "api/smtp_frame.h"
#include "api/smtp_parse.h"

/*
 * run - a whole session through the framer, as smtp_in.c drives it: command
 * mode until a line "DATA", then DATA mode until END. The input is fed in
 * pieces of at most `piece` octets (unconsumed octets are kept and offered
 * again with the next piece). The events are written to log as text:
 *   L<line>|  T (text is gathered per message)  E<bad>:<text>|  X| (too long)
 *   F| (bare LF)  R| (bare CR)
 */
static char logbuf[65536];

static void
run(const char *in, size_t n, size_t piece)
{
    struct smtp_frame f;
    char buf[4096], msg[16384];
    size_t have = 0, fed = 0, mlen = 0, lo = 0;
    int data = 0;

    smtp_frame_init(&f);
    logbuf[0] = '\0';
    for (int guard = 0; guard < 100000; guard++) {
        struct smtp_frame_out o;
        size_t used;

        if (fed < n && (have < piece || guard % 2)) {
            size_t k = n - fed < piece ? n - fed : piece;
            assert_true(have + k <= sizeof(buf));
            memcpy(buf + have, in + fed, k);
            have += k, fed += k;
        }
        used = data ? smtp_frame_data(&f, buf, have, &o) : smtp_frame_cmd(&f, buf, have, &o);
        assert_true(used <= have);
        if (used == 0 && fed == n)
            break;
        switch (o.kind) {
        case SMTP_FRAME_LINE:
            lo += (size_t)snprintf(logbuf + lo, sizeof(logbuf) - lo, "L%.*s|", (int)o.len, o.data);
            if (o.len == 4 && memcmp(o.data, "DATA", 4) == 0) {
                data = 1, mlen = 0;
                smtp_frame_data_begin(&f);
            }
            break;
        case SMTP_FRAME_TEXT:
            assert_true(mlen + o.len <= sizeof(msg));
            memcpy(msg + mlen, o.data, o.len);
            mlen += o.len;
            break;
        case SMTP_FRAME_END:
            lo += (size_t)snprintf(logbuf + lo, sizeof(logbuf) - lo, "E%u:%.*s|", o.bad, (int)mlen,
                                   msg);
            data = 0;
            break;
        case SMTP_FRAME_TOO_LONG:
            lo += (size_t)snprintf(logbuf + lo, sizeof(logbuf) - lo, "X|");
            break;
        case SMTP_FRAME_BARE_LF:
            lo += (size_t)snprintf(logbuf + lo, sizeof(logbuf) - lo, "F|");
            break;
        case SMTP_FRAME_BARE_CR:
            lo += (size_t)snprintf(logbuf + lo, sizeof(logbuf) - lo, "R|");
            break;
        case SMTP_FRAME_NONE:
            break;
        }
        memmove(buf, buf + used, have - used);
        have -= used;
    }
}

/* expect - the same events for the input whole and split every way */
static void
expect(const char *in, const char *want)
{
    static const size_t pieces[] = {4096, 1, 2, 3, 5, 7, 64};

    for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
        run(in, strlen(in), pieces[i]);
        if (strcmp(logbuf, want) != 0)
            fail_msg("piece %zu: got \"%s\", want \"%s\"", pieces[i], logbuf, want);
    }
}

#define MSG "MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"
#define EV "LMAIL FROM:<a@x>|LRCPT TO:<b@y>|LDATA|"
#define HIDDEN "MAIL FROM:<evil@x>\r\nRCPT TO:<hidden@y>\r\nDATA\r\nevil\r\n"

static void
test_crlf_lines_and_pipelining(void **state)
{
    (void)state;
    expect("EHLO a\r\nNOOP\r\n\r\nQUIT\r\n", "LEHLO a|LNOOP|L|LQUIT|");
    expect("NOOP\r\nNOO", "LNOOP|"); /* an unfinished line waits */
}

static void
test_final_dot_only_crlf_dot_crlf(void **state)
{
    (void)state;
    expect(MSG "Subject: s\r\n\r\nbody\r\n.\r\nQUIT\r\n", EV "E0:Subject: s\r\n\r\nbody\r\n|LQUIT|");
    expect(MSG ".\r\n", EV "E0:|"); /* an empty message */
}

static void
test_smuggling_lf_dot_lf(void **state)
{
    (void)state;
    expect(MSG "one\n.\n" HIDDEN ".\r\n", EV "E1:one\n.\n" HIDDEN "|");
}

static void
test_smuggling_crlf_dot_lf(void **state)
{
    (void)state;
    expect(MSG "one\r\n.\n" HIDDEN ".\r\n", EV "E1:one\r\n\n" HIDDEN "|");
}

static void
test_smuggling_lf_dot_crlf(void **state)
{
    (void)state;
    expect(MSG "one\n.\r\n" HIDDEN ".\r\n", EV "E1:one\n.\r\n" HIDDEN "|");
}

static void
test_smuggling_cr_dot_cr(void **state)
{
    (void)state;
    expect(MSG "one\r.\r" HIDDEN ".\r\n", EV "E2:one\r.\r" HIDDEN "|");
    expect(MSG "one\r.\r\n.\r\n", EV "E2:one\r.\r\n|");
}

static void
test_dot_unstuffing(void **state)
{
    (void)state;
    expect(MSG "..\r\n...x\r\n. y\r\nx.\r\n.\r\n", EV "E0:.\r\n..x\r\n y\r\nx.\r\n|");
    expect(MSG ".\rx\r\n.\r\n", EV "E2:\rx\r\n|"); /* dot then a bare CR: not the end */
}

static void
test_bare_lf_in_command(void **state)
{
    (void)state;
    /* the whole line up to the next CRLF is refused: no MAIL runs */
    expect("NOOP\nMAIL FROM:<x@y>\r\nNOOP\r\n", "F|LNOOP|");
    expect("\n\r\nQUIT\r\n", "F|LQUIT|");
}

static void
test_bare_cr_in_command(void **state)
{
    (void)state;
    expect("NOOP\rMAIL FROM:<x@y>\r\nNOOP\r\n", "R|LNOOP|");
    expect("NOOP\r\r\nQUIT\r\n", "R|LQUIT|");
}

static void
test_command_line_length(void **state)
{
    char in[2048], want[1100];
    (void)state;

    /* SMTP_LINE_MAX_EXT (1012) octets with CRLF: a line (the parser holds
     * most commands to 512); one more: too long, skipped to its CRLF */
    memset(in, 'x', 1010);
    memcpy(in + 1010, "\r\nNOOP\r\n", 9);
    snprintf(want, sizeof(want), "L%.*s|LNOOP|", 1010, in);
    expect(in, want);
    memset(in, 'y', 1500);
    memcpy(in + 1500, "\r\nNOOP\r\n", 9);
    expect(in, "X|LNOOP|");
    memset(in, 'y', 1011);
    memcpy(in + 1011, "\r\nNOOP\r\n", 9);
    expect(in, "X|LNOOP|");
}

static void
test_nul_passes_to_the_parser(void **state)
{
    static const char in[] = "NO\0OP\r\n";
    struct smtp_frame f;
    struct smtp_frame_out o;
    (void)state;

    smtp_frame_init(&f);
    assert_int_equal(smtp_frame_cmd(&f, in, sizeof(in) - 1, &o), 7);
    assert_int_equal(o.kind, SMTP_FRAME_LINE);
    assert_int_equal(o.len, 5);
}

static void
test_long_text_lines_unchanged(void **state)
{
    static char in[4096], want[4096];
    size_t n, w;
    (void)state;

    n = (size_t)snprintf(in, sizeof(in), "%s", MSG);
    memset(in + n, 'z', 3000);
    memcpy(in + n + 3000, "\r\n.\r\n", 6);
    w = (size_t)snprintf(want, sizeof(want), "%s", EV "E0:");
    memset(want + w, 'z', 3000);
    memcpy(want + w + 3000, "\r\n|", 4);
    expect(in, want);
}

static void
test_cr_at_buffer_end_waits(void **state)
{
    struct smtp_frame f;
    struct smtp_frame_out o;
    (void)state;

    smtp_frame_init(&f);
    assert_int_equal(smtp_frame_cmd(&f, "NOOP\r", 5, &o), 0);
    smtp_frame_data_begin(&f);
    assert_int_equal(smtp_frame_data(&f, "\r", 1, &o), 0);
    assert_int_equal(smtp_frame_data(&f, ".\r", 2, &o), 0);
    assert_int_equal(smtp_frame_data(&f, "ab\r", 3, &o), 2);
    assert_int_equal(o.kind, SMTP_FRAME_TEXT);
    assert_int_equal(o.len, 2);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crlf_lines_and_pipelining),
        cmocka_unit_test(test_final_dot_only_crlf_dot_crlf),
        cmocka_unit_test(test_smuggling_lf_dot_lf),
        cmocka_unit_test(test_smuggling_crlf_dot_lf),
        cmocka_unit_test(test_smuggling_lf_dot_crlf),
        cmocka_unit_test(test_smuggling_cr_dot_cr),
        cmocka_unit_test(test_dot_unstuffing),
        cmocka_unit_test(test_bare_lf_in_command),
        cmocka_unit_test(test_bare_cr_in_command),
        cmocka_unit_test(test_command_line_length),
        cmocka_unit_test(test_nul_passes_to_the_parser),
        cmocka_unit_test(test_long_text_lines_unchanged),
        cmocka_unit_test(test_cr_at_buffer_end_waits),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
