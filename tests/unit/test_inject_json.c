/*
 * test_inject_json.c - validation of POST /api/v1/inject bodies: the
 * accepted forms, and for every kind of bad input the status and the exact
 * path of the field named in the error.
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

#include "api/inject_json.h"

/* parse_ok - parse text that must be accepted */
static void
parse_ok(const char *text, uint64_t limit, struct inject_batch *b)
{
    struct inject_error e;
    int rc = inject_json_parse(text, strlen(text), limit, b, &e);

    if (rc != 0)
        fail_msg("rejected: %d %s (field %s)", e.status, e.error, e.field);
}

/* expect_error - parse text that must be refused with status and field */
static void
expect_error(const char *text, uint64_t limit, int status, const char *field)
{
    struct inject_batch b;
    struct inject_error e;

    assert_int_equal(inject_json_parse(text, strlen(text), limit, &b, &e), -1);
    assert_int_equal(e.status, status);
    assert_string_equal(e.field, field);
    assert_true(e.error[0] != '\0');
    assert_null(b.msgs); /* all-or-nothing: nothing handed back */
    assert_null(b.root);
    assert_int_equal(b.n, 0);
}

/* test_single_valid - the single-message form */
static void
test_single_valid(void **state)
{
    struct inject_batch b;

    (void)state;
    parse_ok("{\"envelope_sender\": \"a@example.com\", \"recipients\": [\"b@example.net\", "
             "\"c@example.org\"], \"content\": \"Subject: x\\n\\nhello\\n\"}",
             0, &b);
    assert_int_equal(b.n, 1);
    assert_int_equal(b.nrcpt, 2);
    assert_string_equal(b.msgs[0].sender, "a@example.com");
    assert_int_equal(b.msgs[0].nrcpt, 2);
    assert_string_equal(b.msgs[0].rcpts[0], "b@example.net");
    assert_string_equal(b.msgs[0].rcpts[1], "c@example.org");
    assert_int_equal(b.msgs[0].content_len, 18);
    assert_memory_equal(b.msgs[0].content, "Subject: x\n\nhello\n", 18);
    assert_int_equal(b.msgs[0].notify, 0);
    assert_int_equal(b.msgs[0].ret, INJECT_RET_NONE);
    assert_null(b.msgs[0].envid);
    assert_null(b.msgs[0].orcpt);
    inject_batch_free(&b);
    assert_null(b.msgs);
}

/* test_batch_valid - the {"messages": [...]} form */
static void
test_batch_valid(void **state)
{
    struct inject_batch b;

    (void)state;
    parse_ok("{\"messages\": [{\"envelope_sender\": \"a@example.com\", \"recipients\": "
             "[\"b@example.net\"], \"content\": \"one\"}, {\"content\": \"two\", \"recipients\": "
             "[\"c@example.org\", \"d@example.org\", \"e@example.org\"], \"envelope_sender\": "
             "\"f@example.com\"}]}",
             100, &b);
    assert_int_equal(b.n, 2);
    assert_int_equal(b.nrcpt, 4);
    assert_string_equal(b.msgs[0].content, "one");
    assert_string_equal(b.msgs[1].sender, "f@example.com");
    assert_int_equal(b.msgs[1].nrcpt, 3);
    assert_string_equal(b.msgs[1].rcpts[2], "e@example.org");
    inject_batch_free(&b);
}

/* test_null_sender - "" is the null sender, valid */
static void
test_null_sender(void **state)
{
    struct inject_batch b;

    (void)state;
    parse_ok("{\"envelope_sender\": \"\", \"recipients\": [\"b@example.net\"], \"content\": \"x\"}",
             0, &b);
    assert_string_equal(b.msgs[0].sender, "");
    inject_batch_free(&b);
}

/* test_missing_fields - each required field, in both forms */
static void
test_missing_fields(void **state)
{
    (void)state;
    expect_error("{\"recipients\": [\"b@example.net\"], \"content\": \"x\"}", 0, 400,
                 "envelope_sender");
    expect_error("{\"envelope_sender\": \"a@example.com\", \"content\": \"x\"}", 0, 400,
                 "recipients");
    expect_error("{\"envelope_sender\": \"a@example.com\", \"recipients\": [\"b@example.net\"]}", 0,
                 400, "content");
    expect_error("{\"messages\": [{\"envelope_sender\": \"a@example.com\", \"recipients\": "
                 "[\"b@example.net\"], \"content\": \"x\"}, {\"envelope_sender\": "
                 "\"a@example.com\", \"recipients\": [\"b@example.net\"]}]}",
                 0, 400, "messages[1].content");
    expect_error("{}", 0, 400, "envelope_sender");
}

/* test_wrong_types - a value of the wrong JSON type names its field */
static void
test_wrong_types(void **state)
{
    (void)state;
    expect_error(
        "{\"envelope_sender\": 5, \"recipients\": [\"b@example.net\"], \"content\": \"x\"}", 0, 400,
        "envelope_sender");
    expect_error("{\"envelope_sender\": null, \"recipients\": [\"b@example.net\"], \"content\": "
                 "\"x\"}",
                 0, 400, "envelope_sender");
    expect_error("{\"envelope_sender\": \"a@example.com\", \"recipients\": \"b@example.net\", "
                 "\"content\": \"x\"}",
                 0, 400, "recipients");
    expect_error("{\"envelope_sender\": \"a@example.com\", \"recipients\": [\"b@example.net\", "
                 "7], \"content\": \"x\"}",
                 0, 400, "recipients[1]");
    expect_error("{\"envelope_sender\": \"a@example.com\", \"recipients\": [\"b@example.net\"], "
                 "\"content\": [\"x\"]}",
                 0, 400, "content");
    expect_error("{\"messages\": {\"envelope_sender\": \"a@example.com\"}}", 0, 400, "messages");
    expect_error("{\"messages\": [{\"envelope_sender\": \"a@example.com\", \"recipients\": "
                 "[\"b@example.net\"], \"content\": \"x\"}, \"not an object\"]}",
                 0, 400, "messages[1]");
}

/* test_empty_values - empty recipients, empty message, empty batch */
static void
test_empty_values(void **state)
{
    (void)state;
    expect_error("{\"envelope_sender\": \"a@example.com\", \"recipients\": [], \"content\": \"x\"}",
                 0, 400, "recipients");
    expect_error("{\"envelope_sender\": \"a@example.com\", \"recipients\": [\"\"], \"content\": "
                 "\"x\"}",
                 0, 400, "recipients[0]");
    expect_error("{\"envelope_sender\": \"a@example.com\", \"recipients\": [\"b@example.net\"], "
                 "\"content\": \"\"}",
                 0, 400, "content");
    expect_error("{\"messages\": []}", 0, 400, "messages");
}

/* test_invalid_address - a bad address deep in a batch: exact path */
static void
test_invalid_address(void **state)
{
    const char *ok =
        "{\"envelope_sender\": \"a@example.com\", \"recipients\": [\"b@example.net\"], "
        "\"content\": \"x\"}";
    char text[1024];

    (void)state;
    snprintf(text, sizeof(text),
             "{\"messages\": [%s, %s, %s, {\"envelope_sender\": \"a@example.com\", "
             "\"recipients\": [\"b@example.net\", \"not an address\"], \"content\": \"x\"}]}",
             ok, ok, ok);
    expect_error(text, 0, 400, "messages[3].recipients[1]");
    expect_error("{\"envelope_sender\": \"no-at-sign\", \"recipients\": [\"b@example.net\"], "
                 "\"content\": \"x\"}",
                 0, 400, "envelope_sender");
    expect_error("{\"envelope_sender\": \"a@example.com\", \"recipients\": [\"@example.net\"], "
                 "\"content\": \"x\"}",
                 0, 400, "recipients[0]");
    expect_error("{\"envelope_sender\": \"a@example.com\", \"recipients\": [\"b@\"], \"content\": "
                 "\"x\"}",
                 0, 400, "recipients[0]");
    expect_error("{\"envelope_sender\": \"a@example.com\", \"recipients\": [\"<b@example.net>\"], "
                 "\"content\": \"x\"}",
                 0, 400, "recipients[0]");
}

/* test_address_too_long - an address over the RFC 5321 path limit */
static void
test_address_too_long(void **state)
{
    char text[1024], local[300];

    (void)state;
    memset(local, 'x', 280);
    local[280] = '\0';
    snprintf(text, sizeof(text),
             "{\"envelope_sender\": \"%s@example.com\", \"recipients\": [\"b@example.net\"], "
             "\"content\": \"x\"}",
             local);
    expect_error(text, 0, 400, "envelope_sender");
}

/* test_unknown_field - a misspelt or extra key is refused, not dropped */
static void
test_unknown_field(void **state)
{
    (void)state;
    expect_error("{\"envelope_sender\": \"a@example.com\", \"recipient\": [\"b@example.net\"], "
                 "\"content\": \"x\"}",
                 0, 400, "recipient");
    expect_error("{\"messages\": [{\"envelope_sender\": \"a@example.com\", \"recipients\": "
                 "[\"b@example.net\"], \"content\": \"x\", \"priority\": 1}]}",
                 0, 400, "messages[0].priority");
    expect_error("{\"messages\": [{\"envelope_sender\": \"a@example.com\", \"recipients\": "
                 "[\"b@example.net\"], \"content\": \"x\"}], \"content\": \"y\"}",
                 0, 400, "content");
}

/* test_bad_json - syntax errors: no field, line and column in the message */
static void
test_bad_json(void **state)
{
    struct inject_batch b;
    struct inject_error e;
    const char *text = "{\"envelope_sender\": \"a@example.com\",\n \"recipients\": [,]}";

    (void)state;
    assert_int_equal(inject_json_parse(text, strlen(text), 0, &b, &e), -1);
    assert_int_equal(e.status, 400);
    assert_string_equal(e.field, "");
    assert_non_null(strstr(e.error, "line 2"));
    assert_non_null(strstr(e.error, "column"));
    expect_error("", 0, 400, "");
    expect_error("not json", 0, 400, "");
    expect_error("[1, 2]", 0, 400, "");
    expect_error("\"a string\"", 0, 400, "");
    expect_error("{\"envelope_sender\": \"a@example.com\"", 0, 400, "");
    /* jansson refuses \u0000 unless asked: no NUL reaches the spool */
    expect_error("{\"envelope_sender\": \"a@example.com\", \"recipients\": [\"b@example.net\"], "
                 "\"content\": \"a\\u0000b\"}",
                 0, 400, "");
    /* duplicate keys are ambiguous: refused */
    expect_error("{\"envelope_sender\": \"a@example.com\", \"envelope_sender\": \"b@example.com\", "
                 "\"recipients\": [\"b@example.net\"], \"content\": \"x\"}",
                 0, 400, "");
}

/* test_length_not_terminated - only len bytes are read */
static void
test_length_not_terminated(void **state)
{
    const char *text = "{\"envelope_sender\": \"\", \"recipients\": [\"b@example.net\"], "
                       "\"content\": \"x\"}GARBAGE";
    struct inject_batch b;
    struct inject_error e;

    (void)state;
    assert_int_equal(inject_json_parse(text, strlen(text) - 7, 0, &b, &e), 0);
    inject_batch_free(&b);
    assert_int_equal(inject_json_parse(text, strlen(text), 0, &b, &e), -1);
    assert_int_equal(inject_json_parse(text, 10, 0, &b, &e), -1);
}

/* test_size_limit - content over message_size_limit is 413 naming content */
static void
test_size_limit(void **state)
{
    const char *text = "{\"envelope_sender\": \"a@example.com\", \"recipients\": "
                       "[\"b@example.net\"], \"content\": \"0123456789\"}";
    struct inject_batch b;

    (void)state;
    expect_error(text, 9, 413, "content");
    parse_ok(text, 10, &b);
    inject_batch_free(&b);
    parse_ok(text, 0, &b); /* 0 = no limit */
    inject_batch_free(&b);
    expect_error("{\"messages\": [{\"envelope_sender\": \"a@example.com\", \"recipients\": "
                 "[\"b@example.net\"], \"content\": \"short\"}, {\"envelope_sender\": "
                 "\"a@example.com\", \"recipients\": [\"b@example.net\"], \"content\": "
                 "\"far too long\"}]}",
                 8, 413, "messages[1].content");
}

/* test_too_many_messages - more than INJECT_MAX_MESSAGES is 413 */
static void
test_too_many_messages(void **state)
{
    const char *one =
        "{\"envelope_sender\":\"\",\"recipients\":[\"b@example.net\"],\"content\":\"x\"},";
    size_t n1 = strlen(one), len = 0;
    char *text = malloc(32 + n1 * (INJECT_MAX_MESSAGES + 1));

    (void)state;
    assert_non_null(text);
    len += (size_t)sprintf(text, "{\"messages\":[");
    for (int i = 0; i < INJECT_MAX_MESSAGES + 1; i++, len += n1)
        memcpy(text + len, one, n1);
    strcpy(text + len - 1, "]}");
    expect_error(text, 0, 413, "messages");
    free(text);
}

/* test_dsn_valid - DSN options are parsed and kept */
static void
test_dsn_valid(void **state)
{
    struct inject_batch b;

    (void)state;
    parse_ok("{\"envelope_sender\": \"a@example.com\", \"recipients\": [\"b@example.net\", "
             "\"c@example.org\"], \"content\": \"x\", \"dsn\": {\"notify\": \"success, Failure\", "
             "\"ret\": \"hdrs\", \"envid\": \"QQ314159\", \"orcpt\": {\"c@example.org\": "
             "\"rfc822;C@Example.org\"}}}",
             0, &b);
    assert_int_equal(b.msgs[0].notify, INJECT_NOTIFY_SUCCESS | INJECT_NOTIFY_FAILURE);
    assert_int_equal(b.msgs[0].ret, INJECT_RET_HDRS);
    assert_string_equal(b.msgs[0].envid, "QQ314159");
    assert_non_null(b.msgs[0].orcpt);
    assert_null(b.msgs[0].orcpt[0]);
    assert_string_equal(b.msgs[0].orcpt[1], "rfc822;C@Example.org");
    inject_batch_free(&b);
    parse_ok("{\"envelope_sender\": \"a@example.com\", \"recipients\": [\"b@example.net\"], "
             "\"content\": \"x\", \"dsn\": {\"notify\": [\"DELAY\", \"FAILURE\"], \"ret\": "
             "\"FULL\"}}",
             0, &b);
    assert_int_equal(b.msgs[0].notify, INJECT_NOTIFY_DELAY | INJECT_NOTIFY_FAILURE);
    assert_int_equal(b.msgs[0].ret, INJECT_RET_FULL);
    inject_batch_free(&b);
    parse_ok("{\"envelope_sender\": \"a@example.com\", \"recipients\": [\"b@example.net\"], "
             "\"content\": \"x\", \"dsn\": {\"notify\": \"NEVER\"}}",
             0, &b);
    assert_int_equal(b.msgs[0].notify, INJECT_NOTIFY_NEVER);
    inject_batch_free(&b);
}

/* test_dsn_invalid - every DSN option with a bad value or type */
static void
test_dsn_invalid(void **state)
{
    static const struct {
        const char *dsn, *field;
    } cases[] = {
        {"[]", "messages[0].dsn"},
        {"{\"notify\": \"SOMETIMES\"}", "messages[0].dsn.notify"},
        {"{\"notify\": \"NEVER,DELAY\"}", "messages[0].dsn.notify"},
        {"{\"notify\": \"\"}", "messages[0].dsn.notify"},
        {"{\"notify\": \"SUCCESS,\"}", "messages[0].dsn.notify"},
        {"{\"notify\": []}", "messages[0].dsn.notify"},
        {"{\"notify\": [\"SUCCESS\", 3]}", "messages[0].dsn.notify[1]"},
        {"{\"notify\": 1}", "messages[0].dsn.notify"},
        {"{\"ret\": \"BODY\"}", "messages[0].dsn.ret"},
        {"{\"ret\": true}", "messages[0].dsn.ret"},
        {"{\"envid\": 12}", "messages[0].dsn.envid"},
        {"{\"envid\": \"\"}", "messages[0].dsn.envid"},
        {"{\"envid\": \"caf\\u00e9\"}", "messages[0].dsn.envid"},
        {"{\"envid\": \"a\\nb\"}", "messages[0].dsn.envid"},
        {"{\"orcpt\": \"rfc822;b@example.net\"}", "messages[0].dsn.orcpt"},
        {"{\"orcpt\": {\"x@example.net\": \"rfc822;x@example.net\"}}",
         "messages[0].dsn.orcpt[\"x@example.net\"]"},
        {"{\"orcpt\": {\"b@example.net\": 5}}", "messages[0].dsn.orcpt[\"b@example.net\"]"},
        {"{\"unknown\": 1}", "messages[0].dsn.unknown"},
    };
    char text[1024];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(text, sizeof(text),
                 "{\"messages\": [{\"envelope_sender\": \"a@example.com\", \"recipients\": "
                 "[\"b@example.net\"], \"content\": \"x\", \"dsn\": %s}]}",
                 cases[i].dsn);
        expect_error(text, 0, 400, cases[i].field);
    }
}

/* test_envid_too_long - ENVID over 100 characters */
static void
test_envid_too_long(void **state)
{
    char text[1024], envid[INJECT_ENVID_MAX + 2];

    (void)state;
    memset(envid, 'e', INJECT_ENVID_MAX + 1);
    envid[INJECT_ENVID_MAX + 1] = '\0';
    snprintf(text, sizeof(text),
             "{\"envelope_sender\": \"a@example.com\", \"recipients\": [\"b@example.net\"], "
             "\"content\": \"x\", \"dsn\": {\"envid\": \"%s\"}}",
             envid);
    expect_error(text, 0, 400, "dsn.envid");
    envid[INJECT_ENVID_MAX] = '\0';
    snprintf(text, sizeof(text),
             "{\"envelope_sender\": \"a@example.com\", \"recipients\": [\"b@example.net\"], "
             "\"content\": \"x\", \"dsn\": {\"envid\": \"%s\"}}",
             envid);
    struct inject_batch b;
    parse_ok(text, 0, &b);
    assert_int_equal(strlen(b.msgs[0].envid), INJECT_ENVID_MAX);
    inject_batch_free(&b);
}

/* test_screen_literals - recipients at a domain literal (without
 * allow_literals) or at an IDN that does not convert move to rejected with
 * a reason; their ORCPTs follow; a message left empty is dropped */
static void
test_screen_literals(void **state)
{
    struct inject_batch b;
    json_t *rej = json_array();
    (void)state;
    parse_ok("{\"messages\": ["
             "{\"envelope_sender\": \"a@example.com\", \"recipients\": [\"x@[192.0.2.1]\","
             " \"y@example.net\", \"z@\\u0301a.example\"], \"content\": \"S: 1\\r\\n\\r\\nb\","
             " \"dsn\": {\"orcpt\": {\"y@example.net\": \"rfc822;o@example.net\"}}},"
             "{\"envelope_sender\": \"a@example.com\", \"recipients\": [\"w@[IPv6:::1]\"],"
             " \"content\": \"S: 2\\r\\n\\r\\nb\"}]}",
             0, &b);
    assert_int_equal(inject_json_screen(&b, 0, rej), 3);
    assert_int_equal(b.n, 1);
    assert_int_equal(b.nrcpt, 1);
    assert_int_equal(b.msgs[0].nrcpt, 1);
    assert_string_equal(b.msgs[0].rcpts[0], "y@example.net");
    assert_string_equal(b.msgs[0].orcpt[0], "rfc822;o@example.net");
    assert_int_equal(json_array_size(rej), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(rej, 0), "recipient")),
                        "x@[192.0.2.1]");
    assert_string_equal(json_string_value(json_object_get(json_array_get(rej, 0), "reason")),
                        "domain literals are not accepted");
    assert_non_null(json_object_get(json_array_get(rej, 1), "reason"));
    inject_batch_free(&b);
    json_decref(rej);

    rej = json_array(); /* allowed: only the bad IDN goes */
    parse_ok("{\"envelope_sender\": \"\", \"recipients\": [\"x@[192.0.2.1]\"],"
             " \"content\": \"S: 1\\r\\n\\r\\nb\"}",
             0, &b);
    assert_int_equal(inject_json_screen(&b, 1, rej), 0);
    assert_int_equal(b.n, 1);
    inject_batch_free(&b);
    json_decref(rej);
}

/* big_text - a malloc'd text: head, then n copies of item (the last
 * without its final byte when trim), then tail */
static char *
big_text(const char *head, const char *item, size_t n, int trim, const char *tail)
{
    size_t hl = strlen(head), il = strlen(item), tl = strlen(tail);
    char *t = malloc(hl + il * n + tl + 1), *p = t;

    assert_non_null(t);
    memcpy(p, head, hl);
    p += hl;
    for (size_t i = 0; i < n; i++, p += il)
        memcpy(p, item, il);
    if (trim && n > 0)
        p--;
    memcpy(p, tail, tl + 1);
    return t;
}

/* test_prescan_array_cap - an array over INJECT_MAX_ARRAY is refused before
 * parsing, naming the array; at the cap it is left to the validator */
static void
test_prescan_array_cap(void **state)
{
    char *t;

    (void)state;
    t = big_text("{\"envelope_sender\": \"\", \"content\": \"x\", \"recipients\": [", "0,",
                 INJECT_MAX_ARRAY + 1, 1, "]}");
    expect_error(t, 0, 413, "recipients");
    free(t);
    t = big_text("{\"messages\": [{\"content\": \"[\\\"]\"}, {\"recipients\": [", "0,",
                 INJECT_MAX_ARRAY + 1, 1, "]}]}");
    expect_error(t, 0, 413, "messages[1].recipients");
    free(t);
    /* at the cap the usual validation names the first bad recipient */
    t = big_text("{\"envelope_sender\": \"\", \"content\": \"x\", \"recipients\": [", "0,",
                 INJECT_MAX_ARRAY, 1, "]}");
    expect_error(t, 0, 400, "recipients[0]");
    free(t);
}

/* test_prescan_value_cap - more than INJECT_MAX_VALUES values in all */
static void
test_prescan_value_cap(void **state)
{
    char *t;

    (void)state;
    /* 5000 arrays of 201 values: no array too long, too many values in all */
    t = big_text("{\"messages\": [",
                 "[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
                 "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
                 "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
                 "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
                 "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
                 "true],",
                 5000, 1, "]}");
    expect_error(t, 0, 413, "");
    free(t);
}

/* test_prescan_depth - nesting over INJECT_MAX_DEPTH is a 400, however deep;
 * brackets inside strings do not count */
static void
test_prescan_depth(void **state)
{
    char *t;
    struct inject_batch b;

    (void)state;
    t = big_text("", "[", INJECT_MAX_DEPTH + 1, 0, "");
    expect_error(t, 0, 400, "");
    free(t);
    t = big_text("", "{\"a\":", 100000, 0, "1");
    expect_error(t, 0, 400, "");
    free(t);
    t = big_text("{\"envelope_sender\": \"\", \"recipients\": [\"b@example.net\"], \"content\": \"",
                 "[{\\\"", 1000, 0, "\"}");
    parse_ok(t, 0, &b);
    assert_int_equal(b.msgs[0].content_len, 3000);
    inject_batch_free(&b);
    free(t);
}

/* test_invalid_utf8 - the error says the text is not UTF-8 */
static void
test_invalid_utf8(void **state)
{
    const char *text = "{\"envelope_sender\": \"\", \"recipients\": [\"b@example.net\"], "
                       "\"content\": \"caf\xe9\"}";
    struct inject_batch b;
    struct inject_error e;

    (void)state;
    expect_error(text, 0, 400, "");
    assert_int_equal(inject_json_parse(text, strlen(text), 0, &b, &e), -1);
    assert_non_null(strstr(e.error, "UTF-8"));
}

int
main(int argc, char **argv)
{
    // clang-format off
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_valid),
        cmocka_unit_test(test_batch_valid),
        cmocka_unit_test(test_null_sender),
        cmocka_unit_test(test_missing_fields),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_empty_values),
        cmocka_unit_test(test_invalid_address),
        cmocka_unit_test(test_address_too_long),
        cmocka_unit_test(test_unknown_field),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_length_not_terminated),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_too_many_messages),
        cmocka_unit_test(test_dsn_valid),
        cmocka_unit_test(test_dsn_invalid),
        cmocka_unit_test(test_envid_too_long),
        cmocka_unit_test(test_screen_literals),
        cmocka_unit_test(test_prescan_array_cap),
        cmocka_unit_test(test_prescan_value_cap),
        cmocka_unit_test(test_prescan_depth),
        cmocka_unit_test(test_invalid_utf8),
    };
    // clang-format on
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
