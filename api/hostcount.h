/*
 * hostcount.h - how many connections are open from each client IP address,
 *               for per-host connection limits (smtp_accept_max_per_host).
 *
 * Contract
 *   - Keys are the address of a struct sockaddr (AF_INET or AF_INET6; the
 *     port is ignored; an IPv4-mapped IPv6 address counts as its IPv4
 *     address). Other families all share one key.
 *   - hostcount_add() counts one more connection from the address unless
 *     max > 0 and max connections from it are already counted: then it
 *     returns -1 and counts nothing. Otherwise it returns the new count.
 *     Every successful add is matched by one hostcount_del() of the same
 *     address when that connection ends; an address whose count falls to 0
 *     is forgotten.
 *   - Memory grows with the number of distinct addresses counted; running
 *     out of memory aborts (the engine cannot go on).
 *   - Not thread-safe: one owner thread (the SMTP listener loop).
 */
#ifndef SPATE_API_HOSTCOUNT_H
#define SPATE_API_HOSTCOUNT_H

#include <sys/socket.h>

struct hostcount;

/* hostcount_new - an empty table (aborts when out of memory) */
struct hostcount *hostcount_new(void);

/* hostcount_free - release the table */
void hostcount_free(struct hostcount *h);

/* hostcount_add - one more from sa unless max (> 0) reached; new count or -1 */
int hostcount_add(struct hostcount *h, const struct sockaddr *sa, int max);

/* hostcount_del - one fewer from sa */
void hostcount_del(struct hostcount *h, const struct sockaddr *sa);

#endif
