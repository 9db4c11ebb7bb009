/*
 * smtp_data.c - message text for the SMTP server: DATA (RFC 5321 §4.1.1.4,
 *               dot-unstuffed by smtp_frame.c) and BDAT chunks (RFC 3030),
 *               the limits on it, the submission to the spool and the
 *               answer once the commit is durable.
 *
 * Limits (each refused after the whole message was read, and nothing of it
 * kept):
 *   message_size_limit        552 5.3.4 message size exceeds limit
 *   message_linelength_limit  554 5.6.0 a text line longer than the limit
 *                             (CRLF not counted; RFC 5321 §4.5.3.1.6)
 *   bare <CR> or <LF>         554 5.5.2 (SMTP smuggling defence; BDAT text
 *                             is held to the same rule)
 * "250 ... id=" is sent only once the spool's done callback says the
 * message is durable; a failed commit answers 451.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/smtp_int.h"
#include "base/log.h"
#include "base/log_record.h"
#include "base/metrics.h"

_Static_assert((int)SMTP_RET_FULL == (int)SPOOL_RET_FULL &&
                   (int)SMTP_RET_HDRS == (int)SPOOL_RET_HDRS,
               "RET values");
_Static_assert(SMTP_NOTIFY_NEVER == SPOOL_NOTIFY_NEVER &&
                   SMTP_NOTIFY_SUCCESS == SPOOL_NOTIFY_SUCCESS &&
                   SMTP_NOTIFY_FAILURE == SPOOL_NOTIFY_FAILURE &&
                   SMTP_NOTIFY_DELAY == SPOOL_NOTIFY_DELAY,
               "NOTIFY bits");

/* text_scan - follow line lengths (and, for BDAT, bare CR/LF) over text */
static void
text_scan(struct sess *s, const char *p, size_t n)
{
    unsigned limit = (unsigned)s->lis->cfg->message_linelength_limit;

    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (s->bdat) {
            if (s->bdat_cr && c != '\n')
                s->bdat_bad |= SMTP_FRAME_BAD_CR;
            if (c == '\n' && !s->bdat_cr)
                s->bdat_bad |= SMTP_FRAME_BAD_LF;
            s->bdat_cr = c == '\r';
        }
        if (c == '\n') {
            if (limit != 0 && s->linelen > limit + 1) /* the CR is counted in linelen */
                s->long_line = 1;
            s->linelen = 0;
        } else
            s->linelen++;
    }
}

/* body_add - append message text unless the size limit is already passed */
static void
body_add(struct sess *s, const char *p, size_t n)
{
    uint64_t limit = s->lis->cfg->message_size_limit;

    text_scan(s, p, n);
    if (!s->too_big && limit != 0 && s->blen - s->hdrlen + n > limit)
        s->too_big = 1;
    if (s->too_big || s->fr.bad || s->bdat_bad || s->long_line)
        return;
    if (s->blen + n > s->bcap) {
        size_t cap = s->bcap * 2 > s->blen + n ? s->bcap * 2 : s->blen + n + 4096;
        s->body = realloc(s->body, cap);
        if (s->body == NULL)
            abort();
        s->bcap = cap;
    }
    memcpy(s->body + s->blen, p, n);
    s->blen += n;
}

/* rcpt_list - the recipients separated by spaces, for the arrival record */
static char *
rcpt_list(struct sess *s)
{
    size_t len = 1;
    char *t, *p;

    for (size_t i = 0; i < s->nrcpt; i++)
        len += strlen(s->rcpts[i]) + 1;
    t = p = malloc(len);
    if (t == NULL)
        abort();
    for (size_t i = 0; i < s->nrcpt; i++)
        p += sprintf(p, "%s%s", i ? " " : "", s->rcpts[i]);
    *p = '\0';
    return t;
}

/* on_commit - on the loop thread: the spool's answer for the waiting message */
static void
on_commit(eng_loop *loop, void *arg)
{
    struct sess *s = arg;

    if (s->commit_status == 0) {
        metrics_inc(MC_RECEIVED);
        metrics_inc(MC_RECEIVED_SMTP);
        log_info("%s", s->logline);
        smtp_reply(s, "250 2.0.0 OK id=%s", s->id);
    } else {
        metrics_inc(MC_REJECTED);
        log_warn("%s H=(%s) %s spool write failed: %s", s->id, s->helo, s->host,
                 strerror(-s->commit_status));
        smtp_reply(s, "451 4.3.0 spool write failed: try again later");
    }
    free(s->logline);
    s->logline = NULL;
    s->st = SS_CMD;
    if (s->peer_gone) {
        smtp_sess_free(s);
        return;
    }
    if (s->shutdown) {
        smtp_reply(s, "421 4.3.2 %s service shutting down", s->lis->cfg->primary_hostname);
        s->close_after = 1;
        eng_timer_start(loop, &s->timer, CLOSE_GRACE_MS);
    }
    s->lis->run(s);
}

/* on_spool_done - on the spool writer thread: hand the result to the loop */
static void
on_spool_done(struct spool_submission *sub, int status, void *arg)
{
    struct sess *s = arg;

    if (status == 0) /* the JSON delivery log's reception record, before any delivery */
        log_record(&(struct log_rec){.kind = LOG_REC_RECEPTION,
                                     .id = sub->id,
                                     .sender = sub->sender,
                                     .size = (int64_t)sub->body_len,
                                     .nrcpt = (int)sub->nrcpt,
                                     .protocol = sub->proto,
                                     .client = sub->host,
                                     .tls = s->tls ? s->tls_x : NULL,
                                     .verify = s->tls ? (s->tls_cv ? "yes" : "no") : NULL});
    s->commit_status = status;
    if (eng_loop_post(s->lis->loop, on_commit, s) != 0)
        abort(); /* out of memory: the engine cannot go on */
}

/* proto_name - the P= protocol name of RFC 3848 (esmtp, esmtps, esmtpa,
 * esmtpsa, utf8smtp...) */
static const char *
proto_name(const struct sess *s)
{
    static const char *const names[2][4] = {
        {"esmtp", "esmtps", "esmtpa", "esmtpsa"},
        {"utf8smtp", "utf8smtps", "utf8smtpa", "utf8smtpsa"},
    };

    if (!s->esmtp)
        return s->tls != NULL ? "smtps" : "smtp";
    return names[s->smtputf8 != 0][(s->tls != NULL) + 2 * (s->auth_id != NULL)];
}

/* tls_fields - " X=... CV=..." for a TLS session, "" in clear text */
static void
tls_fields(const struct sess *s, char *out, size_t len)
{
    out[0] = '\0';
    if (s->tls != NULL)
        snprintf(out, len, " X=%s CV=%s", s->tls_x, s->tls_cv ? "yes" : "no");
}

/* data_submit - hand the collected message to the spool and wait */
static void
data_submit(struct sess *s)
{
    struct spool_submission *sub = calloc(1, sizeof(*sub));
    char *rcpts = rcpt_list(s), tls[160], auth[300] = "", prx[64];

    tls_fields(s, tls, sizeof(tls));
    smtp_proxy_logfield(s, prx, sizeof(prx)); /* PRX= with log_selector = +proxy */
    if (s->auth_id != NULL)
        snprintf(auth, sizeof(auth), " A=%s:%s", s->auth_name, s->auth_id);
    if (sub == NULL || asprintf(&s->logline, "%s <= %s H=(%s) %s P=%s%s%s%s S=%zu for %s", s->id,
                                *s->sender ? s->sender : "<>", s->helo, s->host, proto_name(s), prx,
                                tls, auth, s->blen, rcpts) < 0)
        abort();
    free(rcpts);
    memcpy(sub->id, s->id, sizeof(sub->id));
    sub->sender = s->sender;
    sub->rcpts = s->rcpts;
    sub->nrcpt = s->nrcpt;
    sub->body = s->body;
    sub->body_len = s->blen;
    sub->proto = smtp_dup(proto_name(s));
    sub->host = smtp_dup(s->host);
    sub->helo = smtp_dup(s->helo);
    sub->flags = (s->smtputf8 ? SPOOL_F_SMTPUTF8 : 0) | (s->eightbit ? SPOOL_F_8BITMIME : 0);
    sub->dsn_ret = (uint8_t)s->dsn_ret; /* SMTP_RET_* and SPOOL_RET_* agree */
    sub->dsn_envid = s->dsn_envid;
    sub->dsn_notify = s->rcpt_notify; /* SMTP_NOTIFY_* and SPOOL_NOTIFY_* agree */
    sub->dsn_orcpt = s->rcpt_orcpt;
    sub->done = on_spool_done;
    sub->arg = s;
    s->sender = NULL, s->rcpts = NULL, s->body = NULL; /* the spool owns them now */
    s->dsn_envid = NULL, s->rcpt_notify = NULL, s->rcpt_orcpt = NULL;
    s->nrcpt = s->rcptcap = s->blen = s->bcap = s->hdrlen = 0;
    s->in_mail = s->smtputf8 = s->eightbit = s->bdat = s->bdat_last = 0;
    s->st = SS_WAIT;
    smtp_dkim_free(s);  /* the ACLs are done with the DKIM results */
    smtp_dmarc_free(s); /* and with DMARC's */
    s->txn_controls = 0;
    spool_submit(s->lis->sp, sub);
}

/* refusal - why a complete message is refused, or NULL; *code the reply */
static const char *
refusal(struct sess *s, unsigned bad, const char **line)
{
    if (bad & SMTP_FRAME_BAD_LF) {
        *line = "554 5.5.2 message contains bare <LF>";
        return "bare <LF> in message";
    }
    if (bad & SMTP_FRAME_BAD_CR) {
        *line = "554 5.5.2 message contains bare <CR>";
        return "bare <CR> in message";
    }
    if (s->too_big) {
        *line = "552 5.3.4 message size exceeds limit";
        return "message too big";
    }
    if (s->long_line) {
        *line = "554 5.6.0 message has a line longer than message_linelength_limit";
        return "line too long in message";
    }
    return NULL;
}

/* split_at_start - move the ":at_start:" lines of add_hdrs (Exim's add_header
 * position word) into *top (marker dropped); the others stay, in order */
static size_t
split_at_start(struct sess *s, char **top)
{
    size_t w = 0, tn = 0;
    char *h = s->add_hdrs;

    *top = NULL;
    if ((*top = malloc(s->add_hdrs_len + 1)) == NULL)
        abort();
    for (size_t r = 0; r < s->add_hdrs_len;) {
        char *nl = memchr(h + r, '\n', s->add_hdrs_len - r);
        size_t n = nl != NULL ? (size_t)(nl - (h + r)) + 1 : s->add_hdrs_len - r;
        if (n > 10 && memcmp(h + r, ":at_start:", 10) == 0) {
            memcpy(*top + tn, h + r + 10, n - 10);
            tn += n - 10;
        } else {
            memmove(h + w, h + r, n);
            w += n;
        }
        r += n;
    }
    s->add_hdrs_len = w;
    return tn;
}

/* headers_apply - the ACLs' add_header / remove_header on the message;
 * ":at_start:" lines go at the very top, above spate's Received: line */
static void
headers_apply(struct sess *s)
{
    size_t n, tn;
    char *b, *top;

    if (s->add_hdrs_len == 0 && s->nremove == 0)
        return;
    tn = split_at_start(s, &top);
    b = api_headers_edit(s->body, s->blen, s->hdrlen, s->add_hdrs ? s->add_hdrs : "",
                         s->add_hdrs_len, s->remove_hdrs, s->nremove, &n);
    if (b == NULL || (tn > 0 && (b = realloc(b, n + tn)) == NULL))
        abort();
    memmove(b + tn, b, n);
    memcpy(b, top, tn);
    free(top);
    free(s->body);
    s->body = b;
    s->blen = s->bcap = n + tn;
}

/* data_done - the DATA ACL's answer: keep, discard or refuse the message */
static void
data_done(struct sess *s, int rc)
{
    if (rc == ACL_ACCEPT) {
        smtp_acl_keep_headers(s);
        s->controls |= s->acl_res.controls;
        headers_apply(s);
        data_submit(s);
        return;
    }
    if (rc == ACL_DISCARD) {
        log_info("%s H=(%s) %s F=<%s> discarded by the DATA ACL: %s", s->id, s->helo, s->host,
                 s->sender, smtp_acl_why(s));
        smtp_reply(s, "250 2.0.0 OK id=%s", s->id);
        smtp_txn_reset(s);
        return;
    }
    smtp_acl_refuse(s, rc, s->bdat ? "after BDAT" : "after DATA", 451);
    smtp_txn_reset(s);
}

/* smtp_data_accept - the message is complete and well formed: ask the
 * DATA ACL, then spool it */
void
smtp_data_accept(struct sess *s)
{
    s->st = SS_CMD;
    smtp_acl_check(s, s->lis->cfg->acl_smtp_data, ACL_WHERE_DATA, NULL, data_done);
}

/* prdr_wanted - does this message go through PRDR (a client that asked, an
 * offer, and more than one recipient: the seed lets one skip it)? */
static int
prdr_wanted(const struct sess *s)
{
    return s->prdr && s->lis->cfg->prdr_enable && s->nrcpt > 1;
}

/* dmarc_done - DMARC evaluated (smtp_dmarc.c): go on to PRDR or the DATA ACL */
static void
dmarc_done(struct sess *s, int rc)
{
    if (rc == ACL_ACCEPT && prdr_wanted(s)) {
        smtp_reply(s, "353 PRDR content analysis beginning");
        s->prdr_i = 0;
        s->st = SS_PRDR; /* smtp_prdr.c takes it from here */
        return;
    }
    smtp_data_accept(s);
}

/* dkim_done - DKIM verified and acl_smtp_dkim answered: go on to DMARC, or
 * refuse the message as the DKIM ACL said */
static void
dkim_done(struct sess *s, int rc)
{
    if (rc == ACL_ACCEPT) {
        smtp_dmarc_start(s, dmarc_done);
        return;
    }
    if (rc == ACL_DISCARD) {
        log_info("%s H=(%s) %s F=<%s> discarded by the DKIM ACL: %s", s->id, s->helo, s->host,
                 s->sender, smtp_acl_why(s));
        smtp_reply(s, "250 2.0.0 OK id=%s", s->id);
    } else
        smtp_acl_refuse(s, rc, s->bdat ? "after BDAT (DKIM ACL)" : "after DATA (DKIM ACL)", 451);
    smtp_txn_reset(s);
}

/* data_end - the end of the message: refuse it, or verify its DKIM
 * signatures (smtp_dkim.c) and go on to PRDR or the DATA ACL */
static void
data_end(struct sess *s, unsigned bad)
{
    const char *line = NULL;
    const char *why = refusal(s, bad, &line);

    s->st = SS_CMD;
    if (why == NULL) {
        smtp_dkim_start(s, dkim_done);
        return;
    }
    metrics_inc(MC_REJECTED);
    log_info("%s H=(%s) %s F=<%s> rejected after %s: %s", s->id, s->helo, s->host, s->sender,
             s->bdat ? "BDAT" : "DATA", why);
    smtp_reply(s, "%s", line);
    smtp_txn_reset(s);
}

/* smtp_data_begin - a new message: id, Received: header, limits reset */
void
smtp_data_begin(struct sess *s)
{
    char *hdr;

    spool_new_id(s->lis->sp, s->id);
    hdr = api_received_header(s->lis->cfg, s->helo, s->host, proto_name(s), s->id,
                              s->nrcpt == 1 ? s->rcpts[0] : NULL);
    if (hdr == NULL)
        abort();
    s->blen = s->hdrlen = 0;
    s->too_big = s->long_line = 0;
    s->bdat_bad = 0;
    s->bdat_cr = 0;
    s->linelen = 0;
    body_add(s, hdr, strlen(hdr));
    s->hdrlen = s->blen;
    s->linelen = 0;
    free(hdr);
}

/* smtp_data_step - consume a piece of message text or the final dot;
 * 1 progress, 0 more input needed */
int
smtp_data_step(struct sess *s)
{
    struct smtp_frame_out o;
    size_t used = smtp_frame_data(&s->fr, s->in + s->inoff, s->inlen - s->inoff, &o);

    s->inoff += used;
    if (o.kind == SMTP_FRAME_TEXT)
        body_add(s, o.data, o.len);
    else if (o.kind == SMTP_FRAME_END)
        data_end(s, o.bad);
    return used > 0;
}

/* bdat_chunk_done - the chunk is read: answer it, or end the message */
static void
bdat_chunk_done(struct sess *s)
{
    s->st = SS_CMD;
    if (s->bdat_discard) {
        s->bdat_discard = 0;
        return;
    }
    if (!s->bdat_last) {
        smtp_reply(s, "250 2.0.0 %zu octets received", s->blen - s->hdrlen);
        return;
    }
    if (s->bdat_cr)
        s->bdat_bad |= SMTP_FRAME_BAD_CR;
    data_end(s, s->bdat_bad);
}

/* smtp_bdat_step - BDAT: consume chunk octets; 1 progress, 0 more input needed */
int
smtp_bdat_step(struct sess *s)
{
    size_t have = s->inlen - s->inoff;
    size_t n = have < s->bdat_left ? have : (size_t)s->bdat_left;

    if (n > 0) {
        if (!s->bdat_discard)
            body_add(s, s->in + s->inoff, n);
        s->inoff += n;
        s->bdat_left -= n;
    }
    if (s->bdat_left == 0) {
        bdat_chunk_done(s);
        return 1;
    }
    return n > 0;
}
