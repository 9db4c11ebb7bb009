/*
 * smtp_acl.c - the SMTP server's access control: the ACL of each stage
 *              (conf/acl.h, Exim's acl_smtp_connect ... acl_smtp_quit), run
 *              with the session's variables, suspended on the listener loop
 *              for "delay" and for "verify = recipient|sender", and the
 *              default policy when no RCPT ACL is set.
 *
 * A stage's command calls smtp_acl_check() with a continuation. When the
 * ACL's answer is known at once the continuation runs before it returns;
 * otherwise the session waits in SS_ACL (its input is not processed, its
 * idle timer does not run) and the continuation runs when the delay is over
 * or the verification is answered, after which the session goes on with
 * what the client had already sent. smtp_acl_reply() turns the result into
 * the reply: "message =" text (each line of it a reply line, control
 * characters removed) or the stage's default.
 *
 * verify = recipient | sender routes the address as delivery would: the
 * first router whose domains match; a manualroute router needs a
 * route_list rule for the domain, accept takes it, dnslookup asks the DNS
 * for MX (or address) records through the listener's resolver: no records
 * or a null MX fail ("Unrouteable address"), a DNS error defers. No
 * callout is made. The null sender always verifies.
 *
 * Default policy (no acl_smtp_rcpt): a recipient is accepted from clients in
 * relay_from_hosts, from authenticated clients, and for domains in
 * local_domains; any other gets 550 5.7.1 relay not permitted and a log
 * line, so spate is never an open relay by default. A configured RCPT ACL
 * decides alone, as in Exim; one that runs off its end denies (implicit
 * deny), so an ACL that forgets its final "deny" does not open a relay.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/smtp_int.h"
#include "base/log.h"
#include "base/metrics.h"
#include "conf/acl.h"
#include "conf/address.h"
#include "dns/dns.h"

/* acl_spf - acl_env.spf: SPF from smtp_spf.c, resuming the ACL when known */
static int
acl_spf(void *arg, char *result, size_t len)
{
    return smtp_spf_check(arg, result, len, smtp_acl_resume);
}

/* env_fill - the ACL's view of the session */
static void
env_fill(struct sess *s, enum acl_where where, const char *rcpt)
{
    struct acl_env *e = &s->acl_env;

    if (s->cvars == NULL && (s->cvars = acl_vars_new()) == NULL)
        abort();
    if (s->mvars == NULL && (s->mvars = acl_vars_new()) == NULL)
        abort();
    e->where = where;
    e->cfg = s->lis->cfg;
    e->client = (const struct sockaddr *)&s->peer;
    e->local = (const struct sockaddr *)&s->local;
    e->helo = s->helo;
    e->sender = s->sender;
    e->recipient = rcpt;
    e->authenticated_id = s->auth_id;
    e->var = smtp_var;
    e->verify = smtp_acl_verify;
    e->spf = acl_spf; /* "spf =" (smtp_spf.c) */
    e->arg = s;
    e->conn_scope = s->conn_scope;
    e->mail_scope = s->mail_scope;
    e->cvars = s->cvars;
    e->mvars = s->mvars;
}

/* acl_finish - the answer is known: hand it to the stage, then go on */
static void
acl_finish(struct sess *s)
{
    smtp_acl_cont cont = s->acl_cont;
    int suspended = s->st == SS_ACL;

    if (suspended)
        s->st = s->acl_prev_st;
    s->acl_cont = NULL;
    if (s->acl_res.rc == ACL_ERROR)
        log_warn("H=(%s) %s ACL %s failed: %s", s->helo, s->host, acl_name(s->acl_cur),
                 s->acl_res.log_message ? s->acl_res.log_message : "expansion error");
    cont(s, s->acl_res.rc);
    acl_result_clear(&s->acl_res);
    free(s->acl_rcpt);
    s->acl_rcpt = NULL;
    if (suspended)
        s->lis->run(s);
}

/* on_acl_timer - a "delay" is over */
static void
on_acl_timer(eng_loop *loop, struct eng_timer *t)
{
    struct sess *s = t->data;

    (void)loop;
    smtp_acl_resume(s);
}

/* acl_wait - ACL_SUSPEND: wait for the delay or the verification */
static void
acl_wait(struct sess *s)
{
    if (s->st != SS_ACL) {
        s->acl_prev_st = s->st;
        s->st = SS_ACL;
    }
    if (s->acl_res.delay_ms > 0) {
        eng_timer_start(s->lis->loop, &s->acl_timer, s->acl_res.delay_ms);
    }
}

/* acl_after - act on what acl_run/acl_resume returned */
static void
acl_after(struct sess *s, int rc)
{
    if (rc == ACL_SUSPEND)
        acl_wait(s);
    else
        acl_finish(s);
}

/* smtp_acl_check - run acl for a stage; cont gets the result (now, or once
 * a delay or verification is over). acl NULL: cont(ACL_ACCEPT) at once. */
void
smtp_acl_check(struct sess *s, const struct acl *acl, enum acl_where where, const char *rcpt,
               smtp_acl_cont cont)
{
    acl_result_clear(&s->acl_res);
    free(s->acl_rcpt);
    s->acl_rcpt = rcpt != NULL ? smtp_dup(rcpt) : NULL;
    s->acl_cur = acl;
    s->acl_cont = cont;
    env_fill(s, where, s->acl_rcpt);
    acl_after(s, acl_run(acl, &s->acl_env, &s->acl_res));
}

/* smtp_acl_resume - continue a suspended ACL */
void
smtp_acl_resume(struct sess *s)
{
    env_fill(s, s->acl_env.where, s->acl_rcpt);
    acl_after(s, acl_resume(s->acl_cur, &s->acl_env, &s->acl_res));
}

/* reply_text - one line of a message for the wire: control characters dropped */
static void
reply_line(struct sess *s, int code, const char *esc, const char *p, size_t n, int last)
{
    char line[512];
    size_t k = 0;

    for (size_t i = 0; i < n && k + 1 < sizeof(line); i++)
        if ((unsigned char)p[i] >= 0x20 && p[i] != 0x7f)
            line[k++] = p[i];
    line[k] = '\0';
    smtp_reply(s, "%d%c%s%s%s", code, last ? ' ' : '-', esc ? esc : "", esc ? " " : "", line);
}

/* smtp_acl_reply - the reply for an ACL's result: its message (split at
 * newlines) or dflt, with code and the enhanced status code esc */
void
smtp_acl_reply(struct sess *s, int code, const char *esc, const char *dflt)
{
    const char *t = s->acl_res.message != NULL && *s->acl_res.message ? s->acl_res.message : dflt;

    for (int lines = 0; lines < 20; lines++) {
        const char *nl = strchr(t, '\n');
        if (nl == NULL || nl[1] == '\0' || lines == 19) {
            reply_line(s, code, esc, t, nl ? (size_t)(nl - t) : strlen(t), 1);
            return;
        }
        reply_line(s, code, esc, t, (size_t)(nl - t), 0);
        t = nl + 1;
    }
}

/* smtp_acl_why - the log's reason for a refusal */
const char *
smtp_acl_why(const struct sess *s)
{
    const struct acl_result *r = &s->acl_res;

    if (r->log_message != NULL && *r->log_message)
        return r->log_message;
    if (r->message != NULL && *r->message)
        return r->message;
    return r->implicit_deny ? "implicit deny at the end of the ACL" : "denied by ACL";
}

/* smtp_acl_refuse - the reply and log line for an ACL that did not accept;
 * what names the command for the log ("EHLO", "MAIL", "RCPT <a@b>") */
void
smtp_acl_refuse(struct sess *s, int rc, const char *what, int tempcode)
{
    const char *why = smtp_acl_why(s);

    metrics_inc(MC_REJECTED);
    if (rc == ACL_DEFER || rc == ACL_ERROR) {
        log_info("H=(%s) %s F=<%s> temporarily rejected %s: %s", s->helo, s->host,
                 s->sender ? s->sender : "", what, why);
        if (rc == ACL_ERROR)
            smtp_reply(s, "%d 4.3.0 Temporary local problem - please try later", tempcode);
        else
            smtp_acl_reply(s, tempcode, "4.7.1", "Temporary local problem - please try later");
        return;
    }
    log_info("H=(%s) %s F=<%s> rejected %s: %s", s->helo, s->host, s->sender ? s->sender : "", what,
             why);
    smtp_acl_reply(s, 550, "5.7.1", "Administrative prohibition");
    if (rc == ACL_DROP)
        smtp_drop(s, "dropped by ACL", "421 4.7.0 closing connection");
}

/* smtp_acl_keep_headers - keep the add_header lines of an accepting ACL */
void
smtp_acl_keep_headers(struct sess *s)
{
    for (size_t i = 0; i < s->acl_res.nadd; i++) {
        size_t n = strlen(s->acl_res.add_headers[i]);
        char *h = realloc(s->add_hdrs, s->add_hdrs_len + n + 3);
        if (h == NULL)
            abort();
        s->add_hdrs = h;
        memcpy(h + s->add_hdrs_len, s->acl_res.add_headers[i], n);
        memcpy(h + s->add_hdrs_len + n, "\r\n", 3);
        s->add_hdrs_len += n + 2;
    }
    for (size_t i = 0; i < s->acl_res.nremove && s->nremove < SESS_REMOVE_MAX; i++)
        s->remove_hdrs[s->nremove++] = smtp_dup(s->acl_res.remove_headers[i]);
}

/* ---- verify = recipient | sender ------------------------------------ */

enum { ROUTE_OK, ROUTE_FAIL, ROUTE_DNS };

/* route_sync - route address without DNS where the routers allow it */
static int
route_sync(const struct cfg *c, const char *dom, char *msg, size_t msglen)
{
    if (dom[0] == '[') {
        if (c->allow_domain_literals)
            return ROUTE_OK;
        snprintf(msg, msglen, "domain literals are not accepted");
        return ROUTE_FAIL;
    }
    for (size_t i = 0; i < c->nrouters; i++) {
        const struct cfg_router *rt = &c->routers[i];
        if (rt->has_domains && !cfg_domainlist_match(&rt->domains, dom))
            continue;
        if (rt->driver == CFG_ROUTER_MANUALROUTE && cfg_router_find_route(rt, dom) == NULL)
            continue;
        return rt->driver == CFG_ROUTER_DNSLOOKUP ? ROUTE_DNS : ROUTE_OK;
    }
    snprintf(msg, msglen, "Unrouteable address");
    return ROUTE_FAIL;
}

/* on_verify_dns - the MX answer for a pending verification */
static void
on_verify_dns(struct dns_result *res, void *arg)
{
    struct smtp_vreq *v = arg;

    if (res->status == DNS_OK)
        v->answer = ACL_VERIFY_OK;
    else if (res->status == DNS_RETRY) {
        v->answer = ACL_VERIFY_DEFER;
        snprintf(v->msg, sizeof(v->msg), "DNS lookup deferred: %.120s", res->why);
    } else {
        v->answer = ACL_VERIFY_FAIL;
        snprintf(v->msg, sizeof(v->msg), "%s",
                 res->status == DNS_NULLMX ? "the domain accepts no mail (null MX)"
                                           : "Unrouteable address");
    }
    dns_result_free(res);
    if (v->s == NULL) { /* the session ended meanwhile */
        free(v->address);
        free(v);
        return;
    }
    smtp_acl_resume(v->s);
}

/* vreq_drop - forget the last verification (a pending one is orphaned) */
static void
vreq_drop(struct sess *s)
{
    struct smtp_vreq *v = s->vreq;

    s->vreq = NULL;
    if (v == NULL)
        return;
    if (v->answer < 0) {
        v->s = NULL; /* on_verify_dns frees it */
        return;
    }
    free(v->address);
    free(v);
}

/* vreq_new - start the DNS part of a verification */
static int
vreq_new(struct sess *s, int what, const char *address, const char *dom)
{
    struct smtp_vreq *v = calloc(1, sizeof(*v));

    if (v == NULL || (v->address = strdup(address)) == NULL)
        abort();
    v->s = s;
    v->what = what;
    v->answer = -1;
    s->vreq = v;
    if (dns_resolve_mx(s->lis->dns, dom, on_verify_dns, v) != 0) {
        v->answer = ACL_VERIFY_DEFER;
        snprintf(v->msg, sizeof(v->msg), "DNS lookup could not be started");
        return ACL_VERIFY_DEFER;
    }
    return ACL_VERIFY_PENDING;
}

/* smtp_acl_verify - acl_env.verify: route address. Routing depends on the
 * domain alone, so the session keeps the answer for the last domain asked
 * (the next recipient at the same domain needs no DNS round) */
int
smtp_acl_verify(void *arg, int what, const char *address, char *msg, size_t msglen)
{
    struct sess *s = arg;
    struct smtp_vreq *v = s->vreq;
    char dom[256];
    int rc;

    if (what == ACL_VERIFY_SENDER && *address == '\0')
        return ACL_VERIFY_OK;
    if (addr_domain_lower(address, dom, sizeof(dom)) < 0) {
        snprintf(msg, msglen, "bad address syntax");
        return ACL_VERIFY_FAIL;
    }
    if (v != NULL && strcmp(v->address, dom) == 0) {
        if (v->answer < 0)
            return ACL_VERIFY_PENDING;
        snprintf(msg, msglen, "%s", v->msg);
        return v->answer;
    }
    rc = route_sync(s->lis->cfg, dom, msg, msglen);
    if (rc != ROUTE_DNS)
        return rc == ROUTE_OK ? ACL_VERIFY_OK : ACL_VERIFY_FAIL;
    vreq_drop(s);
    rc = vreq_new(s, what, dom, dom);
    if (rc != ACL_VERIFY_PENDING)
        snprintf(msg, msglen, "%s", s->vreq->msg);
    return rc;
}

/* smtp_rcpt_default - the policy without acl_smtp_rcpt: 1 accept, 0 refuse */
int
smtp_rcpt_default(struct sess *s, const char *rcpt)
{
    char dom[256];

    if (s->relay_ok || s->auth_id != NULL)
        return 1;
    if (addr_domain_lower(rcpt, dom, sizeof(dom)) < 0)
        return 0;
    return acl_local_domain(s->lis->cfg, dom) == 1;
}

/* smtp_acl_session_init - prepare a new session's ACL state */
void
smtp_acl_session_init(struct sess *s)
{
    eng_timer_init(&s->acl_timer, on_acl_timer, s);
    snprintf(s->conn_scope, sizeof(s->conn_scope), "c%llu", ++s->lis->conn_seq);
}

/* smtp_acl_new_mail - a new transaction: acl_m_* cleared, a new per_mail scope */
void
smtp_acl_new_mail(struct sess *s)
{
    if (s->mvars != NULL)
        acl_vars_clear(s->mvars);
    snprintf(s->mail_scope, sizeof(s->mail_scope), "m%llu", ++s->lis->mail_seq);
    free(s->add_hdrs);
    s->add_hdrs = NULL;
    s->add_hdrs_len = 0;
    for (size_t i = 0; i < s->nremove; i++)
        free(s->remove_hdrs[i]);
    s->nremove = 0;
}
