/*
 * test_inject_query.c - the query string of a raw upload (POST
 * /api/v1/inject with Content-Type: message/rfc822, api/inject_query.c):
 * decoding, and for every kind of bad input the status and the field
 * named in the error, as the JSON form names its fields.
 */
/* cmocka.h needs these before it */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
/* clang-format on */

#include "api/inject_query.h"

/* query_ok - decode q, which must be accepted */
static void
query_ok(const char *q, struct inject_batch *b)
{
    struct inject_error e;

    if (inject_query_parse(q, strlen(q), b, &e) != 0)
        fail_msg("rejected: %d %s (field %s)", e.status, e.error, e.field);
    assert_int_equal(b->n, 1);
    assert_null(b->msgs[0].content);
    assert_int_equal(b->nrcpt, b->msgs[0].nrcpt);
}

/* query_bad - decode q, which must be refused with status and field */
static void
query_bad(const char *q, int status, const char *field)
{
    struct inject_batch b;
    struct inject_error e;

    assert_int_equal(inject_query_parse(q, strlen(q), &b, &e), -1);
    assert_int_equal(e.status, status);
    assert_string_equal(e.field, field);
    assert_true(e.error[0] != '\0');
    assert_null(b.msgs); /* nothing handed back */
    assert_int_equal(b.n, 0);
}

/* test_query_valid - a sender and two recipients, escapes decoded */
static void
test_query_valid(void **state)
{
    struct inject_batch b;

    (void)state;
    query_ok("envelope_sender=alice%40example.com&recipient=bob%40example.net"
             "&recipient=carol@example.org",
             &b);
    assert_string_equal(b.msgs[0].sender, "alice@example.com");
    assert_int_equal(b.msgs[0].nrcpt, 2);
    assert_string_equal(b.msgs[0].rcpts[0], "bob@example.net");
    assert_string_equal(b.msgs[0].rcpts[1], "carol@example.org");
    inject_batch_free(&b);
    assert_null(b.msgs);
    /* any order; the null sender */
    query_ok("recipient=b%40example.net&envelope_sender=", &b);
    assert_string_equal(b.msgs[0].sender, "");
    assert_string_equal(b.msgs[0].rcpts[0], "b@example.net");
    inject_batch_free(&b);
    /* a key without '=' has an empty value: the null sender too */
    query_ok("envelope_sender&recipient=b%40example.net", &b);
    assert_string_equal(b.msgs[0].sender, "");
    inject_batch_free(&b);
}

/* test_query_missing_sender - no envelope_sender at all */
static void
test_query_missing_sender(void **state)
{
    (void)state;
    query_bad("recipient=b%40example.net", 400, "envelope_sender");
    query_bad("", 400, "envelope_sender");
    query_bad("&&", 400, "envelope_sender");
}

/* test_query_no_recipient - no recipient field, or an empty one */
static void
test_query_no_recipient(void **state)
{
    (void)state;
    query_bad("envelope_sender=a%40example.com", 400, "recipient");
    query_bad("envelope_sender=a%40example.com&recipients=b%40example.net", 400, "recipients");
    query_bad("envelope_sender=a%40example.com&recipient=", 400, "recipient[0]");
    query_bad("envelope_sender=a%40example.com&recipient=b%40example.net&recipient", 400,
              "recipient[1]");
}

/* test_query_bad_address - the same address checks as the JSON fields */
static void
test_query_bad_address(void **state)
{
    (void)state;
    query_bad("envelope_sender=no-at-sign&recipient=b%40example.net", 400, "envelope_sender");
    query_bad("envelope_sender=a%40example.com&recipient=b%40example.net&recipient=%40example.net",
              400, "recipient[1]");
    query_bad("envelope_sender=a%40example.com&recipient=%3Cb%40example.net%3E", 400,
              "recipient[0]");
    query_bad("envelope_sender=a%40example.com&recipient=b%40", 400, "recipient[0]");
    /* the sender is checked before the recipients, whatever the order */
    query_bad("recipient=bad&envelope_sender=bad", 400, "envelope_sender");
    /* a value that is not UTF-8 is not an address */
    query_bad("envelope_sender=a%40example.com&recipient=caf%E9%40example.net", 400,
              "recipient[0]");
}

/* test_query_percent_escapes - %HH in either case, '+' as a space, names
 * decoded too; a malformed escape or one making a NUL is refused */
static void
test_query_percent_escapes(void **state)
{
    struct inject_batch b;

    (void)state;
    query_ok("envelope_sender=a%2bb%40example.com&recipi%65nt=%22x+y%22%40Example.net", &b);
    assert_string_equal(b.msgs[0].sender, "a+b@example.com");
    assert_string_equal(b.msgs[0].rcpts[0], "\"x y\"@Example.net");
    inject_batch_free(&b);
    query_ok("envelope_sender=&recipient=%C3%BCser%40b%C3%BCcher.example", &b);
    assert_string_equal(b.msgs[0].rcpts[0], "\xc3\xbcser@b\xc3\xbc"
                                            "cher.example");
    inject_batch_free(&b);
    query_bad("envelope_sender=a%4&recipient=b%40example.net", 400, "envelope_sender");
    query_bad("envelope_sender=a%40example.com&recipient=b%4", 400, "recipient[0]");
    query_bad("envelope_sender=a%40example.com&recipient=b%zz%40example.net", 400, "recipient[0]");
    query_bad("envelope_sender=a%40example.com&recipient=b%00%40example.net", 400, "recipient[0]");
    query_bad("envelope_sender=a%40example.com&recipient=%", 400, "recipient[0]");
    query_bad("envelope%5=a%40example.com&recipient=b%40example.net", 400, "");
    /* a literal '+' is a space: "a b@example.net" is no address */
    query_bad("envelope_sender=&recipient=a+b%40example.net", 400, "recipient[0]");
}

/* test_query_duplicate_keys - one sender only; recipient repeats */
static void
test_query_duplicate_keys(void **state)
{
    struct inject_batch b;

    (void)state;
    query_bad("envelope_sender=a%40example.com&envelope_sender=c%40example.com"
              "&recipient=b%40example.net",
              400, "envelope_sender");
    query_bad("envelope_sender=&envelope_sender=&recipient=b%40example.net", 400,
              "envelope_sender");
    query_ok("envelope_sender=&recipient=b%40example.net&recipient=b%40example.net", &b);
    assert_int_equal(b.msgs[0].nrcpt, 2);
    inject_batch_free(&b);
}

/* test_query_unknown_field - a misspelt name is refused, not dropped */
static void
test_query_unknown_field(void **state)
{
    (void)state;
    query_bad("envelope_sender=&recipient=b%40example.net&priority=1", 400, "priority");
    query_bad("envelope_sender=&sender=a%40example.com&recipient=b%40example.net", 400, "sender");
    /* a name that cannot be shown in JSON is not echoed */
    query_bad("envelope_sender=&%FF=1&recipient=b%40example.net", 400, "");
    query_bad("envelope_sender=&%0A=1&recipient=b%40example.net", 400, "");
    /* the first problem in the order written wins */
    query_bad("x=1&envelope_sender=bad", 400, "x");
}

/* test_query_overlong - an address over 254 octets; too many recipients */
static void
test_query_overlong(void **state)
{
    size_t n = 10001, len = 0;
    char *q = malloc(64 + n * 32), local[300];

    (void)state;
    assert_non_null(q);
    memset(local, 'x', 250);
    local[250] = '\0';
    snprintf(q, 600, "envelope_sender=%s%%40example.com&recipient=b%%40example.net", local);
    query_bad(q, 400, "envelope_sender");
    snprintf(q, 600, "envelope_sender=&recipient=b%%40example.net&recipient=%s%%40example.net",
             local);
    query_bad(q, 400, "recipient[1]");
    len = (size_t)sprintf(q, "envelope_sender=");
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(q + len, "&recipient=u%zu%%40example.net", i);
    query_bad(q, 413, "recipient");
    free(q);
}

/* test_query_length - only len octets are read */
static void
test_query_length(void **state)
{
    const char *q = "envelope_sender=&recipient=b%40example.netGARBAGE";
    struct inject_batch b;
    struct inject_error e;

    (void)state;
    assert_int_equal(inject_query_parse(q, strlen(q) - 7, &b, &e), 0);
    assert_string_equal(b.msgs[0].rcpts[0], "b@example.net");
    inject_batch_free(&b);
    /* cut inside the escape: "...recipient=b%4" */
    assert_int_equal(inject_query_parse(q, strlen("envelope_sender=&recipient=b%4"), &b, &e), -1);
    assert_string_equal(e.field, "recipient[0]");
}

int
main(int argc, char **argv)
{
    // clang-format off
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_valid),
        cmocka_unit_test(test_query_missing_sender),
        cmocka_unit_test(test_query_no_recipient),
        cmocka_unit_test(test_query_bad_address),
        cmocka_unit_test(test_query_percent_escapes),
        cmocka_unit_test(test_query_duplicate_keys),
        cmocka_unit_test(test_query_unknown_field),
        cmocka_unit_test(test_query_overlong),
        cmocka_unit_test(test_query_length),
    };
    // clang-format on
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
