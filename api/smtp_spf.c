/*
 * smtp_spf.c - SPF (RFC 7208, seed "SPF") for the SMTP server: the "spf"
 *              ACL condition's answer (acl_env.spf) and the $spf_*
 *              variables, evaluated on the listener loop.
 *
 * Synopsis
 *   smtp_spf_check(s, res, len, resume)    (acl_env.spf, smtp_acl.c)
 *   smtp_spf_var(s, "spf_result")          (smtp_var, smtp_vars.c)
 *   smtp_spf_free(s)                       (session end, smtp_io.c)
 *
 * Description
 *   The first "spf" condition of a transaction evaluates the client address
 *   with the MAIL FROM identity (the HELO identity for the null sender),
 *   through mailauth/spf's state machine fed by dns_lookup() on the
 *   listener's resolver: the ACL suspends (ACL_VERIFY_PENDING) while the
 *   queries run and resumes when the result is known; nothing blocks the
 *   loop. The result is kept for the session's sender and HELO, so later
 *   conditions and ACLs reuse it; a new sender is evaluated afresh. Every
 *   address is evaluated, loopback included: the ACL decides whom to check.
 *   A lookup that cannot be started counts as a DNS timeout (temperror).
 *   A session that ends while queries run orphans its request, which the
 *   last DNS callback frees.
 *
 * Variables: $spf_result (the result word), $spf_header_comment,
 * $spf_smtp_comment, $spf_received (a whole Received-SPF header, for
 * "add_header = $spf_received"); "" until evaluated.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/smtp_int.h"
#include "base/log.h"
#include "dns/dns.h"
#include "mailauth/mailauth.h"

struct smtp_spfreq {
    struct sess *s;                 /* NULL once the session has ended */
    void (*resume)(struct sess *s); /* continues the suspended ACL */
    struct spf_ctx *c;
    char *sender, *helo; /* the identity evaluated */
    int done;
};

/* req_free - release a request */
static void
req_free(struct smtp_spfreq *q)
{
    spf_free(q->c);
    free(q->sender);
    free(q->helo);
    free(q);
}

static int advance(struct smtp_spfreq *q);

/* on_dns - an answer for the evaluation; go on, resume the ACL when done */
static void
on_dns(struct dns_records *res, void *arg)
{
    struct smtp_spfreq *q = arg;
    struct spf_rr *rr = calloc(res->n ? res->n : 1, sizeof(*rr));
    static const int st[] = {SPF_DNS_OK, SPF_DNS_NXDOMAIN, SPF_DNS_NODATA, SPF_DNS_TEMP};

    if (rr == NULL)
        abort();
    for (size_t i = 0; i < res->n; i++) {
        rr[i].text = res->rr[i].text, rr[i].len = res->rr[i].len;
        rr[i].pref = res->rr[i].pref;
        memcpy(rr[i].addr, res->rr[i].addr, sizeof(rr[i].addr));
    }
    spf_answer(q->c, st[res->status], rr, res->n);
    free(rr);
    dns_records_free(res);
    if (q->s == NULL) { /* the session ended meanwhile */
        req_free(q);
        return;
    }
    if (advance(q))
        q->resume(q->s);
}

/* advance - step until a query is in flight (0) or the result is known (1) */
static int
advance(struct smtp_spfreq *q)
{
    struct sess *s = q->s;

    while (spf_step(q->c) == SPF_STEP_QUERY) {
        if (s->lis->dns != NULL &&
            dns_lookup(s->lis->dns, spf_query_name(q->c), spf_query_type(q->c), on_dns, q) == 0)
            return 0;
        spf_answer(q->c, SPF_DNS_TEMP, NULL, 0);
    }
    q->done = 1;
    log_info("H=(%s) %s SPF %s: %s for %s", s->helo, s->host, spf_result_name(spf_result(q->c)),
             spf_reason(q->c), spf_domain(q->c));
    return 1;
}

/* req_new - start evaluating the session's current identity */
static struct smtp_spfreq *
req_new(struct sess *s)
{
    struct smtp_spfreq *q = calloc(1, sizeof(*q));
    const char *sender = s->sender != NULL ? s->sender : "";
    struct spf_request rq = {
        .ip = s->ip, .sender = sender, .helo = s->helo, .receiver = s->lis->cfg->primary_hostname};

    if (q == NULL || (q->sender = strdup(sender)) == NULL || (q->helo = strdup(s->helo)) == NULL)
        abort();
    q->s = s;
    q->c = spf_new(&rq);
    return q;
}

/* smtp_spf_free - the session ends: orphan a request still waiting */
void
smtp_spf_free(struct sess *s)
{
    struct smtp_spfreq *q = s->spf;

    s->spf = NULL;
    if (q == NULL)
        return;
    if (q->done || q->c == NULL)
        req_free(q);
    else
        q->s = NULL; /* on_dns frees it */
}

/* smtp_spf_check - acl_env.spf: the result word, or ACL_VERIFY_PENDING
 * (resume is called once it is known) */
int
smtp_spf_check(void *arg, char *result, size_t len, void (*resume)(struct sess *s))
{
    struct sess *s = arg;
    struct smtp_spfreq *q = s->spf;
    const char *sender = s->sender != NULL ? s->sender : "";

    if (q == NULL || strcmp(q->sender, sender) != 0 || strcmp(q->helo, s->helo) != 0) {
        if (q != NULL && !q->done && q->c != NULL)
            return ACL_VERIFY_PENDING; /* cannot happen: the ACL waits for it */
        smtp_spf_free(s);
        s->spf = q = req_new(s);
        q->resume = resume;
        if (q->c == NULL) { /* no IP client address (cannot be checked) */
            q->done = 1;
            snprintf(result, len, "none");
            return ACL_VERIFY_OK;
        }
        if (!advance(q))
            return ACL_VERIFY_PENDING;
    }
    if (!q->done)
        return ACL_VERIFY_PENDING;
    snprintf(result, len, "%s", q->c ? spf_result_name(spf_result(q->c)) : "none");
    return ACL_VERIFY_OK;
}

/* smtp_spf_var - $spf_*; NULL for other names */
const char *
smtp_spf_var(struct sess *s, const char *name)
{
    struct smtp_spfreq *q = s->spf;
    int known = q != NULL && q->done && q->c != NULL;

    if (strncmp(name, "spf_", 4) != 0)
        return NULL;
    if (strcmp(name, "spf_result") == 0)
        return known ? spf_result_name(spf_result(q->c)) : (q != NULL && q->done ? "none" : "");
    if (strcmp(name, "spf_header_comment") == 0)
        return known ? spf_header_comment(q->c) : "";
    if (strcmp(name, "spf_smtp_comment") == 0)
        return known ? spf_smtp_comment(q->c) : "";
    if (strcmp(name, "spf_received") == 0)
        return known ? spf_received(q->c) : "";
    return NULL;
}
