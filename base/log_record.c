/*
 * log_record.c - the JSON delivery log's records: the shape of one line
 *                (docs/json-log.schema.json). The writer is log_writer.c.
 */
#include "base/log_record.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const rec_kind_names[LOG_REC__COUNT] = {
    "reception", "delivery", "deferral", "failure", "expiry", "dsn", "admin",
};

/* log_rfc3339 - unix microseconds as RFC 3339 UTC with milliseconds */
void
log_rfc3339(int64_t us, char out[25])
{
    time_t s = (time_t)(us / 1000000);
    struct tm tm;
    if (us < 0)
        s = 0, us = 0;
    gmtime_r(&s, &tm);
    size_t n = strftime(out, 21, "%Y-%m-%dT%H:%M:%S", &tm);
    if (n != 19) {
        strcpy(out, "1970-01-01T00:00:00.000Z");
        return;
    }
    snprintf(out + 19, 6, ".%03dZ", (int)((us / 1000) % 1000));
}

/* utf8_ok - is this one sequence well-formed (no overlong form, no surrogate)? */
static int
utf8_ok(const char *s, size_t len)
{
    json_t *t = json_stringn(s, len);
    json_decref(t);
    return t != NULL;
}

/* utf8_fix - a copy of s (n bytes) with every byte that does not start a
 * well-formed sequence replaced by U+FFFD; malloc'd, *outlen set */
static char *
utf8_fix(const char *s, size_t n, size_t *outlen)
{
    char *o = malloc(n * 3 + 1);
    size_t k = 0;
    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80                 ? 1
                     : c >= 0xc2 && c <= 0xdf ? 2
                     : c >= 0xe0 && c <= 0xef ? 3
                     : c >= 0xf0 && c <= 0xf4 ? 4
                                              : 0;
        size_t j = 1;
        while (len > 1 && j < len && i + j < n && ((unsigned char)s[i + j] & 0xc0) == 0x80)
            j++;
        if (len == 0 || j != len || c == 0 || (len > 1 && !utf8_ok(s + i, len))) {
            memcpy(o + k, "\xef\xbf\xbd", 3);
            k += 3;
            i++;
            continue;
        }
        memcpy(o + k, s + i, len);
        k += len;
        i += len;
    }
    *outlen = k;
    return o;
}

/* jstr - a JSON string of s, repairing bad UTF-8; NULL out of memory */
static json_t *
jstr(const char *s)
{
    size_t n = strlen(s), m;
    json_t *j = json_stringn(s, n);
    if (j != NULL)
        return j;
    char *fixed = utf8_fix(s, n, &m);
    if (fixed == NULL)
        return NULL;
    j = json_stringn(fixed, m);
    free(fixed);
    return j;
}

/* set_str - obj[name] = s unless s is NULL (or empty when skip_empty) */
static void
set_str(json_t *obj, const char *name, const char *s, int skip_empty)
{
    if (s == NULL || (skip_empty && *s == '\0'))
        return;
    json_t *v = jstr(s);
    if (v != NULL)
        json_object_set_new(obj, name, v);
}

/* set_int - obj[name] = v when v > 0 (or >= 0 with zero_ok) */
static void
set_int(json_t *obj, const char *name, int64_t v, int zero_ok)
{
    if (v > 0 || (zero_ok && v == 0))
        json_object_set_new(obj, name, json_integer((json_int_t)v));
}

/* is_enhanced - "X.Y.Z" (X 2, 4 or 5; Y 1-3 digits; Z 1-3 digits) of n bytes */
static int
is_enhanced(const char *s, size_t n)
{
    size_t i = 1, d;
    if (n < 5 || n > 9 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
        return 0;
    for (int part = 0; part < 2; part++) {
        i++;
        for (d = 0; i < n && isdigit((unsigned char)s[i]); i++, d++)
            ;
        if (d < 1 || d > 3 || (part == 0 && (i >= n || s[i] != '.')))
            return 0;
    }
    return i == n;
}

/* code_at - an SMTP reply code "NNN" followed by space, '-' or the end at p? */
static int
code_at(const char *p)
{
    return p[0] >= '2' && p[0] <= '5' && isdigit((unsigned char)p[1]) &&
           isdigit((unsigned char)p[2]) && (p[3] == ' ' || p[3] == '-' || p[3] == '\0');
}

/* log_parse_response - split "NNN X.Y.Z text" out of a reply or explanation */
void
log_parse_response(const char *text, int *code, char enhanced[16], const char **rest)
{
    const char *p = text;
    *code = 0;
    enhanced[0] = '\0';
    *rest = text;
    while (p != NULL && !code_at(p)) {
        p = strstr(p, ": ");
        if (p != NULL)
            p += 2;
    }
    if (p == NULL)
        return;
    *code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
    p += 3;
    if (*p != '\0')
        p++;
    size_t n = strcspn(p, " ");
    if (is_enhanced(p, n) && p[0] == (char)('0' + *code / 100)) {
        memcpy(enhanced, p, n);
        enhanced[n] = '\0';
        p += n;
        if (*p == ' ')
            p++;
    }
    *rest = p;
}

/* set_response - {"code", "enhanced", "text"} of a reply */
static void
set_response(json_t *obj, const char *text)
{
    int code;
    char enh[16];
    const char *rest;
    json_t *r = json_object();
    if (r == NULL)
        return;
    log_parse_response(text, &code, enh, &rest);
    set_int(r, "code", code, 0);
    set_str(r, "enhanced", enh, 1);
    set_str(r, "text", text, 0);
    json_object_set_new(obj, "response", r);
}

/* set_tls - {"version", "cipher"} from "VERSION:CIPHER[:BITS]" */
static void
set_tls(json_t *obj, const char *x)
{
    char buf[128];
    json_t *t = json_object();
    if (t == NULL)
        return;
    snprintf(buf, sizeof(buf), "%s", x);
    char *c = strchr(buf, ':');
    if (c != NULL)
        *c++ = '\0';
    set_str(t, "version", buf, 0);
    if (c != NULL) {
        char *bits = strchr(c, ':');
        if (bits != NULL)
            *bits++ = '\0';
        set_str(t, "cipher", c, 1);
        if (bits != NULL && atoi(bits) > 0)
            set_int(t, "bits", atoi(bits), 0);
    }
    json_object_set_new(obj, "tls", t);
}

/* rec_fill - every field of r into obj */
static void
rec_fill(json_t *obj, const struct log_rec *r, int64_t now_us)
{
    set_str(obj, "id", r->id, 1);
    set_str(obj, "sender", r->sender, 0);
    set_str(obj, "recipient", r->recipient, 1);
    set_str(obj, "destination", r->destination, 1);
    set_str(obj, "router", r->router, 1);
    set_str(obj, "transport", r->transport, 1);
    set_str(obj, "host", r->host, 1);
    set_str(obj, "ip", r->ip, 1);
    set_int(obj, "port", r->port, 0);
    if (r->response != NULL)
        set_response(obj, r->response);
    if (r->tls != NULL && *r->tls != '\0')
        set_tls(obj, r->tls);
    set_str(obj, "verify", r->verify, 1);
    set_int(obj, "attempt", r->attempt, 0);
    set_int(obj, "size", r->size, 1);
    set_int(obj, "recipients", r->nrcpt, 0);
    if (r->arrival_us > 0)
        set_int(obj, "queue_time_ms", now_us > r->arrival_us ? (now_us - r->arrival_us) / 1000 : 0,
                1);
    set_str(obj, "protocol", r->protocol, 1);
    set_str(obj, "client", r->client, 1);
    set_str(obj, "action", r->action, 1);
    set_str(obj, "original_id", r->original_id, 1);
    set_str(obj, "user", r->user, 1);
    set_str(obj, "selection", r->selection, 1);
    set_str(obj, "reason", r->reason, 1);
    if (r->kind == LOG_REC_ADMIN)
        set_int(obj, "messages", r->messages, 1);
}

/* log_record_json - the record as one JSON line */
char *
log_record_json(const struct log_rec *r, int64_t now_us)
{
    char stamp[25];
    json_t *obj = json_object();
    if (obj == NULL || (unsigned)r->kind >= LOG_REC__COUNT) {
        json_decref(obj);
        return NULL;
    }
    log_rfc3339(now_us, stamp);
    json_object_set_new(obj, "time", json_string(stamp));
    json_object_set_new(obj, "event", json_string(rec_kind_names[r->kind]));
    rec_fill(obj, r, now_us);
    char *body = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    if (body == NULL)
        return NULL;
    size_t n = strlen(body);
    char *line = realloc(body, n + 2);
    if (line == NULL) {
        free(body);
        return NULL;
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    return line;
}
