/*
 * smtp_dmarc.c - DMARC (RFC 7489, seed "DMARC Support") on the SMTP
 *                server: one evaluation per message after the text, the
 *                $dmarc_* variables the "dmarc_status" condition reads.
 *
 * Synopsis
 *   smtp_dmarc_start(s, cont)      (smtp_data.c, after DKIM, before PRDR
 *                                   and the DATA ACL)
 *   smtp_dmarc_step(s)             (smtp_in.c's loop, SS_DMARC)
 *   smtp_dmarc_var(s, "dmarc_status")   (smtp_var, smtp_vars.c)
 *   smtp_dmarc_free(s)             (smtp_txn_reset, smtp_io.c)
 *
 * Description
 *   Once DKIM is verified and acl_smtp_dkim has answered, the message is
 *   evaluated by mailauth/dmarc.h: the RFC5322.From domain of the text as
 *   the client sent it, the session's SPF result for the MAIL FROM domain
 *   (the HELO name for <>; evaluated now through smtp_spf.c when no ACL
 *   asked for it yet), and every DKIM signature's d=, s= and result. The
 *   _dmarc TXT queries (and, for np=, whether a name exists: an A query)
 *   go through the listener's resolver; the session waits in SS_ACL,
 *   reading no input, and goes on in SS_DMARC. Nothing blocks the loop
 *   except reading the public suffix list (dmarc_tld_file), once per
 *   listener and file name. A lookup that cannot be started counts as a
 *   temporary DNS failure (status temperror).
 *
 *   The evaluation runs when an ACL could look at it (acl_smtp_data or
 *   acl_smtp_data_prdr is set) or when dmarc_history_file is set; else the
 *   variables stay "". "control = dmarc_disable_verify" in the connect,
 *   HELO, MAIL, RCPT or predata ACL makes the status "off" (no DNS, no
 *   history, no report). Authenticated clients are evaluated too: the
 *   seed's ACLs test "!authenticated = *".
 *
 *   Afterwards (smtp_dmarc_report.c) a message with a DMARC record gets
 *   one history entry in dmarc_history_file, and a message that failed
 *   DMARC, with "control = dmarc_enable_forensic" and an ruf= in the record,
 *   a failure report (RFC 6591) queued to the ruf= addresses.
 *
 * Log: "ID DMARC: STATUS (policy P) for FROM-DOMAIN, record at DOMAIN".
 *
 * Variables: $dmarc_status (the seed's word), $dmarc_status_text,
 * $dmarc_used_domain, $dmarc_domain_policy (the policy that applied: p=,
 * sp= or np=; "" without a record), $dmarc_ar_header (a whole
 * Authentication-Results header, one line, for add_header).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/smtp_dkim_int.h" /* the DKIM results of the message */
#include "base/log.h"
#include "dns/dns.h"
#include "mailauth/dmarc.h"

struct smtp_dmarcreq {
    struct sess *s;      /* NULL once the session has ended */
    struct dmarc_ctx *c; /* NULL: no evaluation (the list could not be read) */
    smtp_acl_cont cont;  /* what the message does next */
    char qname[DMARC_DOMAIN_MAX + 8];
    int asked_exists; /* the query in flight is an existence check */
    int pending;      /* a query is in flight */
    int done;         /* the result is known */
    char ar[1024];    /* $dmarc_ar_header */
};

/* req_free - release a request */
static void
req_free(struct smtp_dmarcreq *q)
{
    dmarc_free(q->c);
    free(q);
}

/* smtp_dmarc_free - the transaction ends: forget the result; a query in
 * flight orphans the request (its callback frees it) */
void
smtp_dmarc_free(struct sess *s)
{
    struct smtp_dmarcreq *q = s->dmarc;

    s->dmarc = NULL;
    if (q == NULL)
        return;
    if (q->pending)
        q->s = NULL;
    else
        req_free(q);
}

/* smtp_dmarc_listener_free - the listener's public suffix list */
void
smtp_dmarc_listener_free(struct smtp_listener *lis)
{
    dmarc_psl_free(lis->dmarc_psl);
    free(lis->dmarc_psl_file);
    lis->dmarc_psl = NULL;
    lis->dmarc_psl_file = NULL;
}

/* psl_get - the public suffix list of dmarc_tld_file, read on first use
 * (and again when a reload names another file); NULL when unreadable */
static const struct dmarc_psl *
psl_get(struct sess *s)
{
    struct smtp_listener *lis = s->lis;
    const char *file = lis->cfg->dmarc_tld_file ? lis->cfg->dmarc_tld_file : "";
    char err[256] = "";

    if (lis->dmarc_psl_file != NULL && strcmp(lis->dmarc_psl_file, file) == 0)
        return lis->dmarc_psl;
    smtp_dmarc_listener_free(lis);
    if ((lis->dmarc_psl_file = strdup(file)) == NULL)
        abort();
    lis->dmarc_psl = dmarc_psl_load(file, err, sizeof(err));
    if (lis->dmarc_psl == NULL)
        log_warn("dmarc_tld_file %s: %s; DMARC results are temperror", file, err);
    return lis->dmarc_psl;
}

/* spf_auth - an SPF result word as DMARC takes it */
static enum dmarc_auth
spf_auth(const char *w)
{
    static const struct {
        const char *w;
        enum dmarc_auth a;
    } map[] = {{"pass", DMARC_AUTH_PASS},           {"fail", DMARC_AUTH_FAIL},
               {"softfail", DMARC_AUTH_SOFTFAIL},   {"neutral", DMARC_AUTH_NEUTRAL},
               {"temperror", DMARC_AUTH_TEMPERROR}, {"permerror", DMARC_AUTH_PERMERROR}};

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i].w, w) == 0)
            return map[i].a;
    return DMARC_AUTH_NONE;
}

/* add_dkim - every verified DKIM signature of the message */
static void
add_dkim(struct sess *s, struct dmarc_ctx *c)
{
    const struct smtp_dkimreq *d = s->dkim;

    for (size_t k = 0; d != NULL && d->verified && k < d->n; k++) {
        const struct dkim_sig *g = smtp__dkim_sig(d, k);
        const struct dkim_result *r = &d->sig[k].res;
        enum dmarc_auth a = r->status == DKIM_PASS   ? DMARC_AUTH_PASS
                            : r->status == DKIM_FAIL ? DMARC_AUTH_FAIL
                            : r->temporary           ? DMARC_AUTH_TEMPERROR
                                                     : DMARC_AUTH_PERMERROR;
        if (g != NULL)
            dmarc_add_dkim(c, g->d, g->s, a);
    }
}

/* mfrom_domain - the domain SPF checked: MAIL FROM's, or the HELO name */
static const char *
mfrom_domain(const struct sess *s)
{
    const char *at = s->sender != NULL ? strrchr(s->sender, '@') : NULL;

    return at != NULL ? at + 1 : s->helo;
}

/* finish - the result is known: header text, log, history, report */
static void
finish(struct smtp_dmarcreq *q)
{
    struct sess *s = q->s;
    const struct dmarc_result *r = dmarc_result(q->c);

    q->done = 1;
    if (dmarc_ar_header(r, s->lis->cfg->primary_hostname, q->ar, sizeof(q->ar)) < 0)
        q->ar[0] = '\0';
    log_info("%s DMARC: %s (policy %s) for %s, record at %s", s->id, dmarc_status_word(r->status),
             r->has_record ? dmarc_policy_word(r->policy) : "-",
             r->from_domain[0] ? r->from_domain : "-", r->used_domain[0] ? r->used_domain : "-");
    if (r->status == DMARC_ST_OFF)
        return;
    smtp__dmarc_history(s, q->c);
    if (((s->controls | s->txn_controls) & ACL_CONTROL_DMARC_ENABLE_FORENSIC) && !r->pass &&
        r->has_record && r->rec.ruf[0] != '\0')
        smtp__dmarc_forensic(s, r, q->ar);
}

static void on_dns(struct dns_records *res, void *arg);

/* advance - step until a query is in flight (0) or the result is known (1) */
static int
advance(struct smtp_dmarcreq *q)
{
    const char *name;
    enum dmarc_step st;

    while ((st = dmarc_step(q->c, &name)) != DMARC_STEP_DONE) {
        snprintf(q->qname, sizeof(q->qname), "%s", name);
        q->asked_exists = st == DMARC_STEP_EXISTS;
        q->pending = 1;
        if (q->s->lis->dns != NULL &&
            dns_lookup(q->s->lis->dns, q->qname, q->asked_exists ? DNS_T_A : DNS_T_TXT, on_dns,
                       q) == 0)
            return 0;
        q->pending = 0;
        if (q->asked_exists)
            dmarc_give_exists(q->c, q->qname, DMARC_DNS_TEMPERROR);
        else
            dmarc_give_txt(q->c, q->qname, DMARC_DNS_TEMPERROR, NULL, NULL, 0);
    }
    finish(q);
    return 1;
}

/* give - hand one DNS answer to the evaluator */
static void
give(struct smtp_dmarcreq *q, const struct dns_records *res)
{
    enum dmarc_dns rc = res->status == DNS_REC_TEMP       ? DMARC_DNS_TEMPERROR
                        : res->status == DNS_REC_NXDOMAIN ? DMARC_DNS_NXDOMAIN
                                                          : DMARC_DNS_OK;
    const char **txt = calloc(res->n ? res->n : 1, sizeof(*txt));
    size_t *len = calloc(res->n ? res->n : 1, sizeof(*len));

    if (txt == NULL || len == NULL)
        abort();
    for (size_t i = 0; i < res->n; i++)
        txt[i] = res->rr[i].text, len[i] = res->rr[i].len;
    if (q->asked_exists)
        dmarc_give_exists(q->c, q->qname, rc);
    else
        dmarc_give_txt(q->c, q->qname, rc, txt, len, rc == DMARC_DNS_OK ? res->n : 0);
    free(txt);
    free(len);
}

/* on_dns - an answer; go on, and let the session continue when done */
static void
on_dns(struct dns_records *res, void *arg)
{
    struct smtp_dmarcreq *q = arg;

    q->pending = 0;
    if (q->s == NULL) { /* the session ended meanwhile */
        dns_records_free(res);
        req_free(q);
        return;
    }
    give(q, res);
    dns_records_free(res);
    if (advance(q)) {
        q->s->st = SS_DMARC;
        q->s->lis->run(q->s);
    }
}

/* begin - the inputs are known (spf: the SPF result word): evaluate; 1 when
 * the result is known at once, 0 while queries run */
static int
begin(struct sess *s, struct smtp_dmarcreq *q, const char *spf)
{
    const struct dmarc_psl *psl = psl_get(s);
    struct dmarc_opts o = {.psl = psl};
    char from[DMARC_DOMAIN_MAX];

    if (psl == NULL || (q->c = dmarc_new(&o)) == NULL) {
        q->done = 1;
        snprintf(q->ar, sizeof(q->ar), "Authentication-Results: %s; dmarc=temperror",
                 s->lis->cfg->primary_hostname);
        return 1;
    }
    if (dmarc_from_domain(s->body + s->hdrlen, s->blen - s->hdrlen, from, sizeof(from)) < 0)
        dmarc_set_from(q->c, NULL);
    else
        dmarc_set_from(q->c, from);
    dmarc_set_spf(q->c, mfrom_domain(s), spf_auth(spf));
    add_dkim(s, q->c);
    if ((s->controls | s->txn_controls) & ACL_CONTROL_DMARC_DISABLE_VERIFY)
        dmarc_disable(q->c);
    return advance(q);
}

/* spf_known - smtp_spf.c's resume: the SPF result is in; evaluate */
static void
spf_known(struct sess *s)
{
    char spf[32] = "none";

    if (smtp_spf_check(s, spf, sizeof(spf), spf_known) != ACL_VERIFY_OK)
        snprintf(spf, sizeof(spf), "temperror");
    if (begin(s, s->dmarc, spf)) {
        s->st = SS_DMARC;
        s->lis->run(s);
    }
}

/* wanted - could anything use the result? */
static int
wanted(const struct sess *s)
{
    const struct cfg *c = s->lis->cfg;

    return c->acl_smtp_data != NULL || c->acl_smtp_data_prdr != NULL ||
           c->dmarc_history_file != NULL;
}

/* smtp_dmarc_start - evaluate the complete message, then cont(s, ACL_ACCEPT)
 * (at once, or from SS_DMARC once the DNS has answered) */
void
smtp_dmarc_start(struct sess *s, smtp_acl_cont cont)
{
    struct smtp_dmarcreq *q;
    char spf[32] = "none";
    int rc = ACL_VERIFY_OK;

    smtp_dmarc_free(s);
    if (!wanted(s)) {
        cont(s, ACL_ACCEPT);
        return;
    }
    if ((q = calloc(1, sizeof(*q))) == NULL)
        abort();
    q->s = s, q->cont = cont;
    s->dmarc = q;
    if (!((s->controls | s->txn_controls) & ACL_CONTROL_DMARC_DISABLE_VERIFY))
        rc = smtp_spf_check(s, spf, sizeof(spf), spf_known);
    if (rc != ACL_VERIFY_PENDING && begin(s, q, spf)) {
        s->st = SS_CMD;
        cont(s, ACL_ACCEPT);
        return;
    }
    s->acl_prev_st = SS_DMARC; /* spf_known or on_dns goes on */
    s->st = SS_ACL;
}

/* smtp_dmarc_step - SS_DMARC: the result is in; the message goes on */
int
smtp_dmarc_step(struct sess *s)
{
    s->st = SS_CMD;
    s->dmarc->cont(s, ACL_ACCEPT);
    return 1;
}

/* smtp_dmarc_var - $dmarc_*; "" before the evaluation, NULL for other names */
const char *
smtp_dmarc_var(struct sess *s, const char *name)
{
    static const char *const names[] = {"dmarc_status", "dmarc_status_text", "dmarc_used_domain",
                                        "dmarc_domain_policy", "dmarc_ar_header"};
    struct smtp_dmarcreq *q = s->dmarc;
    const struct dmarc_result *r = q != NULL && q->done && q->c ? dmarc_result(q->c) : NULL;
    size_t i = 0;

    while (i < sizeof(names) / sizeof(names[0]) && strcmp(name, names[i]) != 0)
        i++;
    if (i == sizeof(names) / sizeof(names[0]))
        return NULL;
    if (q == NULL || !q->done)
        return "";
    if (i == 4)
        return q->ar;
    if (r == NULL) /* the suffix list could not be read */
        return i == 0 ? "temperror" : i == 1 ? "Temporary error" : "";
    if (i == 0)
        return dmarc_status_word(r->status);
    if (i == 1)
        return dmarc_status_text(r);
    if (i == 2)
        return r->used_domain;
    return r->has_record ? dmarc_policy_word(r->policy) : "";
}
