/*
 * acl_parse.c - compiling the "begin acl" section (see acl.h for the
 *               syntax), the main options that name ACLs (acl_smtp_*),
 *               local_domains and the named lists ACL conditions use;
 *               resolving ACL names once the whole file is read; freeing.
 *
 * Every error goes through cfg_perr, so it reads "FILE:LINE: ..." and names
 * the offending word. The result (struct acl_set) is malloc'd and hangs off
 * struct cfg.acls; cfg_free releases it with acl__set_free.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/acl_int.h"
#include "conf/config_int.h"
#include "conf/expand.h"

/* acl_xgrow - make room for element n of a malloc'd array */
static void *
acl_xgrow(void *arr, size_t n, size_t *cap, size_t el)
{
    if (n < *cap)
        return arr;
    *cap = *cap ? 2 * *cap : 8;
    arr = realloc(arr, *cap * el);
    if (arr == NULL)
        abort();
    return arr;
}

/* acl_xstrdup - copy; out of memory is fatal */
static char *
acl_xstrdup(const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        abort();
    return d;
}

/* acl__set_get - c->acls, made on first use */
struct acl_set *
acl__set_get(struct pctx *p)
{
    if (p->c->acls == NULL) {
        struct acl_set *s = calloc(1, sizeof *s);
        if (s == NULL)
            abort();
        s->accept_acl = (struct acl){.name = "accept", .builtin = ACL_ACCEPT};
        s->deny_acl = (struct acl){.name = "deny", .builtin = ACL_DENY};
        p->c->acls = s;
    }
    return p->c->acls;
}

/* acl__find - an ACL by name: written ones first, then the words */
const struct acl *
acl__find(const struct acl_set *s, const char *name)
{
    if (s == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->acls[i]->name, name) == 0)
            return s->acls[i];
    if (strcmp(name, "accept") == 0)
        return &s->accept_acl;
    if (strcmp(name, "deny") == 0)
        return &s->deny_acl;
    return NULL;
}

/* ---- named lists and options ---------------------------------------- */

/* acl__named_line - a named list kept for ACL "+name" items */
int
acl__named_line(struct pctx *p, int kind, const char *name, const char *val)
{
    struct acl_set *s = acl__set_get(p);
    char err[256];
    if (acl__find_named(s, name, kind) != NULL)
        return cfg_perr(p, "%s %s is already defined", acl__kind_name(kind), name);
    struct acl_list *l = acl__list_parse(s, kind, val, err, sizeof err);
    if (l == NULL)
        return cfg_perr(p, "%s %s: %s", acl__kind_name(kind), name, err);
    s->named = acl_xgrow(s->named, s->nnamed, &s->capnamed, sizeof *s->named);
    s->named[s->nnamed++] = (struct acl_named){acl_xstrdup(name), kind, l};
    return 0;
}

/* acl__opt_acl - acl_smtp_*: an ACL name (or accept/deny), resolved later */
int
acl__opt_acl(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    struct acl_set *s = acl__set_get(p);
    const struct acl **slot = CFG_AT(base, d->off, const struct acl *);
    if (*val == '\0' || strspn(val, CFG_INSTCHARS) != strlen(val))
        return cfg_bad_value(p, d, val, "the name of an ACL, accept or deny");
    struct acl_ref *r = NULL;
    for (size_t i = 0; i < s->nrefs && r == NULL; i++)
        if (s->refs[i].slot == slot)
            r = &s->refs[i];
    if (r == NULL) {
        s->refs = acl_xgrow(s->refs, s->nrefs, &s->caprefs, sizeof *s->refs);
        r = &s->refs[s->nrefs++];
    } else {
        free(r->name);
        free(r->ovname);
    }
    *r = (struct acl_ref){
        slot,   acl_xstrdup(val), p->file, p->line, p->ovname ? acl_xstrdup(p->ovname) : NULL,
        d->name};
    return 0;
}

/* acl__opt_local_domains - a domain list (all ACL list items allowed) */
int
acl__opt_local_domains(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    struct acl_set *s = acl__set_get(p);
    char err[256];
    (void)base;
    struct acl_list *l = acl__list_parse(s, AL_DOMAIN, val, err, sizeof err);
    if (l == NULL)
        return cfg_perr(p, "option %s: %s", d->name, err);
    acl__list_free(s->local_domains);
    s->local_domains = l;
    return 0;
}

/* ---- the section ---------------------------------------------------- */

static const char *const acl_verbs[] = {"accept", "deny",    "defer",  "drop",
                                        "warn",   "require", "discard"};
/* clang-format off */
static const char *const acl_words[] = {
    "hosts",     "domains",    "local_parts",   "senders", "recipients", "authenticated",
    "condition", "ratelimit",  "verify",        "acl",     "message",    "log_message",
    "logwrite",  "add_header", "remove_header", "set",     "control",    "delay",
    "spf", /* AC_SPF: conditions appended after the modifiers keep their enum values */
    "dkim_status", /* AC_DKIM_STATUS */
    "dmarc_status", /* AC_DMARC_STATUS (DMARC) */
};
/* clang-format on */

static const struct {
    const char *name;
    unsigned bit;
    int clear;
} acl_controls[] = {
    {"queue_only", ACL_CONTROL_QUEUE_ONLY, 0},
    {"queue", ACL_CONTROL_QUEUE_ONLY, 0},
    {"queue/only", ACL_CONTROL_QUEUE_ONLY, 0},
    {"freeze", ACL_CONTROL_FREEZE, 0},
    {"no_enforce_sync", ACL_CONTROL_NO_ENFORCE_SYNC, 0},
    {"enforce_sync", ACL_CONTROL_NO_ENFORCE_SYNC, 1},
    {"no_pipelining", ACL_CONTROL_NO_PIPELINING, 0},
    {"dmarc_disable_verify", ACL_CONTROL_DMARC_DISABLE_VERIFY, 0},
    {"dmarc_enable_forensic", ACL_CONTROL_DMARC_ENABLE_FORENSIC, 0},
    {"submission", ACL_CONTROL_SUBMISSION, 0},
    {"suppress_local_fixups", ACL_CONTROL_SUPPRESS_LOCAL_FIXUPS, 0},
    {"no_multiline_responses", ACL_CONTROL_NO_MULTILINE_RESPONSES, 0},
    {"allow_auth_unadvertised", ACL_CONTROL_ALLOW_AUTH_UNADVERTISED, 0},
};

/* acl_word_index - position of the n-byte word w in table, or -1 */
static int
acl_word_index(const char *const *table, size_t nt, const char *w, size_t n)
{
    for (size_t i = 0; i < nt; i++)
        if (strlen(table[i]) == n && strncmp(table[i], w, n) == 0)
            return (int)i;
    return -1;
}

/* acl_cur - the ACL being read */
static struct acl *
acl_cur(struct acl_set *s)
{
    return s->acls[s->n - 1];
}

/* acl_new - "NAME:" opens an ACL */
static int
acl_new(struct pctx *p, struct acl_set *s, const char *name, size_t n)
{
    for (size_t i = 0; i < s->n; i++)
        if (strlen(s->acls[i]->name) == n && strncmp(s->acls[i]->name, name, n) == 0)
            return cfg_perr(p, "duplicate ACL name \"%.64s\"", s->acls[i]->name);
    struct acl *a = calloc(1, sizeof *a);
    if (a == NULL || (a->name = strndup(name, n)) == NULL)
        abort();
    a->file = p->file;
    a->line = p->line;
    a->builtin = -1;
    s->acls = acl_xgrow(s->acls, s->n, &s->cap, sizeof *s->acls);
    s->acls[s->n++] = a;
    s->in_acl = 1;
    return 0;
}

/* acl_control - "control = NAME" */
static int
acl_control(struct pctx *p, struct acl_item *it, const char *val)
{
    for (size_t i = 0; i < sizeof acl_controls / sizeof acl_controls[0]; i++) {
        if (strcmp(acl_controls[i].name, val) == 0) {
            it->control = acl_controls[i].bit;
            it->control_clear = acl_controls[i].clear;
            return 0;
        }
    }
    return cfg_perr(p, "unknown ACL control \"%.64s\"", val);
}

/* acl_verify - "verify = recipient|sender" */
static int
acl_verify(struct pctx *p, struct acl_item *it, const char *val)
{
    if (strcmp(val, "recipient") == 0)
        it->verify = ACL_VERIFY_RECIPIENT;
    else if (strcmp(val, "sender") == 0)
        it->verify = ACL_VERIFY_SENDER;
    else
        return cfg_perr(p, "unsupported verify \"%.64s\" (recipient or sender)", val);
    return 0;
}

/* acl_list_kind - the list kind of a list condition, or -1 */
static int
acl_list_kind(int kind)
{
    switch (kind) {
    case AC_HOSTS:
        return AL_HOST;
    case AC_DOMAINS:
        return AL_DOMAIN;
    case AC_LOCAL_PARTS:
    case AC_AUTHENTICATED:
        return AL_LOCALPART;
    case AC_SENDERS:
    case AC_RECIPIENTS:
        return AL_ADDRESS;
    default:
        return -1;
    }
}

/* acl_set_var - "set acl_c_NAME|acl_cN|acl_m_NAME|acl_mN = value": the name */
static int
acl_set_var(struct pctx *p, struct acl_item *it, char **rest)
{
    char *s = cfg_skip_ws(*rest);
    size_t n = strspn(s, CFG_IDCHARS);
    int ok = n > 5 && (strncmp(s, "acl_c", 5) == 0 || strncmp(s, "acl_m", 5) == 0) &&
             (s[5] == '_' ? n > 6 : strspn(s + 5, "0123456789") == n - 5);
    if (!ok)
        return cfg_perr(p,
                        "set: bad variable name \"%.*s\" (acl_c_NAME, acl_cN, acl_m_NAME or "
                        "acl_mN)",
                        (int)(n ? n : strcspn(s, " \t=")), s);
    it->var = strndup(s, n);
    *rest = s + n;
    return 0;
}

/* acl_item_value - the part of an item after its name: the value, compiled */
static int
acl_item_value(struct pctx *p, struct acl_set *s, struct acl_item *it, const char *word, char *val)
{
    char err[256];
    if (it->kind == AM_CONTROL)
        return acl_control(p, it, val);
    if (it->kind == AC_VERIFY)
        return acl_verify(p, it, val);
    if (it->kind == AC_SPF && strchr(val, '$') == NULL &&
        acl__spf_list_check(val, err, sizeof err) < 0)
        return cfg_perr(p, "spf: %s", err);
    if (it->kind == AC_DKIM_STATUS && strchr(val, '$') == NULL &&
        acl__dkim_list_check(val, err, sizeof err) < 0)
        return cfg_perr(p, "dkim_status: %s", err);
    if (it->kind == AC_DMARC_STATUS && strchr(val, '$') == NULL && /* DMARC */
        acl__dmarc_list_check(val, err, sizeof err) < 0)
        return cfg_perr(p, "dmarc_status: %s", err);
    int lk = acl_list_kind(it->kind);
    if (lk >= 0 && strchr(val, '$') == NULL) {
        it->list = acl__list_parse(s, lk, val, err, sizeof err);
        return it->list ? 0 : cfg_perr(p, "%s: %s", word, err);
    }
    if (cfg_refuse_ctl(p, word, val, 1) < 0)
        return -1;
    if ((it->exp = exp_compile(val, err, sizeof err)) == NULL)
        return cfg_perr(p, "%s: %s", word, err);
    if (it->kind == AC_ACL && exp_is_constant(it->exp) && *cfg_skip_ws(val) == '\0')
        return cfg_perr(p, "acl: an ACL name is needed");
    return 0;
}

/* acl_stmt_item - one "[!]name = value" of the statement in force */
static int
acl_stmt_item(struct pctx *p, struct acl_set *s, char *line)
{
    struct acl *a = acl_cur(s);
    if (a->n == 0)
        return cfg_perr(p,
                        "\"%.64s\" before any verb (accept, deny, defer, drop, warn, require, "
                        "discard)",
                        line);
    struct acl_stmt *st = &a->stmts[a->n - 1];
    int neg = *line == '!';
    char *w = cfg_skip_ws(line + neg);
    size_t n = strspn(w, CFG_IDCHARS);
    if (n == 7 && strncmp(w, "endpass", 7) == 0 && *cfg_skip_ws(w + n) == '\0' && !neg)
        return 0; /* accepted and ignored */
    int k = acl_word_index(acl_words, sizeof acl_words / sizeof acl_words[0], w, n);
    if (k < 0)
        return cfg_perr(p, "unknown ACL condition or modifier \"%.*s\"",
                        (int)(n ? n : strcspn(w, " \t=")), w);
    if (neg && k >= AM_MESSAGE && k != AC_SPF && k != AC_DKIM_STATUS && k != AC_DMARC_STATUS)
        return cfg_perr(p, "\"!\" is not allowed before the modifier %.*s", (int)n, w);
    char word[32];
    snprintf(word, sizeof word, "%.*s", (int)n, w);
    st->items = acl_xgrow(st->items, st->n, &st->cap, sizeof *st->items);
    struct acl_item *it = memset(&st->items[st->n++], 0, sizeof *st->items);
    it->kind = k;
    it->negate = neg;
    it->line = p->line;
    char *rest = w + n;
    if (k == AM_SET && acl_set_var(p, it, &rest) < 0)
        return -1;
    rest = cfg_skip_ws(rest);
    if (*rest != '=')
        return cfg_perr(p, "%s: expected \"%s = value\"", word, word);
    return acl_item_value(p, s, it, word, cfg_trim(rest + 1));
}

/* acl_stmt_new - a verb starts a statement; the rest of the line is an item */
static int
acl_stmt_new(struct pctx *p, struct acl_set *s, int verb, char *rest)
{
    struct acl *a = acl_cur(s);
    a->stmts = acl_xgrow(a->stmts, a->n, &a->cap, sizeof *a->stmts);
    a->stmts[a->n++] = (struct acl_stmt){.verb = verb, .line = p->line};
    rest = cfg_skip_ws(rest);
    return *rest ? acl_stmt_item(p, s, rest) : 0;
}

/* acl__section_line - a line of "begin acl" */
int
acl__section_line(struct pctx *p, char *line)
{
    struct acl_set *s = acl__set_get(p);
    size_t n = strspn(line, CFG_INSTCHARS);
    char *t = cfg_skip_ws(line + n);
    if (n > 0 && *t == ':') {
        if (*cfg_skip_ws(t + 1) != '\0')
            return cfg_perr(p, "text after the ACL name \"%.*s:\"", (int)n, line);
        return acl_new(p, s, line, n);
    }
    if (!s->in_acl)
        return cfg_perr(p, "\"%.64s\" before any ACL name (expected \"name:\")", line);
    size_t wl = strspn(line, CFG_IDCHARS);
    int v = acl_word_index(acl_verbs, sizeof acl_verbs / sizeof acl_verbs[0], line, wl);
    if (v >= 0 && (line[wl] == '\0' || isspace((unsigned char)line[wl])))
        return acl_stmt_new(p, s, v, line + wl);
    return acl_stmt_item(p, s, line);
}

/* acl__section_finish - leaving the section: the next one starts afresh */
int
acl__section_finish(struct pctx *p)
{
    if (p->c->acls != NULL)
        p->c->acls->in_acl = 0;
    return 0;
}

/* ---- resolution and freeing ----------------------------------------- */

/* acl_first_word - the first blank-separated word of s into buf */
static void
acl_first_word(const char *s, char *buf, size_t len)
{
    s = cfg_skip_ws(s);
    size_t n = strcspn(s, " \t");
    snprintf(buf, len, "%.*s", (int)(n < len ? n : len - 1), s);
}

/* acl_resolve_items - constant "acl = NAME" items must name a written ACL */
static int
acl_resolve_items(struct pctx *p, struct acl_set *s)
{
    char name[128];
    for (size_t i = 0; i < s->n; i++) {
        struct acl *a = s->acls[i];
        for (size_t j = 0; j < a->n; j++) {
            for (size_t k = 0; k < a->stmts[j].n; k++) {
                struct acl_item *it = &a->stmts[j].items[k];
                if (it->kind != AC_ACL || !exp_is_constant(it->exp))
                    continue;
                acl_first_word(exp_source(it->exp), name, sizeof name);
                it->sub = acl__find(s, name);
                p->file = a->file;
                p->line = it->line;
                if (it->sub == NULL)
                    return cfg_perr(p, "acl: no ACL named \"%s\"", name);
            }
        }
    }
    return 0;
}

/* acl__resolve - after the file and overrides: point options at their ACLs */
int
acl__resolve(struct pctx *p)
{
    struct acl_set *s = p->c->acls;
    if (s == NULL)
        return 0;
    for (size_t i = 0; i < s->nrefs; i++) {
        struct acl_ref *r = &s->refs[i];
        *r->slot = acl__find(s, r->name);
        if (*r->slot == NULL) {
            p->file = r->file;
            p->line = r->line;
            p->ovname = r->ovname;
            int rc = cfg_perr(p,
                              "option %s: no ACL named \"%s\" (define it in \"begin acl\", or "
                              "use accept or deny)",
                              r->opt, r->name);
            p->ovname = NULL;
            return rc;
        }
    }
    return acl_resolve_items(p, s);
}

/* acl_free_one - an ACL and its statements */
static void
acl_free_one(struct acl *a)
{
    for (size_t j = 0; j < a->n; j++) {
        for (size_t k = 0; k < a->stmts[j].n; k++) {
            struct acl_item *it = &a->stmts[j].items[k];
            exp_free(it->exp);
            acl__list_free(it->list);
            free(it->var);
        }
        free(a->stmts[j].items);
    }
    free(a->stmts);
    free(a->name);
    free(a);
}

/* acl__set_free - release a set */
void
acl__set_free(struct acl_set *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        acl_free_one(s->acls[i]);
    for (size_t i = 0; i < s->nnamed; i++) {
        free(s->named[i].name);
        acl__list_free(s->named[i].list);
    }
    for (size_t i = 0; i < s->nrefs; i++) {
        free(s->refs[i].name);
        free(s->refs[i].ovname);
    }
    acl__list_free(s->local_domains);
    free(s->acls);
    free(s->named);
    free(s->refs);
    free(s);
}

/* acl_find - the ACL named name in c */
const struct acl *
acl_find(const struct cfg *c, const char *name)
{
    return c ? acl__find(c->acls, name) : NULL;
}

/* acl_name - its name */
const char *
acl_name(const struct acl *acl)
{
    return acl ? acl->name : "(none)";
}
