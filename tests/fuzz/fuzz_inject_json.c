/*
 * fuzz_inject_json.c - libFuzzer target for the POST /api/v1/inject body
 *                      validator (api/inject_json.c).
 *
 * Feeds arbitrary bytes with a few size limits; on success walks every
 * field the HTTP handler would read, so a pointer left dangling or a count
 * that disagrees with its array shows up under AddressSanitizer.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "api/inject_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
