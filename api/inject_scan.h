/*
 * inject_scan.h - the one pass over the raw text of an inject request body
 *                 that comes before any JSON tree is built (inject_json.c
 *                 calls it):
 *
 *   - the bounds of inject_json.h (arrays, values in all, depth), so a
 *     body cannot make the tree cost many times its own size;
 *   - optionally, lifting: each string that sits where a message's
 *     "content" does (the single form's top-level "content", or
 *     "messages"[i]."content") is decoded there and then, with wire.c,
 *     into a buffer of its own (CRLF wire form, or as it is), and the rest
 *     of the text is copied into a skeleton where that string is replaced
 *     by its ordinal ("0", "1", ...). jansson then parses only the
 *     skeleton, which is small: it never sees the message text.
 *
 * Lifting is a fast path, not a second validator. A string it does not
 * take (anything wire_json() leaves to jansson) ends it with 1, and the
 * caller parses the original text the ordinary way, which gives the
 * exact error jansson would. Keys are matched as written: a key spelt
 * with escapes is not lifted, and inject_json.c notices the missing
 * ordinal and takes the ordinary way too.
 *
 * Pure; any thread.
 */
#ifndef SPATE_API_INJECT_SCAN_H
#define SPATE_API_INJECT_SCAN_H

#include <stddef.h>

#include "api/inject_json.h"

/* One lifted "content" string. */
struct inject_lifted {
    char *buf;     /* malloc'd: head octets of room, the text, a NUL */
    size_t len;    /* octets of text after the head room */
    size_t declen; /* the string's length once unescaped (before CRLF) */
};

/* Lifting: what the caller asks for, and what comes back. */
struct inject_lift {
    int crlf;    /* decode to CRLF wire form (else unescape only) */
    size_t head; /* room in front of each decoded text */
    struct inject_lifted *v;
    size_t n, cap;
    char *skel; /* the skeleton text (not NUL-terminated) */
    size_t skel_len, skel_cap;
    size_t copied; /* body octets up to here are in the skeleton */
};

/* inject_prescan - enforce the bounds on body; with lf (zeroed but for
 * crlf and head), lift as above. 0; -1 with err filled (a bound); 1 when
 * lifting gave up, out of memory included (err untouched): parse the text
 * without it. Whatever it returns, free lf with inject_lift_free. */
int inject_prescan(const char *body, size_t len, struct inject_lift *lf, struct inject_error *err);

/* inject_lift_free - release what lifting left (buffers not taken) */
void inject_lift_free(struct inject_lift *lf);

#endif
