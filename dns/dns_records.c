/*
 * dns_records.c - the records of a single-type lookup (dns_lookup(), see
 *                 dns.h) made from a cached answer.
 *
 * Synopsis
 *   res = dns__records_from(answer);  ... cb(res, arg); dns_records_free(res);
 *
 * Description
 *   A copy: the caller owns the result, the cache keeps its answer. A
 *   temporary answer keeps c-ares' reason in why. Out of memory aborts.
 */
#include <ares.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns/dns.h"

/* xcalloc - calloc that aborts on failure */
static void *
xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (p == NULL)
        abort();
    return p;
}

/* copy_rr - record i of a into rr */
static void
copy_rr(const struct dns__answer *a, size_t i, struct dns_rr *rr)
{
    const char *t = NULL;
    size_t len = 0;
    if (a->type == 1 || a->type == 28) {
        rr->family = a->addrs[i].family;
        memcpy(rr->addr, a->addrs[i].a, rr->family == AF_INET ? 4 : 16);
    } else if (a->type == 15) {
        rr->pref = a->mx[i].pref;
        t = a->mx[i].name, len = strlen(t);
    } else {
        t = a->txt[i], len = a->tlen[i];
    }
    rr->text = xcalloc(1, len + 1);
    if (t != NULL)
        memcpy(rr->text, t, len);
    rr->len = len;
}

/* dns__records_from - see dns.h */
struct dns_records *
dns__records_from(const struct dns__answer *a)
{
    struct dns_records *res = xcalloc(1, sizeof(*res));
    if (a == NULL) {
        res->status = DNS_REC_NXDOMAIN;
        return res;
    }
    switch (a->status) {
    case DNS__ANS_NXDOMAIN:
        res->status = DNS_REC_NXDOMAIN;
        return res;
    case DNS__ANS_NODATA:
        res->status = DNS_REC_NODATA;
        return res;
    case DNS__ANS_TEMP:
        res->status = DNS_REC_TEMP;
        snprintf(res->why, sizeof(res->why), "%s", ares_strerror(a->ares_status));
        return res;
    default:
        break;
    }
    res->status = a->n > 0 ? DNS_REC_OK : DNS_REC_NODATA;
    res->rr = xcalloc(a->n, sizeof(*res->rr));
    for (size_t i = 0; i < a->n; i++)
        copy_rr(a, i, &res->rr[i]);
    res->n = a->n;
    return res;
}

/* dns__records_finish - a shutdown turns any result into a temporary one */
void
dns__records_finish(dns_resolver *r, struct dns_records **res, int closing)
{
    (void)r;
    if (*res != NULL && !closing)
        return;
    dns_records_free(*res);
    *res = xcalloc(1, sizeof(**res));
    (*res)->status = DNS_REC_TEMP;
    snprintf((*res)->why, sizeof((*res)->why), "lookup cancelled: resolver shut down");
}

/* dns_records_free - release a dns_lookup() result */
void
dns_records_free(struct dns_records *res)
{
    if (res == NULL)
        return;
    for (size_t i = 0; i < res->n; i++)
        free(res->rr[i].text);
    free(res->rr);
    free(res);
}
