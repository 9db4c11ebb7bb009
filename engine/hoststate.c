/*
 * hoststate.c - the shared table of receiving hosts that are down (see
 *               hoststate.h). A small chained hash table under one mutex.
 */
#include "engine/hoststate.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOST_BUCKETS 1024

struct hstate {
    char key[72];           /* "ip|port" */
    uint64_t down_until_ms; /* monotonic: not tried before, except by one probe */
    uint64_t backoff_ms;    /* the last back-off */
    char why[160];          /* the failure that marked it down */
    struct hstate *next;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct hstate *tab[HOST_BUCKETS];

/* bucket - the chain for key (FNV-1a) */
static struct hstate **
bucket(const char *key)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 16777619u;
    return &tab[h % HOST_BUCKETS];
}

/* find - the entry for key, or NULL; with pprev, where it is linked */
static struct hstate *
find(const char *key, struct hstate ***pprev)
{
    struct hstate **pp = bucket(key);
    for (; *pp != NULL; pp = &(*pp)->next)
        if (strcmp((*pp)->key, key) == 0)
            break;
    if (pprev != NULL)
        *pprev = pp;
    return *pp;
}

/* host_usable - see hoststate.h */
int
host_usable(const char *ip, unsigned port, uint64_t now_ms, uint64_t probe_ms, char *why,
            size_t whylen, uint64_t *left_ms)
{
    char key[72];
    struct hstate *h;
    int ok = 1;
    snprintf(key, sizeof(key), "%s|%u", ip, port);
    pthread_mutex_lock(&mu);
    h = find(key, NULL);
    if (h != NULL && now_ms < h->down_until_ms) {
        ok = 0;
        if (why != NULL)
            snprintf(why, whylen, "%s", h->why);
        if (left_ms != NULL)
            *left_ms = h->down_until_ms - now_ms;
    } else if (h != NULL) {
        h->down_until_ms = now_ms + probe_ms; /* this caller probes; others wait */
    }
    pthread_mutex_unlock(&mu);
    return ok;
}

/* host_failed - see hoststate.h */
uint64_t
host_failed(const char *ip, unsigned port, uint64_t now_ms, const char *why)
{
    char key[72];
    struct hstate *h, **pp;
    uint64_t backoff;
    snprintf(key, sizeof(key), "%s|%u", ip, port);
    pthread_mutex_lock(&mu);
    if ((h = find(key, &pp)) == NULL) {
        if ((h = calloc(1, sizeof(*h))) == NULL)
            abort();
        snprintf(h->key, sizeof(h->key), "%s", key);
        *pp = h;
    }
    h->backoff_ms = h->backoff_ms == 0 ? HOST_DOWN_MIN_MS : h->backoff_ms * 2;
    if (h->backoff_ms > HOST_DOWN_MAX_MS)
        h->backoff_ms = HOST_DOWN_MAX_MS;
    h->down_until_ms = now_ms + h->backoff_ms;
    snprintf(h->why, sizeof(h->why), "%s", why);
    backoff = h->backoff_ms;
    pthread_mutex_unlock(&mu);
    return backoff;
}

/* host_greeted - see hoststate.h */
int
host_greeted(const char *ip, unsigned port)
{
    char key[72];
    struct hstate *h, **pp;
    int was_down = 0;
    snprintf(key, sizeof(key), "%s|%u", ip, port);
    pthread_mutex_lock(&mu);
    if ((h = find(key, &pp)) != NULL) {
        *pp = h->next;
        free(h);
        was_down = 1;
    }
    pthread_mutex_unlock(&mu);
    return was_down;
}

/* host_state_clear - see hoststate.h */
void
host_state_clear(void)
{
    pthread_mutex_lock(&mu);
    for (size_t b = 0; b < HOST_BUCKETS; b++)
        while (tab[b] != NULL) {
            struct hstate *h = tab[b];
            tab[b] = h->next;
            free(h);
        }
    pthread_mutex_unlock(&mu);
}
