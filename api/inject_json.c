/*
 * inject_json.c - validate the body of POST /api/v1/inject into a batch of
 *                 messages; see inject_json.h for the accepted forms.
 *
 * The checks run in a fixed order per message (unknown fields, then
 * envelope_sender, recipients, content, dsn) so the field named in an error
 * does not depend on the order of keys in the request. Addresses are checked
 * with addr_valid_mailbox() (UTF-8 allowed, as with SMTPUTF8).
 *
 * Two ways to the same result. The fast one (inject_lifted): the pre-scan
 * lifts each message's "content" string out of the text, decoding it
 * straight into a buffer of its own (inject_scan.c, wire.c), and jansson
 * parses only the small skeleton left; the validation below then runs on
 * that tree, taking each content's length from what was lifted. Whenever
 * that way is not sure (a string it leaves to jansson, or any error at all
 * once past the bounds), the ordinary one (inject_tree) parses the whole
 * original text with jansson and validates it, so every error, its status,
 * field and text, is exactly what the ordinary way gives.
 *
 * Diagnostics: every failure fills struct inject_error; nothing is logged.
 */
#include "api/inject_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/inject_check.h"
#include "api/inject_scan.h"
#include "api/wire.h"
#include "conf/address.h"

/* inject_check_keys - fail on a key of o that is not in allowed (NULL-ended) */
static int
inject_check_keys(json_t *o, const char *const *allowed, const char *pfx, struct inject_error *err)
{
    const char *key;
    json_t *v;

    json_object_foreach(o, key, v)
    {
        size_t i;
        for (i = 0; allowed[i] != NULL; i++)
            if (strcmp(key, allowed[i]) == 0)
                break;
        if (allowed[i] == NULL)
            return inject_fail(err, 400, pfx, key, "unknown field");
    }
    return 0;
}

/* inject_address - one address field: a string holding a valid mailbox */
static int
inject_address(json_t *v, int allow_null, const char *pfx, const char *name, const char **out,
               struct inject_error *err)
{
    if (!json_is_string(v))
        return inject_fail(err, 400, pfx, name, "must be a string");
    if (inject_mailbox(json_string_value(v), json_string_length(v), allow_null, pfx, name, err) < 0)
        return -1;
    *out = json_string_value(v);
    return 0;
}

/* inject_recipients - the "recipients" array */
static int
inject_recipients(json_t *a, const char *pfx, struct inject_msg *m, struct inject_error *err)
{
    char name[48];
    size_t i;
    json_t *v;

    if (a == NULL)
        return inject_fail(err, 400, pfx, "recipients", "missing required field");
    if (!json_is_array(a))
        return inject_fail(err, 400, pfx, "recipients", "must be an array of addresses");
    if (json_array_size(a) == 0)
        return inject_fail(err, 400, pfx, "recipients", "no recipients");
    if (json_array_size(a) > INJECT_MAX_RCPTS)
        return inject_fail(err, 413, pfx, "recipients", "more than %d recipients",
                           INJECT_MAX_RCPTS);
    m->rcpts = calloc(json_array_size(a), sizeof(*m->rcpts));
    if (m->rcpts == NULL)
        return inject_fail(err, 500, pfx, "", "out of memory");
    json_array_foreach(a, i, v)
    {
        snprintf(name, sizeof(name), "recipients[%zu]", i);
        if (inject_address(v, 0, pfx, name, &m->rcpts[i], err) < 0)
            return -1;
        m->nrcpt++;
    }
    return 0;
}

/* inject_content - the "content" string, within the size limit; lifted
 * (lf not NULL), the string in the tree is the ordinal of the lifted text,
 * which must be the message's own (idx) */
static int
inject_content(json_t *v, uint64_t limit, const char *pfx, const struct inject_lift *lf, size_t idx,
               struct inject_msg *m, struct inject_error *err)
{
    char ord[24];

    if (v == NULL)
        return inject_fail(err, 400, pfx, "content", "missing required field");
    if (!json_is_string(v))
        return inject_fail(err, 400, pfx, "content", "must be a string");
    if (lf == NULL) {
        m->content = json_string_value(v);
        m->content_len = json_string_length(v);
    } else {
        snprintf(ord, sizeof(ord), "%zu", idx);
        if (idx >= lf->n || strcmp(json_string_value(v), ord) != 0)
            return inject_fail(err, 400, pfx, "content", "not lifted");
        m->content_len = lf->v[idx].declen;
    }
    if (m->content_len == 0)
        return inject_fail(err, 400, pfx, "content", "empty message");
    if (limit != 0 && m->content_len > limit)
        return inject_fail(err, 413, pfx, "content",
                           "message of %zu bytes is over the size limit of %llu bytes",
                           m->content_len, (unsigned long long)limit);
    return 0;
}

/* inject_notify_word - one NOTIFY keyword to its bit, 0 if unknown */
static unsigned
inject_notify_word(const char *w, size_t n)
{
    static const struct {
        const char *name;
        unsigned bit;
    } words[] = {{"NEVER", INJECT_NOTIFY_NEVER},
                 {"SUCCESS", INJECT_NOTIFY_SUCCESS},
                 {"FAILURE", INJECT_NOTIFY_FAILURE},
                 {"DELAY", INJECT_NOTIFY_DELAY}};

    while (n > 0 && (*w == ' ' || *w == '\t'))
        w++, n--;
    while (n > 0 && (w[n - 1] == ' ' || w[n - 1] == '\t'))
        n--;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strlen(words[i].name) == n && strncasecmp(w, words[i].name, n) == 0)
            return words[i].bit;
    return 0;
}

/* inject_notify - "notify": comma-separated string or array of keywords */
static int
inject_notify(json_t *v, const char *pfx, unsigned *out, struct inject_error *err)
{
    const char *bad = "must be NEVER or a list of SUCCESS, FAILURE, DELAY";
    unsigned bits = 0, b;
    size_t i;
    json_t *e;

    if (json_is_string(v)) {
        const char *s = json_string_value(v), *comma;
        do {
            comma = strchr(s, ',');
            b = inject_notify_word(s, comma != NULL ? (size_t)(comma - s) : strlen(s));
            if (b == 0)
                return inject_fail(err, 400, pfx, "dsn.notify", "%s", bad);
            bits |= b;
            if (comma != NULL)
                s = comma + 1;
        } while (comma != NULL);
    } else if (json_is_array(v) && json_array_size(v) > 0) {
        json_array_foreach(v, i, e)
        {
            if (!json_is_string(e) ||
                (b = inject_notify_word(json_string_value(e), json_string_length(e))) == 0) {
                char name[48];
                snprintf(name, sizeof(name), "dsn.notify[%zu]", i);
                return inject_fail(err, 400, pfx, name, "%s", bad);
            }
            bits |= b;
        }
    } else {
        return inject_fail(err, 400, pfx, "dsn.notify", "%s", bad);
    }
    if ((bits & INJECT_NOTIFY_NEVER) && bits != INJECT_NOTIFY_NEVER)
        return inject_fail(err, 400, pfx, "dsn.notify", "NEVER cannot be combined");
    *out = bits;
    return 0;
}

/* inject_printable - every byte of s is printable: ASCII only, or UTF-8 too */
static int
inject_printable(const char *s, size_t len, int ascii)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || (ascii && c > 0x7e))
            return 0;
    }
    return 1;
}

/* inject_orcpt - "orcpt": {recipient: original recipient} */
static int
inject_orcpt(json_t *o, const char *pfx, struct inject_msg *m, struct inject_error *err)
{
    char name[ADDR_MAX + 32];
    const char *key;
    json_t *v;

    if (!json_is_object(o))
        return inject_fail(err, 400, pfx, "dsn.orcpt", "must be an object of recipient: ORCPT");
    m->orcpt = calloc(m->nrcpt, sizeof(*m->orcpt));
    if (m->orcpt == NULL)
        return inject_fail(err, 500, pfx, "", "out of memory");
    json_object_foreach(o, key, v)
    {
        int found = 0;
        snprintf(name, sizeof(name), "dsn.orcpt[\"%.*s\"]", ADDR_MAX, key);
        if (!json_is_string(v) || json_string_length(v) == 0 ||
            json_string_length(v) > INJECT_ORCPT_MAX ||
            !inject_printable(json_string_value(v), json_string_length(v), 0))
            return inject_fail(err, 400, pfx, name,
                               "must be a string of 1 to %d printable "
                               "characters",
                               INJECT_ORCPT_MAX);
        for (size_t i = 0; i < m->nrcpt; i++)
            if (strcmp(m->rcpts[i], key) == 0) {
                m->orcpt[i] = json_string_value(v);
                found = 1;
            }
        if (!found)
            return inject_fail(err, 400, pfx, name, "not one of the recipients");
    }
    return 0;
}

/* inject_dsn - the optional "dsn" object */
static int
inject_dsn(json_t *d, const char *pfx, struct inject_msg *m, struct inject_error *err)
{
    static const char *const keys[] = {"notify", "ret", "envid", "orcpt", NULL};
    char dpfx[200];
    json_t *v;

    if (!json_is_object(d))
        return inject_fail(err, 400, pfx, "dsn", "must be an object");
    snprintf(dpfx, sizeof(dpfx), "%s%sdsn", pfx, *pfx ? "." : "");
    if (inject_check_keys(d, keys, dpfx, err) < 0)
        return -1;
    if ((v = json_object_get(d, "notify")) != NULL && inject_notify(v, pfx, &m->notify, err) < 0)
        return -1;
    if ((v = json_object_get(d, "ret")) != NULL) {
        const char *s = json_is_string(v) ? json_string_value(v) : "";
        if (strcasecmp(s, "FULL") == 0)
            m->ret = INJECT_RET_FULL;
        else if (strcasecmp(s, "HDRS") == 0)
            m->ret = INJECT_RET_HDRS;
        else
            return inject_fail(err, 400, pfx, "dsn.ret", "must be FULL or HDRS");
    }
    if ((v = json_object_get(d, "envid")) != NULL) {
        if (!json_is_string(v) || json_string_length(v) == 0 ||
            json_string_length(v) > INJECT_ENVID_MAX ||
            !inject_printable(json_string_value(v), json_string_length(v), 1))
            return inject_fail(err, 400, pfx, "dsn.envid",
                               "must be a string of 1 to %d printable ASCII characters",
                               INJECT_ENVID_MAX);
        m->envid = json_string_value(v);
    }
    if ((v = json_object_get(d, "orcpt")) != NULL && inject_orcpt(v, pfx, m, err) < 0)
        return -1;
    return 0;
}

/* inject_message - one message object; pfx is "" or "messages[N]", idx
 * its ordinal (0 in the single form) */
static int
inject_message(json_t *o, const char *pfx, uint64_t limit, const struct inject_lift *lf, size_t idx,
               struct inject_msg *m, struct inject_error *err)
{
    static const char *const keys[] = {"envelope_sender", "recipients", "content", "dsn", NULL};
    json_t *v;

    if (!json_is_object(o))
        return inject_fail(err, 400, pfx, "", "must be an object");
    if (inject_check_keys(o, keys, pfx, err) < 0)
        return -1;
    v = json_object_get(o, "envelope_sender");
    if (v == NULL)
        return inject_fail(err, 400, pfx, "envelope_sender", "missing required field");
    if (inject_address(v, 1, pfx, "envelope_sender", &m->sender, err) < 0)
        return -1;
    if (inject_recipients(json_object_get(o, "recipients"), pfx, m, err) < 0)
        return -1;
    if (inject_content(json_object_get(o, "content"), limit, pfx, lf, idx, m, err) < 0)
        return -1;
    if ((v = json_object_get(o, "dsn")) != NULL && inject_dsn(v, pfx, m, err) < 0)
        return -1;
    return 0;
}

/* inject_messages - the batch form {"messages": [...]} */
static int
inject_messages(json_t *root, uint64_t limit, const struct inject_lift *lf, struct inject_batch *b,
                struct inject_error *err)
{
    static const char *const keys[] = {"messages", NULL};
    json_t *a = json_object_get(root, "messages"), *v;
    char pfx[40];
    size_t i;

    if (inject_check_keys(root, keys, "", err) < 0)
        return -1;
    if (!json_is_array(a) || json_array_size(a) == 0)
        return inject_fail(err, 400, "", "messages", "must be a non-empty array of messages");
    if (json_array_size(a) > INJECT_MAX_MESSAGES)
        return inject_fail(err, 413, "", "messages", "more than %d messages", INJECT_MAX_MESSAGES);
    b->msgs = calloc(json_array_size(a), sizeof(*b->msgs));
    if (b->msgs == NULL)
        return inject_fail(err, 500, "", "", "out of memory");
    json_array_foreach(a, i, v)
    {
        snprintf(pfx, sizeof(pfx), "messages[%zu]", i);
        b->n++;
        if (inject_message(v, pfx, limit, lf, i, &b->msgs[i], err) < 0)
            return -1;
        b->nrcpt += b->msgs[i].nrcpt;
    }
    return 0;
}

/* inject_syntax_error - the 400 for text jansson could not parse */
static int
inject_syntax_error(const json_error_t *jerr, struct inject_error *err)
{
    if (json_error_code(jerr) == json_error_invalid_utf8)
        return inject_fail(err, 400, "", "",
                           "invalid UTF-8 in the JSON text at line %d column %d: %s", jerr->line,
                           jerr->column, jerr->text);
    return inject_fail(err, 400, "", "", "invalid JSON at line %d column %d: %s", jerr->line,
                       jerr->column, jerr->text);
}

/* inject_validate - the tree at b->root into b's messages; 0 or -1 (b
 * is left for the caller to free) */
static int
inject_validate(uint64_t limit, const struct inject_lift *lf, struct inject_batch *b,
                struct inject_error *err)
{
    int rc;

    if (!json_is_object(b->root))
        return inject_fail(err, 400, "", "", "the request must be a JSON object");
    if (json_object_get(b->root, "messages") != NULL)
        return inject_messages(b->root, limit, lf, b, err);
    b->msgs = calloc(1, sizeof(*b->msgs));
    if (b->msgs == NULL)
        return inject_fail(err, 500, "", "", "out of memory");
    b->n = 1;
    rc = inject_message(b->root, "", limit, lf, 0, b->msgs, err);
    b->nrcpt = b->msgs->nrcpt;
    return rc;
}

/* inject_tree - the ordinary way: bounds, jansson on the whole text,
 * validation; then, for the wire form, each content normalised into a
 * buffer of its own */
static int
inject_tree(const char *body, size_t len, uint64_t limit, unsigned flags, size_t head,
            struct inject_batch *b, struct inject_error *err)
{
    json_error_t jerr;

    if (inject_prescan(body, len, NULL, err) < 0)
        return -1;
    b->root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (b->root == NULL)
        return inject_syntax_error(&jerr, err);
    if (inject_validate(limit, NULL, b, err) < 0)
        return -1;
    for (size_t i = 0; (flags & INJECT_PARSE_WIRE) && i < b->n; i++) {
        struct inject_msg *m = &b->msgs[i];
        struct wire w;
        if (wire_open(&w, head, m->content_len + m->content_len / 32 + 64) < 0 ||
            wire_put(&w, m->content, m->content_len) < 0 || wire_end(&w) < 0) {
            wire_free(&w);
            return inject_fail(err, 500, "", "", "out of memory");
        }
        m->buf = w.buf;
        m->buf_len = w.len - head;
        m->content = NULL;
    }
    return 0;
}

/* inject_lifted - the fast way: 0, -1 with err (a bound: the ordinary way
 * would stop at the same place), or 1 to take the ordinary way */
static int
inject_lifted(const char *body, size_t len, uint64_t limit, unsigned flags, size_t head,
              struct inject_batch *b, struct inject_error *err)
{
    struct inject_lift lf = {.crlf = (flags & INJECT_PARSE_WIRE) != 0, .head = head};
    json_error_t jerr;
    int rc = inject_prescan(body, len, &lf, err);

    if (rc == 0 && lf.n > 0) {
        b->root = json_loadb(lf.skel, lf.skel_len, JSON_REJECT_DUPLICATES, &jerr);
        rc = b->root == NULL || inject_validate(limit, &lf, b, err) < 0 || lf.n != b->n;
    } else if (rc == 0) {
        rc = 1; /* nothing to lift: not a valid request */
    }
    for (size_t i = 0; rc == 0 && i < b->n; i++) {
        struct inject_msg *m = &b->msgs[i];
        m->buf = lf.v[i].buf;
        m->buf_len = lf.v[i].len;
        m->content = (flags & INJECT_PARSE_WIRE) ? NULL : m->buf;
        lf.v[i].buf = NULL;
    }
    inject_lift_free(&lf);
    if (rc > 0) {
        inject_batch_free(b);
        memset(err, 0, sizeof(*err));
    }
    return rc;
}

/* inject_json_parse_opts - the fast way, then if need be the ordinary one */
int
inject_json_parse_opts(const char *body, size_t len, uint64_t size_limit, unsigned flags,
                       size_t head, struct inject_batch *out, struct inject_error *err)
{
    int rc = 1;

    memset(out, 0, sizeof(*out));
    memset(err, 0, sizeof(*err));
    if (!(flags & INJECT_PARSE_TREE))
        rc = inject_lifted(body, len, size_limit, flags, head, out, err);
    if (rc > 0 && (flags & INJECT_PARSE_LIFTED))
        rc = -1; /* err->status stays 0 */
    else if (rc > 0)
        rc = inject_tree(body, len, size_limit, flags, head, out, err);
    if (rc < 0)
        inject_batch_free(out);
    return rc;
}

/* inject_json_parse - as the tests and the fuzz target know it */
int
inject_json_parse(const char *body, size_t len, uint64_t size_limit, struct inject_batch *out,
                  struct inject_error *err)
{
    return inject_json_parse_opts(body, len, size_limit, 0, 0, out, err);
}

/* inject_batch_free - release the messages and the JSON tree */
void
inject_batch_free(struct inject_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->msgs[i].rcpts);
        free(b->msgs[i].orcpt);
        free(b->msgs[i].buf);
    }
    free(b->msgs);
    json_decref(b->root);
    memset(b, 0, sizeof(*b));
}

/* inject_screen_msg - move m's undeliverable recipients into rejected */
static size_t
inject_screen_msg(struct inject_msg *m, int allow_literals, json_t *rejected)
{
    size_t k = 0, moved = 0;

    for (size_t i = 0; i < m->nrcpt; i++) {
        const char *why = NULL;
        if (addr_rcpt_check(m->rcpts[i], allow_literals, &why) != 0) {
            json_array_append_new(rejected,
                                  json_pack("{s:s, s:s}", "recipient", m->rcpts[i], "reason", why));
            moved++;
            continue;
        }
        m->rcpts[k] = m->rcpts[i];
        if (m->orcpt != NULL)
            m->orcpt[k] = m->orcpt[i];
        k++;
    }
    m->nrcpt = k;
    return moved;
}

/* inject_json_screen - per message, then drop the messages left empty */
size_t
inject_json_screen(struct inject_batch *b, int allow_literals, json_t *rejected)
{
    size_t moved = 0, k = 0;

    for (size_t i = 0; i < b->n; i++) {
        moved += inject_screen_msg(&b->msgs[i], allow_literals, rejected);
        if (b->msgs[i].nrcpt == 0) {
            free(b->msgs[i].rcpts);
            free(b->msgs[i].orcpt);
            free(b->msgs[i].buf);
            continue;
        }
        b->msgs[k++] = b->msgs[i];
    }
    b->n = k;
    b->nrcpt -= moved;
    return moved;
}
