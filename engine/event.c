/*
 * event.c - event actions: evaluating event_action with an event's
 *           variables, synchronously or on a small pool of threads.
 *           See event.h for the contract.
 *
 * The pool: EVENT_POOL_THREADS threads, each with its own FIFO queue (mutex
 * and condition variable). A message id is hashed (FNV-1a) to one queue, so
 * the events of a message run in the order they were raised. Raising takes
 * the queue's mutex for an append and a signal, never waits for an action.
 * Each pool thread has its own Redis connections (lookup.h) and closes them
 * when it stops.
 */
#include "engine/event.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "conf/lookup.h"

static const char *const event_var_names[EV__COUNT] = {
    [EV_EVENT_NAME] = "event_name",
    [EV_EVENT_DATA] = "event_data",
    [EV_EVENT_DEFER_ERRNO] = "event_defer_errno",
    [EV_ROUTER_NAME] = "router_name",
    [EV_TRANSPORT_NAME] = "transport_name",
    [EV_LOCAL_PART] = "local_part",
    [EV_DOMAIN] = "domain",
    [EV_HOST] = "host",
    [EV_HOST_ADDRESS] = "host_address",
    [EV_HOST_PORT] = "host_port",
    [EV_TLS_OUT_PEERCERT] = "tls_out_peercert",
    [EV_LOOKUP_DNSSEC_AUTHENTICATED] = "lookup_dnssec_authenticated",
    [EV_TLS_OUT_DANE] = "tls_out_dane",
    [EV_SENDING_IP_ADDRESS] = "sending_ip_address",
    [EV_SENDING_PORT] = "sending_port",
    [EV_MESSAGE_EXIM_ID] = "message_exim_id",
    [EV_VERIFY_MODE] = "verify_mode",
    [EV_SENDER_ADDRESS] = "sender_address",
    [EV_SENDER_ADDRESS_DOMAIN] = "sender_address_domain",
    [EV_SENDER_ADDRESS_LOCAL_PART] = "sender_address_local_part",
    [EV_PRIMARY_HOSTNAME] = "primary_hostname",
    [EV_TLS_IN_PEERCERT] = "tls_in_peercert",
    [EV_SENDER_HOST_ADDRESS] = "sender_host_address",
};

/* event_var_name - a variable's name */
const char *
event_var_name(enum event_var v)
{
    return v >= 0 && v < EV__COUNT ? event_var_names[v] : NULL;
}

/* What the variable callback reads: the event and the derived sender parts. */
struct event_eval {
    const struct event_ctx *ev;
    const char *sender_domain;
    char sender_lp[320];
};

/* event_var - exp_ctx.var for events */
static const char *
event_var(void *arg, const char *name)
{
    struct event_eval *ee = arg;
    const char *v;
    int i;

    if (strcmp(name, "message_id") == 0)
        i = EV_MESSAGE_EXIM_ID;
    else {
        for (i = 0; i < EV__COUNT; i++)
            if (strcmp(name, event_var_names[i]) == 0)
                break;
        if (i == EV__COUNT)
            return NULL;
    }
    v = ee->ev->v[i];
    if (v == NULL && i == EV_SENDER_ADDRESS_DOMAIN)
        v = ee->sender_domain;
    if (v == NULL && i == EV_SENDER_ADDRESS_LOCAL_PART)
        v = ee->sender_lp;
    return v != NULL ? v : "";
}

/* derive_sender - $sender_address_domain / _local_part from $sender_address */
static void
derive_sender(struct event_eval *ee)
{
    const char *s = ee->ev->v[EV_SENDER_ADDRESS], *at;
    size_t n;

    ee->sender_domain = "";
    ee->sender_lp[0] = '\0';
    if (s == NULL)
        return;
    at = strrchr(s, '@');
    n = at != NULL ? (size_t)(at - s) : strlen(s);
    if (n >= sizeof ee->sender_lp)
        n = sizeof ee->sender_lp - 1;
    memcpy(ee->sender_lp, s, n);
    ee->sender_lp[n] = '\0';
    if (at != NULL)
        ee->sender_domain = at + 1;
}

/* event_raise - evaluate an action for an event in this thread */
int
event_raise(const struct event_ctx *ev, const struct exp_str *action, char **result)
{
    struct event_eval ee = {.ev = ev};
    char err[1024], *out = NULL;
    struct exp_ctx ctx = {.var = event_var, .arg = &ee, .err = err, .errlen = sizeof err};
    const char *id = ev->v[EV_MESSAGE_EXIM_ID], *name = ev->v[EV_EVENT_NAME];
    int rc;

    if (result != NULL)
        *result = NULL;
    if (action == NULL)
        return EXP_OK;
    derive_sender(&ee);
    rc = exp_eval(action, &ctx, &out);
    if (rc == EXP_OK) {
        if (result != NULL)
            *result = out;
        else
            free(out);
    } else if (rc != EXP_FAIL) {
        log_warn("%s%s%s: %s: %s: %s", id != NULL ? id : "", id != NULL ? " " : "",
                 ev->option != NULL ? ev->option : "event_action", name != NULL ? name : "?",
                 exp_rc_name(rc), err);
    }
    return rc;
}

/* event_ctx_dup - deep copy, one allocation */
struct event_ctx *
event_ctx_dup(const struct event_ctx *ev)
{
    size_t need = sizeof(struct event_ctx);
    struct event_ctx *c;
    char *p;

    for (int i = 0; i < EV__COUNT; i++)
        if (ev->v[i] != NULL)
            need += strlen(ev->v[i]) + 1;
    if (ev->option != NULL)
        need += strlen(ev->option) + 1;
    c = malloc(need);
    if (c == NULL)
        abort();
    memset(c, 0, sizeof *c);
    p = (char *)(c + 1);
    for (int i = 0; i <= EV__COUNT; i++) {
        const char *s = i < EV__COUNT ? ev->v[i] : ev->option;
        size_t n;
        if (s == NULL)
            continue;
        n = strlen(s) + 1;
        memcpy(p, s, n);
        if (i < EV__COUNT)
            c->v[i] = p;
        else
            c->option = p;
        p += n;
    }
    return c;
}

/* event_ctx_free - release a copy */
void
event_ctx_free(struct event_ctx *ev)
{
    free(ev);
}

/* ---- the pool ---- */

struct ev_item {
    struct ev_item *next;
    struct event_ctx *ev;
    const struct exp_str *action;
};

struct ev_queue {
    pthread_mutex_t mu;
    pthread_cond_t work; /* an item arrived, or stop */
    pthread_cond_t idle; /* the queue ran empty */
    struct ev_item *head, **tail;
    size_t n;
    int busy; /* an item is running */
    int stop;
    pthread_t th;
};

struct ev_pool {
    struct ev_queue *q;
    int n;
};

static _Atomic(struct ev_pool *) ev_pool;
static pthread_mutex_t ev_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_ulong ev_dropped;

/* ev_thread - run one queue's events in order */
static void *
ev_thread(void *arg)
{
    struct ev_queue *q = arg;
    struct ev_item *it;

    pthread_setname_np(pthread_self(), "spate-event");
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (q->head == NULL && !q->stop)
            pthread_cond_wait(&q->work, &q->mu);
        if (q->head == NULL)
            break;
        it = q->head;
        q->head = it->next;
        if (q->head == NULL)
            q->tail = &q->head;
        q->n--;
        q->busy = 1;
        pthread_mutex_unlock(&q->mu);
        event_raise(it->ev, it->action, NULL);
        event_ctx_free(it->ev);
        free(it);
        pthread_mutex_lock(&q->mu);
        q->busy = 0;
        if (q->head == NULL)
            pthread_cond_broadcast(&q->idle);
    }
    pthread_mutex_unlock(&q->mu);
    lookup_thread_done();
    return NULL;
}

/* pool_free - destroy a stopped pool's queues */
static void
pool_free(struct ev_pool *p, int nstarted)
{
    for (int i = 0; i < nstarted; i++) {
        pthread_mutex_destroy(&p->q[i].mu);
        pthread_cond_destroy(&p->q[i].work);
        pthread_cond_destroy(&p->q[i].idle);
    }
    free(p->q);
    free(p);
}

/* pool_stop_threads - ask the first n queues' threads to stop, and join them */
static void
pool_stop_threads(struct ev_pool *p, int n)
{
    for (int i = 0; i < n; i++) {
        pthread_mutex_lock(&p->q[i].mu);
        p->q[i].stop = 1;
        pthread_cond_signal(&p->q[i].work);
        pthread_mutex_unlock(&p->q[i].mu);
    }
    for (int i = 0; i < n; i++)
        pthread_join(p->q[i].th, NULL);
}

/* event_pool_start - start the pool if it is not running */
int
event_pool_start(int nthreads)
{
    struct ev_pool *p;
    int rc = 0, i;

    pthread_mutex_lock(&ev_pool_lock);
    if (atomic_load(&ev_pool) != NULL)
        goto out;
    p = calloc(1, sizeof *p);
    if (p == NULL ||
        (p->q = calloc(nthreads > 0 ? nthreads : EVENT_POOL_THREADS, sizeof *p->q)) == NULL)
        abort();
    p->n = nthreads > 0 ? nthreads : EVENT_POOL_THREADS;
    for (i = 0; i < p->n; i++) {
        struct ev_queue *q = &p->q[i];
        pthread_mutex_init(&q->mu, NULL);
        pthread_cond_init(&q->work, NULL);
        pthread_cond_init(&q->idle, NULL);
        q->tail = &q->head;
        rc = -pthread_create(&q->th, NULL, ev_thread, q);
        if (rc != 0)
            break;
    }
    if (rc != 0) {
        pool_stop_threads(p, i);
        pool_free(p, i + 1);
        goto out;
    }
    atomic_store(&ev_dropped, 0);
    atomic_store(&ev_pool, p);
out:
    pthread_mutex_unlock(&ev_pool_lock);
    return rc;
}

/* hash_id - FNV-1a of a message id */
static uint32_t
hash_id(const char *s)
{
    uint32_t h = 2166136261u;
    for (; s != NULL && *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* event_raise_async - queue an event on its message's pool thread */
void
event_raise_async(const char *message_id, struct event_ctx *ev_copy, const struct exp_str *action)
{
    struct ev_pool *p;
    struct ev_queue *q;
    struct ev_item *it;
    unsigned long dropped;

    if (action == NULL || ev_copy == NULL) {
        event_ctx_free(ev_copy);
        return;
    }
    p = atomic_load(&ev_pool);
    if (p == NULL) {
        if (event_pool_start(0) != 0) {
            log_err("%s event_action: cannot start the event threads",
                    message_id ? message_id : "");
            event_ctx_free(ev_copy);
            return;
        }
        p = atomic_load(&ev_pool);
    }
    q = &p->q[hash_id(message_id) % (uint32_t)p->n];
    it = malloc(sizeof *it);
    if (it == NULL)
        abort();
    it->next = NULL;
    it->ev = ev_copy;
    it->action = action;
    pthread_mutex_lock(&q->mu);
    if (q->n >= EVENT_QUEUE_MAX) {
        pthread_mutex_unlock(&q->mu);
        dropped = atomic_fetch_add(&ev_dropped, 1) + 1;
        if (dropped % 1000 == 1)
            log_warn("%s event_action: event queue full, %lu events dropped so far",
                     message_id ? message_id : "", dropped);
        event_ctx_free(ev_copy);
        free(it);
        return;
    }
    *q->tail = it;
    q->tail = &it->next;
    q->n++;
    pthread_cond_signal(&q->work);
    pthread_mutex_unlock(&q->mu);
}

/* event_pool_flush - wait for every queue to run empty */
void
event_pool_flush(void)
{
    struct ev_pool *p = atomic_load(&ev_pool);

    for (int i = 0; p != NULL && i < p->n; i++) {
        struct ev_queue *q = &p->q[i];
        pthread_mutex_lock(&q->mu);
        while (q->head != NULL || q->busy)
            pthread_cond_wait(&q->idle, &q->mu);
        pthread_mutex_unlock(&q->mu);
    }
}

/* event_pool_stop - drain, stop and join the pool */
void
event_pool_stop(void)
{
    struct ev_pool *p;

    pthread_mutex_lock(&ev_pool_lock);
    p = atomic_load(&ev_pool);
    atomic_store(&ev_pool, NULL);
    pthread_mutex_unlock(&ev_pool_lock);
    if (p == NULL)
        return;
    pool_stop_threads(p, p->n); /* each thread empties its queue before it stops */
    pool_free(p, p->n);
}

/* event_pool_dropped - events dropped since the pool started */
unsigned long
event_pool_dropped(void)
{
    return atomic_load(&ev_dropped);
}
