/*
 * wire.h - a message body written in its CRLF wire form as it is decoded,
 *          in one pass: from raw octets (an HTTP message/rfc822 upload,
 *          fed piece by piece) or from the JSON string of an inject
 *          request's "content".
 *
 * The line-end rules are api_normalize_body()'s: LF and bare CR become
 * CRLF, CRLF stays, and wire_end() adds a CRLF after a last line without
 * one. A CR at the end of one piece and an LF at the start of the next are
 * one line end.
 *
 * The buffer keeps `head` octets free in front of the text (for the
 * Received: header the receiver prepends) and a NUL after it; it is
 * malloc'd, so it can become struct spool_submission.body as it is.
 *
 * Pure; any thread, one struct wire per thread at a time.
 */
#ifndef SPATE_API_WIRE_H
#define SPATE_API_WIRE_H

#include <stddef.h>

struct wire {
    char *buf;   /* malloc'd; NULL once taken */
    size_t len;  /* octets written, head room included */
    size_t cap;  /* octets allocated */
    size_t head; /* octets of room in front of the text */
    int cr;      /* the last decoded octet was a CR, already written as CRLF */
};

/* wire_open - head octets of room, then space for about hint octets of
 * text (it grows as needed); 0, or -1 when out of memory */
int wire_open(struct wire *w, size_t head, size_t hint);

/* wire_put - add n raw octets (any value, NUL included) with their line
 * ends made CRLF; 0, or -1 when out of memory */
int wire_put(struct wire *w, const char *p, size_t n);

/* wire_end - finish the text: a CRLF after a last line without one (not
 * after an empty text), then a NUL (not counted in len); 0 or -1 */
int wire_end(struct wire *w);

/* wire_json - decode the JSON string whose text starts at s (just after
 * its opening quote; n octets available) and append it: line ends made
 * CRLF when crlf, as they are otherwise (then NUL-terminated). Returns the
 * offset of the closing quote in s, with *declen the string's length once
 * unescaped (what jansson's json_string_length reports), or -1 when the
 * string is not one this decoder takes: unterminated, a control character,
 * an invalid escape, \u0000, a lone surrogate, invalid UTF-8, or out of
 * memory. It never takes a string jansson refuses (RFC 8259, UTF-8 as
 * jansson 2.14 checks it). */
long wire_json(struct wire *w, const char *s, size_t n, int crlf, size_t *declen);

/* wire_free - release the buffer (if not taken) */
void wire_free(struct wire *w);

/* wire_utf8_len - length (1-4) of the well-formed UTF-8 sequence at p, n
 * octets available; 0 when there is none (overlong forms, surrogates and
 * code points over U+10FFFF are not well-formed) */
size_t wire_utf8_len(const unsigned char *p, size_t n);

#endif
