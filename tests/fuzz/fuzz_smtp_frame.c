/*
 * fuzz_smtp_frame.c - libFuzzer target for the SMTP server framing
 *                     (api/smtp_frame.c): any octets as a client's byte
 *                     stream, read as commands until a line "DATA", then as
 *                     message text until the final dot, and so on, as
 *                     smtp_in.c reads them. Checked:
 *   - the framer never reads outside the bytes offered (every call gets an
 *     exactly sized copy, so ASan sees an over-read) and never consumes
 *     more than it was given;
 *   - a command line is at most 510 octets and holds no CR or LF;
 *   - DATA ends only at <CR><LF>.<CR><LF> of the input (the CRLF before the
 *     dot may be the one that ended the DATA command): no smuggling form;
 *   - a message reported without bare CR/LF is CRLF lines only;
 *   - the events are the same whether the input comes whole, one octet at
 *     a time, or in pieces of a size taken from the first octet;
 *   - offered WINDOW octets (a session's buffer can be full) the framer
 *     always makes progress, so a session never stalls.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/smtp_frame.h"
#include "api/smtp_parse.h"

#define WINDOW 2048 /* most octets offered at once (over SMTP_LINE_MAX_EXT) */

struct run {
    uint64_t hash;  /* FNV-1a over the events and the message text */
    size_t nevents; /* events other than NONE and TEXT */
};

/* mix - add octets to the run's hash */
static void
mix(struct run *r, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        r->hash = (r->hash ^ c[i]) * 1099511628211ull;
}

/* step - one call of the framer over data[off, fed), on an exact copy */
static size_t
step(int data_mode, struct smtp_frame *f, const uint8_t *in, size_t n, struct smtp_frame_out *o,
     char **copy)
{
    size_t used;

    *copy = malloc(n ? n : 1);
    if (*copy == NULL)
        abort();
    memcpy(*copy, in, n);
    used = data_mode ? smtp_frame_data(f, *copy, n, o) : smtp_frame_cmd(f, *copy, n, o);
    if (used > n || (o->kind != SMTP_FRAME_NONE && used == 0))
        abort();
    if (o->len > used || (o->len > 0 && o->data < *copy))
        abort();
    return used;
}

/* check_clean - a message without bare CR/LF: every CR before LF, LF after CR */
static void
check_clean(const char *msg, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (msg[i] == '\r' && (i + 1 == n || msg[i + 1] != '\n'))
            abort();
        if (msg[i] == '\n' && (i == 0 || msg[i - 1] != '\r'))
            abort();
    }
    if (n > 0 && msg[n - 1] != '\n')
        abort();
}

/* on_event - act on one event; returns the new mode (1 = DATA) */
static int
on_event(struct run *r, int data_mode, struct smtp_frame *f, const struct smtp_frame_out *o,
         const uint8_t *all, size_t at, char **msg, size_t *mlen)
{
    unsigned char k = (unsigned char)o->kind;

    if (o->kind == SMTP_FRAME_NONE)
        return data_mode;
    if (o->kind != SMTP_FRAME_TEXT) {
        r->nevents++;
        mix(r, &k, 1);
    }
    if (o->kind == SMTP_FRAME_LINE) {
        if (o->len > SMTP_LINE_MAX_EXT - 2 || memchr(o->data, '\r', o->len) || memchr(o->data, '\n', o->len))
            abort();
        mix(r, o->data, o->len);
        if (o->len == 4 && strncasecmp(o->data, "DATA", 4) == 0) {
            smtp_frame_data_begin(f);
            *mlen = 0;
            return 1;
        }
    } else if (o->kind == SMTP_FRAME_TEXT) {
        char *m = realloc(*msg, *mlen + o->len + 1);
        if (m == NULL)
            abort();
        memcpy(m + *mlen, o->data, o->len);
        *msg = m;
        *mlen += o->len;
        mix(r, o->data, o->len);
    } else if (o->kind == SMTP_FRAME_END) {
        /* at: where the 3 octets ".\r\n" start in the whole input */
        if (at < 2 || memcmp(all + at - 2, "\r\n.\r\n", 5) != 0)
            abort();
        if (o->bad == 0)
            check_clean(*msg, *mlen);
        mix(r, &o->bad, sizeof(o->bad));
        return 0;
    }
    return data_mode;
}

/* run - the whole input in pieces of at most `piece` octets */
static void
run(const uint8_t *in, size_t size, size_t piece, struct run *r)
{
    struct smtp_frame f;
    size_t off = 0, fed = 0, mlen = 0;
    char *msg = NULL;
    int data_mode = 0;

    memset(r, 0, sizeof(*r));
    r->hash = 1469598103934665603ull;
    smtp_frame_init(&f);
    for (size_t guard = 0; guard < 4 * size + 16; guard++) {
        struct smtp_frame_out o;
        char *copy;
        size_t used;

        size_t n = fed - off < WINDOW ? fed - off : WINDOW;

        used = step(data_mode, &f, in + off, n, &o, &copy);
        data_mode = on_event(r, data_mode, &f, &o, in, off, &msg, &mlen);
        free(copy);
        off += used;
        if (used == 0 && n == WINDOW)
            abort(); /* a full buffer and no progress: the session would hang */
        if (used == 0) {
            if (fed == size)
                break;
            fed = size - fed < piece ? size : fed + piece;
        }
    }
    free(msg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct run whole, bytes, pieces;

    if (size > 16384) /* a session's input buffer */
        return 0;
    run(data, size, size ? size : 1, &whole);
    run(data, size, 1, &bytes);
    run(data, size, size ? 1 + data[0] % 29 : 1, &pieces);
    if (whole.hash != bytes.hash || whole.hash != pieces.hash || whole.nevents != bytes.nevents ||
        whole.nevents != pieces.nevents)
        abort();
    return 0;
}
