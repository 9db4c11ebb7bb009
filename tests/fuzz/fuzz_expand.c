/*
 * fuzz_expand.c - libFuzzer target for conf/expand.c: any octets (up to
 *                 the first NUL) as an expansion string. A refused string
 *                 must carry a "column N: " message inside the string's
 *                 bounds; an accepted one is evaluated (lookups disabled, so
 *                 nothing leaves the process) and must give a result or,
 *                 for DEFER and ERROR, a message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/expand.h"

/* fuzz_var - a few variables; anything else is unknown */
static const char *
fuzz_var(void *arg, const char *name)
{
    (void)arg;
    if (strcmp(name, "domain") == 0)
        return "Example.COM";
    if (strcmp(name, "n") == 0)
        return "42";
    if (strcmp(name, "e") == 0)
        return "";
    if (strcmp(name, "re") == 0)
        return "^(a+)(b*)$";
    return NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1), err[256], *out;
    struct exp_str *e;
    size_t col;
    struct exp_ctx ctx = {
        .var = fuzz_var, .err = err, .errlen = sizeof err, .flags = EXP_F_NO_LOOKUPS};
    int rc;

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    e = exp_compile(s, err, sizeof err);
    if (e == NULL) {
        if (sscanf(err, "column %zu: ", &col) != 1 || col < 1 || col > strlen(s) + 1)
            abort();
        free(s);
        return 0;
    }
    if (strcmp(exp_source(e), s) != 0)
        abort();
    rc = exp_eval(e, &ctx, &out);
    if (rc == EXP_OK) {
        if (out == NULL)
            abort();
        free(out);
    } else if (out != NULL || ((rc == EXP_DEFER || rc == EXP_ERROR) && err[0] == '\0')) {
        abort();
    }
    exp_free(e);
    free(s);
    return 0;
}
