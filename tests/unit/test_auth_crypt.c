/*
 * test_auth_crypt.c - unit tests for the crypteq condition (conf/auth.h,
 *                     conf/auth_crypt.c), directly and inside ${if}: digests
 *                     in hex and base64, crypt(3) strings (DES, md5crypt,
 *                     sha512crypt, bcrypt, yescrypt), Exim's crypt16, wrong
 *                     passwords, empty and malformed hashes. The hashes come
 *                     from openssl dgst / openssl passwd and published bcrypt
 *                     vectors, not from the code under test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/auth.h"
#include "conf/expand.h"

#include <cmocka.h>

/* password "secret" unless the case says otherwise */
static const struct {
    const char *pw, *hash;
} good[] = {
    {"secret", "{md5}5ebe2294ecd0e0f08eab7690d2a6ee69"},
    {"secret", "{MD5}5EBE2294ECD0E0F08EAB7690D2A6EE69"},
    {"secret", "{md5}Xr4ilOzQ4PCOq3aQ0qbuaQ=="},
    {"secret", "{sha1}e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4"},
    {"secret", "{SHA1}5en6G6MezRroT3XKqkdPOmY/BfQ="},
    {"secret", "{sha256}2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"},
    {"secret", "{sha256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols="},
    {"secret", "$1$xy$mkJt1Ht8AivD6sawHd.Cf1"},
    {"secret", "{crypt}$1$xy$mkJt1Ht8AivD6sawHd.Cf1"},
    {"secret",
     "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN"
     ".Pq.H91p5hVO1"},
    {"U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"},
    {"secret", "{crypt}$2b$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a"},
    {"secret", "$y$j9T$abcdefghijklmnop$3dL1LkYnZM.OVXuVdnnaKVDlLYT92dRwOzDZ5XiVCe."},
    {"secret", "abNANd1rDfiNc"},
    {"longpassword12", "{crypt16}abD6HAB6eqg.ksbrKZ62hCF6"},
    {"secret", "{CRYPT16}abNANd1rDfiNc"}, /* not 24 characters: plain crypt */
};

/* test_crypteq_matches - every form, right password */
static void
test_crypteq_matches(void **state)
{
    char err[128];
    (void)state;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (auth_crypteq(good[i].pw, good[i].hash, err, sizeof err) != 1)
            fail_msg("%s does not match %s", good[i].pw, good[i].hash);
}

/* test_crypteq_wrong - every form, wrong passwords (case, suffix, truncation) */
static void
test_crypteq_wrong(void **state)
{
    static const char *const wrong[] = {"Secret", "secret ", "secre", "", "secretsecret"};
    char err[128];
    (void)state;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        for (size_t j = 0; j < sizeof wrong / sizeof wrong[0]; j++)
            if (strcmp(good[i].pw, wrong[j]) != 0 &&
                auth_crypteq(wrong[j], good[i].hash, err, sizeof err) != 0)
                fail_msg("\"%s\" matches %s", wrong[j], good[i].hash);
    /* crypt16: the second half is checked too */
    assert_int_equal(
        auth_crypteq("longpassword13", "{crypt16}abD6HAB6eqg.ksbrKZ62hCF6", err, sizeof err), 0);
    assert_int_equal(auth_crypteq("longpass", "{crypt16}abD6HAB6eqg.ksbrKZ62hCF6", err, sizeof err),
                     0);
}

/* test_crypteq_bad_hashes - empty, truncated, locked, bad digests never match */
static void
test_crypteq_bad_hashes(void **state)
{
    static const char *const never[] = {
        "",
        "{crypt}",
        "{md5}",
        "{sha1}",
        "{sha256}",
        "{crypt16}",
        "*",
        "!",
        "!$1$xy$mkJt1Ht8AivD6sawHd.Cf1",
        "*0",
        "ab", /* a DES salt alone */
        "$1$xy$",
        "$1$xy$mkJt1Ht8AivD6sawHd.Cf",          /* one character short */
        "$1$xy$mkJt1Ht8AivD6sawHd.Cf1x",        /* one too many */
        "{md5}5ebe2294ecd0e0f08eab7690d2a6ee6", /* 31 digits */
        "{md5}5ebe2294ecd0e0f08eab7690d2a6ee6g",
        "{md5}Xr4ilOzQ4PCOq3aQ0qbuaQ=",
        "{md5}Xr4ilOzQ4PCOq3aQ0qbuaQ!=",
        "{sha1}5en6G6MezRroT3XKqkdPOmY/BfQ",
        "{sha256}2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25",
    };
    char err[128];
    (void)state;
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        if (auth_crypteq("secret", never[i], err, sizeof err) != 0)
            fail_msg("\"%s\" matched", never[i]);
    assert_int_equal(auth_crypteq("", "", err, sizeof err), 0);
    assert_int_equal(auth_crypteq("secret", "{sha512}abc", err, sizeof err), -1);
    assert_non_null(strstr(err, "{sha512}"));
    assert_int_equal(auth_crypteq("secret", "{nobrace", err, sizeof err), -1);
}

/* tvar - $pw is "secret", $h the hash under test */
static const char *
tvar(void *arg, const char *name)
{
    if (strcmp(name, "pw") == 0)
        return "secret";
    if (strcmp(name, "h") == 0)
        return arg;
    return NULL;
}

/* expand - evaluate src with $h = hash; the rc, the result in out */
static int
expand(const char *src, const char *hash, char *out, size_t outlen)
{
    char err[256] = "";
    struct exp_str *e = exp_compile(src, err, sizeof err);
    if (e == NULL)
        fail_msg("%s: %s", src, err);
    struct exp_ctx ctx = {.var = tvar, .arg = (void *)hash, .err = err, .errlen = sizeof err};
    char *res = NULL;
    int rc = exp_eval(e, &ctx, &res);
    snprintf(out, outlen, "%s", rc == EXP_OK ? res : err);
    free(res);
    exp_free(e);
    return rc;
}

/* test_crypteq_expansion - the condition inside ${if}, negated, in and{},
 * with braces escaped in a literal hash, and its errors */
static void
test_crypteq_expansion(void **state)
{
    char out[256];
    (void)state;
    assert_int_equal(
        expand("${if crypteq{$pw}{$h}{yes}{no}}", "$1$xy$mkJt1Ht8AivD6sawHd.Cf1", out, sizeof out),
        EXP_OK);
    assert_string_equal(out, "yes");
    assert_int_equal(expand("${if crypteq{wrong}{$h}{yes}{no}}", "$1$xy$mkJt1Ht8AivD6sawHd.Cf1",
                            out, sizeof out),
                     EXP_OK);
    assert_string_equal(out, "no");
    assert_int_equal(expand("${if crypteq{$pw}{$h}{yes}{no}}", "", out, sizeof out), EXP_OK);
    assert_string_equal(out, "no");
    assert_int_equal(expand("${if !crypteq{$pw}{$h}{yes}{no}}", "", out, sizeof out), EXP_OK);
    assert_string_equal(out, "yes");
    assert_int_equal(expand("${if crypteq {$pw} {\\{md5\\}Xr4ilOzQ4PCOq3aQ0qbuaQ==}{yes}{no}}", "",
                            out, sizeof out),
                     EXP_OK);
    assert_string_equal(out, "yes");
    assert_int_equal(expand("${if and{{def:h}{crypteq{$pw}{$h}}}{yes}{no}}",
                            "{sha1}e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4", out, sizeof out),
                     EXP_OK);
    assert_string_equal(out, "yes");
    assert_int_equal(expand("${if crypteq{$pw}{$h}{yes}{no}}", "{rot13}frperg", out, sizeof out),
                     EXP_ERROR);
    assert_non_null(strstr(out, "column 6"));
    assert_non_null(strstr(out, "unknown encryption type"));
    char err[256];
    assert_null(exp_compile("${if crypteq{a}}", err, sizeof err));
    assert_null(exp_compile("${if crypteq}", err, sizeof err));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_crypteq_matches),
    cmocka_unit_test(test_crypteq_wrong),
    cmocka_unit_test(test_crypteq_bad_hashes),
    cmocka_unit_test(test_crypteq_expansion),
};

/* clang-format off */
int main(int argc, char **argv) { if (argc > 1) cmocka_set_test_filter(argv[1]); return cmocka_run_group_tests(tests, NULL, NULL); }
/* clang-format on */
