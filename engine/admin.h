/*
 * admin.h - the operator's view of the queue and the actions on it (the
 *           admin API, api/admin.c): list and inspect messages, the
 *           per-destination view, retry now, freeze and thaw, delete,
 *           bounce, suspend and resume a domain, rebind to another
 *           transport.
 *
 * Every call here is made from another thread (the HTTP API's) and runs on
 * the scheduler thread: the request is posted to it and the caller waits,
 * at most wait_ms. Work over the whole queue is done in slices of
 * ENG_ADMIN_SLICE messages, each followed by a round of the scheduler's
 * I/O, so a bulk action on 100k messages does not stall deliveries.
 *
 * Selection (struct eng_admin_req): by message ids (ids/nids), or by
 * recipient domain (domain); for listings also by sender, state and age.
 * An action touches what can be touched now: recipients lent to a worker
 * (a delivery already under way) finish as they will.
 *
 * Semantics:
 *   retry    pending recipients get next_try = now and are routed at once;
 *            with a domain, also ends the back-off of destinations first
 *            reached through it; queue_only mail is tried too.
 *   freeze   the message is held: not routed until thawed (in memory: a
 *            restart thaws it).
 *   thaw     undoes freeze; the message is scheduled at once (see
 *            queue_only below).
 *   delete   the message is removed from the spool with no notice to its
 *            sender; logged "<id> deleted by admin".
 *   bounce   pending recipients fail with "bounced by administrator:
 *            REASON"; the sender gets the failure notice the engine sends
 *            for any failure.
 *   suspend  recipients of the domain are held (not deferred: no attempt
 *            is counted) until resume or until duration_s has passed
 *            (0: until resume); jobs waiting in ready queues are taken back.
 *   resume   ends a suspension; the domain's mail is scheduled at once.
 *   queue_only: suspend, resume and thaw schedule a message only when the
 *            engine would: with queue_only set, a message that was never
 *            tried, is not in flight and was not retried or rebound by an
 *            operator stays on the spool (as on arrival). retry and rebind
 *            are the operator's order to deliver: they try it regardless,
 *            and from then on it follows the retry rules like any other.
 *   rebind   a one-shot move of what is queued now: the selected
 *            messages' pending recipients (of the domain when selected by
 *            domain, all of them when selected by ids) route through the
 *            transport named req->transport from now on, and are scheduled
 *            at once (like retry). The override is kept in memory on the
 *            message (a restart forgets it; new mail for the domain routes
 *            as configured); a later rebind covering the same recipients
 *            replaces it. At routing time it wins over the routers: the
 *            router used is the first in the configuration whose transport
 *            is T (a manualroute one only if a route_list rule takes the
 *            domain, its "*" rule included; the router's domains condition
 *            is ignored), or, when no router uses T, the domain's MX hosts
 *            with T's port and TLS settings (logged R=rebind). T is looked
 *            up by name in the configuration running at routing time: after
 *            a reload that lost it, the recipients route as configured. A
 *            queuefile transport is accepted too. A name the running
 *            configuration lacks is refused (ENG_ADMIN_REFUSED, nothing
 *            done). Recipients whose routing lookup is in flight keep the
 *            route it gives.
 * Each action is logged with who asked (req->who) and how many messages it
 * touched: "admin: OP SELECTOR by WHO: N message(s)" (rebind adds
 * " transport=T" to the selector).
 *
 * Thread rules: any thread but the scheduler's. Strings in the request are
 * copied; the returned texts are malloc'd (caller frees).
 */
#ifndef SPATE_ENGINE_ADMIN_H
#define SPATE_ENGINE_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#define ENG_ADMIN_SLICE 2000     /* messages visited per slice */
#define ENG_ADMIN_MAX_LIMIT 1000 /* messages per listing page at most */

enum eng_admin_op {
    ENG_ADMIN_LIST = 0, /* eng_admin_list */
    ENG_ADMIN_RETRY,
    ENG_ADMIN_FREEZE,
    ENG_ADMIN_THAW,
    ENG_ADMIN_DELETE,
    ENG_ADMIN_BOUNCE,
    ENG_ADMIN_SUSPEND,
    ENG_ADMIN_RESUME,
    ENG_ADMIN_REBIND, /* req->transport: see above */
};

/* eng_admin_act's answer when the request names what the running
 * configuration lacks (rebind: no transport by that name) */
#define ENG_ADMIN_REFUSED (-2)

/* Listing filter on a message's state. */
enum eng_admin_state {
    ENG_ADMIN_ANY = 0,
    ENG_ADMIN_READY,     /* a pending recipient is due or being delivered */
    ENG_ADMIN_SCHEDULED, /* waiting for a retry time (or a suspension) */
    ENG_ADMIN_FROZEN,    /* frozen by an operator */
};

struct eng_admin_req {
    const char *const *ids; /* message ids, or NULL */
    size_t nids;
    const char *domain;         /* recipient domain, or NULL */
    const char *sender;         /* list: envelope sender, case-insensitive; "@dom": its domain */
    enum eng_admin_state state; /* list: state filter */
    long older_than_s;          /* list: only messages at least this old; 0 none */
    const char *cursor;         /* list: only ids after this one; NULL from the start */
    size_t limit;               /* list: page size, 1..ENG_ADMIN_MAX_LIMIT */
    long duration_s;            /* suspend: seconds, 0 = until resume */
    const char *reason;         /* bounce, suspend, delete: free text, or NULL */
    const char *who;            /* for the log: "[ip]:port scope=admin" */
    const char *transport;      /* rebind: the transport's name */
};

/* eng_admin_list - {"messages": [...], "next_cursor": "ID"|null}, ids in
 * ascending (arrival) order; NULL when the scheduler did not answer */
char *eng_admin_list(const struct eng_admin_req *r, int wait_ms);

/* eng_admin_show - one message in full (DSN parameters included), or NULL
 * with *found = 0 when it is not queued (*found = -1: no answer in time) */
char *eng_admin_show(const char *id, int wait_ms, int *found);

/* eng_admin_destinations - {"destinations": [...], "suspended": [...]};
 * NULL when the scheduler did not answer */
char *eng_admin_destinations(int wait_ms);

/* eng_admin_act - run an action (not ENG_ADMIN_LIST); the number of
 * messages it touched, -1 when it did not finish within wait_ms (it
 * goes on; its log line tells the count) or the engine is not running,
 * or ENG_ADMIN_REFUSED (rebind: req->transport names no transport of the
 * running configuration; nothing was done) */
long eng_admin_act(enum eng_admin_op op, const struct eng_admin_req *r, int wait_ms);

/* eng_admin_actions - the actions (not listings, show or destinations)
 * whose walk is in progress now, oldest first:
 *   {"actions": [{"id": N, "op": "bounce", "selector": "domain=x",
 *     "domain": "x"|null, "who": "...", "visited": V, "queued": Q,
 *     "affected": A, "started_at": "YYYY-MM-DDTHH:MM:SSZ"}]}
 * id numbers the walks from 1 in start order (since the engine started);
 * selector is the log line's ("ids=A,B,..." cut at 299 bytes); who is
 * req->who ("suspension timer" for a timed suspension's end); visited
 * counts the messages the walk has stepped over so far, queued is the
 * number of queued messages when it started (messages freed during the
 * walk are not visited and new ones are not either, so visited may end
 * below queued); affected counts the messages touched so far. An action
 * leaves the list when its walk is done (its answer and log line are
 * then final), so a caller that stopped waiting reads the last state
 * seen. Answered between two slices of any walk; NULL when the
 * scheduler did not answer within wait_ms or the engine is not running. */
char *eng_admin_actions(int wait_ms);

/* eng_admin_op_name - "retry", "freeze", ... */
const char *eng_admin_op_name(enum eng_admin_op op);

#endif
