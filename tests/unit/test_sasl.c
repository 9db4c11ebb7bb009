/*
 * test_sasl.c - unit tests for api/sasl.h: strict base64, PLAIN responses
 *               (with and without authzid, malformed, too long), LOGIN
 *               steps, "*" cancelling, and the 334 challenges.
 */
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/sasl.h"

#include <cmocka.h>

static char reply[SASL_REPLY_MAX];

/* b64 - base64 of n bytes (static buffer, big enough for the long cases) */
static const char *
b64(const void *data, size_t n)
{
    static char out[8192];
    assert_true((n + 2) / 3 * 4 < sizeof out);
    EVP_EncodeBlock((unsigned char *)out, data, (int)n);
    return out;
}

/* test_b64_strict - what the decoder accepts and refuses */
static void
test_b64_strict(void **state)
{
    unsigned char out[64];
    size_t n;
    (void)state;
    assert_int_equal(sasl_b64_decode("YQ==", 4, out, sizeof out, &n), 0);
    assert_int_equal(n, 1); /* not 3: the padding bytes are dropped */
    assert_memory_equal(out, "a", 1);
    assert_int_equal(sasl_b64_decode("YWI=", 4, out, sizeof out, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(sasl_b64_decode("YWJj", 4, out, sizeof out, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(sasl_b64_decode("", 0, out, sizeof out, &n), 0);
    assert_int_equal(n, 0);
    const char *bad[] = {"YQ",    "YQ=",  "Y===", "=YQ=",     "YQ=a", "YW Jj", " YWJj", "YWJj ",
                         "YW\tJ", "YW-j", "YW_j", "YQ==YQ==", "*",    "YR==",  "YWJ="};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (sasl_b64_decode(bad[i], strlen(bad[i]), out, sizeof out, &n) == 0)
            fail_msg("accepted \"%s\"", bad[i]);
    /* bigger than the caller's buffer */
    assert_int_equal(sasl_b64_decode("YWJj", 4, out, 2, &n), -1);
}

/* test_plain_ok - with and without authzid, UTF-8 user, any byte in the password */
static void
test_plain_ok(void **state)
{
    char part[3][SASL_FIELD_MAX + 1];
    (void)state;
    assert_int_equal(sasl_plain_decode("AGFsaWNlAHNlY3JldA==", part, reply, sizeof reply),
                     SASL_DONE);
    assert_string_equal(part[0], "");
    assert_string_equal(part[1], "alice");
    assert_string_equal(part[2], "secret");
    assert_int_equal(sasl_plain_decode("emlkAGFsaWNlAHNlY3JldA==", part, reply, sizeof reply),
                     SASL_DONE);
    assert_string_equal(part[0], "zid");
    assert_string_equal(part[1], "alice");
    assert_int_equal(sasl_plain_decode("AGFsw6ljZQBzZWNyZXQ=", part, reply, sizeof reply),
                     SASL_DONE);
    assert_string_equal(part[1], "al\xc3\xa9"
                                 "ce");
    assert_int_equal(sasl_plain_decode("AGFsaWNlAHMB/39l", part, reply, sizeof reply), SASL_DONE);
    assert_string_equal(part[2], "s\x01\xff\x7f"
                                 "e");
}

/* plain_bad - assert a refusal whose reply starts with want */
static void
plain_bad(const char *in, const char *want)
{
    char part[3][SASL_FIELD_MAX + 1];
    strcpy(reply, "none");
    if (sasl_plain_decode(in, part, reply, sizeof reply) != SASL_BAD)
        fail_msg("accepted \"%s\"", in);
    if (strncmp(reply, want, strlen(want)) != 0)
        fail_msg("\"%s\": reply \"%s\", want \"%s\"", in, reply, want);
}

/* test_plain_bad - malformed responses and their replies */
static void
test_plain_bad(void **state)
{
    (void)state;
    plain_bad("AGFsaWNlAHNlY3JldA", "501 5.5.2 Cannot decode");
    plain_bad("AGFsaWNlAHNlY3Jld!==", "501 5.5.2 Cannot decode");
    plain_bad("YWxpY2UAc2VjcmV0", "501 5.5.2 Malformed PLAIN");       /* two parts */
    plain_bad("AGFsaWNlAHNlAGNyZXQ=", "501 5.5.2 Malformed PLAIN");   /* four parts */
    plain_bad("", "501 5.5.2 Malformed PLAIN");                       /* nothing */
    plain_bad("AABzZWNyZXQ=", "501 5.5.2 Empty user name");           /* no user */
    plain_bad("AGFsaWNlAA==", "501 5.5.2 Empty password");            /* no password */
    plain_bad("AGFsaQFjZQBzZWNyZXQ=", "501 5.5.2 Control character"); /* ^A in user */
    plain_bad("YQliAABj", "501 5.5.2");                               /* tab in authzid */
    /* a field over SASL_FIELD_MAX, and a line over SASL_LINE_MAX */
    char raw[SASL_FIELD_MAX * 4];
    memset(raw, 'x', sizeof raw);
    raw[0] = '\0';
    raw[SASL_FIELD_MAX + 2] = '\0';
    plain_bad(b64(raw, SASL_FIELD_MAX + 8), "500 5.5.6");
    raw[SASL_FIELD_MAX + 2] = 'x';
    raw[SASL_FIELD_MAX + 1] = '\0'; /* user of exactly SASL_FIELD_MAX bytes: fine */
    char part[3][SASL_FIELD_MAX + 1];
    assert_int_equal(sasl_plain_decode(b64(raw, SASL_FIELD_MAX + 8), part, reply, sizeof reply),
                     SASL_DONE);
    assert_int_equal(strlen(part[1]), SASL_FIELD_MAX);
    char *line = malloc(SASL_LINE_MAX + 5);
    memset(line, 'A', SASL_LINE_MAX + 4);
    line[SASL_LINE_MAX + 4] = '\0';
    plain_bad(line, "500 5.5.6");
    free(line);
}

/* test_plain_exchange - no initial response: an empty 334, then the data;
 * initial response; "=" an empty one; cancel */
static void
test_plain_exchange(void **state)
{
    struct sasl s;
    (void)state;
    assert_int_equal(sasl_start(&s, SASL_PLAIN, NULL, NULL, reply, sizeof reply), SASL_MORE);
    assert_string_equal(reply, "334 ");
    assert_int_equal(sasl_step(&s, "AGFsaWNlAHNlY3JldA==", reply, sizeof reply), SASL_DONE);
    assert_int_equal(s.nparts, 3);
    assert_string_equal(s.part[1], "alice");
    assert_string_equal(s.part[2], "secret");
    assert_int_equal(sasl_step(&s, "AGFsaWNlAHNlY3JldA==", reply, sizeof reply), SASL_BAD);

    assert_int_equal(
        sasl_start(&s, SASL_PLAIN, NULL, "emlkAGFsaWNlAHNlY3JldA==", reply, sizeof reply),
        SASL_DONE);
    assert_string_equal(s.part[0], "zid");
    assert_int_equal(sasl_start(&s, SASL_PLAIN, NULL, "=", reply, sizeof reply), SASL_BAD);
    assert_string_equal(s.part[1], "");

    assert_int_equal(sasl_start(&s, SASL_PLAIN, NULL, NULL, reply, sizeof reply), SASL_MORE);
    assert_int_equal(sasl_step(&s, "*", reply, sizeof reply), SASL_CANCEL);
    assert_string_equal(reply, "501 5.7.0 Authentication cancelled");
    assert_int_equal(sasl_step(&s, "AGFsaWNlAHNlY3JldA==", reply, sizeof reply), SASL_BAD);
    /* "*" as the initial response is not a cancel but bad base64 */
    assert_int_equal(sasl_start(&s, SASL_PLAIN, NULL, "*", reply, sizeof reply), SASL_BAD);
    assert_string_equal(reply, "501 5.5.2 Cannot decode the base64 data");
}

/* test_login_exchange - prompts, two steps, initial user name, cancels, bad fields */
static void
test_login_exchange(void **state)
{
    const char *prompts[2] = {"Username:", "Password:"};
    struct sasl s;
    (void)state;
    assert_int_equal(sasl_start(&s, SASL_LOGIN, prompts, NULL, reply, sizeof reply), SASL_MORE);
    assert_string_equal(reply, "334 VXNlcm5hbWU6");
    assert_int_equal(sasl_step(&s, "YWxpY2U=", reply, sizeof reply), SASL_MORE);
    assert_string_equal(reply, "334 UGFzc3dvcmQ6");
    assert_int_equal(sasl_step(&s, "c2VjcmV0", reply, sizeof reply), SASL_DONE);
    assert_int_equal(s.nparts, 2);
    assert_string_equal(s.part[0], "alice");
    assert_string_equal(s.part[1], "secret");
    assert_int_equal(sasl_step(&s, "c2VjcmV0", reply, sizeof reply), SASL_BAD);

    assert_int_equal(sasl_start(&s, SASL_LOGIN, prompts, "YWxpY2U=", reply, sizeof reply),
                     SASL_MORE);
    assert_string_equal(reply, "334 UGFzc3dvcmQ6");
    assert_int_equal(sasl_step(&s, "*", reply, sizeof reply), SASL_CANCEL);
    assert_int_equal(sasl_step(&s, "c2VjcmV0", reply, sizeof reply), SASL_BAD);

    assert_int_equal(sasl_start(&s, SASL_LOGIN, prompts, NULL, reply, sizeof reply), SASL_MORE);
    assert_int_equal(sasl_step(&s, "*", reply, sizeof reply), SASL_CANCEL);
    assert_int_equal(sasl_start(&s, SASL_LOGIN, prompts, NULL, reply, sizeof reply), SASL_MORE);
    assert_int_equal(sasl_step(&s, "YQBi", reply, sizeof reply), SASL_BAD); /* NUL */
    assert_string_equal(reply, "501 5.5.2 NUL byte in a LOGIN response");
    assert_int_equal(sasl_step(&s, "c2VjcmV0", reply, sizeof reply), SASL_BAD); /* over */
    assert_int_equal(sasl_start(&s, SASL_LOGIN, prompts, NULL, reply, sizeof reply), SASL_MORE);
    assert_int_equal(sasl_step(&s, "", reply, sizeof reply), SASL_BAD);
    assert_string_equal(reply, "501 5.5.2 Empty user name");
    assert_int_equal(sasl_start(&s, SASL_LOGIN, prompts, "YQli", reply, sizeof reply), SASL_BAD);
    assert_string_equal(reply, "501 5.5.2 Control character in the user name");
    /* control characters are fine in a password, and a field of exactly the limit */
    char pw[SASL_FIELD_MAX + 1];
    memset(pw, '\t', sizeof pw);
    assert_int_equal(sasl_start(&s, SASL_LOGIN, prompts, "YWxpY2U=", reply, sizeof reply),
                     SASL_MORE);
    assert_int_equal(sasl_step(&s, b64(pw, SASL_FIELD_MAX), reply, sizeof reply), SASL_DONE);
    assert_int_equal(strlen(s.part[1]), SASL_FIELD_MAX);
    assert_int_equal(sasl_start(&s, SASL_LOGIN, prompts, "YWxpY2U=", reply, sizeof reply),
                     SASL_MORE);
    assert_int_equal(sasl_step(&s, b64(pw, SASL_FIELD_MAX + 1), reply, sizeof reply), SASL_BAD);
    assert_string_equal(reply, "500 5.5.6 Authentication exchange line is too long");
}

/* test_challenge_and_names - 334 encoding, small buffers, mechanism names */
static void
test_challenge_and_names(void **state)
{
    char small[8];
    enum sasl_mech m;
    (void)state;
    assert_int_equal(sasl_challenge("", reply, sizeof reply), 0);
    assert_string_equal(reply, "334 ");
    assert_int_equal(sasl_challenge("User Name:", reply, sizeof reply), 0);
    assert_string_equal(reply, "334 VXNlciBOYW1lOg==");
    assert_int_equal(sasl_challenge("Username:", small, sizeof small), -1);
    assert_int_equal(sasl_mech_from_name("plain", &m), 0);
    assert_int_equal(m, SASL_PLAIN);
    assert_int_equal(sasl_mech_from_name("LOGIN", &m), 0);
    assert_int_equal(m, SASL_LOGIN);
    assert_int_equal(sasl_mech_from_name("CRAM-MD5", &m), -1);
    assert_int_equal(sasl_mech_from_name("", &m), -1);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_b64_strict),     cmocka_unit_test(test_plain_ok),
    cmocka_unit_test(test_plain_bad),      cmocka_unit_test(test_plain_exchange),
    cmocka_unit_test(test_login_exchange), cmocka_unit_test(test_challenge_and_names),
};

/* clang-format off */
int main(int argc, char **argv) { if (argc > 1) cmocka_set_test_filter(argv[1]); return cmocka_run_group_tests(tests, NULL, NULL); }
/* clang-format on */
