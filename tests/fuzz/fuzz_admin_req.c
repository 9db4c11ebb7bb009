/*
 * fuzz_admin_req.c - libFuzzer target for the admin API's request parsing
 *                    (api/admin_req.c): an action's JSON body and a
 *                    listing's query arguments.
 *
 * The input is split at its first NUL: before it a request body, after it
 * query arguments as "name=value" pairs separated by '&' (not decoded: the
 * HTTP server decodes them). Whatever it is: an accepted body selects by
 * ids or by domain, never both, with well-formed ids and a duration that
 * is not negative; a refused one names a field and says why; an accepted
 * query has a limit of 1..ENG_ADMIN_MAX_LIMIT and a known state; a refused
 * one names a field that has its own message.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/admin_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGS 16

struct query {
    char *name[MAX_ARGS], *value[MAX_ARGS];
    int n;
};

/* get - the first value of name (an admin_arg_fn) */
static const char *
get(void *arg, const char *name)
{
    const struct query *q = arg;
    for (int i = 0; i < q->n; i++)
        if (strcmp(q->name[i], name) == 0)
            return q->value[i];
    return NULL;
}

/* split - text (NUL-terminated, modified) into q's pairs */
static void
split(char *text, struct query *q)
{
    for (char *save = NULL, *p = strtok_r(text, "&", &save); p && q->n < MAX_ARGS;
         p = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(p, '=');
        q->name[q->n] = p;
        q->value[q->n++] = eq ? (*eq = '\0', eq + 1) : p + strlen(p);
    }
}

/* check_body - parse the body and check what came back */
static void
check_body(const char *data, size_t len)
{
    struct admin_body b = {0};
    const char *msg = NULL, *field = admin_body_parse(data, len, &b, &msg);
    if (field != NULL && (msg == NULL || *msg == '\0'))
        __builtin_trap();
    if (field == NULL) {
        if ((b.nids > 0 && b.domain != NULL) || b.duration_s < 0 || b.nids > ADMIN_MAX_IDS)
            __builtin_trap();
        for (size_t i = 0; i < b.nids; i++)
            if (!admin_id_ok(b.ids[i]))
                __builtin_trap();
    }
    admin_body_free(&b);
}

/* check_query - parse the query and check what came back */
static void
check_query(const char *data, size_t len)
{
    struct query q = {0};
    struct eng_admin_req r = {0};
    char *text = strndup(data, len);
    if (text == NULL)
        return;
    split(text, &q);
    const char *field = admin_list_args(get, &q, &r);
    if (field != NULL && strcmp(admin_list_bad_msg(field), "bad query argument") == 0)
        __builtin_trap();
    if (field == NULL &&
        (r.limit < 1 || r.limit > ENG_ADMIN_MAX_LIMIT || r.state > ENG_ADMIN_FROZEN ||
         r.older_than_s < 0 || (r.cursor != NULL && !admin_id_ok(r.cursor))))
        __builtin_trap();
    free(text);
}

/* LLVMFuzzerTestOneInput - one body and one query */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data, *nul = memchr(data, 0, size);
    size_t blen = nul ? (size_t)(nul - text) : size;
    check_body(text, blen);
    if (nul != NULL)
        check_query(nul + 1, size - blen - 1);
    return 0;
}
