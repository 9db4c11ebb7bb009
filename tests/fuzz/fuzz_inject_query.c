/*
 * fuzz_inject_query.c - libFuzzer target for the query string of a raw
 *                       upload (api/inject_query.c).
 *
 * Whatever it decodes must hold up: one message, a sender and at least one
 * recipient that are valid addresses of the lengths given; an error must
 * be a 400 or 413 whose text and field can go into the JSON answer.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "api/inject_query.h"
#include "conf/address.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* LLVMFuzzerTestOneInput - decode one input and check what came back */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct inject_batch b;
    struct inject_error e;
    const char *why;

    if (inject_query_parse((const char *)data, size, &b, &e) < 0) {
        json_t *j = json_pack("{s:s, s:s}", "error", e.error, "field", e.field);
        if ((e.status != 400 && e.status != 413) || j == NULL || b.msgs != NULL)
            __builtin_trap();
        json_decref(j);
        return 0;
    }
    if (b.n != 1 || b.nrcpt != b.msgs[0].nrcpt || b.nrcpt == 0 || b.msgs[0].content != NULL)
        __builtin_trap();
    if (*b.msgs[0].sender != '\0' && !addr_valid_mailbox(b.msgs[0].sender, 1, &why))
        __builtin_trap();
    for (size_t i = 0; i < b.nrcpt; i++)
        if (strlen(b.msgs[0].rcpts[i]) > ADDR_MAX - 2 ||
            !addr_valid_mailbox(b.msgs[0].rcpts[i], 1, &why))
            __builtin_trap();
    inject_batch_free(&b);
    return 0;
}
