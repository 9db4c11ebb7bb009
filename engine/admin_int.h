/*
 * admin_int.h - what the scheduler's files call in admin.c, and what the
 *               admin files share. Scheduler thread only.
 *
 * Hooks (one line each in the scheduler):
 *   sched_route.c qmsg_schedule  admin_sched_hook() first: a message being
 *                                deleted is finished there; admin_held()
 *                                skips recipients of a frozen message or a
 *                                suspended domain
 *   sched_state.c qmsg_free      admin_forget(): a walk in progress steps
 *                                past a message that goes away
 *                                text, shown as last_response
 *   sched_route.c route_start    admin_rebound() before route_find(): a
 *                                message rebound by an operator routes
 *                                the domain through the router it gives
 */
#ifndef SPATE_ENGINE_ADMIN_INT_H
#define SPATE_ENGINE_ADMIN_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#include "engine/admin.h"
#include "engine/sched_int.h"

/* eng_qmsg.admin bits */
#define ADMIN_Q_FROZEN 0x1u
#define ADMIN_Q_DELETE 0x2u
#define ADMIN_Q_RELEASED 0x4u /* retried or rebound: queue_only no longer keeps it */

/* A request: see admin.c. */
struct adm_job;
typedef void (*adm_visit_fn)(struct adm_job *a, struct eng_qmsg *q);

struct adm_job {
    enum eng_admin_op op;
    char **ids; /* sorted */
    size_t nids;
    char *domain, *sender, *reason, *who, *cursor;
    enum eng_admin_state state;
    long older_than_s, duration_s;
    size_t limit;
    /* the walk */
    struct eng_timer timer;
    struct eng_qmsg *cur;
    adm_visit_fn visit;
    long affected;
    int64_t now; /* the slice's clock (now_s) */
    /* progress (eng_admin_actions): set when the walk starts */
    uint64_t seq;       /* the walk's number, from 1, in start order */
    long visited;       /* messages stepped over so far */
    long queued;        /* sch.queued when the walk started */
    int64_t started_at; /* unix seconds */
    /* list (admin_list.c): the limit + 1 smallest matching ids, a max-heap */
    struct eng_qmsg **keep;
    size_t nkeep, capkeep;
    char bound[SPOOL_ID_SIZE]; /* smallest id turned away when full, "" none */
    char lost[SPOOL_ID_SIZE];  /* largest kept id freed during the walk */
    char *text;                /* the answer */
    int is_show, show_found;
    /* the hand-back */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, abandoned, waited;
    struct adm_job *next_active;
    /* rebind */
    char *transport;
    int refused; /* ENG_ADMIN_REFUSED: no such transport, nothing done */
};

/* admin_hold.c */
extern struct adm_job *admin_active;                  /* walks in progress (admin.c) */
extern void (*admin_delete_hook)(struct eng_qmsg *q); /* set by admin_act.c */
extern void (*admin_list_hook)(struct adm_job *a,
                               const struct eng_qmsg *q); /* admin_list_forget, by admin_list.c */

/* admin_sel.c: selection */
int admin_cmp_str(const void *a, const void *b); /* qsort/bsearch over char * */

/* admin.c: requests and the walk */
struct adm_job *adm_new(enum eng_admin_op op, const struct eng_admin_req *r);
void adm_start_walk(struct adm_job *a); /* prepare, then visit in slices, then answer */
/* admin_sel.c */
int adm_match(struct adm_job *a, const struct eng_qmsg *q); /* may narrow a listing */
int rcpt_selected(const struct adm_job *a, const struct eng_qmsg *q, uint32_t i);
void take_back_all(const struct adm_job *a); /* waiting jobs a selects leave the ready queues */

/* admin_act.c: what each action does */
adm_visit_fn admin_visit_fn(enum eng_admin_op op);
void admin_prepare(struct adm_job *a); /* before the walk */
void admin_log_action(const struct adm_job *a);
/* admin_selector - "domain=D" or "ids=A,B" (cut at len), then " for=Ns"
 * (suspend) or " transport=T" (rebind): the log line's selector */
void admin_selector(const struct adm_job *a, char *sel, size_t len);

/* admin_hold.c: hooks */
int admin_sched_hook(struct eng_qmsg *q);             /* 1: q was consumed, do not schedule */
int admin_held(const struct eng_qmsg *q, uint32_t i); /* recipient i is held */
void admin_forget(struct eng_qmsg *q);

/* admin_list.c: a listing page (eng_admin_list) in bounded space */
void admin_list_init(struct adm_job *a); /* before the walk */
/* admin_list_wants - 0 when q cannot make a's page whatever the filters
 * say (at or before the cursor, or past the ids kept); may narrow the page */
int admin_list_wants(struct adm_job *a, const struct eng_qmsg *q);
void admin_list_keep(struct adm_job *a, struct eng_qmsg *q);         /* q matched */
void admin_list_forget(struct adm_job *a, const struct eng_qmsg *q); /* q is freed */
void admin_list_finish(struct adm_job *a); /* the page's JSON into a->text */

/* admin_susp.c: suspended domains */
int admin_susp_find(const char *domain, int64_t now); /* index of an active entry or -1 */
size_t admin_susp_count(void);
void admin_susp_add(const char *domain, int64_t until, const char *reason);
int admin_susp_del(const char *domain); /* 0 or -1 if it was not suspended */
json_t *admin_susp_json(void);
/* admin_susp_expired - take the domains whose suspension ended into out
 * (malloc'd strings, caller frees); how many */
size_t admin_susp_expired(int64_t now, char **out, size_t max);
int64_t admin_susp_next(void); /* earliest end of a timed suspension, 0 = none */

/* admin_rebind.c: transport overrides on messages (admin.h, "rebind") */
/* admin_rebind_transport - c's transport named name, or NULL */
const struct cfg_transport *admin_rebind_transport(const struct cfg *c, const char *name);
/* admin_rebind_pick - the first router of c whose transport is t and that
 * takes domain (a manualroute one: a route_list rule matches; *rule set to
 * it, else NULL); NULL when none: the caller routes by the domain's MX */
const struct cfg_router *admin_rebind_pick(const struct cfg *c, const struct cfg_transport *t,
                                           const char *domain, const struct cfg_route_rule **rule);
/* admin_rebind_set - q's recipients of domain (NULL: all) route through
 * the transport named transport; replaces the overrides it covers */
void admin_rebind_set(struct eng_qmsg *q, const char *domain, const char *transport);
/* admin_rebind_name - the transport name overriding udomain (or its
 * A-label form adomain) on q, newest first; NULL when none */
const char *admin_rebind_name(const struct eng_qmsg *q, const char *udomain, const char *adomain);
void admin_rebind_clear(struct eng_qmsg *q);         /* forget q's overrides */
json_t *admin_rebind_json(const struct eng_qmsg *q); /* [{"domain","transport"}], NULL if none */
/* admin_rebound - route_start's hook: the router for q's recipients of
 * udomain (A-labels: domain) when an operator rebound them, under cfg (the
 * running configuration, generation gen), *rule as route_find sets it;
 * NULL: route as configured. A router made up for a transport no router
 * uses (named "rebind", dnslookup) lives until exit. */
const struct cfg_router *admin_rebound(struct eng_qmsg *q, const struct cfg *cfg, unsigned gen,
                                       const char *udomain, const char *domain,
                                       const struct cfg_route_rule **rule);

/* admin_json.c: JSON of the scheduler's state (admin_iso: admin_susp.c) */
json_t *admin_msg_json(const struct eng_qmsg *q, int full);
enum eng_admin_state admin_msg_state(const struct eng_qmsg *q, int64_t now);
/* admin_jstr - s as a JSON string ("" for NULL; a marker when not UTF-8) */
json_t *admin_jstr(const char *s);

/* admin_dests.c: the per-destination view */
json_t *admin_dests_json(void);
/* admin_iso - unix seconds as "YYYY-MM-DDTHH:MM:SSZ" */
void admin_iso(int64_t t, char *out, size_t len);

#endif
