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
 * for the scheduler (ADMIN_WAIT_LIST_MS / ADMIN_WAIT_ACT_MS), which works
 * in slices, holding up only the connections of its own polling thread.
 */
#include "engine/admin.h"

#include <jansson.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/http_int.h"
#include "base/log.h"

#define ADMIN_PREFIX "/api/v1/admin"
#define ADMIN_BODY_MAX (8u << 20) /* bytes of request body at most */
#define ADMIN_MAX_IDS 200000      /* ids in one request at most */
#define ADMIN_WAIT_LIST_MS 10000
#define ADMIN_WAIT_ACT_MS 30000

/* An admin request between the access handler's calls. */
struct http_admin {
    enum http_kind kind; /* HTTP_K_ADMIN */
    enum http_admin_scope scope;
    char who[160];
    char *body;
    size_t len;
};

/* An action's request body, checked. */
struct admin_body {
    json_t *j;
    const char **ids;
    size_t nids;
    const char *domain, *reason, *transport;
    long duration_s;
};

/* admin_bad - 400 naming the field */
static enum MHD_Result
admin_bad(struct MHD_Connection *c, const char *msg, const char *field)
{
    return http_error(c, MHD_HTTP_BAD_REQUEST, msg, field);
}

/* text_ok - printable text (UTF-8 allowed), no control characters, at most max bytes */
static int
text_ok(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n == 0 || n > max)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

/* domain_ok - a domain as the filter and actions take it */
static int
domain_ok(const char *s)
{
    return text_ok(s, 255) && strpbrk(s, " @/\\\"") == NULL;
}

/* id_ok - a message id's shape (spool.h) */
static int
id_ok(const char *s)
{
    return strlen(s) == 16 &&
           strspn(s, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-") == 16;
}

/* parse_duration - seconds from a JSON integer or an Exim time string; -1 if bad */
static long
parse_duration(json_t *v)
{
    if (json_is_integer(v))
        return json_integer_value(v) >= 0 && json_integer_value(v) <= 100L * 365 * 86400
                   ? (long)json_integer_value(v)
                   : -1;
    if (json_is_string(v))
        return cfg_parse_time(json_string_value(v));
    return -1;
}

/* body_ids - the "ids" array into b; NULL or the bad field's message */
static const char *
body_ids(struct admin_body *b, json_t *ids)
{
    size_t i;
    json_t *v;

    if (!json_is_array(ids) || json_array_size(ids) == 0 || json_array_size(ids) > ADMIN_MAX_IDS)
        return "ids must be a non-empty array of message ids";
    if ((b->ids = calloc(json_array_size(ids), sizeof(char *))) == NULL)
        return "out of memory";
    json_array_foreach(ids, i, v)
    {
        if (!json_is_string(v) || !id_ok(json_string_value(v)))
            return "ids must be a non-empty array of message ids";
        b->ids[b->nids++] = json_string_value(v);
    }
    return NULL;
}

/* body_strings - domain, reason, transport; NULL or the bad field */
static const char *
body_strings(struct admin_body *b, const char **msg)
{
    json_t *d = json_object_get(b->j, "domain"), *r = json_object_get(b->j, "reason"),
           *t = json_object_get(b->j, "transport");

    *msg = "domain must be a domain name";
    if (d != NULL && (!json_is_string(d) || !domain_ok(json_string_value(d))))
        return "domain";
    *msg = "reason must be text of at most 200 bytes, without control characters";
    if (r != NULL && (!json_is_string(r) || !text_ok(json_string_value(r), 200)))
        return "reason";
    *msg = "transport must be a transport name";
    if (t != NULL && (!json_is_string(t) || !text_ok(json_string_value(t), 64)))
        return "transport";
    b->domain = json_string_value(d);
    b->reason = json_string_value(r);
    b->transport = json_string_value(t);
    return NULL;
}

/* body_parse - the action's JSON body into b; NULL or the bad field (*msg says why) */
static const char *
body_parse(const struct http_admin *ha, struct admin_body *b, const char **msg)
{
    json_t *ids, *dur;
    const char *f;

    b->j = json_loadb(ha->body ? ha->body : "", ha->len, 0, NULL);
    *msg = "the body must be a JSON object";
    if (!json_is_object(b->j))
        return "body";
    if ((f = body_strings(b, msg)) != NULL)
        return f;
    ids = json_object_get(b->j, "ids");
    if (ids != NULL && (*msg = body_ids(b, ids)) != NULL)
        return "ids";
    dur = json_object_get(b->j, "duration");
    b->duration_s = dur ? parse_duration(dur) : 0;
    *msg = "duration must be seconds or a time such as 1h or 30m";
    if (b->duration_s < 0)
        return "duration";
    *msg = "select by ids or by domain, not both";
    if (b->nids > 0 && b->domain != NULL)
        return "ids";
    return NULL;
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
    long n = eng_admin_act(op, &r, ADMIN_WAIT_ACT_MS);
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
        *msg = "suspend and resume take a domain";
        return b->domain == NULL || b->nids > 0 ? "domain" : NULL;
    }
    *msg = "rebind takes a transport";
    if (op == ENG_ADMIN_REBIND && b->transport == NULL)
        return "transport";
    *msg = "select messages by ids or by domain";
    return b->nids == 0 && b->domain == NULL ? "ids" : NULL;
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
    field = body_parse(ha, &b, &msg);
    if (field == NULL)
        field = act_check(op, &b, &msg);
    if (field != NULL)
        ret = admin_bad(c, msg, field);
    else
        ret = act_run(c, ha, op, &b);
    free(b.ids);
    json_decref(b.j);
    return ret;
}

/* arg - a query argument, or NULL */
static const char *
arg(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

/* list_state - the state filter; 0 or -1 if bad */
static int
list_state(const char *s, enum eng_admin_state *st)
{
    if (s == NULL)
        *st = ENG_ADMIN_ANY;
    else if (strcmp(s, "ready") == 0)
        *st = ENG_ADMIN_READY;
    else if (strcmp(s, "scheduled") == 0)
        *st = ENG_ADMIN_SCHEDULED;
    else if (strcmp(s, "frozen") == 0)
        *st = ENG_ADMIN_FROZEN;
    else
        return -1;
    return 0;
}

/* list_limit - the page size: digits only, 1..ENG_ADMIN_MAX_LIMIT; 0 if bad */
static size_t
list_limit(const char *v)
{
    size_t n = 0, len = strlen(v);

    if (len == 0 || len > 4 || strspn(v, "0123456789") != len)
        return 0;
    for (const char *p = v; *p; p++)
        n = n * 10 + (size_t)(*p - '0');
    return n <= ENG_ADMIN_MAX_LIMIT ? n : 0;
}

/* list_args - the listing's query into r; NULL or the bad field */
static const char *
list_args(struct MHD_Connection *c, struct eng_admin_req *r)
{
    const char *v;

    if ((r->domain = arg(c, "domain")) != NULL && !domain_ok(r->domain))
        return "domain";
    if ((r->sender = arg(c, "sender")) != NULL && !text_ok(r->sender, 512))
        return "sender";
    if (list_state(arg(c, "state"), &r->state) < 0)
        return "state";
    if ((v = arg(c, "older_than")) != NULL && (r->older_than_s = cfg_parse_time(v)) < 0)
        return "older_than";
    if ((r->cursor = arg(c, "cursor")) != NULL && !id_ok(r->cursor))
        return "cursor";
    r->limit = 100;
    if ((v = arg(c, "limit")) != NULL && (r->limit = list_limit(v)) == 0)
        return "limit";
    return NULL;
}

_Static_assert(ENG_ADMIN_MAX_LIMIT == 1000, "list_bad_msg names the largest limit");

/* list_bad_msg - what a listing argument allows, for its 400 */
static const char *
list_bad_msg(const char *field)
{
    static const char *const msgs[][2] = {
        {"domain", "domain must be a domain name: no spaces, '@', '/', '\\' or '\"', "
                   "at most 255 octets"},
        {"sender", "sender must be an address or @domain: printable, at most 512 octets"},
        {"state", "state must be ready, scheduled or frozen"},
        {"older_than", "older_than must be a duration such as 90s, 15m, 2h, 3d"},
        {"cursor", "cursor must be a message id (the next_cursor of the page before)"},
        {"limit", "limit must be an integer from 1 to 1000"},
    };

    for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
        if (strcmp(msgs[i][0], field) == 0)
            return msgs[i][1];
    return "bad query argument";
}

/* admin_list - GET /api/v1/admin/messages */
static enum MHD_Result
admin_list(struct MHD_Connection *c, const struct http_admin *ha)
{
    struct eng_admin_req r = {.who = ha->who};
    const char *bad = list_args(c, &r);
    char *text;

    if (bad != NULL)
        return admin_bad(c, list_bad_msg(bad), bad);
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

    if (!id_ok(id))
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
