/*
 * test_smtp_parse.c - the SMTP command-line parser (api/smtp_parse.c):
 *                     verbs, paths, ESMTP parameters, reply codes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* cmocka needs the headers above first */
/* clang-format off */
#include <cmocka.h>
/* clang-format on */

#include "api/smtp_parse.h"

static struct smtp_cmd cmd;

/* P - parse a C string without flags */
static int
P(const char *line)
{
    return smtp_parse(line, strlen(line), 0, &cmd);
}

/* assert_reply - the call failed with code and the reply starts with prefix */
#define assert_reply(call, code, prefix)                                                           \
    do {                                                                                           \
        assert_int_equal((call), (code));                                                          \
        if (strncmp(cmd.reply, (prefix), strlen(prefix)) != 0)                                     \
            fail_msg("reply \"%s\" does not start with \"%s\"", cmd.reply, (prefix));              \
    } while (0)

/* test_verbs_case - verbs in any case, with their arguments */
static void
test_verbs_case(void **state)
{
    (void)state;
    assert_int_equal(P("EHLO client.example"), 0);
    assert_int_equal(cmd.verb, SMTP_V_EHLO);
    assert_string_equal(cmd.arg, "client.example");
    assert_int_equal(P("ehlo client.example"), 0);
    assert_int_equal(cmd.verb, SMTP_V_EHLO);
    assert_int_equal(P("HeLo x"), 0);
    assert_int_equal(cmd.verb, SMTP_V_HELO);
    assert_int_equal(P("data"), 0);
    assert_int_equal(cmd.verb, SMTP_V_DATA);
    assert_int_equal(P("RSET"), 0);
    assert_int_equal(cmd.verb, SMTP_V_RSET);
    assert_int_equal(P("quit"), 0);
    assert_int_equal(cmd.verb, SMTP_V_QUIT);
    assert_int_equal(P("StartTLS"), 0);
    assert_int_equal(cmd.verb, SMTP_V_STARTTLS);
    assert_int_equal(P("NOOP"), 0);
    assert_int_equal(cmd.verb, SMTP_V_NOOP);
    assert_int_equal(P("NOOP hello there"), 0);
    assert_string_equal(cmd.arg, "hello there");
    assert_int_equal(P("HELP"), 0);
    assert_int_equal(cmd.verb, SMTP_V_HELP);
    assert_int_equal(P("VRFY postmaster"), 0);
    assert_int_equal(cmd.verb, SMTP_V_VRFY);
    assert_string_equal(cmd.arg, "postmaster");
    assert_int_equal(P("EHLO [127.0.0.1]"), 0);
    assert_string_equal(cmd.arg, "[127.0.0.1]");
    assert_int_equal(P("QUIT  "), 0); /* trailing white space tolerated */
}

/* test_unknown - unknown verbs and verbs glued to text */
static void
test_unknown(void **state)
{
    (void)state;
    assert_reply(P("FOO bar"), 500, "500 5.5.2 ");
    assert_reply(P(""), 500, "500 5.5.2 ");
    assert_reply(P("MAILFROM:<a@b>"), 500, "500 5.5.2 ");
    assert_reply(P("EHL"), 500, "500 5.5.2 ");
    assert_reply(P("DATAX"), 500, "500 5.5.2 ");
}

/* test_line_too_long - 512 octets with CRLF is the limit */
static void
test_line_too_long(void **state)
{
    char line[600];
    (void)state;
    memset(line, 'a', sizeof(line));
    memcpy(line, "NOOP ", 5);
    assert_int_equal(smtp_parse(line, 510, 0, &cmd), 0);
    assert_reply(smtp_parse(line, 511, 0, &cmd), 500, "500 5.5.2 line too long");
    assert_reply(smtp_parse(line, sizeof(line), 0, &cmd), 500, "500 5.5.2 line too long");
}

/* test_nul - a NUL octet in a command is refused */
static void
test_nul(void **state)
{
    (void)state;
    assert_reply(smtp_parse("NOOP a\0b", 8, 0, &cmd), 500, "500 5.5.2 ");
}

/* test_helo_args - EHLO/HELO need one printable token */
static void
test_helo_args(void **state)
{
    char line[300];
    (void)state;
    assert_reply(P("EHLO"), 501, "501 5.5.4 ");
    assert_reply(P("HELO "), 501, "501 5.5.4 ");
    assert_reply(P("EHLO a b"), 501, "501 5.5.4 ");
    assert_reply(P("EHLO a\tb"), 501, "501 5.5.4 ");
    assert_reply(P("EHLO caf\xc3\xa9.example"), 501, "501 5.5.4 ");
    strcpy(line, "EHLO ");
    memset(line + 5, 'h', 256);
    line[261] = '\0';
    assert_reply(P(line), 501, "501 5.5.4 ");
}

/* test_no_arg_verbs - DATA, RSET, QUIT, STARTTLS take no argument; VRFY needs one */
static void
test_no_arg_verbs(void **state)
{
    (void)state;
    assert_reply(P("DATA now"), 501, "501 5.5.4 ");
    assert_reply(P("RSET x"), 501, "501 5.5.4 ");
    assert_reply(P("QUIT bye"), 501, "501 5.5.4 ");
    assert_reply(P("STARTTLS x"), 501, "501 5.5.4 ");
    assert_reply(P("VRFY"), 501, "501 5.5.4 ");
}

/* test_mail_basic - MAIL FROM forms, null path, space after the colon */
static void
test_mail_basic(void **state)
{
    (void)state;
    assert_int_equal(P("MAIL FROM:<a@example.com>"), 0);
    assert_int_equal(cmd.verb, SMTP_V_MAIL);
    assert_string_equal(cmd.arg, "a@example.com");
    assert_int_equal(cmd.nparams, 0);
    assert_int_equal(P("mail from:<a@example.com>"), 0);
    assert_string_equal(cmd.arg, "a@example.com");
    assert_int_equal(P("MAIL FROM: <a@example.com>"), 0);
    assert_string_equal(cmd.arg, "a@example.com");
    assert_int_equal(P("MAIL FROM:<>"), 0);
    assert_string_equal(cmd.arg, "");
    assert_int_equal(P("MAIL FROM:<@relay.example:a@example.com>"), 0);
    assert_string_equal(cmd.arg, "a@example.com");
    assert_int_equal(P("MAIL FROM:<a@[192.0.2.7]>"), 0);
    assert_string_equal(cmd.arg, "a@[192.0.2.7]");
    assert_int_equal(P("MAIL FROM:<a@[IPv6:2001:db8::7]>"), 0);
    assert_int_equal(P("MAIL FROM:<\"x y\"@example.com>"), 0);
    assert_string_equal(cmd.arg, "\"x y\"@example.com");
}

/* test_mail_malformed - missing colon, brackets, bad addresses */
static void
test_mail_malformed(void **state)
{
    (void)state;
    assert_reply(P("MAIL"), 501, "501 5.5.2 ");
    assert_reply(P("MAIL FROM<a@example.com>"), 501, "501 5.5.2 ");
    assert_reply(P("MAIL TO:<a@example.com>"), 501, "501 5.5.2 ");
    assert_reply(P("MAIL FROM:a@example.com"), 501, "501 5.5.2 ");
    assert_reply(P("MAIL FROM:"), 501, "501 5.5.2 ");
    assert_reply(P("MAIL FROM:<a@example.com"), 501, "501 5.1.7 ");
    assert_reply(P("MAIL FROM:<a@example.com>x"), 501, "501 5.1.7 ");
    assert_reply(P("MAIL FROM:<\"a@example.com>"), 501, "501 5.1.7 ");
    assert_reply(P("MAIL FROM:<a..b@example.com>"), 501, "501 5.1.7 ");
    assert_reply(P("MAIL FROM:<a@[300.1.1.1]>"), 501, "501 5.1.7 ");
    assert_reply(P("MAIL FROM:<a@>"), 501, "501 5.1.7 ");
}

/* test_rcpt_basic - RCPT TO forms; null path refused */
static void
test_rcpt_basic(void **state)
{
    (void)state;
    assert_int_equal(P("RCPT TO:<b@example.net>"), 0);
    assert_int_equal(cmd.verb, SMTP_V_RCPT);
    assert_string_equal(cmd.arg, "b@example.net");
    assert_int_equal(P("rcpt to: <b@example.net>"), 0);
    assert_string_equal(cmd.arg, "b@example.net");
    assert_int_equal(P("RCPT TO:<@hop.example,@hop2.example:b@example.net>"), 0);
    assert_string_equal(cmd.arg, "b@example.net");
    assert_reply(P("RCPT TO:<>"), 501, "501 5.1.3 ");
    assert_reply(P("RCPT TO:b@example.net"), 501, "501 5.5.2 ");
    assert_reply(P("RCPT TO <b@example.net>"), 501, "501 5.5.2 ");
    assert_reply(P("RCPT FROM:<b@example.net>"), 501, "501 5.5.2 ");
    assert_reply(P("RCPT TO:<b@example.net"), 501, "501 5.1.3 ");
    assert_reply(P("RCPT TO:<b example@example.net>"), 501, "501 5.1.3 ");
}

/* test_mail_params - SIZE, BODY, SMTPUTF8, RET, ENVID */
static void
test_mail_params(void **state)
{
    (void)state;
    assert_int_equal(P("MAIL FROM:<a@example.com> SIZE=12345 BODY=8BITMIME SMTPUTF8 RET=HDRS "
                       "ENVID=QQ314159"),
                     0);
    assert_int_equal(cmd.nparams, 5);
    assert_int_equal(cmd.has_size, 1);
    assert_int_equal(cmd.size, 12345);
    assert_int_equal(cmd.body, SMTP_BODY_8BITMIME);
    assert_int_equal(cmd.smtputf8, 1);
    assert_int_equal(cmd.ret, SMTP_RET_HDRS);
    assert_string_equal(cmd.envid, "QQ314159");
    assert_int_equal(P("MAIL FROM:<a@example.com> body=7bit ret=full size=0"), 0);
    assert_int_equal(cmd.body, SMTP_BODY_7BIT);
    assert_int_equal(cmd.ret, SMTP_RET_FULL);
    assert_int_equal(cmd.size, 0);
    assert_int_equal(P("MAIL FROM:<a@example.com>   SIZE=1  "), 0);
    assert_int_equal(P("MAIL FROM:<a@example.com> SIZE=99999999999999999999999"), 0);
    assert_true(cmd.size == UINT64_MAX);
}

/* test_mail_params_bad - bad values, duplicates, unknown parameters */
static void
test_mail_params_bad(void **state)
{
    (void)state;
    assert_reply(P("MAIL FROM:<a@example.com> SIZE=12k"), 501, "501 5.5.4 ");
    assert_reply(P("MAIL FROM:<a@example.com> SIZE=-1"), 501, "501 5.5.4 ");
    assert_reply(P("MAIL FROM:<a@example.com> SIZE="), 501, "501 5.5.4 ");
    assert_reply(P("MAIL FROM:<a@example.com> SIZE"), 501, "501 5.5.4 ");
    assert_reply(P("MAIL FROM:<a@example.com> BODY=BINARYMIME"), 501, "501 5.5.4 ");
    assert_reply(P("MAIL FROM:<a@example.com> RET=ALL"), 501, "501 5.5.4 ");
    assert_reply(P("MAIL FROM:<a@example.com> SMTPUTF8=yes"), 501, "501 5.5.4 ");
    assert_reply(P("MAIL FROM:<a@example.com> SIZE=1 SIZE=2"), 501, "501 5.5.4 ");
    assert_reply(P("MAIL FROM:<a@example.com> =1"), 501, "501 5.5.4 ");
    assert_reply(P("MAIL FROM:<a@example.com> -X=1"), 501, "501 5.5.4 ");
    assert_reply(P("MAIL FROM:<a@example.com> SIZE=1=2"), 501, "501 5.5.4 ");
    assert_reply(P("MAIL FROM:<a@example.com> AUTH=<>"), 555, "555 5.5.4 ");
    assert_reply(P("MAIL FROM:<a@example.com> XFOO"), 555, "555 5.5.4 ");
    assert_reply(P("MAIL FROM:<a@example.com> NOTIFY=NEVER"), 555, "555 5.5.4 ");
}

/* test_xtext - ENVID/ORCPT xtext validation and decoding */
static void
test_xtext(void **state)
{
    char out[64];
    (void)state;
    assert_int_equal(P("MAIL FROM:<a@example.com> ENVID=a+2Bb+3Dc"), 0);
    assert_string_equal(cmd.envid, "a+2Bb+3Dc");
    assert_int_equal(smtp_xtext_decode(cmd.envid, out, sizeof(out)), 5);
    assert_string_equal(out, "a+b=c");
    assert_reply(P("MAIL FROM:<a@example.com> ENVID=a+2"), 501, "501 5.5.4 ");
    assert_reply(P("MAIL FROM:<a@example.com> ENVID=a+"), 501, "501 5.5.4 ");
    assert_reply(P("MAIL FROM:<a@example.com> ENVID=a+ZZb"), 501, "501 5.5.4 ");
    assert_reply(P("MAIL FROM:<a@example.com> ENVID=a\x7f"), 501, "501 5.5.4 ");
    assert_int_equal(smtp_xtext_valid("abc+41", 6), 1);
    assert_int_equal(smtp_xtext_valid("abc+4", 5), 0);
    assert_int_equal(smtp_xtext_valid("a b", 3), 0);
    assert_int_equal(smtp_xtext_valid("a=b", 3), 0);
    assert_int_equal(smtp_xtext_valid("", 0), 1);
    assert_int_equal(smtp_xtext_decode("a+ZZ", out, sizeof(out)), -1);
    assert_int_equal(smtp_xtext_decode("abcdef", out, 4), -1);
}

/* test_envid_too_long - ENVID is at most 100 characters */
static void
test_envid_too_long(void **state)
{
    char line[300];
    (void)state;
    strcpy(line, "MAIL FROM:<a@example.com> ENVID=");
    memset(line + strlen(line), 'e', 100);
    line[32 + 100] = '\0';
    assert_int_equal(P(line), 0);
    strcat(line, "e");
    assert_reply(P(line), 501, "501 5.5.4 ");
}

/* test_rcpt_params - NOTIFY and ORCPT */
static void
test_rcpt_params(void **state)
{
    (void)state;
    assert_int_equal(P("RCPT TO:<b@example.net> NOTIFY=SUCCESS,FAILURE,DELAY "
                       "ORCPT=rfc822;b+40example.net"),
                     0);
    assert_int_equal(cmd.notify, SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY);
    assert_string_equal(cmd.orcpt, "rfc822;b+40example.net");
    assert_int_equal(cmd.nparams, 2);
    assert_int_equal(P("RCPT TO:<b@example.net> notify=never"), 0);
    assert_int_equal(cmd.notify, SMTP_NOTIFY_NEVER);
    assert_reply(P("RCPT TO:<b@example.net> NOTIFY=NEVER,SUCCESS"), 501, "501 5.5.4 ");
    assert_reply(P("RCPT TO:<b@example.net> NOTIFY=SOMETIMES"), 501, "501 5.5.4 ");
    assert_reply(P("RCPT TO:<b@example.net> NOTIFY=SUCCESS,"), 501, "501 5.5.4 ");
    assert_reply(P("RCPT TO:<b@example.net> NOTIFY"), 501, "501 5.5.4 ");
    assert_reply(P("RCPT TO:<b@example.net> ORCPT=rfc822"), 501, "501 5.5.4 ");
    assert_reply(P("RCPT TO:<b@example.net> ORCPT=;b@example.net"), 501, "501 5.5.4 ");
    assert_reply(P("RCPT TO:<b@example.net> ORCPT=rfc822;"), 501, "501 5.5.4 ");
    assert_reply(P("RCPT TO:<b@example.net> ORCPT=rfc822;b+4"), 501, "501 5.5.4 ");
    assert_reply(P("RCPT TO:<b@example.net> ORCPT=rfc.822;b"), 501, "501 5.5.4 ");
    assert_reply(P("RCPT TO:<b@example.net> SIZE=10"), 555, "555 5.5.4 ");
    assert_reply(P("RCPT TO:<b@example.net> NOTIFY=NEVER NOTIFY=NEVER"), 501, "501 5.5.4 ");
}

/* test_utf8_paths - non-ASCII addresses need SMTPUTF8 */
static void
test_utf8_paths(void **state)
{
    const char *rcpt = "RCPT TO:<j\xc3\xb6rg@b\xc3\xbc"
                       "cher.example>";
    (void)state;
    assert_reply(P("MAIL FROM:<j\xc3\xb6rg@example.com>"), 553, "553 5.6.7 ");
    assert_int_equal(P("MAIL FROM:<j\xc3\xb6rg@example.com> SMTPUTF8"), 0);
    assert_string_equal(cmd.arg, "j\xc3\xb6rg@example.com");
    assert_reply(P(rcpt), 553, "553 5.6.7 ");
    assert_int_equal(smtp_parse(rcpt, strlen(rcpt), SMTP_PARSE_UTF8, &cmd), 0);
    /* malformed UTF-8 is a syntax error even with SMTPUTF8 */
    assert_reply(P("MAIL FROM:<j\xc3(rg@example.com> SMTPUTF8"), 501, "501 5.1.7 ");
}

const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_verbs_case),      cmocka_unit_test(test_unknown),
    cmocka_unit_test(test_line_too_long),   cmocka_unit_test(test_nul),
    cmocka_unit_test(test_helo_args),       cmocka_unit_test(test_no_arg_verbs),
    cmocka_unit_test(test_mail_basic),      cmocka_unit_test(test_mail_malformed),
    cmocka_unit_test(test_rcpt_basic),      cmocka_unit_test(test_mail_params),
    cmocka_unit_test(test_mail_params_bad), cmocka_unit_test(test_xtext),
    cmocka_unit_test(test_envid_too_long),  cmocka_unit_test(test_rcpt_params),
    cmocka_unit_test(test_utf8_paths),
};

int
main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
