/*
 * sched_queue.c - the per-destination queue summary (GET /api/v1/queue):
 *                 asked from any thread, built on the scheduler thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/sched_int.h"

/* A queue summary request from another thread, answered on the scheduler's. */
struct queue_req {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    char *json;
};

/* json_str - append s as a JSON string (names and keys here are plain ASCII) */
static size_t
json_str(char *out, size_t len, const char *s)
{
    size_t o = 0;
    if (o < len)
        out[o] = '"';
    o++;
    for (; *s; s++) {
        if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
            continue;
        if (o < len)
            out[o] = *s;
        o++;
    }
    if (o < len)
        out[o] = '"';
    return o + 1;
}

/* queue_json_build - the per-destination summary (scheduler thread) */
static char *
queue_json_build(void)
{
    size_t cap = 1 << 16, off = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        abort();
    off += (size_t)snprintf(buf, cap, "{\"messages\":%ld,\"recipients\":%ld,\"destinations\":[",
                            sch.queued, sch.queued_rcpts);
    int first = 1;
    for (size_t b = 0; b < DEST_BUCKETS; b++)
        for (struct eng_dest *d = sch.dests[b]; d; d = d->hnext) {
            if (cap - off < 1024 + strlen(d->key)) {
                cap = cap * 2 + strlen(d->key);
                if ((buf = realloc(buf, cap)) == NULL)
                    abort();
            }
            off += (size_t)snprintf(buf + off, cap - off, "%s{\"destination\":", first ? "" : ",");
            off += json_str(buf + off, cap - off, d->key);
            off += (size_t)snprintf(
                buf + off, cap - off,
                ",\"ready\":%zu,\"connections\":%d,\"idle\":%zu,\"backoff_until\":%lld,"
                "\"delivered\":%llu,\"deferred\":%llu,\"failed\":%llu}",
                d->nready, d->nconn, d->nidle, (long long)d->backoff_until,
                (unsigned long long)d->delivered, (unsigned long long)d->deferred,
                (unsigned long long)d->failed);
            first = 0;
        }
    snprintf(buf + off, cap - off, "]}");
    return buf;
}

/* on_queue_req - answer a queue summary request */
static void
on_queue_req(eng_loop *loop, void *arg)
{
    struct queue_req *r = arg;
    (void)loop;
    char *json = queue_json_build();
    pthread_mutex_lock(&r->mu);
    r->json = json;
    r->done = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* eng_queue_json - ask the scheduler for the queue summary (waits up to 2 s) */
char *
eng_queue_json(void)
{
    struct queue_req *r = calloc(1, sizeof(*r));
    struct timespec ts;
    char *json = NULL;
    if (r == NULL || sch.loop == NULL) {
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    if (eng_loop_post(sch.loop, on_queue_req, r) < 0) {
        free(r);
        return NULL;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 2;
    pthread_mutex_lock(&r->mu);
    while (!r->done && pthread_cond_timedwait(&r->cv, &r->mu, &ts) == 0)
        ;
    json = r->json;
    r->json = NULL;
    pthread_mutex_unlock(&r->mu);
    /* on time-out the request is still queued: leave it allocated */
    if (r->done)
        free(r);
    return json;
}
