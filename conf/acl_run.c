/*
 * acl_run.c - the ACL evaluator (see acl.h): statements and their items
 *             in order, Exim's verb rules, nested "acl =" as a stack of
 *             frames kept in the result so that a "delay" or a pending
 *             "verify" can suspend the run and acl_resume() continue it at
 *             the same item; and the ${acl{...}} expansion hook.
 *
 * An item evaluates to one of the C_* outcomes below. A statement ends at
 * its first outcome other than C_TRUE (or after its last item, with
 * C_TRUE); acl_stmt_end applies the verb. An ACL ends (acl_frame_end) with
 * an enum acl_rc; for a nested ACL that becomes the outcome of the parent's
 * "acl =" item.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "conf/acl_int.h"
#include "conf/config.h"
#include "conf/expand.h"

enum { C_TRUE, C_FALSE, C_DEFER, C_ERROR, C_DROP, C_SUSPEND, C_PUSHED };

static _Thread_local int acl_hook_depth; /* ${acl} inside ACLs inside ${acl} ... */

/* acl_rc_name - the word for an enum acl_rc */
const char *
acl_rc_name(int rc)
{
    static const char *const names[] = {"accept",  "deny",  "defer",  "drop",
                                        "discard", "error", "suspend"};
    return rc >= 0 && rc <= ACL_SUSPEND ? names[rc] : "?";
}

/* acl_top - the innermost frame */
static struct acl_frame *
acl_top(struct acl_st *st)
{
    return &st->s->frames[st->s->nframes - 1];
}

/* acl_fail - an error: why goes to st->err (kept for the result); C_ERROR */
__attribute__((format(printf, 2, 3))) static int
acl_fail(struct acl_st *st, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const struct acl_frame *f = acl_top(st);
    int line = f->acl->line;
    if (f->stmt < f->acl->n) {
        const struct acl_stmt *stmt = &f->acl->stmts[f->stmt];
        line = f->item < stmt->n ? stmt->items[f->item].line : stmt->line;
    }
    snprintf(st->err, sizeof st->err, "ACL %s (%s:%d): %s", f->acl->name, f->acl->file, line, msg);
    return C_ERROR;
}

static int acl_exp_hook_st(void *arg, const char *name, char *const *args, int nargs, char **out,
                           char *err, size_t errlen);

/* acl_expand - evaluate e: EXP_OK with *out, EXP_FAIL (forced), or the
 * outcome C_DEFER / C_ERROR as a negative number -1 - outcome */
static int
acl_expand(struct acl_st *st, const struct exp_str *e, char **out)
{
    char err[400] = "";
    struct exp_ctx ctx = {.var = acl__var,
                          .arg = st,
                          .err = err,
                          .errlen = sizeof err,
                          .acl = acl_exp_hook_st,
                          .acl_arg = st};
    int rc = exp_eval(e, &ctx, out);
    if (rc == EXP_OK || rc == EXP_FAIL)
        return rc;
    acl_fail(st, "expansion of \"%.100s\" %s: %s", exp_source(e),
             rc == EXP_DEFER ? "deferred" : "failed", err);
    return rc == EXP_DEFER ? -1 - C_DEFER : -1 - C_ERROR;
}

/* ---- conditions ----------------------------------------------------- */

/* acl_list_subject - what a list condition matches, or NULL (none here) */
static const char *
acl_list_subject(struct acl_st *st, int kind)
{
    const struct acl_env *e = st->env;
    switch (kind) {
    case AC_DOMAINS:
        return e->recipient ? st->domain : NULL;
    case AC_LOCAL_PARTS:
        return e->recipient ? st->lp : NULL;
    case AC_SENDERS:
        return e->sender;
    case AC_RECIPIENTS:
        return e->recipient;
    case AC_AUTHENTICATED:
        return e->authenticated_id;
    default:
        return "";
    }
}

/* acl_cond_list - hosts, domains, local_parts, senders, recipients, authenticated */
static int
acl_cond_list(struct acl_st *st, const struct acl_item *it, const char *word)
{
    const char *subj = acl_list_subject(st, it->kind);
    if (subj == NULL && it->kind == AC_AUTHENTICATED)
        return C_FALSE; /* not authenticated */
    if (subj == NULL)
        return acl_fail(st, "%s: no %s at this stage", word,
                        it->kind == AC_SENDERS ? "sender" : "recipient");
    struct acl_list *tmp = NULL;
    const struct acl_list *l = it->list;
    if (l == NULL) {
        char *text;
        int rc = acl_expand(st, it->exp, &text);
        if (rc == EXP_FAIL)
            return C_TRUE; /* forced failure: the condition is ignored */
        if (rc < 0)
            return -1 - rc;
        static const int kinds[] = {AL_HOST,    AL_DOMAIN,  AL_LOCALPART,
                                    AL_ADDRESS, AL_ADDRESS, AL_LOCALPART};
        tmp = acl__list_parse(st->env->cfg->acls, kinds[it->kind], text, st->err, sizeof st->err);
        free(text);
        if (tmp == NULL)
            return acl_fail(st, "%s: %.300s", word, st->err);
        l = tmp;
    }
    char err[300] = "";
    struct acl_mctx m = {st->env->cfg->primary_hostname, st->env->client, st->env->local, err,
                         sizeof err};
    int r = acl__list_match(l, &m, subj);
    acl__list_free(tmp);
    if (r < 0) {
        acl_fail(st, "%s: %s", word, err);
        return C_DEFER;
    }
    return r ? C_TRUE : C_FALSE;
}

/* acl_truth - Exim's lax boolean of a condition's value */
static int
acl_truth(const char *s)
{
    return !(*s == '\0' || strcmp(s, "0") == 0 || strcasecmp(s, "no") == 0 ||
             strcasecmp(s, "false") == 0);
}

/* acl_cond_condition - "condition = STRING" */
static int
acl_cond_condition(struct acl_st *st, const struct acl_item *it)
{
    char *v;
    int rc = acl_expand(st, it->exp, &v);
    if (rc == EXP_FAIL)
        return C_TRUE;
    if (rc < 0)
        return -1 - rc;
    int t = acl_truth(v);
    free(v);
    return t ? C_TRUE : C_FALSE;
}

/* acl_copy_trim - copy s into buf without surrounding white space */
static void
acl_copy_trim(char *buf, size_t len, const char *s)
{
    s = s ? s : "";
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    snprintf(buf, len, "%.*s", (int)(n < len ? n : len - 1), s);
}

/* acl_rate_fields - $sender_rate_limit and _period: the first two '/' fields */
static void
acl_rate_fields(struct acl_st *st, const char *v)
{
    const char *slash = strchr(v, '/');
    char limit[64];
    snprintf(limit, sizeof limit, "%.*s", (int)(slash ? slash - v : (int)strlen(v)), v);
    acl_copy_trim(st->s->sender_rate_limit, sizeof st->s->sender_rate_limit, limit);
    char period[64] = "";
    if (slash != NULL) {
        const char *e = strchr(slash + 1, '/');
        snprintf(period, sizeof period, "%.*s", (int)(e ? e - slash - 1 : (int)strlen(slash + 1)),
                 slash + 1);
    }
    acl_copy_trim(st->s->sender_rate_period, sizeof st->s->sender_rate_period, period);
}

/* acl_cond_ratelimit - "ratelimit = limit / period / options / key" */
static int
acl_cond_ratelimit(struct acl_st *st, const struct acl_item *it)
{
    char *v, err[256] = "";
    int rc = acl_expand(st, it->exp, &v);
    if (rc == EXP_FAIL)
        return C_TRUE;
    if (rc < 0)
        return -1 - rc;
    struct rl_spec *spec = rl_parse(v, err, sizeof err);
    if (spec == NULL) {
        rc = acl_fail(st, "ratelimit \"%.100s\": %s", v, err);
        free(v);
        return rc;
    }
    acl_rate_fields(st, v);
    free(v);
    const char *ip = st->env->var ? st->env->var(st->env->arg, "sender_host_address") : NULL;
    rl_spec_default_key(spec, ip != NULL ? ip : ""); /* Exim: the client's address */
    int per = rl_per(spec);
    double cost = 1, rate = 0;
    const char *size =
        per == RL_PER_BYTE && st->env->var ? st->env->var(st->env->arg, "message_size") : NULL;
    if (size != NULL && *size)
        cost = strtod(size, NULL);
    const char *scope = per == RL_PER_CONN   ? st->env->conn_scope
                        : per == RL_PER_MAIL ? st->env->mail_scope
                        : per == RL_PER_ADDR ? st->env->recipient
                                             : NULL;
    rc = rl_check(spec, cost, scope, &rate, err, sizeof err);
    rl_spec_free(spec);
    snprintf(st->s->sender_rate, sizeof st->s->sender_rate, "%.1f", rate);
    if (rc < 0) {
        acl_fail(st, "ratelimit: %s", err);
        return C_DEFER;
    }
    return rc > 0 ? C_TRUE : C_FALSE;
}

/* acl_cond_verify - "verify = recipient|sender" through env->verify */
static int
acl_cond_verify(struct acl_st *st, struct acl_frame *f, const struct acl_item *it)
{
    struct acl_env *e = st->env;
    const char *addr = it->verify == ACL_VERIFY_RECIPIENT ? e->recipient : e->sender;
    const char *what = it->verify == ACL_VERIFY_RECIPIENT ? "recipient" : "sender";
    if (e->where == ACL_WHERE_EXPAND || e->verify == NULL)
        return acl_fail(st, "verify = %s is not available here", what);
    if (addr == NULL)
        return acl_fail(st, "verify = %s: no %s at this stage", what, what);
    st->s->verify_msg[0] = '\0';
    int r = e->verify(e->arg, it->verify, addr, st->s->verify_msg, sizeof st->s->verify_msg);
    if (r == ACL_VERIFY_PENDING && !f->resumed) {
        st->res->wait_verify = 1;
        return C_SUSPEND;
    }
    if (r == ACL_VERIFY_OK) {
        st->s->verify_msg[0] = '\0';
        return C_TRUE;
    }
    if (r == ACL_VERIFY_FAIL)
        return C_FALSE;
    if (r == ACL_VERIFY_DEFER)
        return C_DEFER;
    return acl_fail(st, "verify = %s: no answer after resumption", what);
}

/* acl_cond_spf - "spf = LIST" with the result from env->spf */
static int
acl_cond_spf(struct acl_st *st, struct acl_frame *f, const struct acl_item *it)
{
    struct acl_env *e = st->env;
    char res[32] = "", err[128], *v;
    if (e->where == ACL_WHERE_EXPAND || e->spf == NULL)
        return acl_fail(st, "spf is not available here");
    int r = e->spf(e->arg, res, sizeof res);
    if (r == ACL_VERIFY_PENDING && !f->resumed) {
        st->res->wait_verify = 1;
        return C_SUSPEND;
    }
    if (r != ACL_VERIFY_OK)
        return acl_fail(st, "spf: no result after resumption");
    int rc = acl_expand(st, it->exp, &v);
    if (rc == EXP_FAIL)
        return C_TRUE;
    if (rc < 0)
        return -1 - rc;
    rc = acl__spf_match(v, res, err, sizeof err);
    free(v);
    if (rc < 0)
        return acl_fail(st, "spf: %s", err);
    return rc ? C_TRUE : C_FALSE;
}

/* acl_cond_dkim - "dkim_status = LIST" against $dkim_verify_status (env->var) */
static int
acl_cond_dkim(struct acl_st *st, const struct acl_item *it)
{
    struct acl_env *e = st->env;
    const char *status = e->var != NULL ? e->var(e->arg, "dkim_verify_status") : NULL;
    char err[128], *v;
    if (status == NULL || *status == '\0')
        return acl_fail(st, "dkim_status is not available here (no DKIM verification yet)");
    int rc = acl_expand(st, it->exp, &v);
    if (rc == EXP_FAIL)
        return C_TRUE;
    if (rc < 0)
        return -1 - rc;
    rc = acl__dkim_match(v, status, err, sizeof err);
    free(v);
    if (rc < 0)
        return acl_fail(st, "dkim_status: %s", err);
    return rc ? C_TRUE : C_FALSE;
}

/* acl_cond_dmarc - "dmarc_status = LIST" against $dmarc_status (env->var) */
static int
acl_cond_dmarc(struct acl_st *st, const struct acl_item *it)
{
    struct acl_env *e = st->env;
    const char *status = e->var != NULL ? e->var(e->arg, "dmarc_status") : NULL;
    char err[200], *v;
    if (status == NULL || *status == '\0')
        return acl_fail(st, "dmarc_status is not available here (no DMARC evaluation yet)");
    int rc = acl_expand(st, it->exp, &v);
    if (rc == EXP_FAIL)
        return C_TRUE;
    if (rc < 0)
        return -1 - rc;
    rc = acl__dmarc_match(v, status, err, sizeof err);
    free(v);
    if (rc < 0)
        return acl_fail(st, "dmarc_status: %s", err);
    return rc ? C_TRUE : C_FALSE;
}

/* acl_split_words - cut s into blank-separated words (in place), at most max */
static int
acl_split_words(char *s, char **w, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(s, " \t", &save); t != NULL && n < max;
         t = strtok_r(NULL, " \t", &save))
        w[n++] = t;
    return n;
}

/* acl_push - start a nested ACL with args */
static int
acl_push(struct acl_st *st, const struct acl *a, char *const *args, int nargs)
{
    if (st->s->nframes > ACL_MAX_DEPTH)
        return acl_fail(st, "ACLs nested more than %d deep (at %s)", ACL_MAX_DEPTH, a->name);
    struct acl_frame *f = &st->s->frames[st->s->nframes++];
    memset(f, 0, sizeof *f);
    f->acl = a;
    for (int i = 0; i < nargs && i < 9; i++)
        if ((f->args[f->nargs++] = strdup(args[i])) == NULL)
            abort();
    return C_PUSHED;
}

/* acl_cond_acl - "acl = NAME [arg...]": push the nested ACL */
static int
acl_cond_acl(struct acl_st *st, const struct acl_item *it)
{
    char *v, *w[10];
    int rc = acl_expand(st, it->exp, &v);
    if (rc == EXP_FAIL)
        return C_TRUE;
    if (rc < 0)
        return -1 - rc;
    int n = acl_split_words(v, w, 10);
    const struct acl *a = n > 0 ? acl__find(st->env->cfg->acls, w[0]) : NULL;
    if (a == NULL)
        rc = acl_fail(st, "acl: no ACL named \"%.100s\"", n > 0 ? w[0] : "");
    else
        rc = acl_push(st, a, w + 1, n - 1);
    free(v);
    return rc;
}

/* ---- modifiers ------------------------------------------------------ */

/* acl_push_str - append a copy of s to a string array */
static void
acl_push_str(char ***arr, size_t *n, const char *s, size_t len)
{
    char **a = realloc(*arr, (*n + 1) * sizeof **arr);
    if (a == NULL || (a[*n] = strndup(s, len)) == NULL)
        abort();
    *arr = a;
    (*n)++;
}

static void acl_add_lines(struct acl_result *res, const char *v);

/* acl_add_header - each line of v is a header; "X-ACL-Warn: " when it has no name.
 * A leading ":at_start:" stays on each line for the caller; ":at_end:" goes. */
static void
acl_add_header(struct acl_result *res, const char *v)
{
    int at_start = strncmp(v, ":at_start:", 10) == 0;
    if (at_start || strncmp(v, ":at_end:", 8) == 0)
        v += at_start ? 10 : 8;
    size_t first = res->nadd;
    acl_add_lines(res, v);
    for (size_t i = first; at_start && i < res->nadd; i++) {
        size_t n = strlen(res->add_headers[i]);
        char *h = malloc(n + 11);
        if (h == NULL)
            abort();
        memcpy(h, ":at_start:", 10);
        memcpy(h + 10, res->add_headers[i], n + 1);
        free(res->add_headers[i]);
        res->add_headers[i] = h;
    }
}

/* acl_add_lines - each line of v is a header; "X-ACL-Warn: " when it has no name */
static void
acl_add_lines(struct acl_result *res, const char *v)
{
    while (*v) {
        size_t n = strcspn(v, "\n");
        size_t nl = strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
        size_t len = n > 0 && v[n - 1] == '\r' ? n - 1 : n;
        if (len > 0 && nl > 0 && nl < len && v[nl] == ':') {
            acl_push_str(&res->add_headers, &res->nadd, v, len);
        } else if (len > 0) {
            char *h = malloc(len + 14);
            if (h == NULL)
                abort();
            snprintf(h, len + 14, "X-ACL-Warn: %.*s", (int)len, v);
            acl_push_str(&res->add_headers, &res->nadd, h, strlen(h));
            free(h);
        }
        v += n + (v[n] == '\n');
    }
}

/* acl_remove_header - a ':' list of header names */
static void
acl_remove_header(struct acl_result *res, const char *v)
{
    while (*v) {
        v += strspn(v, ": \t");
        size_t n = strcspn(v, ":");
        size_t len = n;
        while (len > 0 && isspace((unsigned char)v[len - 1]))
            len--;
        if (len > 0)
            acl_push_str(&res->remove_headers, &res->nremove, v, len);
        v += n;
    }
}

/* acl_parse_delay - "500ms" or an Exim time; -1 if bad */
static long
acl_parse_delay(const char *v)
{
    size_t n = strlen(v);
    if (n > 2 && strcmp(v + n - 2, "ms") == 0) {
        char *end;
        long ms = strtol(v, &end, 10);
        return end == v + n - 2 && ms >= 0 ? ms : -1;
    }
    long s = cfg_parse_time(v);
    return s < 0 || s > 86400 ? -1 : s * 1000;
}

/* acl_mod_value - the modifiers that take an expanded value */
static int
acl_mod_value(struct acl_st *st, struct acl_frame *f, const struct acl_item *it)
{
    char *v;
    if (it->kind == AM_DELAY && f->resumed)
        return C_TRUE; /* the delay was waited */
    int rc = acl_expand(st, it->exp, &v);
    if (rc == EXP_FAIL)
        return C_TRUE; /* forced failure: ignored */
    if (rc < 0)
        return -1 - rc;
    long ms;
    rc = C_TRUE;
    switch (it->kind) {
    case AM_LOGWRITE:
        log_info("%s", v);
        break;
    case AM_ADD_HEADER:
        acl_add_header(st->res, v);
        break;
    case AM_REMOVE_HEADER:
        acl_remove_header(st->res, v);
        break;
    case AM_SET: {
        struct acl_vars *vars = it->var[4] == 'c' ? st->env->cvars : st->env->mvars;
        if (vars == NULL)
            rc = acl_fail(st, "set %s: the caller keeps no such variables", it->var);
        else
            acl__vars_set(vars, it->var, v);
        break;
    }
    default: /* AM_DELAY */
        ms = acl_parse_delay(v);
        if (ms < 0)
            rc = acl_fail(st, "delay: bad time \"%.64s\"", v);
        else if (ms > 0 && st->env->where == ACL_WHERE_EXPAND)
            rc = acl_fail(st, "delay is not available in ${acl}");
        else if (ms > 0) {
            st->res->delay_ms = (unsigned)ms;
            rc = C_SUSPEND;
        }
    }
    free(v);
    return rc;
}

/* acl_item - evaluate one item of the current statement */
static int
acl_item(struct acl_st *st, struct acl_frame *f, const struct acl_item *it)
{
    static const char *const words[] = {"hosts",   "domains",    "local_parts",
                                        "senders", "recipients", "authenticated"};
    int r;
    switch (it->kind) {
    case AC_HOSTS:
    case AC_DOMAINS:
    case AC_LOCAL_PARTS:
    case AC_SENDERS:
    case AC_RECIPIENTS:
    case AC_AUTHENTICATED:
        r = acl_cond_list(st, it, words[it->kind]);
        break;
    case AC_CONDITION:
        r = acl_cond_condition(st, it);
        break;
    case AC_RATELIMIT:
        r = acl_cond_ratelimit(st, it);
        break;
    case AC_VERIFY:
        r = acl_cond_verify(st, f, it);
        break;
    case AC_SPF:
        r = acl_cond_spf(st, f, it);
        break;
    case AC_DKIM_STATUS:
        r = acl_cond_dkim(st, it);
        break;
    case AC_DMARC_STATUS: /* DMARC */
        r = acl_cond_dmarc(st, it);
        break;
    case AC_ACL:
        return acl_cond_acl(st, it); /* negation applies when it returns */
    case AM_MESSAGE:
        f->msg = it->exp;
        return C_TRUE;
    case AM_LOG_MESSAGE:
        f->logmsg = it->exp;
        return C_TRUE;
    case AM_CONTROL:
        if (it->control_clear)
            st->res->controls &= ~it->control;
        else
            st->res->controls |= it->control;
        return C_TRUE;
    default:
        return acl_mod_value(st, f, it);
    }
    if (it->negate && (r == C_TRUE || r == C_FALSE))
        r = r == C_TRUE ? C_FALSE : C_TRUE;
    return r;
}

/* ---- statements and frames ------------------------------------------ */

/* acl_text - expand a remembered message (NULL when unset or forced to fail) */
static char *
acl_text(struct acl_st *st, const struct exp_str *e)
{
    char *v = NULL;
    if (e != NULL && acl_expand(st, e, &v) != EXP_OK)
        v = NULL;
    return v;
}

/* acl_warn - a true warn statement: log its log_message */
static void
acl_warn(struct acl_st *st, struct acl_frame *f)
{
    char *t = acl_text(st, f->logmsg);
    if (t != NULL && *t)
        log_warn("%s%s%sWarning: %s", st->ip[0] ? "H=[" : "", st->ip, st->ip[0] ? "] " : "", t);
    free(t);
}

/* acl_frame_end - the frame on top ended with rc: pop it; 1 when it was the last */
static int
acl_frame_end(struct acl_st *st, int rc, int implicit)
{
    struct acl_frame *f = acl_top(st);
    char *msg = NULL, *logmsg = NULL;
    if (rc == ACL_ERROR) {
        logmsg = strdup(st->err[0] ? st->err : "error");
    } else {
        msg = acl_text(st, f->msg);
        logmsg = acl_text(st, f->logmsg);
    }
    if (msg == NULL && st->s->nested_msg != NULL)
        msg = strdup(st->s->nested_msg);
    if (msg == NULL && st->s->verify_msg[0] && (rc == ACL_DENY || rc == ACL_DEFER))
        msg = strdup(st->s->verify_msg);
    for (int i = 0; i < f->nargs; i++)
        free(f->args[i]);
    st->s->nframes--;
    free(st->s->nested_msg);
    st->s->nested_msg = msg;
    if (st->s->nframes > 0) {
        free(logmsg);
        return 0;
    }
    st->res->rc = rc;
    st->res->message = msg;
    st->s->nested_msg = NULL;
    st->res->log_message = logmsg;
    st->res->implicit_deny = implicit;
    return 1;
}

/* acl_outcome - a nested ACL's rc as the parent's "acl =" outcome */
static int
acl_outcome(int rc, int negate)
{
    if (rc == ACL_ACCEPT || rc == ACL_DISCARD)
        return negate ? C_FALSE : C_TRUE;
    if (rc == ACL_DENY)
        return negate ? C_TRUE : C_FALSE;
    return rc == ACL_DEFER ? C_DEFER : rc == ACL_DROP ? C_DROP : C_ERROR;
}

/* acl_verb_rc - what a statement ending with cond does: an rc ending the
 * ACL, or -1 to go on with the next statement */
static int
acl_verb_rc(struct acl_st *st, struct acl_frame *f, int verb, int cond)
{
    if (cond == C_ERROR)
        return ACL_ERROR;
    if (cond == C_DROP)
        return ACL_DROP;
    if (cond == C_DEFER)
        return verb == VB_WARN ? -1 : ACL_DEFER;
    int t = cond == C_TRUE;
    switch (verb) {
    case VB_ACCEPT:
        return t ? ACL_ACCEPT : -1;
    case VB_DENY:
        return t ? ACL_DENY : -1;
    case VB_DEFER:
        return t ? ACL_DEFER : -1;
    case VB_DROP:
        return t ? ACL_DROP : -1;
    case VB_DISCARD:
        return t ? ACL_DISCARD : -1;
    case VB_REQUIRE:
        return t ? -1 : ACL_DENY;
    default: /* warn */
        if (t)
            acl_warn(st, f);
        f->msg = f->logmsg = NULL;
        return -1;
    }
}

static int acl_child_done(struct acl_st *st, int rc);

/* acl_end - the frame on top ended with rc; 1 when the run is over */
static int
acl_end(struct acl_st *st, int rc, int implicit)
{
    return acl_frame_end(st, rc, implicit) ? 1 : acl_child_done(st, rc);
}

/* acl_stmt_end - the current statement ended with cond; 1 when the run is over */
static int
acl_stmt_end(struct acl_st *st, int cond)
{
    struct acl_frame *f = acl_top(st);
    int rc = acl_verb_rc(st, f, f->acl->stmts[f->stmt].verb, cond);
    if (rc < 0) {
        f->stmt++;
        f->item = 0;
        f->resumed = 0;
        return 0;
    }
    return acl_end(st, rc, 0);
}

/* acl_child_done - a nested ACL ended: its result is the parent's item outcome */
static int
acl_child_done(struct acl_st *st, int rc)
{
    struct acl_frame *f = acl_top(st);
    const struct acl_item *it = &f->acl->stmts[f->stmt].items[f->item];
    int cond = acl_outcome(rc, it->negate);
    if (cond != C_TRUE)
        return acl_stmt_end(st, cond);
    f->item++;
    return 0;
}

/* acl_step - one step of the machine: 1 when the run is over or suspended */
static int
acl_step(struct acl_st *st, int *suspended)
{
    struct acl_frame *f = acl_top(st);
    const struct acl *a = f->acl;
    if (a->builtin >= 0 || f->stmt >= a->n)
        return acl_end(st, a->builtin >= 0 ? a->builtin : ACL_DENY, a->builtin < 0);
    const struct acl_stmt *stmt = &a->stmts[f->stmt];
    if (f->item >= stmt->n)
        return acl_stmt_end(st, C_TRUE);
    int cond = acl_item(st, f, &stmt->items[f->item]);
    if (cond == C_SUSPEND) {
        *suspended = 1;
        return 1;
    }
    if (cond == C_PUSHED)
        return 0;
    f->resumed = 0;
    if (cond == C_TRUE) {
        f->item++;
        return 0;
    }
    return acl_stmt_end(st, cond);
}

/* acl_loop - step until the run ends or suspends */
static int
acl_loop(struct acl_st *st)
{
    int suspended = 0;
    while (!acl_step(st, &suspended))
        ;
    if (suspended)
        st->res->rc = ACL_SUSPEND;
    return st->res->rc;
}

/* acl_start - set up a run of acl with args */
static int
acl_start(const struct acl *acl, struct acl_env *env, struct acl_result *res, char *const *args,
          int nargs)
{
    acl_result_clear(res);
    if (acl == NULL) {
        res->rc = ACL_ACCEPT;
        return ACL_ACCEPT;
    }
    res->priv = calloc(1, sizeof *res->priv);
    if (res->priv == NULL)
        abort();
    struct acl_st st = {.env = env, .res = res, .s = res->priv};
    acl__split_recipient(&st);
    acl_push(&st, acl, args, nargs);
    return acl_loop(&st);
}

/* acl_run - evaluate acl for env */
int
acl_run(const struct acl *acl, struct acl_env *env, struct acl_result *res)
{
    return acl_start(acl, env, res, NULL, 0);
}

/* acl_resume - continue after ACL_SUSPEND */
int
acl_resume(const struct acl *acl, struct acl_env *env, struct acl_result *res)
{
    (void)acl;
    if (res->rc != ACL_SUSPEND || res->priv == NULL || res->priv->nframes == 0)
        return res->rc;
    struct acl_st st = {.env = env, .res = res, .s = res->priv};
    acl__split_recipient(&st);
    acl_top(&st)->resumed = 1;
    res->delay_ms = 0;
    res->wait_verify = 0;
    return acl_loop(&st);
}

/* acl_free_strs - free a string array */
static void
acl_free_strs(char **a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(a[i]);
    free(a);
}

/* acl_result_clear - free what res holds and zero it */
void
acl_result_clear(struct acl_result *res)
{
    if (res == NULL)
        return;
    free(res->message);
    free(res->log_message);
    acl_free_strs(res->add_headers, res->nadd);
    acl_free_strs(res->remove_headers, res->nremove);
    if (res->priv != NULL) {
        for (int i = 0; i < res->priv->nframes; i++)
            for (int k = 0; k < res->priv->frames[i].nargs; k++)
                free(res->priv->frames[i].args[k]);
        free(res->priv->nested_msg);
        free(res->priv);
    }
    memset(res, 0, sizeof *res);
}

/* ---- ${acl} and local_domains --------------------------------------- */

/* acl_exp_hook - exp_ctx.acl for ${acl{NAME}{arg}...}: acl_arg is an env */
int
acl_exp_hook(void *acl_arg, const char *name, char *const *args, int nargs, char **out, char *err,
             size_t errlen)
{
    struct acl_env e = *(struct acl_env *)acl_arg;
    struct acl_result res = {0};
    const struct acl *a = e.cfg ? acl_find(e.cfg, name) : NULL;
    *out = NULL;
    if (a == NULL) {
        snprintf(err, errlen, "no ACL named \"%s\"", name);
        return EXP_ERROR;
    }
    if (acl_hook_depth >= ACL_MAX_DEPTH) {
        snprintf(err, errlen, "${acl} nested more than %d deep", ACL_MAX_DEPTH);
        return EXP_ERROR;
    }
    e.where = ACL_WHERE_EXPAND;
    e.verify = NULL;
    acl_hook_depth++;
    int rc = acl_start(a, &e, &res, args, nargs);
    acl_hook_depth--;
    int xrc = rc == ACL_ACCEPT  ? EXP_OK
              : rc == ACL_DENY  ? EXP_FAIL
              : rc == ACL_DEFER ? EXP_DEFER
                                : EXP_ERROR;
    if (xrc == EXP_OK)
        *out = strdup(res.message ? res.message : "");
    else if (xrc != EXP_FAIL)
        snprintf(err, errlen, "ACL returned %s%s%s", acl_rc_name(rc), res.log_message ? ": " : "",
                 res.log_message ? res.log_message : "");
    acl_result_clear(&res);
    return xrc;
}

/* acl_exp_hook_st - ${acl} inside an ACL's own expansions */
static int
acl_exp_hook_st(void *arg, const char *name, char *const *args, int nargs, char **out, char *err,
                size_t errlen)
{
    struct acl_st *st = arg;
    return acl_exp_hook(st->env, name, args, nargs, out, err, errlen);
}

/* acl_local_domain - is domain in local_domains? */
int
acl_local_domain(const struct cfg *c, const char *domain)
{
    if (c == NULL || c->acls == NULL || domain == NULL)
        return 0;
    const struct acl_list *l = c->acls->local_domains;
    if (l == NULL) /* Exim's way: "domainlist local_domains = ..." */
        l = acl__find_named(c->acls, "local_domains", AL_DOMAIN);
    if (l == NULL)
        return 0;
    struct acl_mctx m = {c->primary_hostname, NULL, NULL, NULL, 0};
    return acl__list_match(l, &m, domain);
}
