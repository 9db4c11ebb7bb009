/*
 * smtp_dkim.c - DKIM verification on the SMTP server (RFC 6376, RFC 8463;
 *               Exim's "DKIM, SPF, SRS and DMARC" chapter): the key
 *               lookups, acl_smtp_dkim once per signer, the $dkim_*
 *               variables and $authentication_results (RFC 8601).
 *
 * Synopsis
 *   smtp_dkim_start(s, cont)       (smtp_data.c, the text is complete)
 *   smtp_dkim_step(s)              (smtp_in.c's loop, SS_DKIM)
 *   (the variables and freeing: smtp_dkim_vars.c)
 *
 * Description
 *   Once a message is complete and well formed, its DKIM-Signature fields
 *   (the first SMTP_DKIM_MAX_SIGS) are parsed by mailauth/dkim.h over the
 *   text as the client sent it (spate's own Received: line left out). The
 *   key record of every signature is asked for at once through the
 *   listener's resolver (dns_lookup, TXT); the session waits in SS_ACL,
 *   reading no input, until the last answer is in, and each signature is
 *   checked as its key arrives. Nothing blocks the loop. A lookup that
 *   cannot be started counts as a temporary DNS failure.
 *
 *   Then, in SS_DKIM, acl_smtp_dkim runs once for each item of
 *   dkim_verify_signers (default $dkim_signers: every d= and i= of the
 *   message, duplicates removed), with $dkim_cur_signer set to the item and
 *   the $dkim_* variables describing the signature of that signer (d= or i=
 *   equal, case-insensitively; of several, the best: pass, then fail, then
 *   invalid); a signer with no signature sees status "none". An accepting
 *   ACL's add_header lines are kept; the first ACL that does not accept
 *   ends the message with its result. Each step of SS_DKIM starts at most
 *   one ACL from the session loop, so an ACL may suspend (delay, verify,
 *   spf) like any other. Afterwards (PRDR and DATA ACLs) the variables
 *   describe the best signature of the message.
 *
 *   Verification is skipped when no ACL could look at its result (none of
 *   acl_smtp_dkim, acl_smtp_data, acl_smtp_data_prdr is set): the message
 *   goes on at once and $dkim_verify_status stays "".
 *
 *   A session that ends while keys are awaited orphans its request: the
 *   signature state is freed at once and the last DNS callback frees the
 *   rest.
 *
 * Log: one line per signature, in Exim's words:
 *   ID DKIM: d=D s=S c=relaxed/simple a=rsa-sha256 b=2048 [verification succeeded]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/smtp_dkim_int.h"
#include "base/log.h"
#include "conf/expand.h"
#include "dns/dns.h"

/* list_add - append item to a ':' list unless it is there (case-insensitive) */
static void
list_add(char **list, const char *item)
{
    size_t n = strlen(item), have = *list ? strlen(*list) : 0;
    char *p;

    for (const char *t = *list; t != NULL && *t; t += strcspn(t, ":"), t += *t == ':')
        if (strcspn(t, ":") == n && strncasecmp(t, item, n) == 0)
            return;
    if (n == 0 || (p = realloc(*list, have + n + 2)) == NULL) {
        if (n == 0)
            return;
        abort();
    }
    snprintf(p + have, n + 2, "%s%s", have ? ":" : "", item);
    *list = p;
}

/* signers_of - $dkim_signers: every d= and i= (other than "@d") */
static char *
signers_of(const struct smtp_dkimreq *q)
{
    char *list = NULL;

    for (size_t k = 0; k < q->n; k++) {
        const struct dkim_sig *g = smtp__dkim_sig(q, k);
        if (g == NULL)
            continue;
        list_add(&list, g->d);
        if (g->i[0] != '@')
            list_add(&list, g->i);
    }
    return list != NULL ? list : smtp_dup("");
}

/* split_signers - dkim_verify_signers expanded (default $dkim_signers), split */
static void
split_signers(struct sess *s, struct smtp_dkimreq *q)
{
    const struct exp_str *e = s->lis->cfg->dkim_verify_signers;
    char err[160] = "", *text = NULL, *all = NULL;
    struct exp_ctx ctx = {.var = smtp_var, .arg = s, .err = err, .errlen = sizeof(err)};

    if (e != NULL && exp_eval(e, &ctx, &text) != EXP_OK) {
        log_warn("%s dkim_verify_signers: %s; using $dkim_signers", s->id, err);
        free(text);
        text = NULL;
    }
    const char *src = text != NULL ? text : q->signers;
    for (const char *t = src; *t; t += strcspn(t, ":"), t += *t == ':') {
        size_t n = strcspn(t, ":");
        char item[512];
        const char *b = t;
        while (n > 0 && (*b == ' ' || *b == '\t'))
            b++, n--;
        while (n > 0 && (b[n - 1] == ' ' || b[n - 1] == '\t'))
            n--;
        snprintf(item, sizeof(item), "%.*s", (int)n, b);
        list_add(&all, item);
    }
    free(text);
    for (char *t = all, *save = NULL, *w; (w = strtok_r(t, ":", &save)) != NULL; t = NULL)
        if (q->nlist < SMTP_DKIM_MAX_SIGNERS) {
            if ((q->list = realloc(q->list, (q->nlist + 1) * sizeof(*q->list))) == NULL)
                abort();
            q->list[q->nlist++] = smtp_dup(w);
        }
    free(all);
}

/* log_sig - Exim's log line for one signature */
static void
log_sig(const struct sess *s, const struct smtp_dkimreq *q, size_t k)
{
    const struct dkim_sig *g = smtp__dkim_sig(q, k);
    const struct dkim_result *r = &q->sig[k].res;
    static const char *const canon[] = {"simple", "relaxed"};

    if (g == NULL) {
        log_info("%s DKIM: [invalid - %s: %s]", s->id, r->reason, r->detail);
        return;
    }
    log_info("%s DKIM: d=%s s=%s c=%s/%s a=%s b=%d [%s%s%s]", s->id, g->d, g->s, canon[g->hcanon],
             canon[g->bcanon], dkim_algo_name(g->algo), r->key_bits,
             r->status == DKIM_PASS   ? "verification succeeded"
             : r->status == DKIM_FAIL ? "verification failed - "
                                      : "invalid - ",
             r->status == DKIM_PASS ? "" : r->reason, r->testing ? " (testing)" : "");
}

/* verified - every key is in: the signers whose ACL is to run */
static void
verified(struct sess *s, struct smtp_dkimreq *q)
{
    q->verified = 1;
    for (size_t k = 0; k < q->n; k++)
        log_sig(s, q, k);
    q->signers = signers_of(q);
    q->cur_sig = smtp__dkim_best(q, NULL);
    if (s->lis->cfg->acl_smtp_dkim != NULL)
        split_signers(s, q);
}

/* key_text - the key record among the TXT records (a "v=DKIM1" one first) */
static const struct dns_rr *
key_text(const struct dns_records *res)
{
    for (size_t i = 0; i < res->n; i++)
        if (res->rr[i].len >= 7 && strncmp(res->rr[i].text, "v=DKIM1", 7) == 0)
            return &res->rr[i];
    return res->n > 0 ? &res->rr[0] : NULL;
}

/* on_key - a key record (or its absence) for one signature */
static void
on_key(struct dns_records *res, void *arg)
{
    struct dkim_slot *slot = arg;
    struct smtp_dkimreq *q = slot->q;
    struct sess *s = q->s;
    const struct dns_rr *rr = key_text(res);
    enum dkim_dns d = res->status == DNS_REC_TEMP ? DKIM_DNS_TEMPFAIL
                      : rr == NULL                ? DKIM_DNS_NOTFOUND
                                                  : DKIM_DNS_OK;

    q->pending--;
    if (s != NULL)
        dkim_verify_one(q->v, slot->k, d, rr ? rr->text : NULL, rr ? rr->len : 0, time(NULL),
                        &slot->res);
    dns_records_free(res);
    if (s == NULL) { /* the session ended meanwhile */
        if (q->pending == 0)
            smtp__dkim_req_free(q);
        return;
    }
    if (q->pending > 0)
        return;
    verified(s, q);
    s->st = SS_DKIM;
    s->lis->run(s);
}

/* lookup_keys - ask for every signature's key; unparsed ones are judged now */
static void
lookup_keys(struct sess *s, struct smtp_dkimreq *q)
{
    time_t now = time(NULL);
    char name[600];

    for (size_t k = 0; k < q->n; k++) {
        const struct dkim_sig *g = smtp__dkim_sig(q, k);
        q->sig[k].q = q, q->sig[k].k = k;
        if (g == NULL || dkim_key_name(g, name, sizeof(name)) < 0) {
            dkim_verify_one(q->v, k, DKIM_DNS_NOTFOUND, NULL, 0, now, &q->sig[k].res);
            continue;
        }
        q->pending++;
        if (dns_lookup(s->lis->dns, name, DNS_T_TXT, on_key, &q->sig[k]) != 0) {
            q->pending--;
            dkim_verify_one(q->v, k, DKIM_DNS_TEMPFAIL, NULL, 0, now, &q->sig[k].res);
        }
    }
}

/* wanted - could any ACL look at the result? */
static int
wanted(const struct sess *s)
{
    const struct cfg *c = s->lis->cfg;

    return c->acl_smtp_dkim != NULL || c->acl_smtp_data != NULL || c->acl_smtp_data_prdr != NULL;
}

/* smtp_dkim_start - verify the complete message's signatures, then run
 * acl_smtp_dkim per signer (SS_DKIM); cont gets the outcome */
void
smtp_dkim_start(struct sess *s, smtp_acl_cont cont)
{
    struct smtp_dkimreq *q;

    smtp_dkim_free(s);
    if (!wanted(s)) {
        cont(s, ACL_ACCEPT);
        return;
    }
    if ((q = calloc(1, sizeof(*q))) == NULL)
        abort();
    q->s = s, q->cont = cont, q->cur_sig = -1;
    q->v = dkim_verify_begin(s->body + s->hdrlen, s->blen - s->hdrlen, SMTP_DKIM_MAX_SIGS);
    if (q->v == NULL)
        abort();
    q->n = dkim_verify_count(q->v);
    if (q->n > 0 && (q->sig = calloc(q->n, sizeof(*q->sig))) == NULL)
        abort();
    s->dkim = q;
    lookup_keys(s, q);
    if (q->pending > 0) { /* on_key goes on */
        s->acl_prev_st = SS_DKIM;
        s->st = SS_ACL;
        return;
    }
    verified(s, q);
    s->st = SS_DKIM;
}

/* dkim_acl_done - one signer's ACL answered: next signer, or the end */
static void
dkim_acl_done(struct sess *s, int rc)
{
    struct smtp_dkimreq *q = s->dkim;

    if (rc == ACL_ACCEPT) {
        smtp_acl_keep_headers(s);
        q->cur++;
        return; /* SS_DKIM: the loop's next step */
    }
    s->st = SS_CMD;
    q->cur_sig = smtp__dkim_best(q, NULL);
    q->cont(s, rc);
}

/* smtp_dkim_step - SS_DKIM: the next signer's acl_smtp_dkim, or go on */
int
smtp_dkim_step(struct sess *s)
{
    struct smtp_dkimreq *q = s->dkim;

    if (q->cur < q->nlist) {
        q->cur_sig = smtp__dkim_best(q, q->list[q->cur]);
        smtp_acl_check(s, s->lis->cfg->acl_smtp_dkim, ACL_WHERE_DKIM, NULL, dkim_acl_done);
        return 1;
    }
    s->st = SS_CMD;
    q->cur_sig = smtp__dkim_best(q, NULL);
    q->cur = q->nlist;
    q->cont(s, ACL_ACCEPT);
    return 1;
}
