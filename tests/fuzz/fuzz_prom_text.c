/*
 * fuzz_prom_text.c - libFuzzer target for what "spatectl top" reads from the
 *                    daemon (cmd/spatectl_topdata.c, cmd/spatectl_toptext.c):
 *                    the Prometheus text of /metrics, and the texts of the
 *                    errors and destinations it puts on a terminal.
 *
 * The input is split at its first NUL: the part before is metrics text,
 * the part after an error text. Whatever it is: the reader either counts
 * samples or names a line; every sample's name and labels lie inside the
 * input; the scrubbed text holds no control character and no byte of an
 * invalid UTF-8 sequence; the rendered frame written to a memory stream
 * holds no ESC.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/spatectl_top.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct bounds {
    const char *lo, *hi;
};

/* on_sample - each sample must point into the input */
static void
on_sample(void *arg, const char *name, size_t nlen, const char *labels, size_t llen, double v)
{
    const struct bounds *b = arg;
    (void)v;
    if (nlen == 0 || name < b->lo || name + nlen > b->hi)
        __builtin_trap();
    if (llen > 0 && (labels < b->lo || labels + llen > b->hi))
        __builtin_trap();
}

/* check_scrub - the scrubbed text is safe for a terminal */
static void
check_scrub(const char *text)
{
    char out[512];
    size_t n = top_scrub(text, out, sizeof(out), 80);
    if (strlen(out) >= sizeof(out) || n > 80)
        __builtin_trap();
    for (const unsigned char *p = (const unsigned char *)out; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            __builtin_trap();
}

/* check_render - a frame with the error text renders without ESC */
static void
check_render(const struct top_sample *s, const char *err)
{
    struct top_sample cur = *s;
    char *buf = NULL;
    size_t len = 0;
    cur.dests = json_pack("[{s:s, s:i}]", "destination", err, "ready", 1);
    cur.errors = json_pack("[{s:s}]", "line", err);
    json_t *frame = top_frame(NULL, &cur, 5);
    FILE *f = open_memstream(&buf, &len);
    if (frame != NULL && f != NULL)
        top_render(f, frame, 24, 80);
    if (f != NULL)
        fclose(f);
    if (buf != NULL && memchr(buf, 0x1b, len) != NULL)
        __builtin_trap();
    free(buf);
    json_decref(frame);
    json_decref(cur.dests);
    json_decref(cur.errors);
}

/* LLVMFuzzerTestOneInput - read, scrub and render one input */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data, *nul = memchr(data, 0, size);
    size_t tlen = nul ? (size_t)(nul - text) : size;
    struct bounds b = {text, text + tlen};
    struct top_sample s = {0};
    char *err = strndup(nul ? nul + 1 : "", nul ? size - tlen - 1 : 0);
    if (err == NULL)
        return 0;
    (void)top_prom_each(text, tlen, on_sample, &b);
    (void)top_prom_fill(text, tlen, &s);
    check_scrub(err);
    json_t *valid = json_string(err); /* jansson takes valid UTF-8 only */
    if (valid != NULL)
        check_render(&s, err);
    json_decref(valid);
    free(err);
    return 0;
}
