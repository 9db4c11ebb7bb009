/*
 * sink_util.c - spate-sink: the shared state, clock, allocation, counters
 * and address text used by every other part.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sink.h"

/* every option and counter of the sink: the one shared state */
struct sink_global g = {.pipelining = true, .nthreads = 2, .starttls = true};

/* size_max - the largest message accepted (and advertised with SIZE) */
uint64_t
size_max(void)
{
    return g.size_max ? g.size_max : MSG_MAX;
}

/* now_ms - monotonic time in milliseconds */
int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* die - print a startup error and exit 1 */
void
die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("spate-sink: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* xmalloc - allocate or die: the sink has no useful way to go on without memory */
void *
xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory");
    return p;
}

/* xstrdup - duplicate a string or die */
char *
xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

/* stat_add - add to a counter globally and for one listener */
void
stat_add(struct listener *l, enum stat_field f, long d)
{
    atomic_fetch_add(&g.c.v[f], (unsigned long)d);
    atomic_fetch_add(&l->c.v[f], (unsigned long)d);
    atomic_fetch_add(&g.gen, 1);
}

/* stat_max1 - raise one counter to at least v */
void
stat_max1(struct counters *c, enum stat_field f, unsigned long v)
{
    unsigned long cur = atomic_load(&c->v[f]);
    while (cur < v && !atomic_compare_exchange_weak(&c->v[f], &cur, v))
        ;
}

/* stat_max - raise a counter to at least v globally and for one listener */
void
stat_max(struct listener *l, enum stat_field f, unsigned long v)
{
    stat_max1(&g.c, f, v);
    stat_max1(&l->c, f, v);
    atomic_fetch_add(&g.gen, 1);
}

/* sockaddr_text - "ip:port" or "[ip6]:port" */
void
sockaddr_text(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const void *)ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        snprintf(out, outlen, "[%s]:%u", ip, ntohs(s6->sin6_port));
    } else {
        const struct sockaddr_in *s4 = (const void *)ss;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        snprintf(out, outlen, "%s:%u", ip, ntohs(s4->sin_port));
    }
}
