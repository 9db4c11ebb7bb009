/*
 * spf_sync.c - one SPF evaluation run to its end in the calling thread, on
 *              a private event loop and resolver: what the
 *              ${lookup{user@domain}spf{ip}} expansion lookup needs (the
 *              seed "SPF": "the lookup's result is the SPF result word").
 *              It blocks the caller for the DNS queries (each bounded by the
 *              resolver's timeouts, at most SPF's ten lookups); the SMTP
 *              server's "spf" ACL condition does not use it: it evaluates
 *              asynchronously on the listener loop (api/smtp_spf.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/loop.h"
#include "dns/dns.h"
#include "mailauth/spf.h"

struct sync_run {
    struct spf_ctx *c;
    int waiting;
};

/* on_dns - an answer: give it to the evaluation */
static void
on_dns(struct dns_records *res, void *arg)
{
    struct sync_run *r = arg;
    static const int st[] = {SPF_DNS_OK, SPF_DNS_NXDOMAIN, SPF_DNS_NODATA, SPF_DNS_TEMP};
    struct spf_rr *rr = calloc(res->n ? res->n : 1, sizeof(*rr));

    if (rr == NULL)
        abort();
    for (size_t i = 0; i < res->n; i++) {
        rr[i].text = res->rr[i].text, rr[i].len = res->rr[i].len;
        rr[i].pref = res->rr[i].pref;
        memcpy(rr[i].addr, res->rr[i].addr, sizeof(rr[i].addr));
    }
    spf_answer(r->c, st[res->status], rr, res->n);
    free(rr);
    dns_records_free(res);
    r->waiting = 0;
}

/* run - step the evaluation, one query at a time, to its result */
static void
run(struct sync_run *r, eng_loop *loop, dns_resolver *dns)
{
    while (spf_step(r->c) == SPF_STEP_QUERY) {
        r->waiting = 1;
        if (dns_lookup(dns, spf_query_name(r->c), spf_query_type(r->c), on_dns, r) != 0) {
            spf_answer(r->c, SPF_DNS_TEMP, NULL, 0);
            continue;
        }
        while (r->waiting)
            eng_loop_run_once(loop, 100);
    }
}

/* spf_check_sync - see spf.h */
int
spf_check_sync(const struct net_addr *servers, size_t nservers, const char *sender, const char *ip,
               char **word, char *err, size_t errlen)
{
    const char *at = strrchr(sender, '@');
    struct spf_request rq = {.ip = ip, .sender = sender, .helo = at ? at + 1 : sender};
    struct sync_run r = {0};
    eng_loop *loop = eng_loop_new();
    dns_resolver *dns = loop ? dns_resolver_new(loop, servers, nservers, err, errlen) : NULL;
    int rc = -1;

    *word = NULL;
    if (dns != NULL && (r.c = spf_new(&rq)) == NULL)
        snprintf(err, errlen, "not an IP address: %s", ip);
    if (r.c != NULL) {
        run(&r, loop, dns);
        *word = strdup(spf_result_name(spf_result(r.c)));
        rc = *word != NULL ? 0 : -1;
        spf_free(r.c);
    }
    if (dns != NULL)
        dns_resolver_free(dns);
    if (loop != NULL)
        eng_loop_free(loop);
    return rc;
}
