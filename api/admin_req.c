/*
 * admin_req.c - the admin API's request parsing: an action's JSON body and
 *               a listing's query, each field checked (admin_req.h).
 */
#include "api/admin_req.h"

#include <stdlib.h>
#include <string.h>

#include "conf/config.h"

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

/* admin_id_ok - see admin_req.h */
int
admin_id_ok(const char *s)
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
        if (!json_is_string(v) || !admin_id_ok(json_string_value(v)))
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

/* body_domains - the "domains" array into b; NULL or the bad field's message */
static const char *
body_domains(struct admin_body *b, json_t *doms)
{
    size_t i;
    json_t *v;

    if (!json_is_array(doms) || json_array_size(doms) == 0 ||
        json_array_size(doms) > ADMIN_MAX_DOMAINS)
        return "domains must be a non-empty array of at most 1000 domain names";
    if ((b->domains = calloc(json_array_size(doms), sizeof(char *))) == NULL)
        return "out of memory";
    json_array_foreach(doms, i, v)
    {
        if (!json_is_string(v) || !domain_ok(json_string_value(v)))
            return "domains must be a non-empty array of at most 1000 domain names";
        b->domains[b->ndomains++] = json_string_value(v);
    }
    return NULL;
}

/* admin_body_parse - see admin_req.h */
const char *
admin_body_parse(const char *data, size_t len, struct admin_body *b, const char **msg)
{
    json_t *ids, *dur;
    const char *f;

    b->j = json_loadb(data ? data : "", len, 0, NULL);
    *msg = "the body must be a JSON object";
    if (!json_is_object(b->j))
        return "body";
    if ((f = body_strings(b, msg)) != NULL)
        return f;
    ids = json_object_get(b->j, "ids");
    if (ids != NULL && (*msg = body_ids(b, ids)) != NULL)
        return "ids";
    ids = json_object_get(b->j, "domains");
    if (ids != NULL && (*msg = body_domains(b, ids)) != NULL)
        return "domains";
    dur = json_object_get(b->j, "duration");
    b->duration_s = dur ? parse_duration(dur) : 0;
    *msg = "duration must be seconds or a time such as 1h or 30m";
    if (b->duration_s < 0)
        return "duration";
    *msg = "select by ids, by domain or by domains: one of them";
    if ((b->nids > 0) + (b->domain != NULL) + (b->ndomains > 0) > 1)
        return b->nids > 0 ? "ids" : "domains";
    return NULL;
}

/* admin_body_free - see admin_req.h */
void
admin_body_free(struct admin_body *b)
{
    free(b->ids);
    free(b->domains);
    json_decref(b->j);
    b->ids = NULL;
    b->domains = NULL;
    b->j = NULL;
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

/* admin_list_args - see admin_req.h */
const char *
admin_list_args(admin_arg_fn arg, void *c, struct eng_admin_req *r)
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
    if ((r->cursor = arg(c, "cursor")) != NULL && !admin_id_ok(r->cursor))
        return "cursor";
    r->limit = 100;
    if ((v = arg(c, "limit")) != NULL && (r->limit = list_limit(v)) == 0)
        return "limit";
    return NULL;
}

_Static_assert(ENG_ADMIN_MAX_LIMIT == 1000, "list_bad_msg names the largest limit");

/* admin_list_bad_msg - see admin_req.h */
const char *
admin_list_bad_msg(const char *field)
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
