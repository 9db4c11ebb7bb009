/*
 * fuzz_inject_json.c - libFuzzer target for the POST /api/v1/inject body
 *                      validator (api/inject_json.c, api/inject_scan.c).
 *
 * Feeds arbitrary bytes with a few size limits; on success walks every
 * field the HTTP handler would read, so a pointer left dangling or a count
 * that disagrees with its array shows up under AddressSanitizer.
 *
 * Then differential: the fast way (content strings lifted out of the text
 * and decoded by wire.c) against the ordinary way (jansson parses it all).
 * Whatever the fast way alone accepts, the ordinary way accepts with the
 * same messages; the default parse and its wire form give exactly the
 * ordinary way's outcome (the same error, status, field and text; or the
 * same messages, each content in wire form equal to api_normalize_body's).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/inject_json.h"

#define HEAD 5

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* same_str - both NULL, or equal strings */
static int
same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* same_msgs - the same envelopes and DSN; the same content unless wire */
static void
same_msgs(const struct inject_batch *a, const struct inject_batch *b, int wire)
{
    if (a->n != b->n || a->nrcpt != b->nrcpt)
        __builtin_trap();
    for (size_t i = 0; i < a->n; i++) {
        const struct inject_msg *x = &a->msgs[i], *y = &b->msgs[i];
        if (!same_str(x->sender, y->sender) || x->nrcpt != y->nrcpt ||
            x->content_len != y->content_len || x->notify != y->notify || x->ret != y->ret ||
            !same_str(x->envid, y->envid) || (x->orcpt == NULL) != (y->orcpt == NULL))
            __builtin_trap();
        for (size_t k = 0; k < x->nrcpt; k++)
            if (!same_str(x->rcpts[k], y->rcpts[k]) ||
                (x->orcpt != NULL && !same_str(x->orcpt[k], y->orcpt[k])))
                __builtin_trap();
        if (!wire && memcmp(x->content, y->content, x->content_len) != 0)
            __builtin_trap();
    }
}

/* same_error - the same status, field and text */
static void
same_error(const struct inject_error *a, const struct inject_error *b)
{
    if (a->status != b->status || strcmp(a->field, b->field) != 0 ||
        strcmp(a->error, b->error) != 0)
        __builtin_trap();
}

/* differential - the fast way against the ordinary way, limit lim */
static void
differential(const char *text, size_t size, uint64_t lim)
{
    struct inject_batch t, d, w, l;
    struct inject_error te, de, we, le;
    int rt = inject_json_parse_opts(text, size, lim, INJECT_PARSE_TREE, 0, &t, &te);
    int rd = inject_json_parse_opts(text, size, lim, 0, 0, &d, &de);
    int rw = inject_json_parse_opts(text, size, lim, INJECT_PARSE_WIRE, HEAD, &w, &we);
    int rl = inject_json_parse_opts(text, size, lim, INJECT_PARSE_LIFTED, 0, &l, &le);

    if (rd != rt || rw != rt || (rl == 0 && rt != 0))
        __builtin_trap();
    if (rl < 0 && le.status != 0)
        same_error(&le, &te); /* a bound: where the ordinary way stops too */
    if (rt < 0) {
        same_error(&de, &te);
        same_error(&we, &te);
        return;
    }
    same_msgs(&t, &d, 0);
    same_msgs(&t, &w, 1);
    if (rl == 0)
        same_msgs(&t, &l, 0);
    for (size_t i = 0; i < t.n; i++) {
        size_t nl;
        char *norm = api_normalize_body(NULL, t.msgs[i].content, t.msgs[i].content_len, &nl);
        if (norm == NULL || w.msgs[i].buf_len != nl || memcmp(w.msgs[i].buf + HEAD, norm, nl) != 0)
            __builtin_trap();
        free(norm);
    }
    inject_batch_free(&t);
    inject_batch_free(&d);
    inject_batch_free(&w);
    if (rl == 0)
        inject_batch_free(&l);
}

/* LLVMFuzzerTestOneInput - parse one input and touch what came back */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint64_t limits[] = {0, 1, 64};
    struct inject_batch b;
    struct inject_error e;
    volatile size_t sink = 0;

    if (size == 0)
        return 0;
    differential((const char *)data, size, limits[data[0] % 3]);
    if (inject_json_parse((const char *)data, size, limits[data[0] % 3], &b, &e) < 0) {
        if (e.status != 400 && e.status != 413)
            __builtin_trap();
        sink += strlen(e.error) + strlen(e.field);
        return 0;
    }
    size_t nrcpt = 0;
    for (size_t i = 0; i < b.n; i++) {
        const struct inject_msg *m = &b.msgs[i];
        if (m->nrcpt == 0 || m->content_len == 0)
            __builtin_trap();
        sink += strlen(m->sender) + m->content[m->content_len - 1];
        for (size_t k = 0; k < m->nrcpt; k++)
            sink +=
                strlen(m->rcpts[k]) + (m->orcpt != NULL && m->orcpt[k] ? strlen(m->orcpt[k]) : 0);
        sink += m->envid != NULL ? strlen(m->envid) : 0;
        nrcpt += m->nrcpt;
    }
    if (nrcpt != b.nrcpt)
        __builtin_trap();
    inject_batch_free(&b);
    (void)sink;
    return 0;
}
