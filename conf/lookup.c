/*
 * lookup.c - the lookup dispatch table: names the lookup types that
 *            expansion strings may use, and routes each lookup to its
 *            backend (lookup_redis.c, lookup_lmdb.c). See lookup.h.
 *
 * A new type is one more table entry: its name, whether it takes a query or
 * a key and a file, and its function.
 */
#include "conf/lookup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum lookup_rc (*lookup_fn)(const char *key, const char *arg, char **result, char *err,
                                    size_t errlen);

struct lookup_type {
    const char *name;
    int query; /* 1: ${lookup TYPE{query}}; 0: ${lookup{key}TYPE{file}} */
    lookup_fn fn;
};

/* redis_fn - query-style adapter for the Redis backend */
static enum lookup_rc
redis_fn(const char *key, const char *arg, char **result, char *err, size_t errlen)
{
    (void)key;
    return lookup__redis_query(arg, result, err, errlen);
}

/* the spf lookup's evaluator, given by the program (conf/ cannot reach
 * mailauth/, on its own floor); NULL: not available */
static lookup_hook_fn spf_hook;

/* lookup_set_spf - see lookup.h */
void
lookup_set_spf(lookup_hook_fn fn)
{
    spf_hook = fn;
}

/* spf_fn - ${lookup{user@domain}spf{ip}}: the SPF result word */
static enum lookup_rc
spf_fn(const char *key, const char *arg, char **result, char *err, size_t errlen)
{
    if (spf_hook == NULL) {
        snprintf(err, errlen, "spf lookups are not available here");
        return LOOKUP_ERROR;
    }
    return (enum lookup_rc)spf_hook(key, arg, result, err, errlen);
}

static const struct lookup_type lookup_types[] = {
    {"redis", 1, redis_fn},
    {"lmdb", 0, lookup__lmdb_find},
    {"lsearch", 0, lookup__lsearch_find}, /* lookup_lsearch.c */
    {"spf", 0, spf_fn},
};

/* lookup_type_find - the type named name[0..len) */
const struct lookup_type *
lookup_type_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof lookup_types / sizeof lookup_types[0]; i++)
        if (strlen(lookup_types[i].name) == len && memcmp(lookup_types[i].name, name, len) == 0)
            return &lookup_types[i];
    return NULL;
}

/* lookup_type_name - a type's name */
const char *
lookup_type_name(const struct lookup_type *t)
{
    return t->name;
}

/* lookup_type_is_query - query-style or single-key */
int
lookup_type_is_query(const struct lookup_type *t)
{
    return t->query;
}

/* lookup_run - do one lookup through its backend */
enum lookup_rc
lookup_run(const struct lookup_type *t, const char *key, const char *arg, char **result, char *err,
           size_t errlen)
{
    enum lookup_rc rc;
    char local[256];

    if (err == NULL || errlen == 0) {
        err = local;
        errlen = sizeof local;
    }
    *result = NULL;
    err[0] = '\0';
    if (!t->query && key == NULL) {
        snprintf(err, errlen, "%s lookup without a key", t->name);
        return LOOKUP_ERROR;
    }
    rc = t->fn(key, arg, result, err, errlen);
    if (rc != LOOKUP_OK && *result != NULL) {
        free(*result);
        *result = NULL;
    }
    return rc;
}

/* lookup_thread_done - close this thread's pooled connections */
void
lookup_thread_done(void)
{
    lookup__redis_thread_done();
}
