/*
 * smtp_prdr.c - PRDR on the SMTP server (draft-hall-prdr-00; seed "PRDR
 *               support"; Exim's behaviour).
 *
 * With prdr_enable, EHLO offers PRDR. A client that gives MAIL ... PRDR
 * and names more than one recipient gets, once the message text is
 * complete and well formed:
 *   353 PRDR content analysis beginning
 *   then, for each recipient in RCPT order, acl_smtp_data_prdr (the seed's
 *   acl_data_smtp_prdr is the same option) with $local_part and $domain
 *   set, and one reply:
 *     250 2.1.5 PRDR R=<rcpt> acceptance
 *     550 5.7.1 PRDR R=<rcpt> refusal        ("message =" replaces the text)
 *     450 4.7.1 PRDR R=<rcpt> temporary refusal
 *   then the final reply: the DATA ACL runs for the recipients accepted and
 *   the message is spooled for them only ("250 2.0.0 OK id=..."), or, when
 *   none was accepted, 550 5.7.1 message refused for all recipients.
 * A single-recipient message skips PRDR (the seed allows it), as does a
 * client that did not ask. An unset acl_smtp_data_prdr accepts every
 * recipient (Exim's default). Each refusal is logged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/smtp_int.h"
#include "base/log.h"
#include "base/metrics.h"

/* prdr_done - one recipient's ACL answered: its reply */
static void
prdr_done(struct sess *s, int rc)
{
    const char *r = s->rcpts[s->prdr_i];
    char dflt[SMTP_ARG_MAX + 64];
    int ok = rc == ACL_ACCEPT || rc == ACL_DISCARD;

    s->prdr_ok[s->prdr_i++] = (unsigned char)ok;
    if (ok) {
        smtp_acl_keep_headers(s);
        smtp_reply(s, "250 2.1.5 PRDR R=<%s> acceptance", r);
        return;
    }
    metrics_inc(MC_REJECTED);
    log_info("%s H=(%s) %s F=<%s> %srejected by PRDR RCPT <%s>: %s", s->id, s->helo, s->host,
             s->sender, rc == ACL_DENY || rc == ACL_DROP ? "" : "temporarily ", r, smtp_acl_why(s));
    if (rc == ACL_DENY || rc == ACL_DROP) {
        snprintf(dflt, sizeof(dflt), "PRDR R=<%s> refusal", r);
        smtp_acl_reply(s, 550, "5.7.1", dflt);
    } else {
        snprintf(dflt, sizeof(dflt), "PRDR R=<%s> temporary refusal", r);
        smtp_acl_reply(s, 450, "4.7.1", dflt);
    }
}

/* prdr_keep - drop the refused recipients (and their DSN requests); how many are left */
static size_t
prdr_keep(struct sess *s)
{
    size_t k = 0;

    for (size_t i = 0; i < s->nrcpt; i++) {
        if (!s->prdr_ok[i]) {
            free(s->rcpts[i]);
            free(s->rcpt_orcpt[i]);
            continue;
        }
        s->rcpts[k] = s->rcpts[i];
        s->rcpt_orcpt[k] = s->rcpt_orcpt[i];
        s->rcpt_notify[k++] = s->rcpt_notify[i];
    }
    s->nrcpt = k;
    return k;
}

/* prdr_end - every recipient answered: the final reply */
static void
prdr_end(struct sess *s)
{
    s->st = SS_CMD;
    if (prdr_keep(s) == 0) {
        log_info("%s H=(%s) %s F=<%s> rejected after DATA: PRDR refused every recipient", s->id,
                 s->helo, s->host, s->sender);
        smtp_reply(s, "550 5.7.1 message refused for all recipients");
        smtp_txn_reset(s);
        return;
    }
    smtp_data_accept(s);
}

/* smtp_prdr_step - SS_PRDR: the next recipient's acl_smtp_data_prdr, or
 * the end of PRDR; 1 progress, 0 waiting */
int
smtp_prdr_step(struct sess *s)
{
    if (s->prdr_ok == NULL && (s->prdr_ok = calloc(s->nrcpt, 1)) == NULL)
        abort();
    if (s->prdr_i == s->nrcpt) {
        prdr_end(s);
        return 1;
    }
    smtp_acl_check(s, s->lis->cfg->acl_smtp_data_prdr, ACL_WHERE_DATA_PRDR, s->rcpts[s->prdr_i],
                   prdr_done);
    return 1;
}
