/*
 * sched_dsn.c - which delivery status notifications a queued message owes
 *               its sender, and when they go (RFC 3461 §5 semantics; the
 *               report's text is dsn.c's):
 *   failure  a recipient failed for good, unless NOTIFY says otherwise;
 *            sent after the attempt that failed it, not when the message
 *            is complete, with the failures of the next dsn_gather_window
 *            in the same report (at once when the message is complete);
 *   success  NOTIFY=SUCCESS, unless the next hop took the DSN request
 *            (relay semantics; a dsn_lasthop router makes spate the last
 *            hop); gathered the same way;
 *   delay    per delay_warning after arrival, for the recipients still
 *            pending whose NOTIFY allows it, when delay_warning_condition
 *            is true.
 * The null sender and spate's own notices are never notified. A report is
 * one spooled message from the null sender, delivered like any other. A
 * recipient is marked done (RCPT_DSN_DONE) only once its report is durable,
 * so a crash in between may send it twice, never lose it; delay warnings
 * are counted in memory, and a restart counts the times already past as sent.
 *
 * Above sched_state.c, which reaches it only through sch.outcome. Scheduler
 * thread only, except on_report_done (spool writer: posts).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/log.h"
#include "base/log_record.h"
#include "base/metrics.h"
#include "conf/address.h"
#include "conf/expand.h"
#include "engine/dsn.h"
#include "engine/retry.h"
#include "engine/sched_int.h"

static const char *const kind_name[] = {"failure", "delay warning", "success notice"};
static const char *const dsn_action[] = {"failure", "delay", "success"}; /* JSON log's action */

/* A report on its way to the spool. */
struct report {
    struct eng_qmsg *q;
    enum dsn_kind kind;
    int status; /* the spool's answer: 0 durable, or -errno */
    size_t n;
    uint32_t ridx[];
};

/* mono_ms - monotonic milliseconds */
static uint64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* xstrdup - strdup of s, NULL for NULL or "" */
static char *
xstrdup(const char *s)
{
    char *d;
    if (s == NULL || *s == '\0')
        return NULL;
    if ((d = strdup(s)) == NULL)
        abort();
    return d;
}

/* note_clear - free what a note points to */
static void
note_clear(struct rcpt_note *n)
{
    free(n->text);
    free(n->mta);
    free(n->ip);
    free(n->port);
    free(n->greeting);
    free(n->helo);
}

/* dsn_note - remember recipient i's outcome */
void
dsn_note(struct eng_qmsg *q, uint32_t i, const char *text, const struct eng_job *j)
{
    struct rcpt_note *n = q->note[i];
    if (n == NULL && (n = q->note[i] = calloc(1, sizeof(*n))) == NULL)
        abort();
    note_clear(n);
    n->text = xstrdup(text);
    n->mta = n->ip = n->port = n->greeting = n->helo = NULL;
    n->when = time(NULL);
    if (j == NULL || j->at == NULL)
        return;
    n->mta = xstrdup(j->at->host_name);
    n->ip = xstrdup(j->at->host_ip);
    n->port = xstrdup(j->at->host_port);
    n->greeting = xstrdup(j->at->smtp_greeting);
    n->helo = xstrdup(j->at->helo_response);
}

/* notifiable - may q's sender get any notice at all? */
static int
notifiable(const struct eng_qmsg *q)
{
    return q->m->sender[0] != '\0' && !(q->m->flags & SPOOL_F_NOTICE);
}

/* wanted - does recipient i's NOTIFY ask for a notice of this kind?
 * (RFC 3461 §4.1: none given means FAILURE,DELAY) */
static int
wanted(const struct eng_qmsg *q, uint32_t i, enum dsn_kind kind)
{
    uint8_t nt = q->m->rcpt[i].dsn_notify;
    if (!notifiable(q) || (nt & SPOOL_NOTIFY_NEVER))
        return 0;
    if (kind == DSN_SUCCESS)
        return (nt & SPOOL_NOTIFY_SUCCESS) != 0;
    if (nt == 0)
        return 1;
    return (nt & (kind == DSN_FAILURE ? SPOOL_NOTIFY_FAILURE : SPOOL_NOTIFY_DELAY)) != 0;
}

/* dsn_final - recipient i became final: done now when no notice is owed */
void
dsn_final(struct eng_qmsg *q, uint32_t i, const struct eng_job *j)
{
    struct spool_rcpt *rc = &q->m->rcpt[i];
    int delivered = rc->state == SPOOL_RCPT_DELIVERED;
    int lasthop = j != NULL && j->d->router != NULL && j->d->router->dsn_lasthop;
    int passed = j != NULL && j->at != NULL && j->at->dsn_passed && !lasthop;
    if (!wanted(q, i, delivered ? DSN_SUCCESS : DSN_FAILURE) || (delivered && passed)) {
        rc->last_interval = RCPT_DSN_DONE;
        return;
    }
    if (delivered && q->note[i] != NULL)
        q->note[i]->relayed = !lasthop;
}

/* dsn_outcome - sch.outcome: note recipient i's outcome; final: it is */
void
dsn_outcome(struct eng_qmsg *q, uint32_t i, const char *text, const struct eng_job *j, int final)
{
    dsn_note(q, i, text, j);
    if (final)
        dsn_final(q, i, j);
}

/* owed - is a notice of kind owed for recipient i and not on its way? */
static int
owed(const struct eng_qmsg *q, uint32_t i, enum dsn_kind kind)
{
    const struct spool_rcpt *rc = &q->m->rcpt[i];
    uint8_t state = kind == DSN_FAILURE ? SPOOL_RCPT_FAILED : SPOOL_RCPT_DELIVERED;
    if (kind == DSN_DELAY)
        return rc->state == SPOOL_RCPT_PENDING && wanted(q, i, DSN_DELAY);
    return rc->state == state && rc->last_interval != RCPT_DSN_DONE &&
           (q->note[i] == NULL || !q->note[i]->pending);
}

/* retry_until - when recipient i's retry rule gives up (unix s), or 0 */
static int64_t
retry_until(const struct eng_qmsg *q, uint32_t i)
{
    const struct spool_rcpt *rc = &q->m->rcpt[i];
    const struct cfg_retry_rule *rule = cfg_retry_find(sch.cfg, addr_domain(rc->address));
    int64_t first = rc->first_failure ? rc->first_failure : q->m->arrival_us / 1000000;
    if (rule == NULL)
        rule = &retry_default_rule;
    return rule->nsteps ? first + rule->steps[rule->nsteps - 1].cutoff_s : 0;
}

/* fill_rcpt - the report's view of recipient i */
static void
fill_rcpt(const struct eng_qmsg *q, uint32_t i, enum dsn_kind kind, struct dsn_rcpt *out)
{
    const struct rcpt_note *n = q->note[i];
    const struct spool_rcpt *rc = &q->m->rcpt[i];
    *out = (struct dsn_rcpt){.address = rc->address, .orcpt = rc->dsn_orcpt};
    if (kind == DSN_DELAY)
        out->retry_until = retry_until(q, i);
    if (n == NULL)
        return;
    out->text = n->text;
    out->remote_mta = n->mta;
    out->remote_ip = n->ip;
    out->remote_port = n->port;
    out->greeting = n->greeting;
    out->helo_response = n->helo;
    out->last_attempt = n->when;
    out->relayed = n->relayed;
}

/* What expansions of the templates and of delay_warning_condition see. */
struct tvars {
    const struct eng_qmsg *q;
    const struct dsn_report *r;
    const char *body;
    size_t body_len;
    char *list, *details; /* $dsn_recipients, $dsn_details (malloc'd) */
    char delay[48], hdr[1024];
};

/* header_value - the original's first header called name (unfolded), or "" */
static const char *
header_value(struct tvars *t, const char *name)
{
    size_t nlen = strlen(name), o = 0;
    const char *p = t->body, *end = t->body + t->body_len;
    t->hdr[0] = '\0';
    while (p != NULL && p < end && *p != '\r' && *p != '\n') {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if ((size_t)(end - p) > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            for (const char *s = p + nlen + 1; s < end && o + 1 < sizeof(t->hdr); s++) {
                if (*s == '\n' && (s + 1 >= end || (s[1] != ' ' && s[1] != '\t')))
                    break;
                if (*s != '\r' && *s != '\n')
                    t->hdr[o++] = *s;
            }
            t->hdr[o] = '\0';
            return t->hdr + strspn(t->hdr, " \t");
        }
        p = eol ? eol + 1 : NULL;
    }
    return "";
}

/* tvar - a variable of the templates */
static const char *
tvar(void *arg, const char *name)
{
    struct tvars *t = arg;
    if (strncmp(name, "h_", 2) == 0 && name[2] != '\0') {
        char h[128];
        size_t i;
        for (i = 0; name[i + 2] && i + 1 < sizeof(h); i++)
            h[i] = name[i + 2] == '_' ? '-' : name[i + 2];
        h[i] = '\0';
        return header_value(t, h);
    }
    if (strcmp(name, "message_id") == 0 || strcmp(name, "message_exim_id") == 0)
        return t->q->m->id;
    if (strcmp(name, "sender_address") == 0 || strcmp(name, "bounce_recipient") == 0)
        return t->q->m->sender;
    if (strcmp(name, "primary_hostname") == 0)
        return sch.cfg->primary_hostname;
    if (strcmp(name, "dsn_recipients") == 0 || strcmp(name, "warnmsg_recipients") == 0)
        return t->list ? t->list : "";
    if (strcmp(name, "dsn_details") == 0)
        return t->details ? t->details : "";
    if (strcmp(name, "warnmsg_delay") == 0)
        return t->delay;
    return NULL;
}

/* expand - e with the template variables; malloc'd, or NULL with rc */
static char *
expand(const struct exp_str *e, struct tvars *t, const char *what)
{
    char err[256] = "", *out = NULL;
    struct exp_ctx ctx = {.var = tvar, .arg = t, .err = err, .errlen = sizeof(err)};
    int rc;
    ctx.flags = EXP_F_NO_LOOKUPS; /* the scheduler's thread must not block */
    rc = exp_eval(e, &ctx, &out);
    if (rc == EXP_OK)
        return out;
    if (rc != EXP_FAIL)
        log_warn("%s %s did not expand: %s", t->q->m->id, what, err);
    return NULL;
}

/* crlf - s (malloc'd) with every bare LF made CRLF; frees s */
static char *
crlf(char *s)
{
    size_t n = 0, o = 0;
    char *d;
    for (const char *p = s; *p; p++)
        n += *p == '\n';
    if ((d = malloc(strlen(s) + n + 3)) == NULL)
        abort();
    for (const char *p = s; *p; p++) {
        if (*p == '\n' && (p == s || p[-1] != '\r'))
            d[o++] = '\r';
        d[o++] = *p;
    }
    if (o == 0 || d[o - 1] != '\n')
        d[o++] = '\r', d[o++] = '\n';
    d[o] = '\0';
    free(s);
    return d;
}

/* tvars_fill - the recipient variables for report r */
static void
tvars_fill(struct tvars *t, const struct dsn_report *r)
{
    size_t len = 1;
    long mins = (long)((r->now - r->msg->arrival_us / 1000000) / 60);
    for (size_t i = 0; i < r->n; i++)
        len += strlen(r->rcpts[i].address) + 2;
    if ((t->list = calloc(1, len)) == NULL)
        abort();
    for (size_t i = 0; i < r->n; i++) {
        strcat(t->list, i ? ", " : "");
        strcat(t->list, r->rcpts[i].address);
    }
    t->details = dsn_rcpt_lines(r);
    snprintf(t->delay, sizeof(t->delay), "%ld minute%s", mins, mins == 1 ? "" : "s");
}

/* human_text - the text part from the kind's template; NULL: the built-in */
static char *
human_text(struct tvars *t, enum dsn_kind kind)
{
    const struct exp_str *e = kind == DSN_FAILURE ? sch.cfg->bounce_message
                              : kind == DSN_DELAY ? sch.cfg->warn_message
                                                  : sch.cfg->success_message;
    char *s;
    if (e == NULL)
        return NULL;
    tvars_fill(t, t->r);
    s = expand(e, t,
               kind == DSN_FAILURE ? "bounce_message_file"
               : kind == DSN_DELAY ? "warn_message_file"
                                   : "success_message_file");
    return s ? crlf(s) : NULL;
}

/* on_report_committed - the report is durable (or failed): mark its
 * recipients done, and complete the message when it waited for this */
static void
on_report_committed(eng_loop *loop, void *arg)
{
    struct report *rp = arg;
    struct eng_qmsg *q = rp->q;
    (void)loop;
    q->notices--;
    for (size_t k = 0; k < rp->n; k++) {
        uint32_t i = rp->ridx[k];
        if (q->note[i] != NULL)
            q->note[i]->pending = 0;
        if (rp->status == 0 && rp->kind != DSN_DELAY)
            q->m->rcpt[i].last_interval = RCPT_DSN_DONE;
    }
    free(rp);
    if (sch.stopping || q->completing) { /* removal (or freeing) waited for this */
        if (q->notices == 0)
            qmsg_reported(q);
        return;
    }
    spool_update(sch.sp, q->m);
    q->dirty = 0;
}

/* on_report_done - spool writer thread: the report's commit finished */
static void
on_report_done(struct spool_submission *sub, int status, void *arg)
{
    struct report *rp = arg;
    if (status != 0)
        log_err("%s %s %s could not be spooled: %s", rp->q->m->id, kind_name[rp->kind], sub->id,
                strerror(-status));
    rp->status = status;
    eng_loop_post(sch.loop, on_report_committed, rp);
}

/* new_submission - the spooled message that carries report text to q's sender */
static struct spool_submission *
new_submission(const struct eng_qmsg *q, char *text, size_t len, const char *id)
{
    struct spool_submission *sub = calloc(1, sizeof(*sub));
    if (sub == NULL || (sub->rcpts = calloc(1, sizeof(char *))) == NULL)
        abort();
    memcpy(sub->id, id, SPOOL_ID_SIZE);
    sub->body = text;
    sub->body_len = len;
    sub->sender = strdup("");
    sub->rcpts[0] = strdup(q->m->sender);
    sub->nrcpt = 1;
    sub->proto = strdup("local");
    sub->flags = SPOOL_F_NOTICE | (q->m->flags & SPOOL_F_SMTPUTF8);
    if (sub->sender == NULL || sub->rcpts[0] == NULL || sub->proto == NULL)
        abort();
    return sub;
}

/* submit - write a report of kind on recipients ridx[0..n) of q and spool
 * it; body: the original (read here when NULL) */
static void
submit(struct eng_qmsg *q, enum dsn_kind kind, const uint32_t *ridx, size_t n, const char *body,
       size_t blen)
{
    struct report *rp = malloc(sizeof(*rp) + n * sizeof(uint32_t));
    struct dsn_rcpt *rcpts = calloc(n, sizeof(*rcpts));
    char id[SPOOL_ID_SIZE], *own = NULL, *human, *text;
    struct spool_submission *sub;
    struct dsn_report r = {.kind = kind, .msg = q->m, .rcpts = rcpts, .n = n, .now = time(NULL)};
    struct tvars t = {.q = q, .r = &r};
    size_t len;
    if (rp == NULL || rcpts == NULL)
        abort();
    if (body == NULL && spool_body_read(sch.sp, q->m, &own, &blen) == 0)
        body = own;
    for (size_t k = 0; k < n; k++) {
        fill_rcpt(q, ridx[k], kind, &rcpts[k]);
        if (kind != DSN_DELAY && q->note[ridx[k]] == NULL)
            dsn_note(q, ridx[k], NULL, NULL);
        if (kind != DSN_DELAY)
            q->note[ridx[k]]->pending = 1;
    }
    spool_new_id(sch.sp, id);
    r.body = body;
    r.body_len = body ? blen : 0;
    r.notice_id = id;
    r.extra_info = sch.cfg->dsn_extra_info;
    t.body = r.body;
    t.body_len = r.body_len;
    r.human = human = human_text(&t, kind);
    *rp = (struct report){.q = q, .kind = kind, .n = n};
    memcpy(rp->ridx, ridx, n * sizeof(uint32_t));
    text = dsn_build(sch.cfg, &r, &len);
    sub = new_submission(q, text, len, id);
    sub->done = on_report_done;
    sub->arg = rp;
    q->notices++;
    log_info("%s <= <> R=%s U=spate P=local S=%zu for %s (%s)", id, q->m->id, len, q->m->sender,
             kind_name[kind]);
    log_record(&(struct log_rec){.kind = LOG_REC_DSN,
                                 .id = id,
                                 .sender = "",
                                 .recipient = q->m->sender,
                                 .size = (int64_t)len,
                                 .nrcpt = (int)n,
                                 .action = dsn_action[kind],
                                 .original_id = q->m->id});
    metrics_inc(MC_BOUNCES_SENT);
    spool_submit(sch.sp, sub);
    free(human);
    free(t.list);
    free(t.details);
    free(rcpts);
    free(own);
}

/* warn_time - unix s of q's delay warning k (the list's last time repeats) */
static int64_t
warn_time(const struct eng_qmsg *q, unsigned k)
{
    size_t n = sch.cfg->n_delay_warning;
    int64_t arrival = q->m->arrival_us / 1000000, last = sch.cfg->delay_warning_s[n - 1];
    if (k < n)
        return arrival + sch.cfg->delay_warning_s[k];
    return arrival + last * (int64_t)(k - n + 2);
}

/* warnings_passed - how many of q's warning times are at or before now */
static unsigned
warnings_passed(const struct eng_qmsg *q, int64_t now)
{
    size_t n = sch.cfg->n_delay_warning;
    int64_t age = now - q->m->arrival_us / 1000000;
    unsigned c = 0;
    if (n == 0)
        return 0;
    while (c < n && warn_time(q, c) <= now)
        c++;
    if (c < n)
        return c;
    return (unsigned)(n - 1 + (size_t)(age / sch.cfg->delay_warning_s[n - 1]));
}

/* delay_condition - does delay_warning_condition allow a warning for q? */
static int
delay_condition(struct eng_qmsg *q, const char *body, size_t blen)
{
    struct tvars t = {.q = q, .body = body, .body_len = body ? blen : 0};
    char *v;
    int yes;
    if (sch.cfg->delay_warning_condition == NULL)
        return 1;
    if ((v = expand(sch.cfg->delay_warning_condition, &t, "delay_warning_condition")) == NULL)
        return 0;
    yes = *v != '\0' && strcasecmp(v, "no") != 0 && strcasecmp(v, "false") != 0 &&
          strcmp(v, "0") != 0;
    free(v);
    return yes;
}

/* delay_check - send a delay warning when one is due; *in_ms: until the next */
static void
delay_check(struct eng_qmsg *q, int64_t *in_ms)
{
    int64_t now = time(NULL);
    uint32_t *ridx;
    size_t n = 0, blen = 0;
    char *body = NULL;
    if (sch.cfg->n_delay_warning == 0)
        return;
    if (now < warn_time(q, q->warned)) {
        *in_ms = (warn_time(q, q->warned) - now) * 1000;
        return;
    }
    q->warned = warnings_passed(q, now);
    *in_ms = (warn_time(q, q->warned) - now) * 1000;
    if ((ridx = malloc(q->m->nrcpt * sizeof(*ridx))) == NULL)
        abort();
    for (uint32_t i = 0; i < q->m->nrcpt; i++)
        if (owed(q, i, DSN_DELAY))
            ridx[n++] = i;
    if (n > 0 && spool_body_read(sch.sp, q->m, &body, &blen) < 0)
        body = NULL;
    if (n > 0 && delay_condition(q, body, blen))
        submit(q, DSN_DELAY, ridx, n, body, blen);
    free(body);
    free(ridx);
}

/* flush - send what is owed of kind; 1 if anything is owed (and sent when send) */
static int
flush(struct eng_qmsg *q, enum dsn_kind kind, int send)
{
    uint32_t *ridx = malloc(q->m->nrcpt * sizeof(*ridx));
    size_t n = 0;
    if (ridx == NULL)
        abort();
    for (uint32_t i = 0; i < q->m->nrcpt; i++)
        if (owed(q, i, kind))
            ridx[n++] = i;
    if (n > 0 && send)
        submit(q, kind, ridx, n, NULL, 0);
    free(ridx);
    return n > 0;
}

/* dsn_check - send the notices that are due and arm q->dsn_timer */
void
dsn_check(struct eng_qmsg *q, int final)
{
    uint64_t now = mono_ms();
    int64_t in_ms = -1;
    int due, owing;
    if (!notifiable(q))
        return;
    if (!final)
        delay_check(q, &in_ms);
    due =
        final || sch.cfg->dsn_gather_window_ms == 0 || (q->gather_at_ms && now >= q->gather_at_ms);
    owing = flush(q, DSN_FAILURE, due);
    owing |= flush(q, DSN_SUCCESS, due);
    if (due || !owing)
        q->gather_at_ms = 0;
    else if (q->gather_at_ms == 0)
        q->gather_at_ms = now + (uint64_t)sch.cfg->dsn_gather_window_ms;
    if (q->gather_at_ms && (in_ms < 0 || q->gather_at_ms - now < (uint64_t)in_ms))
        in_ms = (int64_t)(q->gather_at_ms - now);
    eng_timer_stop(sch.loop, &q->dsn_timer);
    if (in_ms >= 0 && !final)
        eng_timer_start(sch.loop, &q->dsn_timer, (uint64_t)in_ms);
}

/* on_dsn_timer - the gathering window ended, or a delay warning is due */
static void
on_dsn_timer(eng_loop *loop, struct eng_timer *t)
{
    struct eng_qmsg *q = t->data;
    (void)loop;
    if (!q->completing && !sch.stopping)
        dsn_check(q, 0);
}

/* dsn_init - a new or recovered message: warnings already due count as sent */
void
dsn_init(struct eng_qmsg *q)
{
    if ((q->note = calloc(q->m->nrcpt, sizeof(*q->note))) == NULL)
        abort();
    eng_timer_init(&q->dsn_timer, on_dsn_timer, q);
    q->warned = warnings_passed(q, time(NULL));
}
