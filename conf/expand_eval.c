/*
 * expand_eval.c - the evaluator of expansion strings: walks a compiled tree
 *                 (expand_int.h) per use, with the caller's variables and
 *                 lookups. Reentrant: any thread may evaluate any tree.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/auth.h"
#include "conf/expand_int.h"
#include "conf/lookup.h"

/* ---- evaluator ---- */

/* The captures of one successful "match". */
struct caps {
    char *v[EXP_NCAPS];
    int n; /* -1: none set */
};

struct ev {
    const struct exp_ctx *ctx;
    struct caps *caps;   /* visible $0..$9, or NULL */
    struct caps *target; /* where a match in the current condition writes */
    const char *value;   /* $value */
    int errset;
};

/* ev_err - record the first evaluation error, naming the column */
__attribute__((format(printf, 3, 4))) static void
ev_err(struct ev *ev, size_t col, const char *fmt, ...)
{
    const struct exp_ctx *ctx = ev->ctx;
    va_list ap;
    int n;

    if (ev->errset || ctx->err == NULL || ctx->errlen == 0)
        return;
    ev->errset = 1;
    n = snprintf(ctx->err, ctx->errlen, "column %zu: ", col);
    if (n < 0 || (size_t)n >= ctx->errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(ctx->err + n, ctx->errlen - n, fmt, ap);
    va_end(ap);
}

/* caps_clear - free a capture set */
static void
caps_clear(struct caps *c)
{
    for (int i = 0; i < c->n; i++)
        free(c->v[i]);
    c->n = -1;
}

static int eval_seq(struct ev *ev, const struct node *n, struct sbuf *out);
static int eval_cond(struct ev *ev, const struct cond *c, int *truth);

/* eval_str - evaluate a list into a fresh string (*s malloc'd on EXP_OK) */
static int
eval_str(struct ev *ev, const struct node *n, char **s)
{
    struct sbuf b = {0};
    int rc = eval_seq(ev, n, &b);

    if (rc != EXP_OK) {
        free(b.s);
        *s = NULL;
        return rc;
    }
    *s = exp__sb_str(&b);
    return EXP_OK;
}

/* var_value - the value of a variable node, or NULL (error recorded) */
static const char *
var_value(struct ev *ev, const struct node *n)
{
    const char *v;

    if (n->var == V_VALUE)
        return ev->value != NULL ? ev->value : "";
    if (n->var == V_CAPTURE)
        return ev->caps != NULL && n->capture < ev->caps->n ? ev->caps->v[n->capture] : "";
    v = ev->ctx->var != NULL ? ev->ctx->var(ev->ctx->arg, n->text) : NULL;
    if (v == NULL)
        ev_err(ev, n->col, "unknown variable name \"%s\"", n->text);
    return v;
}

/* parse_number - Exim integer: optional sign, digits, optional K/M/G; white
 * space around and an empty string (0) allowed. 0 or -1. */
static int
parse_number(const char *s, long long *out)
{
    char *end;
    long long v;

    while (isspace((unsigned char)*s))
        s++;
    if (*s == '\0') {
        *out = 0;
        return 0;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (end == s || errno == ERANGE)
        return -1;
    int shift = 0;
    switch (*end) {
    case 'k':
    case 'K':
        shift = 10, end++;
        break;
    case 'm':
    case 'M':
        shift = 20, end++;
        break;
    case 'g':
    case 'G':
        shift = 30, end++;
        break;
    }
    if (shift && (v > (LLONG_MAX >> shift) || v < (LLONG_MIN >> shift)))
        return -1;
    v = shift ? v * (1LL << shift) : v;
    while (isspace((unsigned char)*end))
        end++;
    if (*end != '\0')
        return -1;
    *out = v;
    return 0;
}

/* bool_value - Exim's bool{}: 1 true, 0 false, -1 not a boolean */
static int
bool_value(const char *s)
{
    size_t len;
    long long v;

    while (isspace((unsigned char)*s))
        s++;
    len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    if (len == 0)
        return 0;
    if ((len == 4 && strncasecmp(s, "true", 4) == 0) || (len == 3 && strncasecmp(s, "yes", 3) == 0))
        return 1;
    if ((len == 5 && strncasecmp(s, "false", 5) == 0) || (len == 2 && strncasecmp(s, "no", 2) == 0))
        return 0;
    if ((isdigit((unsigned char)*s) || *s == '-') && parse_number(s, &v) == 0 &&
        strcspn(s, "kKmMgG") >= len)
        return v != 0;
    return -1;
}

/* set_captures - copy $0..$9 of a successful match into the current target */
static void
set_captures(struct ev *ev, const char *subj, pcre2_match_data *md)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    uint32_t n = pcre2_get_ovector_count(md);
    struct caps *c = ev->target;

    if (c == NULL)
        return;
    caps_clear(c);
    c->n = 0;
    for (uint32_t i = 0; i < n && i < EXP_NCAPS; i++) {
        if (ov[2 * i] == PCRE2_UNSET)
            c->v[i] = exp__xstrndup("", 0);
        else
            c->v[i] = exp__xstrndup(subj + ov[2 * i], ov[2 * i + 1] - ov[2 * i]);
        c->n = (int)i + 1;
    }
    ev->caps = c;
}

/* eval_match - match{subject}{regex}; truth in *t */
static int
eval_match(struct ev *ev, const struct cond *c, const char *subj, const char *pat, int *t)
{
    pcre2_code *re = c->re;
    pcre2_match_data *md;
    int code, rc;
    PCRE2_SIZE off;
    PCRE2_UCHAR msg[256];

    if (re == NULL) {
        re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL);
        if (re == NULL) {
            pcre2_get_error_message(code, msg, sizeof msg);
            ev_err(ev, c->col, "regex error in \"%s\" at offset %zu: %s", pat, (size_t)off,
                   (char *)msg);
            return EXP_ERROR;
        }
    }
    md = pcre2_match_data_create_from_pattern(re, NULL);
    if (md == NULL)
        abort();
    rc = pcre2_match(re, (PCRE2_SPTR)subj, strlen(subj), 0, 0, md, NULL);
    *t = rc >= 0;
    if (rc >= 0)
        set_captures(ev, subj, md);
    pcre2_match_data_free(md);
    if (re != c->re)
        pcre2_code_free(re);
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
        pcre2_get_error_message(rc, msg, sizeof msg);
        ev_err(ev, c->col, "regex match failed: %s", (char *)msg);
        return EXP_ERROR;
    }
    return EXP_OK;
}

/* eval_compare - numeric comparisons */
static int
eval_compare(struct ev *ev, const struct cond *c, const char *a, const char *b, int *t)
{
    long long x, y;

    if (parse_number(a, &x) != 0) {
        ev_err(ev, c->col, "\"%s\" is not a number", a);
        return EXP_ERROR;
    }
    if (parse_number(b, &y) != 0) {
        ev_err(ev, c->col, "\"%s\" is not a number", b);
        return EXP_ERROR;
    }
    switch (c->kind) {
    case C_NUM_EQ:
        *t = x == y;
        break;
    case C_LT:
        *t = x < y;
        break;
    case C_GT:
        *t = x > y;
        break;
    case C_LE:
        *t = x <= y;
        break;
    default:
        *t = x >= y;
        break;
    }
    return EXP_OK;
}

/* eval_crypteq - crypteq {password}{hash} (auth_crypt.c) */
static int
eval_crypteq(struct ev *ev, const struct cond *c, const char *pw, const char *hash, int *t)
{
    char why[128];
    int r = auth_crypteq(pw, hash, why, sizeof why);

    if (r < 0) {
        ev_err(ev, c->col, "%s", why);
        return EXP_ERROR;
    }
    *t = r;
    return EXP_OK;
}

/* eval_two - conditions with two string arguments */
static int
eval_two(struct ev *ev, const struct cond *c, int *t)
{
    char *a = NULL, *b = NULL;
    int rc = eval_str(ev, c->a, &a);

    if (rc == EXP_OK && !(c->kind == C_MATCH && c->re != NULL))
        rc = eval_str(ev, c->b, &b);
    if (rc == EXP_OK) {
        switch (c->kind) {
        case C_EQ:
            *t = strcmp(a, b) == 0;
            break;
        case C_EQI:
            *t = strcasecmp(a, b) == 0;
            break;
        case C_MATCH:
            rc = eval_match(ev, c, a, b, t);
            break;
        case C_CRYPTEQ:
            rc = eval_crypteq(ev, c, a, b, t);
            break;
        default:
            rc = eval_compare(ev, c, a, b, t);
            break;
        }
    }
    free(a);
    free(b);
    return rc;
}

/* eval_list - and/or, short-circuit */
static int
eval_list(struct ev *ev, const struct cond *c, int *t)
{
    int want = c->kind == C_OR; /* the member value that decides */

    for (const struct cond *m = c->sub; m != NULL; m = m->next) {
        int rc = eval_cond(ev, m, t);
        if (rc != EXP_OK)
            return rc;
        if (*t == want)
            return EXP_OK;
    }
    *t = !want;
    return EXP_OK;
}

/* eval_cond - a condition's truth in *t */
static int
eval_cond(struct ev *ev, const struct cond *c, int *t)
{
    int rc = EXP_OK, b;
    const char *v;
    char *s;

    switch (c->kind) {
    case C_TRUE:
    case C_FALSE:
        *t = c->kind == C_TRUE;
        break;
    case C_DEF:
        v = var_value(ev, c->a);
        if (v == NULL)
            return EXP_ERROR;
        *t = *v != '\0';
        break;
    case C_BOOL:
        rc = eval_str(ev, c->a, &s);
        if (rc != EXP_OK)
            return rc;
        b = bool_value(s);
        if (b < 0)
            ev_err(ev, c->col, "unrecognised boolean value \"%s\"", s);
        free(s);
        if (b < 0)
            return EXP_ERROR;
        *t = b;
        break;
    case C_AND:
    case C_OR:
        rc = eval_list(ev, c, t);
        break;
    default:
        rc = eval_two(ev, c, t);
        break;
    }
    if (rc == EXP_OK && c->negate)
        *t = !*t;
    return rc;
}

/* eval_if - ${if}: captures set by the condition live until it ends */
static int
eval_if(struct ev *ev, const struct node *n, struct sbuf *out)
{
    struct caps mine = {.n = -1}, *outer = ev->caps, *outer_target = ev->target;
    int t = 0, rc;

    ev->target = &mine;
    rc = eval_cond(ev, n->cond, &t);
    ev->target = outer_target;
    if (rc == EXP_OK) {
        if (n->nbranch == 0)
            exp__sb_add(out, t ? "true" : "", t ? 4 : 0);
        else if (t)
            rc = eval_seq(ev, n->a, out);
        else if (n->fail)
            rc = EXP_FAIL;
        else if (n->nbranch == 2)
            rc = eval_seq(ev, n->b, out);
    }
    ev->caps = outer;
    caps_clear(&mine);
    return rc;
}

/* quote_redis - a backslash before white space and backslashes */
static void
quote_redis(struct sbuf *out, const char *s)
{
    for (; *s != '\0'; s++) {
        if (isspace((unsigned char)*s) || *s == '\\')
            exp__sb_add(out, "\\", 1);
        exp__sb_add(out, s, 1);
    }
}

/* eval_op - ${lc:} ${uc:} ${quote_redis:} */
static int
eval_op(struct ev *ev, const struct node *n, struct sbuf *out)
{
    char *s;
    int rc = eval_str(ev, n->a, &s);

    if (rc != EXP_OK)
        return rc;
    if (n->op == OP_QUOTE_REDIS) {
        quote_redis(out, s);
    } else {
        for (char *p = s; *p != '\0'; p++)
            *p = (char)(n->op == OP_LC ? tolower((unsigned char)*p) : toupper((unsigned char)*p));
        exp__sb_add(out, s, strlen(s));
    }
    free(s);
    return EXP_OK;
}

/* eval_lookup_result - the branches of a lookup, given its outcome */
static int
eval_lookup_result(struct ev *ev, const struct node *n, const char *val, struct sbuf *out)
{
    const char *outer = ev->value;
    int rc = EXP_OK;

    if (val == NULL) { /* not found */
        if (n->fail)
            return EXP_FAIL;
        return n->nbranch == 2 ? eval_seq(ev, n->d, out) : EXP_OK;
    }
    if (n->nbranch == 0) {
        exp__sb_add(out, val, strlen(val));
        return EXP_OK;
    }
    ev->value = val;
    rc = eval_seq(ev, n->c, out);
    ev->value = outer;
    return rc;
}

/* eval_lookup - ${lookup ...} */
static int
eval_lookup(struct ev *ev, const struct node *n, struct sbuf *out)
{
    char *key = NULL, *arg = NULL, *val = NULL, msg[512];
    int rc = EXP_OK;
    enum lookup_rc lr;

    if (ev->ctx->flags & EXP_F_NO_LOOKUPS) {
        ev_err(ev, n->col, "lookups are not allowed here");
        return EXP_ERROR;
    }
    if (!lookup_type_is_query(n->lt))
        rc = eval_str(ev, n->a, &key);
    if (rc == EXP_OK)
        rc = eval_str(ev, n->b, &arg);
    if (rc != EXP_OK)
        goto out;
    msg[0] = '\0';
    lr = lookup_run(n->lt, key, arg, &val, msg, sizeof msg);
    if (lr == LOOKUP_DEFER || lr == LOOKUP_ERROR) {
        ev_err(ev, n->col, "%s lookup %s: %s", lookup_type_name(n->lt),
               lr == LOOKUP_DEFER ? "deferred" : "failed", msg);
        rc = lr == LOOKUP_DEFER ? EXP_DEFER : EXP_ERROR;
        goto out;
    }
    rc = eval_lookup_result(ev, n, lr == LOOKUP_OK ? val : NULL, out);
out:
    free(key);
    free(arg);
    free(val);
    return rc;
}

/* eval_cert - ${certextract{field}{cert}...}: with no certificate ("") the
 * no-branch (or nothing, or forced failure with "fail") */
static int
eval_cert(struct ev *ev, const struct node *n, struct sbuf *out)
{
    char *field = NULL, *pem = NULL, *val = NULL, msg[256];
    int rc = eval_str(ev, n->a, &field), got;

    if (rc == EXP_OK)
        rc = eval_str(ev, n->b, &pem);
    if (rc != EXP_OK)
        goto out;
    got = exp__certextract(field, pem, &val, msg, sizeof msg);
    if (got < 0) {
        ev_err(ev, n->col, "%s", msg);
        rc = EXP_ERROR;
        goto out;
    }
    rc = eval_lookup_result(ev, n, got == 0 ? val : NULL, out);
out:
    free(field);
    free(pem);
    free(val);
    return rc;
}

/* eval_acl - ${acl{name}{arg}...} through the caller's hook */
static int
eval_acl(struct ev *ev, const struct node *n, struct sbuf *out)
{
    char *name = NULL, *args[9], *val = NULL, msg[512] = "";
    int nargs = 0, rc;
    const struct node *h;

    if (ev->ctx->acl == NULL) {
        ev_err(ev, n->col, "ACLs not available here");
        return EXP_ERROR;
    }
    rc = eval_str(ev, n->a, &name);
    for (h = n->b; h != NULL && rc == EXP_OK && nargs < 9; h = h->next)
        rc = eval_str(ev, h->a, &args[nargs++]);
    if (rc == EXP_OK) {
        rc = ev->ctx->acl(ev->ctx->acl_arg, name, args, nargs, &val, msg, sizeof msg);
        if (rc == EXP_OK)
            exp__sb_add(out, val ? val : "", val ? strlen(val) : 0);
        else if (rc != EXP_FAIL)
            ev_err(ev, n->col, "acl \"%s\": %s", name, msg[0] ? msg : exp_rc_name(rc));
    }
    for (int i = 0; i < nargs; i++)
        free(args[i]);
    free(name);
    free(val);
    return rc;
}

/* eval_seq - evaluate a node list, appending to out */
static int
eval_seq(struct ev *ev, const struct node *n, struct sbuf *out)
{
    int rc = EXP_OK;
    const char *v;

    for (; n != NULL && rc == EXP_OK; n = n->next) {
        switch (n->kind) {
        case N_TEXT:
            exp__sb_add(out, n->text, n->len);
            break;
        case N_VAR:
            v = var_value(ev, n);
            if (v == NULL)
                return EXP_ERROR;
            exp__sb_add(out, v, strlen(v));
            break;
        case N_IF:
            rc = eval_if(ev, n, out);
            break;
        case N_OP:
            rc = eval_op(ev, n, out);
            break;
        case N_LOOKUP:
            rc = eval_lookup(ev, n, out);
            break;
        case N_CERT:
            rc = eval_cert(ev, n, out);
            break;
        case N_ACL:
            rc = eval_acl(ev, n, out);
            break;
        }
    }
    return rc;
}

/* exp_eval - evaluate a compiled string */
int
exp_eval(const struct exp_str *e, const struct exp_ctx *ctx, char **out)
{
    struct ev ev = {.ctx = ctx};
    struct sbuf b = {0};
    int rc;

    if (ctx->err != NULL && ctx->errlen > 0)
        ctx->err[0] = '\0';
    rc = eval_seq(&ev, e->root, &b);
    if (rc != EXP_OK) {
        free(b.s);
        *out = NULL;
        if (rc == EXP_FAIL && ctx->err != NULL && ctx->errlen > 0)
            snprintf(ctx->err, ctx->errlen, "forced failure");
        return rc;
    }
    *out = exp__sb_str(&b);
    return EXP_OK;
}
