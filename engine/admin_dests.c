/*
 * admin_dests.c - the per-destination view of the admin API
 *                 (GET /api/v1/admin/destinations, admin.h): for each
 *                 destination its ready jobs, the recipients of its domain
 *                 waiting for a retry time or held, connections open and
 *                 idle, the delivery rate, counts, the last error, its
 *                 back-off and suspension.
 *
 * "scheduled" is counted per recipient domain by one walk of the queue
 * when the view is asked for (a recipient is routed to a destination only
 * when it is due), and shown on the destination its domain first reached.
 *
 * Scheduler thread only.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/admin_int.h"

/* Recipients waiting (not due, or held), by domain: open addressing. */
struct domcount {
    const char *dom; /* into a recipient's address; NULL: empty slot */
    size_t n;
};
struct domtab {
    struct domcount *slot;
    size_t cap; /* a power of two, at least twice the entries */
};

/* dom_hash - FNV-1a of the domain, case-folded */
static size_t
dom_hash(const char *s)
{
    size_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)(*s | 0x20)) * 16777619u;
    return h;
}

/* dom_slot - the slot of dom in t (its own, or the empty one it would take) */
static struct domcount *
dom_slot(const struct domtab *t, const char *dom)
{
    size_t i = dom_hash(dom) & (t->cap - 1);
    while (t->slot[i].dom != NULL && strcasecmp(t->slot[i].dom, dom) != 0)
        i = (i + 1) & (t->cap - 1);
    return &t->slot[i];
}

/* rcpt_waiting - recipient i of q is pending and neither due nor in hand */
static int
rcpt_waiting(const struct eng_qmsg *q, uint32_t i, int64_t now)
{
    const struct spool_rcpt *rc = &q->m->rcpt[i];
    if (rc->state != SPOOL_RCPT_PENDING || q->busy[i])
        return 0;
    return rc->next_try > now || admin_held(q, i);
}

/* count_waiting - the table of waiting recipients per domain (calloc'd
 * slots; the domains point into the messages: use it before any returns) */
static struct domtab
count_waiting(void)
{
    struct domtab t = {.cap = 16};
    int64_t now = now_s();
    while (t.cap < 2 * (size_t)sch.queued_rcpts + 16)
        t.cap *= 2;
    if ((t.slot = calloc(t.cap, sizeof(*t.slot))) == NULL)
        abort();
    for (struct eng_qmsg *q = sch.qhead; q; q = q->next)
        for (uint32_t i = 0; i < q->m->nrcpt; i++) {
            const char *at = strrchr(q->m->rcpt[i].address, '@');
            if (at == NULL || !rcpt_waiting(q, i, now))
                continue;
            struct domcount *c = dom_slot(&t, at + 1);
            c->dom = at + 1;
            c->n++;
        }
    return t;
}

/* last_error - {"text", "at"} of d's last deferral or failure, or null */
static json_t *
last_error(const struct eng_dest *d)
{
    char at[32];
    if (d->last_error == NULL)
        return json_null();
    admin_iso(d->last_error_at, at, sizeof(at));
    return json_pack("{s:o, s:s}", "text", admin_jstr(d->last_error), "at", at);
}

/* dest_json - one destination */
static json_t *
dest_json(const struct eng_dest *d, const struct domtab *t)
{
    json_t *hosts = json_array();
    char until[32];
    size_t waiting = d->domain ? dom_slot(t, d->domain)->n : 0;

    for (size_t i = 0; i < d->nhosts; i++)
        json_array_append_new(hosts, admin_jstr(d->hosts[i].name));
    admin_iso(d->backoff_until, until, sizeof(until));
    json_t *o =
        json_pack("{s:o, s:o, s:s, s:i, s:o, s:I, s:i, s:I, s:s?, s:I, s:I, s:I, s:b}",
                  "destination", admin_jstr(d->key), "domain", admin_jstr(d->domain), "transport",
                  d->tp->name, "port", (int)d->port, "hosts", hosts, "ready", (json_int_t)d->nready,
                  "connections", d->nconn, "idle", (json_int_t)d->nidle, "backoff_until",
                  d->backoff_until > now_s() ? until : NULL, "delivered", (json_int_t)d->delivered,
                  "deferred", (json_int_t)d->deferred, "failed", (json_int_t)d->failed, "suspended",
                  d->domain != NULL && admin_susp_find(d->domain, now_s()) >= 0);
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "scheduled", json_integer((json_int_t)waiting));
    json_object_set_new(o, "rate_per_s", json_integer((json_int_t)d->rate_per_s));
    json_object_set_new(o, "last_error", last_error(d));
    return o;
}

/* admin_dests_json - every destination and the suspended domains */
json_t *
admin_dests_json(void)
{
    json_t *a = json_array();
    struct domtab t = count_waiting();

    for (size_t b = 0; b < DEST_BUCKETS; b++)
        for (struct eng_dest *d = sch.dests[b]; d; d = d->hnext) {
            json_t *o = dest_json(d, &t);
            if (o != NULL)
                json_array_append_new(a, o);
        }
    free(t.slot);
    return json_pack("{s:I, s:I, s:o, s:o}", "messages", (json_int_t)sch.queued, "recipients",
                     (json_int_t)sch.queued_rcpts, "destinations", a, "suspended",
                     admin_susp_json());
}
