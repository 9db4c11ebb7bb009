/*
 * smtp_auth.c - SMTP AUTH on the server (RFC 4954) with the mechanisms of
 *               conf/auth.h's authenticators (PLAIN, LOGIN) and api/sasl.h's
 *               decoding.
 *
 * Offered ("250-AUTH PLAIN LOGIN") when authenticators are configured and
 * the session is encrypted (after STARTTLS), or in clear text to the clients
 * in auth_advertise_hosts (default: none); an authenticator whose
 * server_advertise_condition is false is left out. AUTH is refused
 * (503 5.5.1) when it was not offered, once authenticated, and inside a mail
 * transaction; an unknown mechanism gets 504 5.5.4.
 *
 * Outcomes: 235 2.7.0 (the client is $authenticated_id from then on: "A="
 * on its "<=" lines, the authenticated ACL condition, relaying allowed by
 * the default policy); 535 5.7.8 wrong credentials, logged as
 *   "NAME authenticator failed for (helo) [ip]:port: 535 Incorrect
 *    authentication data (set_id=USER)"
 * (never the password); 454 4.7.0 when the check could not be done (a
 * lookup down, an expansion error: logged). A session that fails
 * AUTH_MAX_FAILURES times is dropped with 421 4.7.0; a client that cancels
 * with "*" gets 501 5.7.0. Across sessions, failures are counted per client
 * address with the ratelimit module (so shared through Redis when
 * ratelimit_store = redis): past auth_failure_ratelimit (default 10 / 1h,
 * Exim's rate syntax) AUTH is answered 454 4.7.0 until the rate decays
 * (logged as a refusal). The AUTH line itself is a command line (512
 * octets), so an initial response is limited to about 370 octets of
 * credentials; longer ones go through the 334 challenge (SASL_LINE_MAX).
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/sasl.h"
#include "api/smtp_int.h"
#include "base/log.h"
#include "base/metrics.h"
#include "conf/auth.h"
#include "conf/ratelimit.h"

#define AUTH_MAX_FAILURES 3

/* auth_offered - may this session authenticate now? */
static int
auth_offered(const struct sess *s)
{
    const struct cfg *c = s->lis->cfg;

    if (c->nauths == 0 || s->auth_id != NULL)
        return 0;
    return s->tls != NULL ||
           cfg_hostlist_match(&c->auth_advertise_hosts, (const struct sockaddr *)&s->peer);
}

/* smtp_auth_ehlo - queue the "250-AUTH ..." line when AUTH is offered */
void
smtp_auth_ehlo(struct sess *s)
{
    char line[256] = "250-AUTH";
    size_t n = strlen(line), nshown = 0;

    if (!auth_offered(s))
        return;
    for (size_t i = 0; i < auth_count(s->lis->cfg); i++) {
        const struct cfg_auth *a = auth_at(s->lis->cfg, i);
        if (!auth_advertise(a, smtp_var, s) || n + strlen(auth_public_name(a)) + 2 > sizeof(line))
            continue;
        n += (size_t)snprintf(line + n, sizeof(line) - n, " %s", auth_public_name(a));
        nshown++;
    }
    if (nshown > 0)
        smtp_reply(s, "%s", line);
}

/* auth_end - forget the exchange, wiping the credentials */
static void
auth_end(struct sess *s)
{
    if (s->sasl != NULL) {
        OPENSSL_cleanse(s->sasl, sizeof(*s->sasl));
        free(s->sasl);
        s->sasl = NULL;
    }
    s->auth_cur = NULL;
    if (s->st == SS_AUTH)
        s->st = SS_CMD;
}

/* smtp_auth_abort - forget an exchange in progress (the session ends) */
void
smtp_auth_abort(struct sess *s)
{
    auth_end(s);
}

/* auth_rate - the client's failed logins, a smoothed rate per
 * auth_failure_ratelimit's period (Exim's ratelimit, per client address):
 * count adds one failure; otherwise the rate is only read. 1 when one more
 * failure would pass the limit (so a client that failed LIMIT times in quick
 * succession is refused until its rate decays), 0 not */
static int
auth_rate(const struct sess *s, int count)
{
    const char *lim = s->lis->cfg->auth_failure_ratelimit;
    char spec[256], err[128];
    struct rl_spec *rl;
    double rate = 0;
    int rc;

    if (lim == NULL || *lim == '\0')
        return 0;
    snprintf(spec, sizeof(spec), "%s / per_cmd / %s / auth-failures/%s", lim,
             count ? "strict" : "readonly", s->ip);
    if ((rl = rl_parse(spec, err, sizeof(err))) == NULL) {
        log_warn("auth_failure_ratelimit = %s: %s", lim, err);
        return 0;
    }
    rc = rl_check(rl, 1, NULL, &rate, err, sizeof(err));
    rc = rc >= 0 && rate + 1 > rl_limit(rl);
    rl_spec_free(rl);
    return rc;
}

/* auth_failed - 535, logged; the session is dropped after too many */
static void
auth_failed(struct sess *s, const char *user)
{
    metrics_inc(MC_REJECTED);
    log_info("%s authenticator failed for (%s) %s: 535 Incorrect authentication data (set_id=%s)",
             s->auth_cur->name, s->helo, s->host, user);
    smtp_reply(s, "535 5.7.8 Authentication credentials invalid");
    auth_rate(s, 1);
    if (++s->auth_failures >= AUTH_MAX_FAILURES)
        smtp_drop(s, "too many failed AUTH attempts", "421 4.7.0 too many authentication failures");
}

/* auth_finish - the credentials are complete: check them */
static void
auth_finish(struct sess *s)
{
    const struct sasl *x = s->sasl;
    const char *parts[3] = {x->part[0], x->part[1], x->part[2]};
    const char *user = s->auth_cur->mech == AUTH_MECH_PLAIN ? x->part[1] : x->part[0];
    char *id = NULL, msg[256] = "";
    int rc = auth_check(s->auth_cur, parts, x->nparts, smtp_var, s, &id, msg, sizeof(msg));

    if (rc == AUTH_OK) {
        s->auth_id = id;
        snprintf(s->auth_name, sizeof(s->auth_name), "%s", s->auth_cur->name);
        log_info("H=(%s) %s authenticated by %s as %s", s->helo, s->host, s->auth_cur->name, id);
        smtp_reply(s, "235 2.7.0 Authentication succeeded");
    } else if (rc == AUTH_FAIL)
        auth_failed(s, user);
    else {
        log_warn("%s authenticator for (%s) %s could not check the credentials: %s",
                 s->auth_cur->name, s->helo, s->host, msg);
        smtp_reply(s, "454 4.7.0 Temporary authentication failure");
    }
    auth_end(s);
}

/* auth_result - act on a sasl_start/sasl_step result */
static void
auth_result(struct sess *s, int rc, const char *reply)
{
    if (rc == SASL_DONE) {
        auth_finish(s);
        return;
    }
    smtp_reply(s, "%s", reply);
    if (rc == SASL_MORE) {
        s->st = SS_AUTH;
        return;
    }
    auth_end(s);
}

/* auth_refused - the AUTH command is not possible now; its reply, or NULL */
static const char *
auth_refused(const struct sess *s)
{
    if (s->auth_id != NULL)
        return "503 5.5.1 already authenticated";
    if (!auth_offered(s) || !s->esmtp)
        return "503 5.5.1 AUTH not offered";
    if (s->in_mail)
        return "503 5.5.1 AUTH not permitted during a mail transaction";
    if (auth_rate(s, 0))
        return "454 4.7.0 too many failed logins from your address, try again later";
    return NULL;
}

/* smtp_cmd_auth - AUTH mechanism [initial-response] (RFC 4954) */
void
smtp_cmd_auth(struct sess *s, const char *arg)
{
    char mech[32], reply[SASL_REPLY_MAX];
    const char *sp = strchr(arg, ' '), *why = auth_refused(s);
    size_t n = sp != NULL ? (size_t)(sp - arg) : strlen(arg);
    const struct cfg_auth *a;
    enum sasl_mech m;

    if (why != NULL) {
        if (why[0] == '4')
            log_info("H=(%s) %s AUTH refused: too many failed logins (auth_failure_ratelimit)",
                     s->helo, s->host);
        smtp_reply(s, "%s", why);
        return;
    }
    snprintf(mech, sizeof(mech), "%.*s", (int)(n < sizeof(mech) ? n : sizeof(mech) - 1), arg);
    a = auth_find(s->lis->cfg, mech);
    if (a == NULL || sasl_mech_from_name(a->public_name, &m) != 0 ||
        !auth_advertise(a, smtp_var, s)) {
        smtp_reply(s, "504 5.5.4 mechanism not supported");
        return;
    }
    s->sasl = calloc(1, sizeof(*s->sasl));
    if (s->sasl == NULL)
        abort();
    s->auth_cur = a;
    auth_result(
        s, sasl_start(s->sasl, m, a->prompts, sp != NULL ? sp + 1 : NULL, reply, sizeof(reply)),
        reply);
}

/* smtp_auth_line - SS_AUTH: the client's answer to a challenge (no CRLF) */
void
smtp_auth_line(struct sess *s, const char *line, size_t len)
{
    char buf[SASL_LINE_MAX + 1], reply[SASL_REPLY_MAX];

    if (len > SASL_LINE_MAX) {
        smtp_reply(s, "500 5.5.6 authentication exchange line too long");
        auth_end(s);
        return;
    }
    memcpy(buf, line, len);
    buf[len] = '\0';
    auth_result(s, sasl_step(s->sasl, buf, reply, sizeof(reply)), reply);
    OPENSSL_cleanse(buf, sizeof(buf));
}

/* smtp_auth_step - SS_AUTH: consume one answer line; 1 progress, 0 more input needed */
int
smtp_auth_step(struct sess *s)
{
    struct smtp_frame_out o;
    size_t used = smtp_frame_cmd(&s->fr, s->in + s->inoff, s->inlen - s->inoff, &o);

    s->inoff += used;
    if (o.kind == SMTP_FRAME_LINE)
        smtp_auth_line(s, o.data, o.len);
    else if (o.kind != SMTP_FRAME_NONE) {
        smtp_reply(s, "500 5.5.6 authentication exchange line too long or malformed");
        auth_end(s);
    }
    return used > 0;
}
