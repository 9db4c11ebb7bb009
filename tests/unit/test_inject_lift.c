/*
 * test_inject_lift.c - the fast way through an inject request body
 * (api/inject_scan.c: "content" strings lifted out of the text and decoded
 * once; jansson parses the rest) against the ordinary way (jansson parses
 * everything): the same messages, or the same error, status, field and
 * text; which bodies the fast way takes; the wire form it writes.
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

#include "api/api.h"
#include "api/inject_json.h"

#define HEAD 7

/* same_msg - two parsed messages hold the same envelope, DSN and content */
static void
same_msg(const struct inject_msg *a, const struct inject_msg *b)
{
    assert_string_equal(a->sender, b->sender);
    assert_int_equal(a->nrcpt, b->nrcpt);
    for (size_t k = 0; k < a->nrcpt; k++) {
        assert_string_equal(a->rcpts[k], b->rcpts[k]);
        assert_true((a->orcpt == NULL) == (b->orcpt == NULL));
        if (a->orcpt != NULL && (a->orcpt[k] != NULL || b->orcpt[k] != NULL))
            assert_string_equal(a->orcpt[k], b->orcpt[k]);
    }
    assert_int_equal(a->content_len, b->content_len);
    assert_memory_equal(a->content, b->content, a->content_len);
    assert_int_equal(a->notify, b->notify);
    assert_int_equal(a->ret, b->ret);
    assert_true((a->envid == NULL) == (b->envid == NULL));
    if (a->envid != NULL)
        assert_string_equal(a->envid, b->envid);
}

/* same_both - the default parse (fast way first) and the ordinary way
 * alone agree on body: the same messages or the same error; and the wire
 * form of each content is api_normalize_body's. Returns the outcome. */
static int
same_both(const char *body, size_t len, uint64_t limit)
{
    struct inject_batch t, d, w;
    struct inject_error te, de, we;
    int rt = inject_json_parse_opts(body, len, limit, INJECT_PARSE_TREE, 0, &t, &te);
    int rd = inject_json_parse_opts(body, len, limit, 0, 0, &d, &de);
    int rw = inject_json_parse_opts(body, len, limit, INJECT_PARSE_WIRE, HEAD, &w, &we);

    assert_int_equal(rt, rd);
    assert_int_equal(rt, rw);
    if (rt < 0) {
        assert_int_equal(te.status, de.status);
        assert_string_equal(te.field, de.field);
        assert_string_equal(te.error, de.error);
        assert_int_equal(te.status, we.status);
        assert_string_equal(te.field, we.field);
        assert_string_equal(te.error, we.error);
        return -1;
    }
    assert_int_equal(t.n, d.n);
    assert_int_equal(t.nrcpt, d.nrcpt);
    assert_int_equal(t.n, w.n);
    for (size_t i = 0; i < t.n; i++) {
        size_t nl;
        char *norm;
        same_msg(&t.msgs[i], &d.msgs[i]);
        assert_null(w.msgs[i].content);
        assert_int_equal(w.msgs[i].content_len, t.msgs[i].content_len);
        norm = api_normalize_body(NULL, t.msgs[i].content, t.msgs[i].content_len, &nl);
        assert_int_equal(w.msgs[i].buf_len, nl);
        assert_memory_equal(w.msgs[i].buf + HEAD, norm, nl);
        assert_int_equal(w.msgs[i].buf[HEAD + nl], '\0');
        free(norm);
    }
    inject_batch_free(&t);
    inject_batch_free(&d);
    inject_batch_free(&w);
    return 0;
}

/* taken - the fast way alone accepts body */
static void
taken(const char *body)
{
    struct inject_batch b;
    struct inject_error e;

    if (inject_json_parse_opts(body, strlen(body), 0, INJECT_PARSE_LIFTED, 0, &b, &e) != 0)
        fail_msg("not taken: %d %s (field %s)", e.status, e.error, e.field);
    inject_batch_free(&b);
    assert_int_equal(same_both(body, strlen(body), 0), 0);
}

/* not_taken - the fast way alone gives up on body (status 0), and the
 * default parse gives the ordinary way's outcome, which is returned */
static int
not_taken(const char *body, size_t len)
{
    struct inject_batch b;
    struct inject_error e;

    assert_int_equal(inject_json_parse_opts(body, len, 0, INJECT_PARSE_LIFTED, 0, &b, &e), -1);
    assert_int_equal(e.status, 0);
    assert_null(b.msgs);
    return same_both(body, len, 0);
}

/* test_lift_single - the single form, keys in any order, escapes of all
 * kinds, 8-bit text */
static void
test_lift_single(void **state)
{
    (void)state;
    taken("{\"envelope_sender\": \"a@example.com\", \"recipients\": [\"b@example.net\"], "
          "\"content\": \"Subject: x\\n\\nhello\\n\"}");
    taken("{\"content\": \"Subject: caf\xc3\xa9\\r\\n\\r\\n\\u00e9\\ud83d\\ude00 \\\"q\\\" "
          "\\\\ \\/ \\t\\b\\f\\rbare cr\\n\", \"recipients\": [\"b@example.net\"], "
          "\"envelope_sender\": \"\"}");
    taken("{\"envelope_sender\":\"\",\"recipients\":[\"b@example.net\"],\"content\":\"no end\"}");
    taken("{\"envelope_sender\": \"\", \"recipients\": [\"b@example.net\", \"c@example.org\"], "
          "\"content\": \"x\", \"dsn\": {\"notify\": \"SUCCESS\", \"envid\": \"E1\", "
          "\"orcpt\": {\"c@example.org\": \"rfc822;c@example.org\"}}}");
}

/* test_lift_batch - each message's content lifted in order */
static void
test_lift_batch(void **state)
{
    (void)state;
    taken("{\"messages\": [{\"envelope_sender\": \"a@example.com\", \"recipients\": "
          "[\"b@example.net\"], \"content\": \"one\\n\"}, {\"content\": \"two\\r\\nlines\", "
          "\"recipients\": [\"c@example.org\"], \"envelope_sender\": \"\"}, "
          "{\"envelope_sender\": \"\", \"recipients\": [\"d@example.org\"], \"content\": "
          "\"three \\\"quoted\\\" \\\\\"}]}");
}

/* test_lift_gives_up - strings the fast way leaves to jansson: the
 * ordinary way's error (position, UTF-8 wording) comes back */
static void
test_lift_gives_up(void **state)
{
    static const char *bodies[] = {
        "{\"envelope_sender\": \"\", \"recipients\": [\"b@example.net\"], \"content\": "
        "\"a\\u0000b\"}",
        "{\"envelope_sender\": \"\", \"recipients\": [\"b@example.net\"], \"content\": "
        "\"caf\xe9\"}",
        "{\"envelope_sender\": \"\", \"recipients\": [\"b@example.net\"], \"content\": \"a\tb\"}",
        "{\"envelope_sender\": \"\", \"recipients\": [\"b@example.net\"], \"content\": \"\\x\"}",
        "{\"envelope_sender\": \"\", \"recipients\": [\"b@example.net\"], \"content\": "
        "\"\\ud800\"}",
        "{\"envelope_sender\": \"\", \"recipients\": [\"b@example.net\"], \"content\": \"open",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
        assert_int_equal(not_taken(bodies[i], strlen(bodies[i])), -1);
}

/* test_lift_escaped_key - a "content" key spelt with an escape is not
 * lifted; the request is still valid, and a placeholder-like text in it
 * is taken for what it is */
static void
test_lift_escaped_key(void **state)
{
    const char *single = "{\"envelope_sender\": \"\", \"recipients\": [\"b@example.net\"], "
                         "\"cont\\u0065nt\": \"0\"}";
    const char *spoof =
        "{\"messages\": [{\"envelope_sender\": \"\", \"recipients\": [\"b@example.net\"], "
        "\"content\": \"first\"}, {\"envelope_sender\": \"\", \"recipients\": "
        "[\"c@example.net\"], \"cont\\u0065nt\": \"1\"}, {\"envelope_sender\": \"\", "
        "\"recipients\": [\"d@example.net\"], \"content\": \"third\"}]}";
    struct inject_batch b;
    struct inject_error e;

    (void)state;
    assert_int_equal(not_taken(single, strlen(single)), 0);
    assert_int_equal(not_taken(spoof, strlen(spoof)), 0);
    assert_int_equal(inject_json_parse(spoof, strlen(spoof), 0, &b, &e), 0);
    assert_string_equal(b.msgs[1].content, "1");
    assert_string_equal(b.msgs[2].content, "third");
    inject_batch_free(&b);
}

/* test_lift_same_errors - bad requests: the same error either way */
static void
test_lift_same_errors(void **state)
{
    static const char *bodies[] = {
        /* content of the wrong type, empty, missing */
        "{\"envelope_sender\": \"\", \"recipients\": [\"b@example.net\"], \"content\": 5}",
        "{\"envelope_sender\": \"\", \"recipients\": [\"b@example.net\"], \"content\": \"\"}",
        "{\"envelope_sender\": \"\", \"recipients\": [\"b@example.net\"]}",
        /* a top-level content in the batch form is an unknown field */
        "{\"messages\": [{\"envelope_sender\": \"\", \"recipients\": [\"b@example.net\"], "
        "\"content\": \"x\"}], \"content\": \"y\"}",
        /* two contents: a duplicate key */
        "{\"envelope_sender\": \"\", \"recipients\": [\"b@example.net\"], \"content\": \"x\", "
        "\"content\": \"y\"}",
        /* a syntax error after a long content: the column is the original's */
        "{\"envelope_sender\": \"\", \"recipients\": [\"b@example.net\"], \"content\": "
        "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\" ,, }",
        "{\"envelope_sender\": \"\", \"recipients\": [\"b@example.net\"], \"content\": \"x\" "
        "\"dsn\": {}}",
        /* a bad recipient after the content; a content nested too deep */
        "{\"content\": \"x\", \"envelope_sender\": \"\", \"recipients\": [\"bad\"]}",
        "{\"messages\": [[{\"envelope_sender\": \"\", \"recipients\": [\"b@example.net\"], "
        "\"content\": \"x\"}]]}",
        "{\"envelope_sender\": \"\", \"recipients\": [\"b@example.net\"], \"content\": \"x\", "
        "\"dsn\": {\"content\": \"y\"}}",
        "[\"content\", \"x\"]",
        "{\"content\": \"x\"",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
        assert_int_equal(same_both(bodies[i], strlen(bodies[i]), 0), -1);
}

/* test_lift_size_limit - the limit applies to the unescaped length, before
 * line ends are made CRLF */
static void
test_lift_size_limit(void **state)
{
    const char *body = "{\"envelope_sender\": \"\", \"recipients\": [\"b@example.net\"], "
                       "\"content\": \"a\\nb\\u00e9\\n\"}"; /* 6 octets unescaped */
    struct inject_batch b;
    struct inject_error e;

    (void)state;
    assert_int_equal(same_both(body, strlen(body), 5), -1);
    assert_int_equal(inject_json_parse_opts(body, strlen(body), 5, 0, 0, &b, &e), -1);
    assert_int_equal(e.status, 413);
    assert_string_equal(e.field, "content");
    assert_int_equal(same_both(body, strlen(body), 6), 0);
    assert_int_equal(inject_json_parse_opts(body, strlen(body), 6, INJECT_PARSE_WIRE, 0, &b, &e),
                     0);
    assert_int_equal(b.msgs[0].content_len, 6);
    assert_int_equal(b.msgs[0].buf_len, 8);
    assert_memory_equal(b.msgs[0].buf, "a\r\nb\xc3\xa9\r\n", 8);
    inject_batch_free(&b);
}

/* test_lift_bounds - the pre-scan's bounds hold on the fast way */
static void
test_lift_bounds(void **state)
{
    size_t n = INJECT_MAX_ARRAY + 1, len = 0;
    char *t = malloc(200 + 2 * n);

    (void)state;
    assert_non_null(t);
    len =
        (size_t)sprintf(t, "{\"envelope_sender\": \"\", \"content\": \"x\\n\", \"recipients\": [");
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(t + len, "%s0", i ? "," : "");
    strcpy(t + len, "]}");
    assert_int_equal(same_both(t, strlen(t), 0), -1);
    free(t);
}

/* test_lift_large - a 1 MB content of 78-octet lines */
static void
test_lift_large(void **state)
{
    size_t lines = 13000, len = 0;
    char *t = malloc(200 + lines * 82);

    (void)state;
    assert_non_null(t);
    len = (size_t)sprintf(t, "{\"envelope_sender\": \"\", \"recipients\": [\"b@example.net\"], "
                             "\"content\": \"Subject: big\\r\\n\\r\\n");
    for (size_t i = 0; i < lines; i++)
        len += (size_t)sprintf(t + len, "%076zu%s", i, i % 2 ? "\\r\\n" : "\\n");
    strcpy(t + len, "\"}");
    taken(t);
    free(t);
}

int
main(int argc, char **argv)
{
    // clang-format off
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lift_single),
        cmocka_unit_test(test_lift_batch),
        cmocka_unit_test(test_lift_gives_up),
        cmocka_unit_test(test_lift_escaped_key),
        cmocka_unit_test(test_lift_same_errors),
        cmocka_unit_test(test_lift_size_limit),
        cmocka_unit_test(test_lift_bounds),
        cmocka_unit_test(test_lift_large),
    };
    // clang-format on
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
