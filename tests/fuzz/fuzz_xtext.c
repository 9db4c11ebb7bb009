/*
 * fuzz_xtext.c - libFuzzer target for RFC 3461 xtext: any octets are
 *                checked (smtp_xtext_valid) and decoded (smtp_xtext_decode)
 *                into buffers of every small size and the largest; a
 *                successful decode must be NUL-terminated within the buffer
 *                and encode (smtp_xtext_encode) back to an xtext that is
 *                valid and decodes to the same octets. Any text encodes to
 *                valid xtext that decodes to itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/smtp_parse.h"

#define BIG 2048

/* roundtrip - text (no NUL) encodes to valid xtext that decodes to it */
static void
roundtrip(const char *text, size_t n)
{
    char *x = smtp_xtext_encode(text), back[BIG * 3 + 1];
    int len;

    if (x == NULL)
        abort();
    if (!smtp_xtext_valid(x, strlen(x)))
        abort();
    len = smtp_xtext_decode(x, back, sizeof(back));
    if (len < 0 || (size_t)len != n || memcmp(back, text, n) != 0)
        abort();
    free(x);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s, out[BIG + 1];
    size_t n;

    if (size > BIG)
        return 0;
    s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    n = strlen(s); /* decode and encode take C strings */
    (void)smtp_xtext_valid(s, n);
    for (size_t cap = 1; cap < 8; cap++) {
        int len = smtp_xtext_decode(s, out, cap);
        if (len >= 0 && ((size_t)len >= cap || out[len] != '\0'))
            abort();
    }
    if (smtp_xtext_valid(s, n) && smtp_xtext_decode(s, out, sizeof(out)) >= 0 &&
        memchr(out, '\0', strlen(out)) == NULL)
        roundtrip(out, strlen(out));
    roundtrip(s, n);
    free(s);
    return 0;
}
