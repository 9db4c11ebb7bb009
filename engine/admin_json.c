/*
 * admin_json.c - the scheduler's state as JSON for the admin API: one
 *                message (list entry or in full) and the destinations.
 *                Reads only; scheduler thread.
 *
 * Times are RFC 3339 UTC strings ("2024-05-01T12:00:00Z"); a recipient's
 * DSN request (RFC 3461) is shown as stored: NOTIFY as a list of words,
 * ORCPT and ENVID as written (xtext), RET as "FULL" or "HDRS".
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "conf/address.h"
#include "engine/admin_int.h"

/* admin_jstr - s as a JSON string ("" for NULL; a marker when not UTF-8) */
json_t *
admin_jstr(const char *s)
{
    json_t *j = json_string(s ? s : "");

    return j != NULL ? j : json_string("(not UTF-8)");
}

/* rcpt_state_name - a recipient's state as a word */
static const char *
rcpt_state_name(uint8_t s)
{
    return s == SPOOL_RCPT_DELIVERED ? "delivered" : s == SPOOL_RCPT_FAILED ? "failed" : "pending";
}

/* next_attempt - the earliest next try of q's routable recipients (now when
 * one is due or under way), 0 when none: all final, held or frozen */
static int64_t
next_attempt(const struct eng_qmsg *q, int64_t now)
{
    int64_t next = 0;

    if (q->admin & ADMIN_Q_FROZEN)
        return 0;
    for (uint32_t i = 0; i < q->m->nrcpt; i++) {
        const struct spool_rcpt *rc = &q->m->rcpt[i];
        int64_t t = q->busy[i] || rc->next_try < now ? now : rc->next_try;
        if (rc->state != SPOOL_RCPT_PENDING || (!q->busy[i] && admin_held(q, i)))
            continue;
        if (next == 0 || t < next)
            next = t;
    }
    return next;
}

/* admin_msg_state - ready, scheduled or frozen */
enum eng_admin_state
admin_msg_state(const struct eng_qmsg *q, int64_t now)
{
    int64_t next;

    if (q->admin & ADMIN_Q_FROZEN)
        return ENG_ADMIN_FROZEN;
    next = next_attempt(q, now);
    return next != 0 && next <= now ? ENG_ADMIN_READY : ENG_ADMIN_SCHEDULED;
}

/* notify_json - NOTIFY bits as ["SUCCESS", "FAILURE", "DELAY"] or ["NEVER"] */
static json_t *
notify_json(uint8_t bits)
{
    json_t *a;

    if (bits == 0)
        return json_null();
    a = json_array();
    if (bits & SPOOL_NOTIFY_NEVER)
        json_array_append_new(a, json_string("NEVER"));
    if (bits & SPOOL_NOTIFY_SUCCESS)
        json_array_append_new(a, json_string("SUCCESS"));
    if (bits & SPOOL_NOTIFY_FAILURE)
        json_array_append_new(a, json_string("FAILURE"));
    if (bits & SPOOL_NOTIFY_DELAY)
        json_array_append_new(a, json_string("DELAY"));
    return a;
}

/* rcpt_json - recipient i of q */
static json_t *
rcpt_json(const struct eng_qmsg *q, uint32_t i, int full, int64_t now)
{
    const struct spool_rcpt *rc = &q->m->rcpt[i];
    json_t *o =
        json_pack("{s:o, s:s, s:i, s:o}", "address", admin_jstr(rc->address), "state",
                  rcpt_state_name(rc->state), "attempts", (int)rc->attempts, "last_response",
                  q->note[i] && q->note[i]->text ? admin_jstr(q->note[i]->text) : json_null());
    char t[32];

    if (!full)
        return o;
    admin_iso(rc->next_try > now ? rc->next_try : now, t, sizeof(t));
    json_object_set_new(o, "next_try",
                        rc->state == SPOOL_RCPT_PENDING ? json_string(t) : json_null());
    json_object_set_new(o, "held",
                        json_boolean(rc->state == SPOOL_RCPT_PENDING && admin_held(q, i)));
    json_object_set_new(o, "dsn_notify", notify_json(rc->dsn_notify));
    json_object_set_new(o, "dsn_orcpt", rc->dsn_orcpt ? admin_jstr(rc->dsn_orcpt) : json_null());
    return o;
}

/* msg_full - the fields only GET /api/v1/admin/messages/ID shows */
static void
msg_full(json_t *o, const struct spool_msg *m)
{
    const char *ret = m->dsn_ret == SPOOL_RET_FULL   ? "FULL"
                      : m->dsn_ret == SPOOL_RET_HDRS ? "HDRS"
                                                     : NULL;

    json_object_set_new(o, "protocol", admin_jstr(m->proto));
    json_object_set_new(o, "host", admin_jstr(m->host));
    json_object_set_new(o, "helo", admin_jstr(m->helo));
    json_object_set_new(o, "dsn_ret", ret ? json_string(ret) : json_null());
    json_object_set_new(o, "dsn_envid", m->dsn_envid ? admin_jstr(m->dsn_envid) : json_null());
    json_object_set_new(o, "notice", json_boolean(m->flags & SPOOL_F_NOTICE));
}

/* admin_msg_json - q as a listing entry, or in full */
json_t *
admin_msg_json(const struct eng_qmsg *q, int full)
{
    static const char *const states[] = {"", "ready", "scheduled", "frozen"};
    const struct spool_msg *m = q->m;
    int64_t now = now_s(), next = next_attempt(q, now), at = m->arrival_us / 1000000;
    json_t *o, *rc = json_array();
    char recv[32], nt[32];

    admin_iso(at, recv, sizeof(recv));
    admin_iso(next, nt, sizeof(nt));
    for (uint32_t i = 0; i < m->nrcpt; i++)
        json_array_append_new(rc, rcpt_json(q, i, full, now));
    o = json_pack("{s:s, s:o, s:o, s:s, s:I, s:I, s:s, s:s?}", "id", m->id, "sender",
                  admin_jstr(m->sender), "recipients", rc, "received_at", recv, "age_s",
                  (json_int_t)(now - at), "size", (json_int_t)m->body_len, "state",
                  states[admin_msg_state(q, now)], "next_attempt_at", next ? nt : NULL);
    if (o != NULL && full)
        msg_full(o, m);
    if (o != NULL && q->rebind != NULL) /* admin_rebind.c: only when set */
        json_object_set_new(o, "rebind", admin_rebind_json(q));
    return o;
}
