/*
 * fuzz_wire.c - libFuzzer target for the one-pass wire form (api/wire.c).
 *
 * The first octet picks two cut points; the rest is the text. Raw octets
 * fed to wire_put in three pieces must give exactly api_normalize_body of
 * the whole. The same octets taken as the inside of a JSON string: when
 * wire_json takes them, jansson must take them too and decode them to the
 * same octets (as they are, and in wire form), up to the same quote.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* raw_pieces - wire_put in three pieces against api_normalize_body */
static void
raw_pieces(const char *t, size_t n, size_t a, size_t b)
{
    struct wire w;
    size_t wl;
    char *want = api_normalize_body(NULL, t, n, &wl);

    if (want == NULL || wire_open(&w, 3, a) < 0)
        __builtin_trap();
    if (wire_put(&w, t, a) < 0 || wire_put(&w, t + a, b - a) < 0 ||
        wire_put(&w, t + b, n - b) < 0 || wire_end(&w) < 0)
        __builtin_trap();
    if (w.len - 3 != wl || memcmp(w.buf + 3, want, wl) != 0 || w.buf[w.len] != '\0')
        __builtin_trap();
    wire_free(&w);
    free(want);
}

/* json_inside - t as a JSON string's inside: wire_json against jansson */
static void
json_inside(const char *t, size_t n, int crlf)
{
    struct wire w;
    size_t declen, wl;
    long end;
    char *doc;
    json_t *j;
    json_error_t jerr;

    if (wire_open(&w, 2, 0) < 0)
        __builtin_trap();
    end = wire_json(&w, t, n, crlf, &declen);
    if (end < 0) {
        wire_free(&w);
        return;
    }
    if ((size_t)end >= n || t[end] != '"' || (doc = malloc((size_t)end + 2)) == NULL)
        __builtin_trap();
    doc[0] = '"';
    memcpy(doc + 1, t, (size_t)end + 1);
    j = json_loadb(doc, (size_t)end + 2, JSON_DECODE_ANY, &jerr);
    if (j == NULL || !json_is_string(j) || json_string_length(j) != declen)
        __builtin_trap();
    if (!crlf && (w.len - 2 != declen || memcmp(w.buf + 2, json_string_value(j), declen) != 0))
        __builtin_trap();
    if (crlf) {
        char *want = api_normalize_body(NULL, json_string_value(j), declen, &wl);
        if (want == NULL || wire_end(&w) < 0 || w.len - 2 != wl || memcmp(w.buf + 2, want, wl))
            __builtin_trap();
        free(want);
    }
    json_decref(j);
    free(doc);
    wire_free(&w);
}

/* LLVMFuzzerTestOneInput - one text, both ways */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *t = (const char *)data + 1;
    size_t n, a, b;

    if (size == 0)
        return 0;
    n = size - 1;
    a = n > 0 ? (data[0] & 15) % (n + 1) : 0;
    b = a + (n > a ? (size_t)(data[0] >> 4) % (n - a + 1) : 0);
    raw_pieces(t, n, a, b);
    json_inside(t, n, data[0] & 1);
    return 0;
}
