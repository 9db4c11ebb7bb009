/*
 * test_address.c - RFC 5321 path and mailbox syntax (conf/address.c).
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

#include "conf/address.h"

/* parse - addr_parse_path on a C string; returns rc, mailbox in out */
static int
parse(const char *s, int allow_null, int utf8, char *out, const char **end)
{
    const char *why = NULL, *e = NULL;
    int rc = addr_parse_path(s, strlen(s), allow_null, utf8, out, ADDR_MAX + 1, &e, &why);
    if (rc != 0)
        assert_non_null(why);
    if (end != NULL)
        *end = e;
    return rc;
}

/* test_path_simple - plain path, end pointer past '>' */
static void
test_path_simple(void **state)
{
    char out[ADDR_MAX + 1];
    const char *s = "<user@example.com> SIZE=10", *end;
    (void)state;
    assert_int_equal(parse(s, 0, 0, out, &end), 0);
    assert_string_equal(out, "user@example.com");
    assert_ptr_equal(end, s + 18);
}

/* test_path_null - "<>" only when allowed */
static void
test_path_null(void **state)
{
    char out[ADDR_MAX + 1] = "x";
    (void)state;
    assert_int_equal(parse("<>", 1, 0, out, NULL), 0);
    assert_string_equal(out, "");
    assert_int_equal(parse("<>", 0, 0, out, NULL), -1);
}

/* test_path_brackets - missing '<' or '>' */
static void
test_path_brackets(void **state)
{
    char out[ADDR_MAX + 1];
    (void)state;
    assert_int_equal(parse("user@example.com", 1, 0, out, NULL), -1);
    assert_int_equal(parse("<user@example.com", 1, 0, out, NULL), -1);
    assert_int_equal(parse("<user@example.com x>", 1, 0, out, NULL), -1);
    assert_int_equal(parse("", 1, 0, out, NULL), -1);
    assert_int_equal(parse("<", 1, 0, out, NULL), -1);
}

/* test_path_source_route - obsolete route is dropped, bad route refused */
static void
test_path_source_route(void **state)
{
    char out[ADDR_MAX + 1];
    (void)state;
    assert_int_equal(parse("<@a.example,@b.example:u@d.example>", 0, 0, out, NULL), 0);
    assert_string_equal(out, "u@d.example");
    assert_int_equal(parse("<@a.example:u@d.example>", 0, 0, out, NULL), 0);
    assert_string_equal(out, "u@d.example");
    assert_int_equal(parse("<@a.example u@d.example>", 0, 0, out, NULL), -1);
    assert_int_equal(parse("<@:u@d.example>", 0, 0, out, NULL), -1);
    assert_int_equal(parse("<@a.example,u@d.example>", 0, 0, out, NULL), -1);
}

/* test_path_quoted - quoted local parts kept as written; unbalanced quotes refused */
static void
test_path_quoted(void **state)
{
    char out[ADDR_MAX + 1];
    (void)state;
    assert_int_equal(parse("<\"john doe\"@example.com>", 0, 0, out, NULL), 0);
    assert_string_equal(out, "\"john doe\"@example.com");
    assert_int_equal(parse("<\"a>b\\\"c\"@example.com>", 0, 0, out, NULL), 0);
    assert_string_equal(out, "\"a>b\\\"c\"@example.com");
    assert_int_equal(parse("<\"john doe@example.com>", 0, 0, out, NULL), -1);
    assert_int_equal(parse("<\"a\tb\"@example.com>", 0, 0, out, NULL), -1);
    assert_int_equal(parse("<\"ab\"c@example.com>", 0, 0, out, NULL), -1);
}

/* test_path_too_long - 256 octets with brackets at most */
static void
test_path_too_long(void **state)
{
    char s[400], out[ADDR_MAX + 1];
    (void)state;
    /* 64-octet local part + '@' + domain of 4 labels of 61 + dots */
    memset(s, 0, sizeof(s));
    strcpy(s, "<");
    memset(s + 1, 'a', 64);
    strcat(s, "@");
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(s);
        memset(s + n, 'b', 61);
        strcat(s, ".");
    }
    strcat(s, "cc>"); /* 1 + 64 + 1 + 186 + 2 + 1 = 255 octets */
    assert_int_equal(parse(s, 0, 0, out, NULL), 0);
    s[strlen(s) - 1] = '\0';
    strcat(s, "cc>"); /* 257 */
    assert_int_equal(parse(s, 0, 0, out, NULL), -1);
}

/* test_mailbox_valid - dot-atoms, address literals, single-label domains */
static void
test_mailbox_valid(void **state)
{
    (void)state;
    assert_int_equal(addr_valid_mailbox("user@example.com", 0, NULL), 1);
    assert_int_equal(addr_valid_mailbox("first.last+tag@sub.example-x.co", 0, NULL), 1);
    assert_int_equal(addr_valid_mailbox("!#$%&'*+-/=?^_`{|}~@example.com", 0, NULL), 1);
    assert_int_equal(addr_valid_mailbox("postmaster@localhost", 0, NULL), 1);
    assert_int_equal(addr_valid_mailbox("u@[192.0.2.1]", 0, NULL), 1);
    assert_int_equal(addr_valid_mailbox("u@[IPv6:2001:db8::1]", 0, NULL), 1);
    assert_int_equal(addr_valid_mailbox("u@[ipv6:::1]", 0, NULL), 1);
    assert_int_equal(addr_valid_mailbox("\"\"@example.com", 0, NULL), 1);
}

/* test_mailbox_invalid - every syntax error has a reason */
static void
test_mailbox_invalid(void **state)
{
    static const char *bad[] = {
        "",
        "user",
        "user@",
        "@example.com",
        ".user@example.com",
        "user.@example.com",
        "us..er@example.com",
        "user@example..com",
        "user@.example.com",
        "user@example.com.",
        "user@-example.com",
        "user@example-.com",
        "user@exa_mple.com",
        "us er@example.com",
        "user@example.com>",
        "user@[192.0.2.256]",
        "user@[192.0.2.1",
        "user@[IPv6:2001:db8::g]",
        "user@[x:1]",
        "user@[]",
        "a@b@example.com",
        "user@exa\x01mple.com",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *why = NULL;
        if (addr_valid_mailbox(bad[i], 1, &why) != 0)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_non_null(why);
    }
    assert_int_equal(addr_valid_mailbox(NULL, 0, NULL), 0);
}

/* test_mailbox_limits - 64-octet local part, 63-octet labels, 255-octet domain */
static void
test_mailbox_limits(void **state)
{
    char s[600];
    (void)state;
    memset(s, 'a', 64);
    strcpy(s + 64, "@example.com");
    assert_int_equal(addr_valid_mailbox(s, 0, NULL), 1);
    memset(s, 'a', 65);
    strcpy(s + 65, "@example.com");
    assert_int_equal(addr_valid_mailbox(s, 0, NULL), 0);

    strcpy(s, "u@");
    memset(s + 2, 'l', 63);
    strcpy(s + 65, ".com");
    assert_int_equal(addr_valid_mailbox(s, 0, NULL), 1);
    strcpy(s, "u@");
    memset(s + 2, 'l', 64);
    strcpy(s + 66, ".com");
    assert_int_equal(addr_valid_mailbox(s, 0, NULL), 0);

    /* domain of 5 labels of 60 + 4 dots = 304 octets */
    strcpy(s, "u@");
    for (int i = 0; i < 5; i++) {
        size_t n = strlen(s);
        memset(s + n, 'd', 60);
        s[n + 60] = i < 4 ? '.' : '\0';
        s[n + 61] = '\0';
    }
    assert_int_equal(addr_valid_mailbox(s, 0, NULL), 0);
}

/* test_utf8 - UTF-8 only when allowed, and only well-formed */
static void
test_utf8(void **state)
{
    char out[ADDR_MAX + 1];
    (void)state;
    assert_int_equal(addr_valid_mailbox("j\xc3\xb6rg@b\xc3\xbc"
                                        "cher.example",
                                        1, NULL),
                     1);
    assert_int_equal(addr_valid_mailbox("j\xc3\xb6rg@example.com", 0, NULL), 0);
    assert_int_equal(addr_valid_mailbox("user@b\xc3\xbc"
                                        "cher.example",
                                        0, NULL),
                     0);
    assert_int_equal(addr_valid_mailbox("\xe7\x94\xa8\xe6\x88\xb7@example.com", 1, NULL), 1);
    assert_int_equal(addr_valid_mailbox("\"\xc3\xb6\"@example.com", 1, NULL), 1);
    assert_int_equal(addr_valid_mailbox("\"\xc3\xb6\"@example.com", 0, NULL), 0);
    /* overlong, surrogate, truncated, beyond U+10FFFF, lone continuation */
    assert_int_equal(addr_valid_mailbox("\xc0\xafu@example.com", 1, NULL), 0);
    assert_int_equal(addr_valid_mailbox("\xed\xa0\x80u@example.com", 1, NULL), 0);
    assert_int_equal(addr_valid_mailbox("u\xc3@example.com", 1, NULL), 0);
    assert_int_equal(addr_valid_mailbox("\xf4\x90\x80\x80@example.com", 1, NULL), 0);
    assert_int_equal(addr_valid_mailbox("\x80u@example.com", 1, NULL), 0);
    assert_int_equal(parse("<j\xc3\xb6rg@example.com>", 0, 1, out, NULL), 0);
    assert_int_equal(parse("<j\xc3\xb6rg@example.com>", 0, 0, out, NULL), -1);
}

/* test_domain_helpers - addr_domain and addr_domain_lower */
static void
test_domain_helpers(void **state)
{
    char out[16];
    (void)state;
    assert_string_equal(addr_domain("user@Example.COM"), "Example.COM");
    assert_string_equal(addr_domain("\"a@b\"@c.example"), "c.example");
    assert_string_equal(addr_domain("nodomain"), "");
    assert_string_equal(addr_domain(""), "");
    assert_int_equal(addr_domain_lower("user@Example.COM", out, sizeof(out)), 0);
    assert_string_equal(out, "example.com");
    assert_int_equal(addr_domain_lower("u@a-very-long-domain.example", out, sizeof(out)), -1);
}

/* test_outlen - a mailbox that does not fit the output buffer is refused */
static void
test_outlen(void **state)
{
    char out[8];
    const char *why = NULL, *end = NULL;
    const char *s = "<user@example.com>";
    (void)state;
    assert_int_equal(addr_parse_path(s, strlen(s), 0, 0, out, sizeof(out), &end, &why), -1);
    assert_non_null(why);
    /* len bounds the scan: a shorter len cuts the path */
    assert_int_equal(addr_parse_path(s, 10, 0, 0, out, sizeof(out), &end, &why), -1);
}

/* pathn - addr_parse_path on n octets (which may hold a NUL) */
static int
pathn(const char *s, size_t n)
{
    char out[ADDR_MAX + 1];
    const char *why = NULL, *end = NULL;
    int rc = addr_parse_path(s, n, 0, 1, out, sizeof(out), &end, &why);
    if (rc != 0)
        assert_non_null(why);
    return rc;
}

/* test_nul_in_literal - a NUL (or any octet outside the RFC 5321 §4.1.3
 * grammar) inside an address literal is refused, not cut off by inet_pton */
static void
test_nul_in_literal(void **state)
{
    static const char v4[] = "<?@[0.4.0.3\0]>", v6[] = "<u@[IPv6:::1\0]>";
    (void)state;
    assert_int_equal(pathn(v4, sizeof(v4) - 1), -1);
    assert_int_equal(pathn(v6, sizeof(v6) - 1), -1);
    assert_int_equal(pathn("<u@[0.4.0.3]>", 13), 0);
}

/* test_literal_malformed - literal cases on either side of the grammar */
static void
test_literal_malformed(void **state)
{
    static const char *const bad[] = {
        "u@[]",           "u@[1.2.3]",         "u@[1.2.3.4.5]",      "u@[1.2.3.256]",
        "u@[ 1.2.3.4]",   "u@[1.2.3.4 ]",      "u@[1.2.3.4\t]",      "u@[01.2.3.4x]",
        "u@[IPv6:]",      "u@[IPv6:1::2::3]",  "u@[IPv6:::1 ]",      "u@[IPv6:fe80::1%lo]",
        "u@[IPv6:1.2.3.4]", "u@[tag:text]",    "u@[1.2.3.4",          "u@[1.2.3.4]x",
        "u@[::1]",        "u@[IPv6:::g]",      "u@[IPv6:\xc3\xa9]",  "u@[1.2.3.4\r\n]",
    };
    static const char *const good[] = {
        "u@[192.0.2.1]", "u@[IPv6:2001:db8::1]", "u@[ipv6:::1]", "u@[IPv6:::ffff:192.0.2.1]",
    };
    const char *why;
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = NULL;
        if (addr_valid_mailbox(bad[i], 1, &why))
            fail_msg("accepted %s", bad[i]);
        assert_non_null(why);
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!addr_valid_mailbox(good[i], 1, &why))
            fail_msg("refused %s: %s", good[i], why);
}

/* test_idn_to_alabel - U-labels become A-labels (UTS #46 non-transitional:
 * ß is kept, not mapped to ss); ASCII is only lowered; bad IDNs refused */
static void
test_idn_to_alabel(void **state)
{
    char out[256];
    const char *why = NULL;
    (void)state;
    assert_int_equal(addr_domain_ascii("B\xc3\xbc" "cher.Example", out, sizeof(out), &why), 0);
    assert_string_equal(out, "xn--bcher-kva.example");
    assert_int_equal(addr_domain_ascii("fa\xc3\x9f.de", out, sizeof(out), &why), 0);
    assert_string_equal(out, "xn--fa-hia.de");
    assert_int_equal(addr_domain_ascii("Mail.EXAMPLE.com", out, sizeof(out), &why), 0);
    assert_string_equal(out, "mail.example.com");
    assert_int_equal(addr_domain_ascii("[IPv6:2001:DB8::1]", out, sizeof(out), &why), 0);
    assert_string_equal(out, "[ipv6:2001:db8::1]");
    why = NULL; /* a label that starts with a combining mark (U+0301): IDNA2008 refuses it */
    assert_int_equal(addr_domain_ascii("\xcc\x81" "a.example", out, sizeof(out), &why), -1);
    assert_non_null(why);
    assert_int_equal(addr_domain_ascii("b\xc3\xbc" "cher.example", out, 8, &why), -1);
}

/* test_literal_ip - the address inside a literal, only for valid literals */
static void
test_literal_ip(void **state)
{
    char out[64];
    (void)state;
    assert_int_equal(addr_literal_ip("[192.0.2.1]", out, sizeof(out)), 0);
    assert_string_equal(out, "192.0.2.1");
    assert_int_equal(addr_literal_ip("[ipv6:2001:db8::1]", out, sizeof(out)), 0);
    assert_string_equal(out, "2001:db8::1");
    assert_int_equal(addr_literal_ip("[192.0.2.1]", out, 9), -1);
    assert_int_equal(addr_literal_ip("example.com", out, sizeof(out)), -1);
    assert_int_equal(addr_literal_ip("[1.2.3]", out, sizeof(out)), -1);
}

/* test_rcpt_check - literals need allow_literals (550); an IDN that does not
 * convert is a 501; the rest pass */
static void
test_rcpt_check(void **state)
{
    const char *why = NULL;
    (void)state;
    assert_int_equal(addr_rcpt_check("u@[192.0.2.1]", 0, &why), 550);
    assert_string_equal(why, "domain literals are not accepted");
    assert_int_equal(addr_rcpt_check("u@[IPv6:2001:db8::1]", 0, &why), 550);
    assert_int_equal(addr_rcpt_check("u@[192.0.2.1]", 1, &why), 0);
    assert_int_equal(addr_rcpt_check("u@example.com", 0, &why), 0);
    assert_int_equal(addr_rcpt_check("\xc3\xa9@b\xc3\xbc" "cher.example", 0, &why), 0);
    why = NULL;
    assert_int_equal(addr_rcpt_check("u@\xcc\x81" "a.example", 0, &why), 501);
    assert_non_null(why);
}

const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_path_simple),    cmocka_unit_test(test_path_null),
    cmocka_unit_test(test_path_brackets),  cmocka_unit_test(test_path_source_route),
    cmocka_unit_test(test_path_quoted),    cmocka_unit_test(test_path_too_long),
    cmocka_unit_test(test_mailbox_valid),  cmocka_unit_test(test_mailbox_invalid),
    cmocka_unit_test(test_mailbox_limits), cmocka_unit_test(test_utf8),
    cmocka_unit_test(test_domain_helpers), cmocka_unit_test(test_outlen),
    cmocka_unit_test(test_nul_in_literal), cmocka_unit_test(test_literal_malformed),
    cmocka_unit_test(test_idn_to_alabel),  cmocka_unit_test(test_literal_ip),
    cmocka_unit_test(test_rcpt_check),
};

int
main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
