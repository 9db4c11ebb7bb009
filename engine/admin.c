/*
 * admin.c - the admin requests on the scheduler thread (admin.h): a walk
 *           over the queued messages in slices, what each action does to a
 *           message, the hooks the scheduler calls (admin_int.h), and the
 *           timer that ends timed suspensions.
 *
 * A request (struct adm_job) is made on the caller's thread, posted to the
 * scheduler, and answered through a mutex and condition variable. A caller
 * that stops waiting marks it abandoned; whichever side is last frees it.
 *
 * A walk starts at sch.qhead and visits ENG_ADMIN_SLICE messages per slice;
 * the next slice runs from a zero-delay timer, after the loop's I/O. A
 * message freed in between is stepped over (admin_forget). Messages that
 * arrive during a walk are not visited. A listing keeps only what its page
 * can show (admin_list.c).
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/log.h"
#include "conf/address.h"
#include "engine/admin_int.h"

/* ---- requests ------------------------------------------------------- */

/* dup_or_null - strdup, NULL stays NULL */
static char *
dup_or_null(const char *s)
{
    char *d = s ? strdup(s) : NULL;

    if (s && d == NULL)
        abort();
    return d;
}

/* adm_new - a request copied from r */
struct adm_job *
adm_new(enum eng_admin_op op, const struct eng_admin_req *r)
{
    struct adm_job *a = calloc(1, sizeof(*a));

    if (a == NULL || (r->nids && (a->ids = calloc(r->nids, sizeof(char *))) == NULL))
        abort();
    a->op = op;
    for (size_t i = 0; i < r->nids; i++)
        a->ids[a->nids++] = dup_or_null(r->ids[i]);
    if (a->nids > 1)
        qsort(a->ids, a->nids, sizeof(char *), admin_cmp_str);
    a->domain = dup_or_null(r->domain);
    a->sender = dup_or_null(r->sender);
    a->reason = dup_or_null(r->reason);
    a->who = dup_or_null(r->who ? r->who : "?");
    a->cursor = dup_or_null(r->cursor);
    a->transport = dup_or_null(r->transport);
    a->state = r->state;
    a->older_than_s = r->older_than_s;
    a->duration_s = r->duration_s;
    a->limit = r->limit == 0 || r->limit > ENG_ADMIN_MAX_LIMIT ? 100 : r->limit;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    return a;
}

/* adm_free - release a request */
static void
adm_free(struct adm_job *a)
{
    for (size_t i = 0; i < a->nids; i++)
        free(a->ids[i]);
    free(a->ids);
    free(a->domain);
    free(a->sender);
    free(a->reason);
    free(a->who);
    free(a->cursor);
    free(a->transport);
    free(a->text);
    free(a->keep);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    free(a);
}

/* adm_answer - scheduler side: the request is done; free it if nobody waits */
static void
adm_answer(struct adm_job *a)
{
    int gone;

    pthread_mutex_lock(&a->mu);
    a->done = 1;
    gone = a->abandoned || !a->waited;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
    if (gone)
        adm_free(a);
}

/* on_adm_post - the request reached the scheduler */
static void
on_adm_post(eng_loop *loop, void *arg)
{
    (void)loop;
    adm_start_walk(arg);
}

/* adm_run - post fn(a) and wait up to wait_ms; 0 and a still ours, or -1 (a
 * is then the scheduler's to free) */
static int
adm_run(struct adm_job *a, eng_post_fn fn, int wait_ms)
{
    struct timespec ts;
    int done;

    a->waited = 1;
    if (sch.loop == NULL || eng_loop_post(sch.loop, fn, a) < 0) {
        adm_free(a);
        return -1;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += wait_ms / 1000;
    ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&a->mu);
    while (!a->done && pthread_cond_timedwait(&a->cv, &a->mu, &ts) == 0)
        ;
    done = a->done;
    if (!done)
        a->abandoned = 1;
    pthread_mutex_unlock(&a->mu);
    return done ? 0 : -1;
}

#define SUSP_EXPIRE_MAX 64 /* suspensions ended per timer run */

static struct eng_timer susp_timer;
static int susp_timer_ready;

/* ---- the walk ------------------------------------------------------- */

/* visit_list - show: q in full; list: keep q for the page */
static void
visit_list(struct adm_job *a, struct eng_qmsg *q)
{
    json_t *o;

    if (!a->is_show) {
        admin_list_keep(a, q);
        return;
    }
    o = admin_msg_json(q, 1);
    a->show_found = o != NULL;
    a->text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
}

/* adm_finish - the walk is over: answer */
static void
adm_finish(struct adm_job *a)
{
    struct adm_job **pp = &admin_active;

    while (*pp != NULL && *pp != a)
        pp = &(*pp)->next_active;
    if (*pp == a)
        *pp = a->next_active;
    eng_timer_stop(sch.loop, &a->timer);
    if (a->op == ENG_ADMIN_LIST && !a->is_show)
        admin_list_finish(a);
    else if (a->op != ENG_ADMIN_LIST)
        admin_log_action(a);
    adm_answer(a);
}

/* on_slice - visit the next ENG_ADMIN_SLICE messages */
static void
on_slice(eng_loop *loop, struct eng_timer *t)
{
    struct adm_job *a = t->data;
    int n = 0;

    (void)loop;
    a->now = now_s();
    while (a->cur != NULL && n++ < ENG_ADMIN_SLICE && !sch.stopping) {
        struct eng_qmsg *q = a->cur;
        a->cur = q->next; /* first: the visit may free q */
        a->visited++;
        if ((a->op == ENG_ADMIN_LIST || !q->completing) && adm_match(a, q))
            a->visit(a, q);
    }
    if (a->cur != NULL && !sch.stopping) {
        eng_timer_start(sch.loop, &a->timer, 0);
        return;
    }
    adm_finish(a);
}

static void susp_arm(void);

static uint64_t adm_seq; /* the last walk's number */

/* adm_start_walk - run a on the scheduler thread */
void
adm_start_walk(struct adm_job *a)
{
    a->seq = ++adm_seq;
    a->queued = sch.queued;
    a->started_at = now_s();
    a->visit = a->op == ENG_ADMIN_LIST ? visit_list : admin_visit_fn(a->op);
    if (a->op == ENG_ADMIN_LIST && !a->is_show && a->keep == NULL)
        admin_list_init(a);
    if (!sch.stopping)
        admin_prepare(a);
    if (!sch.stopping && (a->op == ENG_ADMIN_SUSPEND || a->op == ENG_ADMIN_RESUME))
        susp_arm();
    a->cur = sch.stopping || a->refused ? NULL : sch.qhead;
    a->next_active = admin_active;
    admin_active = a;
    eng_timer_init(&a->timer, on_slice, a);
    on_slice(sch.loop, &a->timer);
}

/* ---- timed suspensions --------------------------------------------- */

/* on_susp_timer - timed suspensions that ended: resume their domains */
static void
on_susp_timer(eng_loop *loop, struct eng_timer *t)
{
    char *ended[SUSP_EXPIRE_MAX];
    size_t n = admin_susp_expired(now_s(), ended, SUSP_EXPIRE_MAX);

    (void)loop;
    (void)t;
    for (size_t i = 0; i < n; i++) {
        struct eng_admin_req r = {.domain = ended[i], .who = "suspension timer"};
        log_info("admin: suspension of %s ended", ended[i]);
        adm_start_walk(adm_new(ENG_ADMIN_RESUME, &r)); /* nobody waits: freed when done */
        free(ended[i]);
    }
    if (!sch.stopping && admin_susp_next() != 0) {
        int64_t wait = admin_susp_next() - now_s();
        eng_timer_start(sch.loop, &susp_timer, (uint64_t)(wait > 0 ? wait : 0) * 1000u);
    }
}

/* susp_arm - wake up when the earliest timed suspension ends */
static void
susp_arm(void)
{
    if (!susp_timer_ready) {
        eng_timer_init(&susp_timer, on_susp_timer, NULL);
        susp_timer_ready = 1;
    }
    eng_timer_stop(sch.loop, &susp_timer);
    if (admin_susp_next() != 0) {
        int64_t wait = admin_susp_next() - now_s();
        eng_timer_start(sch.loop, &susp_timer, (uint64_t)(wait > 0 ? wait : 0) * 1000u);
    }
}

/* ---- the public calls ----------------------------------------------- */

/* run_text - run a through fn and take its text; the text, or NULL */
static char *
run_text(struct adm_job *a, eng_post_fn fn, int wait_ms)
{
    char *text;

    if (adm_run(a, fn, wait_ms) < 0)
        return NULL;
    text = a->text;
    a->text = NULL;
    adm_free(a);
    return text;
}

/* view - a read-only view that fn builds on the scheduler thread */
static char *
view(eng_post_fn fn, int wait_ms)
{
    struct eng_admin_req r = {0};

    return run_text(adm_new(ENG_ADMIN_LIST, &r), fn, wait_ms);
}

/* answer_json - answer a with j as compact text (none if j is NULL) */
static void
answer_json(struct adm_job *a, json_t *j)
{
    a->text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    adm_answer(a);
}

/* eng_admin_list - one page of the queue listing */
char *
eng_admin_list(const struct eng_admin_req *r, int wait_ms)
{
    return run_text(adm_new(ENG_ADMIN_LIST, r), on_adm_post, wait_ms);
}

/* eng_admin_show - one message in full */
char *
eng_admin_show(const char *id, int wait_ms, int *found)
{
    const char *ids[1] = {id};
    struct eng_admin_req r = {.ids = ids, .nids = 1};
    struct adm_job *a = adm_new(ENG_ADMIN_LIST, &r);
    char *text;

    a->is_show = 1;
    *found = -1;
    if (adm_run(a, on_adm_post, wait_ms) < 0)
        return NULL;
    *found = a->show_found;
    text = a->text;
    a->text = NULL;
    adm_free(a);
    return text;
}

/* on_dests - build the destinations view on the scheduler thread */
static void
on_dests(eng_loop *loop, void *arg)
{
    (void)loop;
    answer_json(arg, admin_dests_json());
}

/* eng_admin_destinations - the per-destination view */
char *
eng_admin_destinations(int wait_ms)
{
    return view(on_dests, wait_ms);
}

/* action_json - one action in progress, as eng_admin_actions shows it */
static json_t *
action_json(const struct adm_job *a)
{
    char sel[300], at[32];

    admin_selector(a, sel, sizeof(sel));
    admin_iso(a->started_at, at, sizeof(at));
    return json_pack("{s:I,s:s,s:s,s:s?,s:s,s:I,s:I,s:I,s:s}", "id", (json_int_t)a->seq, "op",
                     eng_admin_op_name(a->op), "selector", sel, "domain", a->domain, "who", a->who,
                     "visited", (json_int_t)a->visited, "queued", (json_int_t)a->queued, "affected",
                     (json_int_t)a->affected, "started_at", at);
}

/* on_actions - the actions in progress, oldest first, on the scheduler thread */
static void
on_actions(eng_loop *loop, void *arg)
{
    struct adm_job *a = arg;
    json_t *list = json_array(), *o;

    (void)loop;
    for (struct adm_job *w = admin_active; w != NULL && list != NULL; w = w->next_active)
        if (w->op != ENG_ADMIN_LIST && (o = action_json(w)) != NULL)
            json_array_insert_new(list, 0, o); /* admin_active is newest first */
    answer_json(a, list ? json_pack("{s:o}", "actions", list) : NULL);
}

/* eng_admin_actions - the actions in progress */
char *
eng_admin_actions(int wait_ms)
{
    return view(on_actions, wait_ms);
}

/* eng_admin_act - run an action; messages touched, or -1 */
long
eng_admin_act(enum eng_admin_op op, const struct eng_admin_req *r, int wait_ms)
{
    struct adm_job *a;
    long n;

    if (op == ENG_ADMIN_LIST)
        return -1;
    a = adm_new(op, r);
    if (adm_run(a, on_adm_post, wait_ms) < 0)
        return -1;
    n = a->refused ? ENG_ADMIN_REFUSED : a->affected;
    adm_free(a);
    return n;
}
