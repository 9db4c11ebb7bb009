/*
 * test_wire.c - the CRLF wire form written in one pass (api/wire.c): raw
 * octets fed in pieces give what api_normalize_body gives for the whole;
 * JSON strings are decoded as jansson decodes them, or refused.
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

#include <jansson.h>

#include "api/api.h"
#include "api/wire.h"

/* put_pieces - text through wire_put in pieces cut at a and b (a <= b
 * <= len) after head octets of room; compare with api_normalize_body */
static void
put_pieces(const char *text, size_t len, size_t a, size_t b, size_t head)
{
    struct wire w;
    size_t wantlen;
    char *want = api_normalize_body(NULL, text, len, &wantlen);

    assert_non_null(want);
    assert_int_equal(wire_open(&w, head, 0), 0);
    memset(w.buf, 'H', head);
    assert_int_equal(wire_put(&w, text, a), 0);
    assert_int_equal(wire_put(&w, text + a, b - a), 0);
    assert_int_equal(wire_put(&w, text + b, len - b), 0);
    assert_int_equal(wire_end(&w), 0);
    assert_int_equal(w.len - head, wantlen);
    assert_memory_equal(w.buf + head, want, wantlen);
    assert_int_equal(w.buf[w.len], '\0');
    for (size_t i = 0; i < head; i++)
        assert_int_equal(w.buf[i], 'H');
    wire_free(&w);
    free(want);
}

/* put_all_cuts - put_pieces for every pair of cut points */
static void
put_all_cuts(const char *text, size_t len)
{
    for (size_t a = 0; a <= len; a++)
        for (size_t b = a; b <= len; b++)
            put_pieces(text, len, a, b, a % 3 == 0 ? 0 : 17);
}

/* test_wire_line_ends - LF, CR, CRLF, CR CR LF, split anywhere, the
 * final line end, 8-bit octets and NULs as they are */
static void
test_wire_line_ends(void **state)
{
    static const char *texts[] = {
        "a\nb\n",
        "a\r\nb\r\n",
        "a\rb\r",
        "\r\r\n\n",
        "no newline",
        "x\r",
        "\n",
        "\r\n.\r\n",
        "\r",
        "",
        "abcdefghijklmnop\r\nqrstuvwxyz0123456789\n",
        "0123456\r\n7",
        "\xff\xfe\x80\r\n\xc3\xa9t\xc3\xa9\n",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        put_all_cuts(texts[i], strlen(texts[i]));
    put_all_cuts("a\0b\r\0\n\0", 7);
}

/* test_wire_large - a large text with long and short lines, in pieces of
 * every size from 1 to 40 octets */
static void
test_wire_large(void **state)
{
    size_t len = 70000, wantlen;
    char *text = malloc(len), *want;

    (void)state;
    assert_non_null(text);
    for (size_t i = 0; i < len; i++)
        text[i] = (char)(i % 97 == 0    ? '\n'
                         : i % 89 == 0  ? '\r'
                         : i % 251 == 0 ? '\0'
                                        : 'a' + i % 26);
    want = api_normalize_body(NULL, text, len, &wantlen);
    for (size_t piece = 1; piece <= 40; piece++) {
        struct wire w;
        assert_int_equal(wire_open(&w, 5, piece), 0);
        for (size_t o = 0; o < len; o += piece)
            assert_int_equal(wire_put(&w, text + o, o + piece <= len ? piece : len - o), 0);
        assert_int_equal(wire_end(&w), 0);
        assert_int_equal(w.len - 5, wantlen);
        assert_memory_equal(w.buf + 5, want, wantlen);
        wire_free(&w);
    }
    free(want);
    free(text);
}

/* json_same - the JSON string s (its text, without quotes, then the
 * closing quote and more) decoded by wire_json as jansson decodes it, in
 * both modes, with *declen jansson's length */
static void
json_same(const char *s)
{
    char *doc = malloc(strlen(s) + 8);
    json_error_t jerr;
    json_t *j;
    struct wire w;
    size_t declen = 0, end = strchr(s, '\0') - s, wantlen;
    long got;
    char *want;

    assert_non_null(doc);
    sprintf(doc, "\"%s\"", s);
    j = json_loads(doc, JSON_DECODE_ANY, &jerr);
    if (j == NULL)
        fail_msg("jansson refuses %s: %s", doc, jerr.text);
    strcat(doc + 1, "xyz"); /* what follows the closing quote is not read */
    assert_int_equal(wire_open(&w, 3, 0), 0);
    got = wire_json(&w, doc + 1, strlen(doc + 1), 0, &declen);
    assert_int_equal(got, (long)end);
    assert_int_equal(declen, json_string_length(j));
    assert_int_equal(w.len - 3, declen);
    assert_memory_equal(w.buf + 3, json_string_value(j), declen);
    assert_int_equal(w.buf[w.len], '\0');
    wire_free(&w);
    /* CRLF mode: api_normalize_body of what jansson decoded */
    want = api_normalize_body(NULL, json_string_value(j), json_string_length(j), &wantlen);
    assert_int_equal(wire_open(&w, 0, 0), 0);
    got = wire_json(&w, doc + 1, strlen(doc + 1), 1, &declen);
    assert_int_equal(got, (long)end);
    assert_int_equal(declen, json_string_length(j));
    assert_int_equal(wire_end(&w), 0);
    assert_int_equal(w.len, wantlen);
    assert_memory_equal(w.buf, want, wantlen);
    wire_free(&w);
    free(want);
    json_decref(j);
    free(doc);
}

/* test_wire_json_decode - escapes of every kind, 8-bit text, long runs */
static void
test_wire_json_decode(void **state)
{
    static const char *strs[] = {
        "",
        "plain",
        "Subject: x\\r\\n\\r\\nbody\\n",
        "a\\nb\\rc\\r\\nd\\n\\re",
        "q\\\"uote\\\\ back\\/slash \\b\\f\\t",
        "\\u0041\\u00e9\\u20AC\\ud83d\\ude00 \\u000d\\u000a\\u000D",
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf \xed\x9f\xbf",
        "\\\\\\\\\\\" still inside",
        "0123456789abcdef0123456789abcdef\\n0123456789abcdef0123456789\\r",
        "\x7f del is fine",
        "ends with a backslash pair \\\\",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        json_same(strs[i]);
}

/* json_refused - wire_json leaves s to jansson, and jansson refuses it */
static void
json_refused(const char *s, size_t len)
{
    char doc[256];
    json_error_t jerr;
    json_t *j;
    struct wire w;
    size_t declen;

    assert_true(len + 2 < sizeof(doc));
    doc[0] = '"';
    memcpy(doc + 1, s, len);
    doc[len + 1] = '"';
    j = json_loadb(doc, len + 2, JSON_DECODE_ANY, &jerr);
    assert_null(j);
    assert_int_equal(wire_open(&w, 0, 0), 0);
    assert_int_equal(wire_json(&w, doc + 1, len + 1, 1, &declen), -1);
    wire_free(&w);
}

/* test_wire_json_refuses - what jansson refuses is never taken */
static void
test_wire_json_refuses(void **state)
{
    static const char *bad[] = {
        "tab\tinside",
        "nl\ninside",
        "bad \\x escape",
        "\\u12",
        "\\u12G4",
        "\\ud800 lone high",
        "\\udc00 lone low",
        "\\ud800\\u0041",
        "\xc3 cut",
        "\xc0\xaf overlong",
        "\xe0\x80\xaf overlong",
        "\xed\xa0\x80 surrogate",
        "\xf4\x90\x80\x80 big",
        "\xf8\x88\x80\x80\x80",
        "\x80 continuation",
        "\xff",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        json_refused(bad[i], strlen(bad[i]));
    json_refused("nul \0 inside", 12);
    json_refused("a\\u0000b", 8); /* without JSON_ALLOW_NUL */
}

/* test_wire_json_unterminated - no closing quote: not taken */
static void
test_wire_json_unterminated(void **state)
{
    struct wire w;
    size_t declen;

    (void)state;
    assert_int_equal(wire_open(&w, 0, 0), 0);
    assert_int_equal(wire_json(&w, "abc", 3, 1, &declen), -1);
    assert_int_equal(wire_json(&w, "abc\\\"", 5, 1, &declen), -1);
    assert_int_equal(wire_json(&w, "abc\\\\\"", 6, 1, &declen), 5);
    wire_free(&w);
}

/* test_wire_utf8_len - well-formed sequences only (RFC 3629) */
static void
test_wire_utf8_len(void **state)
{
    (void)state;
    assert_int_equal(wire_utf8_len((const unsigned char *)"a", 1), 1);
    assert_int_equal(wire_utf8_len((const unsigned char *)"\xc3\xa9", 2), 2);
    assert_int_equal(wire_utf8_len((const unsigned char *)"\xc3\xa9", 1), 0);
    assert_int_equal(wire_utf8_len((const unsigned char *)"\xe2\x82\xac", 3), 3);
    assert_int_equal(wire_utf8_len((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
    assert_int_equal(wire_utf8_len((const unsigned char *)"\xc1\xbf", 2), 0);
    assert_int_equal(wire_utf8_len((const unsigned char *)"\xed\xbf\xbf", 3), 0);
    assert_int_equal(wire_utf8_len((const unsigned char *)"\xf0\x8f\xbf\xbf", 4), 0);
    assert_int_equal(wire_utf8_len((const unsigned char *)"\xf4\x90\x80\x80", 4), 0);
    assert_int_equal(wire_utf8_len((const unsigned char *)"\xe2\x28\xac", 3), 0);
}

int
main(int argc, char **argv)
{
    // clang-format off
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wire_line_ends),
        cmocka_unit_test(test_wire_large),
        cmocka_unit_test(test_wire_json_decode),
        cmocka_unit_test(test_wire_json_refuses),
        cmocka_unit_test(test_wire_json_unterminated),
        cmocka_unit_test(test_wire_utf8_len),
    };
    // clang-format on
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
