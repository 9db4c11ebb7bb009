/*
 * admin.c - the admin API (docs/admin-api.md): the queue listed and
 *           inspected, the destinations, and the actions on messages and
 *           domains, all answered by the engine (engine/admin.h).
 *
 * Routes:
 *   GET  /api/v1/admin/messages        ?domain=&sender=&state=&older_than=
 *                                      &cursor=&limit=  one page, by id
 *   GET  /api/v1/admin/messages/ID     one message in full (404 if not queued)
 *   GET  /api/v1/admin/destinations    destinations and suspended domains
 *   GET  /api/v1/admin/actions         the actions in progress (read scope
 *                                      is enough): eng_admin_actions
 *   POST /api/v1/admin/ACTION          ACTION: retry freeze thaw delete bounce
 *                                      suspend resume rebind; a JSON body
 *                                      {"ids": [...]} or {"domain": "..."},
 *                                      with "duration", "reason", "transport"
 *                                      where they apply; {"affected": N}
 * Bad input is a 400 naming the field; access (admin_auth.c) 401 / 403;
 * the engine not answering in time 503.
 *
 * Threads: libmicrohttpd's polling threads. A listing or an action waits
 * for the scheduler (ADMIN_WAIT_LIST_MS / admin_action_wait), which works
 * in slices, holding up only the connections of its own polling thread.
 */
#include "engine/admin.h"

#include <jansson.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/admin_req.h"
#include "api/http_int.h"
#include "base/log.h"

#define ADMIN_PREFIX "/api/v1/admin"
#define ADMIN_BODY_MAX (8u << 20) /* bytes of request body at most */
#define ADMIN_WAIT_LIST_MS 10000

/* An admin request between the access handler's calls. */
struct http_admin {
    enum http_kind kind; /* HTTP_K_ADMIN */
    enum http_admin_scope scope;
    char who[160];
    char *body;
    size_t len;
};

/* admin_bad - 400 naming the field */
static enum MHD_Result
admin_bad(struct MHD_Connection *c, const char *msg, const char *field)
{
    return http_error(c, MHD_HTTP_BAD_REQUEST, msg, field);
}

/* op_of - the action named by the path's last part */
static int
op_of(const char *name, enum eng_admin_op *op)
{
    static const char *const names[] = {"retry",  "freeze",  "thaw",   "delete",
                                        "bounce", "suspend", "resume", "rebind"};
    static const enum eng_admin_op ops[] = {ENG_ADMIN_RETRY,  ENG_ADMIN_FREEZE, ENG_ADMIN_THAW,
                                            ENG_ADMIN_DELETE, ENG_ADMIN_BOUNCE, ENG_ADMIN_SUSPEND,
                                            ENG_ADMIN_RESUME, ENG_ADMIN_REBIND};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(name, names[i]) == 0) {
            *op = ops[i];
            return 0;
        }
    return -1;
}

/* act_wait_ms - how long an action waits for the scheduler (admin_action_wait) */
static int
act_wait_ms(void)
{
    const struct cfg *cfg = atomic_load(&http_cfg);
    return cfg != NULL ? cfg->admin_action_wait_s * 1000 : 30000;
}

/* act_each - the action for each of b's domains in turn (one walk each,
 * one log line each); the total, or the first failure's code */
static long
act_each(enum eng_admin_op op, struct eng_admin_req *r, const struct admin_body *b)
{
    long total = 0;

    for (size_t i = 0; i < b->ndomains; i++) {
        r->domain = b->domains[i];
        long n = eng_admin_act(op, r, act_wait_ms());
        if (n < 0)
            return n;
        total += n;
    }
    return total;
}

/* act_run - run a checked action and answer {"affected": N} */
static enum MHD_Result
act_run(struct MHD_Connection *c, const struct http_admin *ha, enum eng_admin_op op,
        const struct admin_body *b)
{
    struct eng_admin_req r = {.ids = b->ids,
                              .nids = b->nids,
                              .domain = b->domain,
                              .reason = b->reason,
                              .duration_s = b->duration_s,
                              .who = ha->who,
                              .transport = b->transport};
    long n = b->ndomains > 0 ? act_each(op, &r, b) : eng_admin_act(op, &r, act_wait_ms());
    char msg[128];

    if (n == ENG_ADMIN_REFUSED) { /* rebind: checked against the running configuration */
        snprintf(msg, sizeof(msg), "no transport named %s", b->transport);
        return admin_bad(c, msg, "transport");
    }
    if (n < 0)
        return http_error(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                          "the scheduler did not finish in time (the action goes on: see the log)",
                          NULL);
    return http_reply_json(c, MHD_HTTP_OK, json_pack("{s:I}", "affected", (json_int_t)n));
}

/* act_check - what each action needs beyond a well-formed body */
static const char *
act_check(enum eng_admin_op op, const struct admin_body *b, const char **msg)
{
    if (op == ENG_ADMIN_SUSPEND || op == ENG_ADMIN_RESUME) {
        *msg = "suspend and resume take a domain, or domains";
        return (b->domain == NULL && b->ndomains == 0) || b->nids > 0 ? "domain" : NULL;
    }
    *msg = "rebind takes a transport";
    if (op == ENG_ADMIN_REBIND && b->transport == NULL)
        return "transport";
    *msg = "select messages by ids or by domain";
    return b->nids == 0 && b->domain == NULL && b->ndomains == 0 ? "ids" : NULL;
}

/* admin_action - POST /api/v1/admin/NAME */
static enum MHD_Result
admin_action(struct MHD_Connection *c, const struct http_admin *ha, const char *name)
{
    struct admin_body b = {0};
    enum eng_admin_op op;
    const char *field, *msg;
    enum MHD_Result ret;

    if (op_of(name, &op) < 0)
        return http_error(c, MHD_HTTP_NOT_FOUND, "no such admin action", NULL);
    field = admin_body_parse(ha->body, ha->len, &b, &msg);
    if (field == NULL)
        field = act_check(op, &b, &msg);
    if (field != NULL)
        ret = admin_bad(c, msg, field);
    else
        ret = act_run(c, ha, op, &b);
    admin_body_free(&b);
    return ret;
}

/* query_arg - a query argument of connection c, or NULL (admin_arg_fn) */
static const char *
query_arg(void *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

/* admin_list - GET /api/v1/admin/messages */
static enum MHD_Result
admin_list(struct MHD_Connection *c, const struct http_admin *ha)
{
    struct eng_admin_req r = {.who = ha->who};
    const char *bad = admin_list_args(query_arg, c, &r);
    char *text;

    if (bad != NULL)
        return admin_bad(c, admin_list_bad_msg(bad), bad);
    if ((text = eng_admin_list(&r, ADMIN_WAIT_LIST_MS)) == NULL)
        return http_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "the queue listing is not available",
                          NULL);
    return http_reply(c, MHD_HTTP_OK, HTTP_JSON, text, strlen(text));
}

/* admin_show - GET /api/v1/admin/messages/ID */
static enum MHD_Result
admin_show(struct MHD_Connection *c, const char *id)
{
    int found;
    char *text;

    if (!admin_id_ok(id))
        return http_error(c, MHD_HTTP_NOT_FOUND, "no such message", "id");
    text = eng_admin_show(id, ADMIN_WAIT_LIST_MS, &found);
    if (found < 0)
        return http_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "the scheduler did not answer", NULL);
    if (text == NULL)
        return http_error(c, MHD_HTTP_NOT_FOUND, "no such message", "id");
    return http_reply(c, MHD_HTTP_OK, HTTP_JSON, text, strlen(text));
}

/* admin_view - GET /api/v1/admin/destinations or /actions: text, the
 * engine's view, or NULL when the scheduler did not answer */
static enum MHD_Result
admin_view(struct MHD_Connection *c, char *text)
{
    if (text == NULL)
        return http_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "the scheduler did not answer", NULL);
    return http_reply(c, MHD_HTTP_OK, HTTP_JSON, text, strlen(text));
}

/* is_get - GET or HEAD */
static int
is_get(const char *method)
{
    return strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
}

/* admin_dispatch - the whole request is in: answer it */
static enum MHD_Result
admin_dispatch(struct MHD_Connection *c, const struct http_admin *ha, const char *path,
               const char *method)
{
    int post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;

    if (strcmp(path, "/messages") == 0 || strcmp(path, "/destinations") == 0)
        return !is_get(method)  ? http_not_allowed(c, "GET, HEAD")
               : path[1] == 'm' ? admin_list(c, ha)
                                : admin_view(c, eng_admin_destinations(ADMIN_WAIT_LIST_MS));
    if (strcmp(path, "/actions") == 0)
        return is_get(method) ? admin_view(c, eng_admin_actions(ADMIN_WAIT_LIST_MS))
                              : http_not_allowed(c, "GET, HEAD");
    if (strncmp(path, "/messages/", 10) == 0)
        return is_get(method) ? admin_show(c, path + 10) : http_not_allowed(c, "GET, HEAD");
    if (path[0] == '/' && strchr(path + 1, '/') == NULL && path[1] != '\0')
        return post ? admin_action(c, ha, path + 1) : http_not_allowed(c, "POST");
    return http_error(c, MHD_HTTP_NOT_FOUND, "no such resource", NULL);
}

/* safe_url - url with control characters replaced, for the log */
static void
safe_url(const char *url, char *out, size_t len)
{
    snprintf(out, len, "%s", url);
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
}

/* admin_begin - first call: check access, keep the request's state */
static enum MHD_Result
admin_begin(struct MHD_Connection *c, const char *url, const char *method, void **con_cls)
{
    struct http_admin *ha = calloc(1, sizeof(*ha));
    const char *why;
    unsigned status;
    char shown[200];

    if (ha == NULL)
        return MHD_NO;
    safe_url(url, shown, sizeof(shown));
    ha->kind = HTTP_K_ADMIN;
    ha->scope = http_admin_access(c, method, shown, ha->who, sizeof(ha->who), &why, &status);
    *con_cls = ha;
    if (ha->scope != HTTP_ADMIN_NONE)
        return MHD_YES;
    if (status == MHD_HTTP_UNAUTHORIZED) {
        struct http_hdr h = {MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer"};
        return http_error_hdr(c, status, why, NULL, &h);
    }
    return http_error(c, status, why, NULL);
}

/* http_admin_step - the access handler's work for /api/v1/admin paths */
enum MHD_Result
http_admin_step(struct MHD_Connection *c, const char *url, const char *method, const char *data,
                size_t *size, void **con_cls)
{
    struct http_admin *ha = *con_cls;
    char *p;

    if (ha == NULL)
        return admin_begin(c, url, method, con_cls);
    if (ha->scope == HTTP_ADMIN_NONE) { /* refused: drop what follows */
        *size = 0;
        return MHD_YES;
    }
    if (*size > 0) {
        if (ha->len + *size > ADMIN_BODY_MAX)
            return http_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large", "body");
        if ((p = realloc(ha->body, ha->len + *size + 1)) == NULL)
            return MHD_NO;
        memcpy(p + ha->len, data, *size);
        ha->body = p;
        ha->len += *size;
        ha->body[ha->len] = '\0';
        *size = 0;
        return MHD_YES;
    }
    return admin_dispatch(c, ha, url + strlen(ADMIN_PREFIX), method);
}

/* http_admin_done - the request is over */
void
http_admin_done(void *con_cls)
{
    struct http_admin *ha = con_cls;

    free(ha->body);
    free(ha);
}
