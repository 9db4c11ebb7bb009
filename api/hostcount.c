/*
 * hostcount.c - connections open per client IP; the contract is in
 *               hostcount.h. A chained hash table that doubles its buckets
 *               when it holds more addresses than buckets.
 */
#include "api/hostcount.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct hc_entry {
    struct hc_entry *next;
    unsigned char key[16];
    int count;
};

struct hostcount {
    struct hc_entry **b;
    size_t nb, n;
};

/* key_of - the 16-octet key of an address (IPv4 as IPv4-mapped IPv6) */
static void
key_of(const struct sockaddr *sa, unsigned char key[16])
{
    memset(key, 0, 16);
    if (sa->sa_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
    } else if (sa->sa_family == AF_INET) {
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    }
}

/* hash - FNV-1a of a key */
static size_t
hash(const unsigned char key[16])
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 1099511628211ull;
    return (size_t)h;
}

/* hostcount_new - an empty table */
struct hostcount *
hostcount_new(void)
{
    struct hostcount *h = calloc(1, sizeof(*h));

    if (h == NULL || (h->b = calloc(64, sizeof(*h->b))) == NULL)
        abort();
    h->nb = 64;
    return h;
}

/* hostcount_free - release the table */
void
hostcount_free(struct hostcount *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < h->nb; i++)
        for (struct hc_entry *e = h->b[i], *next; e != NULL; e = next) {
            next = e->next;
            free(e);
        }
    free(h->b);
    free(h);
}

/* grow - twice the buckets, entries rehashed */
static void
grow(struct hostcount *h)
{
    size_t nb = h->nb * 2;
    struct hc_entry **b = calloc(nb, sizeof(*b));

    if (b == NULL)
        abort();
    for (size_t i = 0; i < h->nb; i++)
        for (struct hc_entry *e = h->b[i], *next; e != NULL; e = next) {
            next = e->next;
            e->next = b[hash(e->key) & (nb - 1)];
            b[hash(e->key) & (nb - 1)] = e;
        }
    free(h->b);
    h->b = b;
    h->nb = nb;
}

/* slot - the link that points at key's entry (or at NULL where it would go) */
static struct hc_entry **
slot(struct hostcount *h, const unsigned char key[16])
{
    struct hc_entry **pp = &h->b[hash(key) & (h->nb - 1)];

    while (*pp != NULL && memcmp((*pp)->key, key, 16) != 0)
        pp = &(*pp)->next;
    return pp;
}

/* hostcount_add - one more from sa unless max (> 0) reached */
int
hostcount_add(struct hostcount *h, const struct sockaddr *sa, int max)
{
    unsigned char key[16];
    struct hc_entry **pp;

    key_of(sa, key);
    pp = slot(h, key);
    if (*pp == NULL) {
        if (h->n >= h->nb) {
            grow(h);
            pp = slot(h, key);
        }
        if ((*pp = calloc(1, sizeof(**pp))) == NULL)
            abort();
        memcpy((*pp)->key, key, 16);
        h->n++;
    }
    if (max > 0 && (*pp)->count >= max)
        return -1; /* an entry at max is never new: nothing to undo */
    return ++(*pp)->count;
}

/* hostcount_del - one fewer from sa */
void
hostcount_del(struct hostcount *h, const struct sockaddr *sa)
{
    unsigned char key[16];
    struct hc_entry **pp, *e;

    key_of(sa, key);
    pp = slot(h, key);
    if ((e = *pp) == NULL)
        return;
    if (--e->count > 0)
        return;
    *pp = e->next;
    free(e);
    h->n--;
}
