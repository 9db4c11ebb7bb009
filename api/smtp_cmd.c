/*
 * smtp_cmd.c - the commands of the SMTP server (RFC 5321 §4.1; RFC 2920
 *              PIPELINING, RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 6531
 *              SMTPUTF8, RFC 3030 CHUNKING, RFC 2034 ENHANCEDSTATUSCODES,
 *              RFC 3461 DSN), one function a command.
 *
 * Errors that end the session (each logged):
 *   smtp_max_unknown_commands  unrecognised commands beyond it:
 *                              500 5.5.1 too many unrecognized commands
 *   smtp_max_synprot_errors    syntax and sequence errors beyond it:
 *                              421 4.7.0 too many syntax or protocol errors
 *   smtp_enforce_sync          input sent before the reply it must wait for
 *                              (after EHLO/HELO, VRFY or STARTTLS, or after
 *                              any command but QUIT when PIPELINING was not
 *                              advertised, RFC 2920 §3.1):
 *                              554 5.5.0 SMTP synchronization error
 * Limits: recipients_max recipients per message (452 4.5.3).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/smtp_int.h"
#include "base/log.h"
#include "base/metrics.h"
#include "conf/address.h"

/* protocol_error - count a syntax or sequence error; end the session past the limit */
static void
protocol_error(struct sess *s, const char *line)
{
    int max = s->lis->cfg->smtp_max_synprot_errors;

    smtp_reply(s, "%s", line);
    if (max > 0 && ++s->synprot_errs > max)
        smtp_drop(s, "too many syntax or protocol errors",
                  "421 4.7.0 too many syntax or protocol errors");
}

/* chunking_ok - is CHUNKING offered to this client? */
static int
chunking_ok(const struct sess *s)
{
    return cfg_hostlist_match(&s->lis->cfg->chunking_advertise_hosts,
                              (const struct sockaddr *)&s->peer);
}

/* dsn_ok - is DSN (RFC 3461) offered to this client? */
static int
dsn_ok(const struct sess *s)
{
    return cfg_hostlist_match(&s->lis->cfg->dsn_advertise_hosts, (const struct sockaddr *)&s->peer);
}

/* ehlo_reply - the EHLO/HELO answer with the extensions offered */
static void
ehlo_reply(struct sess *s)
{
    const struct cfg *cfg = s->lis->cfg;

    if (!s->esmtp) {
        smtp_reply(s, "250 %s Hello %s %s", cfg->primary_hostname, s->helo, s->host);
        return;
    }
    smtp_reply(s, "250-%s Hello %s %s", cfg->primary_hostname, s->helo, s->host);
    if (!(s->controls & ACL_CONTROL_NO_PIPELINING))
        smtp_reply(s, "250-PIPELINING");
    smtp_reply(s, "250-SIZE %llu", (unsigned long long)cfg->message_size_limit);
    smtp_reply(s, "250-8BITMIME");
    smtp_reply(s, "250-SMTPUTF8");
    if (chunking_ok(s))
        smtp_reply(s, "250-CHUNKING");
    if (smtp_tls_offered(s))
        smtp_reply(s, "250-STARTTLS");
    smtp_auth_ehlo(s);
    if (s->lis->cfg->prdr_enable)
        smtp_reply(s, "250-PRDR");
    if (dsn_ok(s))
        smtp_reply(s, "250-DSN");
    smtp_reply(s, "250 ENHANCEDSTATUSCODES");
}

/* ehlo_done - the HELO ACL's answer */
static void
ehlo_done(struct sess *s, int rc)
{
    if (rc == ACL_ACCEPT || rc == ACL_DISCARD) {
        s->greeted = 1;
        s->controls |= s->acl_res.controls;
        ehlo_reply(s);
        return;
    }
    smtp_acl_refuse(s, rc, s->esmtp ? "EHLO" : "HELO", 450);
    s->greeted = 0;
}

/* cmd_ehlo - EHLO/HELO: (re)start the session, run the HELO ACL */
static void
cmd_ehlo(struct sess *s, const struct smtp_cmd *c)
{
    size_t n = strnlen(c->arg, sizeof(s->helo) - 1); /* the parser allows 255 */

    memcpy(s->helo, c->arg, n);
    s->helo[n] = '\0';
    smtp_txn_reset(s);
    s->esmtp = c->verb == SMTP_V_EHLO;
    smtp_acl_check(s, s->lis->cfg->acl_smtp_helo, ACL_WHERE_HELO, NULL, ehlo_done);
}

/* mail_done - the MAIL ACL's answer */
static void
mail_done(struct sess *s, int rc)
{
    if (rc == ACL_ACCEPT || rc == ACL_DISCARD) {
        s->in_mail = 1;
        s->txn_controls |= s->acl_res.controls; /* kept for the message (DMARC) */
        smtp_acl_keep_headers(s);
        smtp_reply(s, "250 2.1.0 OK");
        return;
    }
    smtp_acl_refuse(s, rc, "MAIL", 450);
    free(s->sender);
    s->sender = NULL;
}

/* cmd_mail - MAIL FROM: start a transaction, run the MAIL ACL */
static void
cmd_mail(struct sess *s, const struct smtp_cmd *c)
{
    uint64_t limit = s->lis->cfg->message_size_limit;

    if (!s->greeted)
        protocol_error(s, "503 5.5.1 send HELO/EHLO first");
    else if (s->in_mail)
        protocol_error(s, "503 5.5.1 nested MAIL command");
    else if (c->nparams > 0 && !s->esmtp)
        protocol_error(s, "555 5.5.4 MAIL parameters need EHLO");
    else if ((c->ret != SMTP_RET_NONE || c->envid[0]) && !dsn_ok(s))
        protocol_error(s, "555 5.5.4 DSN parameters not supported");
    else if (c->prdr && !s->lis->cfg->prdr_enable)
        protocol_error(s, "555 5.5.4 PRDR not supported");
    else if (c->has_size && limit != 0 && c->size > limit) {
        metrics_inc(MC_REJECTED);
        smtp_reply(s, "552 5.3.4 message size exceeds limit");
    } else {
        smtp_acl_new_mail(s);
        free(s->sender);
        s->sender = smtp_dup(c->arg);
        s->smtputf8 = c->smtputf8;
        s->eightbit = c->body == SMTP_BODY_8BITMIME;
        s->dsn_ret = (int)c->ret;
        free(s->dsn_envid);
        s->dsn_envid = c->envid[0] ? smtp_dup(c->envid) : NULL;
        s->prdr = c->prdr;
        smtp_acl_check(s, s->lis->cfg->acl_smtp_mail, ACL_WHERE_MAIL, NULL, mail_done);
    }
}

/* rcpt_add - keep an accepted recipient with its DSN request */
static void
rcpt_add(struct sess *s, const char *addr, unsigned notify, const char *orcpt)
{
    if (s->nrcpt == s->rcptcap) {
        s->rcptcap = s->rcptcap ? s->rcptcap * 2 : 4;
        s->rcpts = realloc(s->rcpts, s->rcptcap * sizeof(*s->rcpts));
        s->rcpt_orcpt = realloc(s->rcpt_orcpt, s->rcptcap * sizeof(*s->rcpt_orcpt));
        s->rcpt_notify = realloc(s->rcpt_notify, s->rcptcap);
        if (s->rcpts == NULL || s->rcpt_orcpt == NULL || s->rcpt_notify == NULL)
            abort();
    }
    s->rcpt_notify[s->nrcpt] = (uint8_t)notify;
    s->rcpt_orcpt[s->nrcpt] = orcpt != NULL && *orcpt ? smtp_dup(orcpt) : NULL;
    s->rcpts[s->nrcpt++] = smtp_dup(addr);
}

/* rcpt_refused - a recipient refused for its syntax or destination */
static int
rcpt_refused(struct sess *s, const struct smtp_cmd *c)
{
    const char *why = NULL;
    int code;

    if (!addr_valid_mailbox(c->arg, s->smtputf8, &why)) {
        metrics_inc(MC_REJECTED);
        smtp_reply(s, "501 5.1.3 bad recipient address syntax: %s", why);
        return 1;
    }
    if ((code = addr_rcpt_check(c->arg, s->lis->cfg->allow_domain_literals, &why)) != 0) {
        metrics_inc(MC_REJECTED);
        smtp_reply(s, "%d 5.1.2 %s", code, why);
        return 1;
    }
    return 0;
}

/* rcpt_done - the RCPT ACL's answer (or the default policy's) */
static void
rcpt_done(struct sess *s, int rc)
{
    char what[SMTP_ARG_MAX + 8];

    if (rc == ACL_ACCEPT) {
        s->txn_controls |= s->acl_res.controls; /* kept for the message (DMARC) */
        smtp_acl_keep_headers(s);
        rcpt_add(s, s->acl_rcpt, s->pend_notify, s->pend_orcpt);
        smtp_reply(s, "250 2.1.5 OK");
        return;
    }
    if (rc == ACL_DISCARD) { /* accepted, then thrown away (Exim) */
        log_info("H=(%s) %s F=<%s> RCPT <%s> discarded by ACL", s->helo, s->host, s->sender,
                 s->acl_rcpt);
        smtp_reply(s, "250 2.1.5 OK");
        return;
    }
    snprintf(what, sizeof(what), "RCPT <%s>", s->acl_rcpt);
    smtp_acl_refuse(s, rc, what, 450);
}

/* cmd_rcpt - RCPT TO: check the address, run the RCPT ACL or the default policy */
static void
cmd_rcpt(struct sess *s, const struct smtp_cmd *c)
{
    const struct cfg *cfg = s->lis->cfg;

    if (!s->in_mail) {
        protocol_error(s, "503 5.5.1 need MAIL command");
        return;
    }
    if (c->nparams > 0 && !s->esmtp) {
        protocol_error(s, "555 5.5.4 RCPT parameters need EHLO");
        return;
    }
    if (cfg->recipients_max > 0 && s->nrcpt >= (size_t)cfg->recipients_max) {
        log_info("H=(%s) %s F=<%s> too many recipients (recipients_max = %d)", s->helo, s->host,
                 s->sender, cfg->recipients_max);
        smtp_reply(s, "452 4.5.3 too many recipients");
        return;
    }
    if ((c->notify || c->orcpt[0]) && !dsn_ok(s)) {
        protocol_error(s, "555 5.5.4 DSN parameters not supported");
        return;
    }
    if (rcpt_refused(s, c))
        return;
    if (cfg->acl_smtp_rcpt != NULL) {
        s->pend_notify = c->notify;
        free(s->pend_orcpt);
        s->pend_orcpt = c->orcpt[0] ? smtp_dup(c->orcpt) : NULL;
        smtp_acl_check(s, cfg->acl_smtp_rcpt, ACL_WHERE_RCPT, c->arg, rcpt_done);
        return;
    }
    if (smtp_rcpt_default(s, c->arg)) {
        rcpt_add(s, c->arg, c->notify, c->orcpt);
        smtp_reply(s, "250 2.1.5 OK");
        return;
    }
    metrics_inc(MC_REJECTED);
    log_info("H=(%s) %s F=<%s> rejected RCPT <%s>: relay not permitted", s->helo, s->host,
             s->sender, c->arg);
    smtp_reply(s, "550 5.7.1 relay not permitted");
}

/* txn_ready - is there a transaction with recipients to take text for? */
static int
txn_ready(struct sess *s)
{
    if (!s->in_mail) {
        protocol_error(s, "503 5.5.1 need MAIL command");
        return 0;
    }
    if (s->nrcpt == 0) {
        protocol_error(s, "554 5.5.1 no valid recipients");
        return 0;
    }
    return 1;
}

/* data_go - 354 and message text */
static void
data_go(struct sess *s)
{
    smtp_data_begin(s);
    smtp_frame_data_begin(&s->fr);
    s->st = SS_DATA;
    smtp_reply(s, "354 end data with <CR><LF>.<CR><LF>");
}

/* predata_done - the predata ACL's answer */
static void
predata_done(struct sess *s, int rc)
{
    if (rc == ACL_ACCEPT || rc == ACL_DISCARD) {
        s->txn_controls |= s->acl_res.controls; /* kept for the message (DMARC) */
        smtp_acl_keep_headers(s);
        data_go(s);
        return;
    }
    smtp_acl_refuse(s, rc, "DATA", 450);
}

/* cmd_data - DATA: the predata ACL, then 354 */
static void
cmd_data(struct sess *s)
{
    if (s->bdat) {
        protocol_error(s, "503 5.5.1 DATA not allowed after BDAT");
        return;
    }
    if (!txn_ready(s))
        return;
    smtp_acl_check(s, s->lis->cfg->acl_smtp_predata, ACL_WHERE_PREDATA, NULL, predata_done);
}

/* bdat_skip - a refused BDAT chunk: answer now, read its octets and drop them */
static void
bdat_skip(struct sess *s, const struct smtp_cmd *c, const char *line)
{
    protocol_error(s, line);
    if (s->close_after)
        return;
    s->bdat_discard = 1;
    s->bdat_left = c->size;
    s->st = SS_BDAT;
}

/* cmd_bdat - BDAT size [LAST]: read the chunk that follows (RFC 3030 §2) */
static void
cmd_bdat(struct sess *s, const struct smtp_cmd *c)
{
    if (!chunking_ok(s) || !s->esmtp) {
        bdat_skip(s, c, "503 5.5.1 CHUNKING not offered");
        return;
    }
    if (!s->in_mail || s->nrcpt == 0) {
        bdat_skip(s, c,
                  s->in_mail ? "554 5.5.1 no valid recipients" : "503 5.5.1 need MAIL command");
        return;
    }
    if (!s->bdat) {
        s->bdat = 1;
        smtp_data_begin(s);
    }
    s->bdat_left = c->size;
    s->bdat_last = c->bdat_last;
    s->st = SS_BDAT;
}

/* quit_done - the QUIT ACL ran (its result changes nothing but the text) */
static void
quit_done(struct sess *s, int rc)
{
    char dflt[300];

    (void)rc;
    snprintf(dflt, sizeof(dflt), "%s closing connection", s->lis->cfg->primary_hostname);
    smtp_acl_reply(s, 221, "2.0.0", dflt);
    s->close_after = 1;
}

/* cmd_other - the commands that touch no transaction state */
static void
cmd_other(struct sess *s, const struct smtp_cmd *c)
{
    switch (c->verb) {
    case SMTP_V_RSET:
        smtp_txn_reset(s);
        smtp_reply(s, "250 2.0.0 OK");
        break;
    case SMTP_V_NOOP:
        smtp_reply(s, "250 2.0.0 OK");
        break;
    case SMTP_V_QUIT:
        smtp_acl_check(s, s->lis->cfg->acl_smtp_quit, ACL_WHERE_QUIT, NULL, quit_done);
        break;
    case SMTP_V_VRFY:
        smtp_reply(s, "252 2.0.0 cannot VRFY user, but will accept message and attempt delivery");
        break;
    case SMTP_V_HELP:
        smtp_reply(s, "214 2.0.0 commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP");
        break;
    case SMTP_V_STARTTLS:
        smtp_cmd_starttls(s);
        break;
    case SMTP_V_AUTH:
        smtp_cmd_auth(s, c->arg);
        break;
    default:
        break;
    }
}

/* cmd_dispatch - act on one parsed command */
static void
cmd_dispatch(struct sess *s, const struct smtp_cmd *c)
{
    switch (c->verb) {
    case SMTP_V_EHLO:
    case SMTP_V_HELO:
        cmd_ehlo(s, c);
        break;
    case SMTP_V_MAIL:
        cmd_mail(s, c);
        break;
    case SMTP_V_RCPT:
        cmd_rcpt(s, c);
        break;
    case SMTP_V_DATA:
        cmd_data(s);
        break;
    case SMTP_V_BDAT:
        cmd_bdat(s, c);
        break;
    default:
        cmd_other(s, c);
        break;
    }
}

/* sync_point - must the client wait for this command's reply before sending more? */
static int
sync_point(const struct sess *s, enum smtp_verb v)
{
    if (!s->esmtp || (s->controls & ACL_CONTROL_NO_PIPELINING))
        return 1; /* PIPELINING was not advertised */
    return v == SMTP_V_EHLO || v == SMTP_V_HELO || v == SMTP_V_VRFY || v == SMTP_V_STARTTLS;
}

/* out_of_sync - input already waits behind a command that needs its reply first */
static int
out_of_sync(struct sess *s, const struct smtp_cmd *c)
{
    if (!s->lis->cfg->smtp_enforce_sync || (s->controls & ACL_CONTROL_NO_ENFORCE_SYNC) ||
        s->inoff >= s->inlen || !sync_point(s, c->verb))
        return 0;
    if (c->verb == SMTP_V_QUIT)
        return 0;
    metrics_inc(MC_REJECTED);
    smtp_drop(s, "SMTP synchronization error (input sent without waiting for a reply)",
              "554 5.5.0 SMTP synchronization error");
    return 1;
}

/* unknown_command - count an unrecognised command; end the session past the limit */
static void
unknown_command(struct sess *s, const char *line)
{
    int max = s->lis->cfg->smtp_max_unknown_commands;

    if (max > 0 && ++s->unknown_cmds > max) {
        smtp_drop(s, "too many unrecognized commands", "500 5.5.1 too many unrecognized commands");
        return;
    }
    protocol_error(s, line);
}

/* cmd_line - parse and run one command line (without CRLF) */
static void
cmd_line(struct sess *s, const char *p, size_t len)
{
    struct smtp_cmd c;

    if (smtp_parse(p, len, s->smtputf8 ? SMTP_PARSE_UTF8 : 0, &c) != 0) {
        if (c.verb == SMTP_V_RCPT)
            metrics_inc(MC_REJECTED);
        if (c.unknown)
            unknown_command(s, c.reply);
        else
            protocol_error(s, c.reply);
        return;
    }
    if (out_of_sync(s, &c))
        return;
    cmd_dispatch(s, &c);
}

/* smtp_cmd_step - consume one command line; 1 progress, 0 more input needed */
int
smtp_cmd_step(struct sess *s)
{
    struct smtp_frame_out o;
    size_t used = smtp_frame_cmd(&s->fr, s->in + s->inoff, s->inlen - s->inoff, &o);

    s->inoff += used;
    if (o.kind != SMTP_FRAME_NONE && !s->had_cmd) { /* smtp_receive_timeout from now on */
        s->had_cmd = 1;
        eng_timer_start(s->lis->loop, &s->timer, smtp_idle_ms(s));
    }
    if (o.kind == SMTP_FRAME_LINE)
        cmd_line(s, o.data, o.len);
    else if (o.kind == SMTP_FRAME_TOO_LONG)
        protocol_error(s, "500 5.5.2 line too long");
    else if (o.kind == SMTP_FRAME_BARE_LF)
        protocol_error(s, "500 5.5.2 bare <LF> received");
    else if (o.kind == SMTP_FRAME_BARE_CR)
        protocol_error(s, "500 5.5.2 bare <CR> received");
    return used > 0;
}
