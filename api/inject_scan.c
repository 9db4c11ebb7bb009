/*
 * inject_scan.c - the pre-scan of an inject request body: bounds on the
 *                 raw text, and the lifting of "content" strings into
 *                 buffers of their own; see inject_scan.h.
 *
 * The scan keeps a stack of the open arrays and objects (at most
 * INJECT_MAX_DEPTH), with, per object, the last key seen as raw bytes of
 * the body, so it knows where each string sits without building anything.
 *
 * Diagnostics: a bound exceeded fills struct inject_error; nothing is
 * logged.
 */
#include "api/inject_scan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/inject_check.h"
#include "api/wire.h"

/* One open array or object seen by the pre-scan. */
struct scan_level {
    char kind;       /* '[' or '{' */
    size_t n;        /* elements of an array so far */
    const char *key; /* in an object: the last key (raw bytes of the body) */
    size_t keylen;
};

/* The pre-scan's state: the open containers and what has been counted. */
struct scan {
    struct scan_level lv[INJECT_MAX_DEPTH];
    int depth;
    size_t values;
    int want_key; /* directly in an object, where a string is a key */
};

/* scan_path - the field path of the innermost container, "messages[3].recipients" */
static void
scan_path(const struct scan *sc, char *out, size_t outlen)
{
    size_t off = 0;

    out[0] = '\0';
    for (int k = 0; k + 1 < sc->depth && off < outlen; k++) {
        const struct scan_level *l = &sc->lv[k];
        int w = l->kind == '['
                    ? snprintf(out + off, outlen - off, "[%zu]", l->n - 1)
                    : snprintf(out + off, outlen - off, "%s%.*s", off ? "." : "",
                               (int)(l->keylen > 64 ? 64 : l->keylen), l->key ? l->key : "");
        if (w < 0)
            break;
        off += (size_t)w;
    }
}

/* scan_array_full - the 413 for an array over INJECT_MAX_ARRAY */
static int
scan_array_full(const struct scan *sc, struct inject_error *err)
{
    char path[sizeof(err->field)];
    const char *what = "elements in one array";
    const char *leaf;

    scan_path(sc, path, sizeof(path));
    leaf = strrchr(path, '.') != NULL ? strrchr(path, '.') + 1 : path;
    if (strcmp(leaf, "messages") == 0 || strcmp(leaf, "recipients") == 0)
        what = leaf;
    return inject_fail(err, 413, path, "", "more than %d %s", INJECT_MAX_ARRAY, what);
}

/* scan_value - count one value (or key) starting in the current container */
static int
scan_value(struct scan *sc, struct inject_error *err)
{
    struct scan_level *top = sc->depth > 0 ? &sc->lv[sc->depth - 1] : NULL;

    if (++sc->values > INJECT_MAX_VALUES)
        return inject_fail(err, 413, "", "", "more than %d JSON values in one request",
                           INJECT_MAX_VALUES);
    if (top != NULL && top->kind == '[' && ++top->n > INJECT_MAX_ARRAY)
        return scan_array_full(sc, err);
    return 0;
}

/* scan_string - skip the string opening at body[i]; the index of its closing
 * quote (len when unterminated) */
static size_t
scan_string(const char *body, size_t len, size_t i)
{
    for (i++; i < len && body[i] != '"'; i++)
        if (body[i] == '\\')
            i++;
    return i < len ? i : len;
}

/* scan_open - '[' or '{': a value of its parent, then a new level */
static int
scan_open(struct scan *sc, char c, struct inject_error *err)
{
    if (scan_value(sc, err) < 0)
        return -1;
    if (sc->depth == INJECT_MAX_DEPTH)
        return inject_fail(err, 400, "", "", "JSON nested deeper than %d levels", INJECT_MAX_DEPTH);
    sc->lv[sc->depth++] = (struct scan_level){.kind = c};
    sc->want_key = c == '{';
    return 0;
}

/* scan_token - one structural byte or the first byte of a scalar */
static int
scan_token(struct scan *sc, char c, int *in_scalar, struct inject_error *err)
{
    int was = *in_scalar;

    *in_scalar = 0;
    switch (c) {
    case '[':
    case '{':
        return scan_open(sc, c, err);
    case ']':
    case '}':
        sc->depth -= sc->depth > 0;
        sc->want_key = 0;
        return 0;
    case ',':
        sc->want_key = sc->depth > 0 && sc->lv[sc->depth - 1].kind == '{';
        return 0;
    case ':':
    case ' ':
    case '\t':
    case '\r':
    case '\n':
        return 0;
    default:
        *in_scalar = 1;
        return was ? 0 : scan_value(sc, err);
    }
}

/* scan_key_is - the last key of level l is word, as written */
static int
scan_key_is(const struct scan_level *l, const char *word)
{
    size_t n = strlen(word);

    return l->kind == '{' && l->key != NULL && l->keylen == n && memcmp(l->key, word, n) == 0;
}

/* scan_at_content - a string value here is a message's "content": the
 * top-level one, or that of an object directly in the top-level
 * "messages" array */
static int
scan_at_content(const struct scan *sc)
{
    if (sc->depth == 1)
        return scan_key_is(&sc->lv[0], "content");
    return sc->depth == 3 && scan_key_is(&sc->lv[2], "content") && sc->lv[1].kind == '[' &&
           scan_key_is(&sc->lv[0], "messages");
}

/* skel_add - append n octets to the skeleton; 0 or -1 */
static int
skel_add(struct inject_lift *lf, const char *p, size_t n)
{
    if (n > lf->skel_cap - lf->skel_len) {
        size_t cap = lf->skel_cap ? lf->skel_cap * 2 : 4096;
        char *s;
        while (cap - lf->skel_len < n)
            cap *= 2;
        if ((s = realloc(lf->skel, cap)) == NULL)
            return -1;
        lf->skel = s;
        lf->skel_cap = cap;
    }
    memcpy(lf->skel + lf->skel_len, p, n);
    lf->skel_len += n;
    return 0;
}

/* lift_string - decode the string whose opening quote is body[i] into a
 * buffer of its own and put its ordinal in the skeleton; the index of its
 * closing quote, or -1 when it is left to jansson (or out of memory) */
static long
lift_string(struct inject_lift *lf, const char *body, size_t len, size_t i)
{
    struct wire w;
    size_t declen;
    char ord[24];
    long end;
    int k;

    if (lf->n == lf->cap) {
        size_t cap = lf->cap ? lf->cap * 2 : 16;
        struct inject_lifted *v = realloc(lf->v, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        lf->v = v;
        lf->cap = cap;
    }
    if (wire_open(&w, lf->head, 0) < 0)
        return -1;
    end = wire_json(&w, body + i + 1, len - i - 1, lf->crlf, &declen);
    if (end < 0 || (lf->crlf && wire_end(&w) < 0)) {
        wire_free(&w);
        return -1;
    }
    lf->v[lf->n++] = (struct inject_lifted){w.buf, w.len - lf->head, declen};
    k = snprintf(ord, sizeof(ord), "%zu", lf->n - 1);
    if (skel_add(lf, body + lf->copied, i + 1 - lf->copied) < 0 || skel_add(lf, ord, (size_t)k) < 0)
        return -1;
    lf->copied = i + 1 + (size_t)end;
    return (long)lf->copied;
}

/* inject_prescan - the bounds in one pass and constant memory (malformed
 * JSON is left to the parser), lifting on the way when lf is given */
int
inject_prescan(const char *body, size_t len, struct inject_lift *lf, struct inject_error *err)
{
    struct scan sc = {.depth = 0};
    int in_scalar = 0;

    for (size_t i = 0; i < len; i++) {
        if (body[i] != '"') {
            if (scan_token(&sc, body[i], &in_scalar, err) < 0)
                return -1;
            continue;
        }
        in_scalar = 0;
        if (scan_value(&sc, err) < 0)
            return -1;
        if (sc.want_key && sc.depth > 0) {
            size_t end = scan_string(body, len, i);
            sc.lv[sc.depth - 1].key = body + i + 1;
            sc.lv[sc.depth - 1].keylen = end - i - 1;
            sc.want_key = 0;
            i = end;
        } else if (lf != NULL && scan_at_content(&sc)) {
            long end = lift_string(lf, body, len, i);
            if (end < 0)
                return 1;
            i = (size_t)end;
        } else {
            i = scan_string(body, len, i);
        }
    }
    if (lf != NULL && lf->n > 0 && skel_add(lf, body + lf->copied, len - lf->copied) < 0)
        return 1;
    return 0;
}

/* inject_lift_free - release the lifted buffers not taken, and the skeleton */
void
inject_lift_free(struct inject_lift *lf)
{
    for (size_t i = 0; i < lf->n; i++)
        free(lf->v[i].buf);
    free(lf->v);
    free(lf->skel);
    lf->v = NULL;
    lf->skel = NULL;
    lf->n = lf->cap = lf->skel_len = lf->skel_cap = lf->copied = 0;
}
