/*
 * admin_req.h - the admin API's request parsing (api/admin.c's input): the
 *               JSON body of an action and the query of a listing, checked
 *               field by field (docs/admin-api.md). No I/O; any thread.
 */
#ifndef SPATE_API_ADMIN_REQ_H
#define SPATE_API_ADMIN_REQ_H

#include <jansson.h>
#include <stddef.h>

#include "engine/admin.h"

#define ADMIN_MAX_IDS 200000   /* ids in one request at most */
#define ADMIN_MAX_DOMAINS 1000 /* domains in one request at most */

/* An action's request body, checked. */
struct admin_body {
    json_t *j;
    const char **ids;
    size_t nids;
    const char *domain, *reason, *transport;
    long duration_s;
    const char **domains; /* "domains": several domains, each acted on in turn */
    size_t ndomains;
};

/* admin_body_parse - the action's JSON body data[0..len) (NULL: empty)
 * into b (zeroed by the caller): a JSON object with "ids" (1..ADMIN_MAX_IDS
 * message ids), "domain", or "domains" (1..ADMIN_MAX_DOMAINS domains, each
 * acted on as if it came alone), and "reason" (text, at most 200 bytes),
 * "transport" (at most 64), "duration" (seconds, or a time such as 1h,
 * at most 100 years). NULL when good, else the bad field's name with *msg
 * saying why. The strings in b point into b->j: release with
 * admin_body_free, whatever the answer. */
const char *admin_body_parse(const char *data, size_t len, struct admin_body *b, const char **msg);
void admin_body_free(struct admin_body *b);

/* admin_arg_fn - a listing's query argument by name, or NULL when absent */
typedef const char *(*admin_arg_fn)(void *arg, const char *name);

/* admin_list_args - the listing's query (domain, sender, state, older_than,
 * cursor, limit; limit 100 when absent) read through arg(c, name) into r;
 * r's strings are arg's. NULL when good, else the bad field's name
 * (admin_list_bad_msg says what it allows). */
const char *admin_list_args(admin_arg_fn arg, void *c, struct eng_admin_req *r);
const char *admin_list_bad_msg(const char *field);

/* admin_id_ok - does s have a message id's shape (spool.h)? */
int admin_id_ok(const char *s);

#endif
