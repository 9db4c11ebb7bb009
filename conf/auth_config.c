/*
 * auth_config.c - the "begin authenticators" section: instances of Exim's
 *                 plaintext driver ("name:" then its options), checked when
 *                 each ends. The options and rules are in auth.h; where
 *                 this file sits in the parser, in auth_int.h.
 */
#include <ctype.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "conf/auth_int.h"
#include "conf/expand.h"

#define AUTH_F(f) offsetof(struct cfg_auth, f)

/* auth_opt_driver - "plaintext", the only driver */
static int
auth_opt_driver(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    (void)d;
    (void)base;
    if (strcmp(val, "plaintext") != 0)
        return cfg_perr(p,
                        "unknown driver \"%.64s\" in the authenticators section (only "
                        "plaintext is supported)",
                        val);
    p->inst_driver = 1;
    return 0;
}

/* auth_opt_public_name - the mechanism: PLAIN or LOGIN, stored upper-case */
static int
auth_opt_public_name(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    struct cfg_auth *a = base;
    if (strcasecmp(val, "PLAIN") != 0 && strcasecmp(val, "LOGIN") != 0)
        return cfg_bad_value(p, d, val, "PLAIN or LOGIN");
    a->public_name = cfg_ar_strdup(p->a, val);
    for (char *s = a->public_name; *s; s++)
        *s = (char)toupper((unsigned char)*s);
    return 0;
}

const struct cfg_optdef cfg_auth_opts[] = {
    {"driver", auth_opt_driver, 0, 0, 0, 0, NULL},
    {"public_name", auth_opt_public_name, AUTH_F(public_name), 0, 0, 0, NULL},
    {"server_prompts", cfg_opt_str, AUTH_F(server_prompts), 0, 0, 0, NULL},
    {"server_condition", cfg_opt_expand, AUTH_F(server_condition), 0, 0, 0, NULL},
    {"server_set_id", cfg_opt_expand, AUTH_F(server_set_id), 0, 0, 0, NULL},
    {"server_advertise_condition", cfg_opt_expand, AUTH_F(server_advertise_condition), 0, 0, 0,
     NULL},
    {NULL, NULL, 0, 0, 0, 0, NULL},
};

/* auth_cur - the instance being read */
static struct cfg_auth *
auth_cur(struct pctx *p)
{
    return &p->c->auths[p->c->nauths - 1];
}

/* auth_new - append an instance (the array is copied: there are few) */
static int
auth_new(struct pctx *p, const char *name, size_t len)
{
    struct cfg *c = p->c;
    for (size_t i = 0; i < c->nauths; i++)
        if (strlen(c->auths[i].name) == len && strncmp(c->auths[i].name, name, len) == 0)
            return cfg_perr(p, "duplicate authenticator name \"%s\"", c->auths[i].name);
    struct cfg_auth *arr = cfg_ar_alloc(p->a, (c->nauths + 1) * sizeof *arr);
    if (c->nauths > 0)
        memcpy(arr, c->auths, c->nauths * sizeof *arr);
    c->auths = arr;
    struct cfg_auth *a = &arr[c->nauths++];
    a->name = cfg_ar_strndup(p->a, name, len);
    a->file = p->file;
    a->line = p->line;
    p->inst = 1;
    p->inst_driver = 0;
    return 0;
}

/* auth_option_line - "name = value" for the instance being read */
static int
auth_option_line(struct pctx *p, char *line)
{
    size_t n = strspn(line, CFG_IDCHARS);
    char *rest = cfg_skip_ws(line + n);
    if (n == 0 || (*rest != '=' && *rest != '\0'))
        return cfg_perr(p, "syntax error: expected \"name = value\" in \"%.64s\"", line);
    char *val = *rest == '=' ? cfg_skip_ws(rest + 1) : NULL;
    line[n] = '\0'; /* may be the '=' itself: val was taken first */
    const struct cfg_optdef *d = cfg_find_opt(cfg_auth_opts, line);
    if (d == NULL && strncmp(line, "client_", 7) == 0)
        return cfg_perr(p,
                        "option %.64s: client authentication is not supported (server "
                        "options only)",
                        line);
    if (d == NULL)
        return cfg_perr(p, "unknown option \"%.64s\" in the authenticators section", line);
    if (val == NULL)
        return cfg_perr(p, "option %s needs a value (\"%s = ...\")", d->name, d->name);
    return d->set(p, d, auth_cur(p), val);
}

/* cfg_auth_line - "name:" opens an instance, other lines are its options */
int
cfg_auth_line(struct pctx *p, char *line)
{
    size_t n = strspn(line, CFG_INSTCHARS);
    char *t = cfg_skip_ws(line + n);
    if (n == 0 || *t != ':') {
        if (!p->inst)
            return cfg_perr(p, "option line before any authenticator (expected \"name:\")");
        return auth_option_line(p, line);
    }
    if (cfg_auth_finish(p) < 0 || auth_new(p, line, n) < 0)
        return -1;
    t = cfg_skip_ws(t + 1);
    return *t ? auth_option_line(p, t) : 0;
}

/* auth_prompts - server_prompts as a list: PLAIN one prompt (or none: ""),
 * LOGIN two; the defaults when unset */
static int
auth_prompts(struct pctx *p, struct cfg_auth *a)
{
    char **items;
    size_t n;
    a->prompts[0] = a->mech == AUTH_MECH_LOGIN ? "Username:" : "";
    a->prompts[1] = a->mech == AUTH_MECH_LOGIN ? "Password:" : "";
    if (a->server_prompts == NULL)
        return 0;
    cfg_split_list(p, a->server_prompts, ':', 0, &items, &n);
    if (a->mech == AUTH_MECH_LOGIN ? n != 2 : n > 1)
        return cfg_perr(p, "authenticator %s: server_prompts must list %s for %s", a->name,
                        a->mech == AUTH_MECH_LOGIN ? "two prompts" : "at most one prompt",
                        a->public_name);
    for (size_t i = 0; i < n; i++)
        a->prompts[i] = cfg_ar_strdup(p->a, items[i]);
    return 0;
}

/* auth_check_inst - the rules an instance must meet once read */
static int
auth_check_inst(struct pctx *p, struct cfg_auth *a)
{
    if (!p->inst_driver)
        return cfg_perr(p, "authenticator %s: no driver set", a->name);
    if (a->public_name == NULL) {
        a->public_name = cfg_ar_strdup(p->a, a->name);
        for (char *s = a->public_name; *s; s++)
            *s = (char)toupper((unsigned char)*s);
        if (strcmp(a->public_name, "PLAIN") != 0 && strcmp(a->public_name, "LOGIN") != 0)
            return cfg_perr(p, "authenticator %s: no public_name (PLAIN or LOGIN) set", a->name);
    }
    a->mech = strcmp(a->public_name, "LOGIN") == 0 ? AUTH_MECH_LOGIN : AUTH_MECH_PLAIN;
    if (a->server_condition == NULL)
        return cfg_perr(p, "authenticator %s: server_condition is not set", a->name);
    for (const struct cfg_auth *o = p->c->auths; o < a; o++)
        if (strcmp(o->public_name, a->public_name) == 0)
            return cfg_perr(p, "authenticator %s: public_name %s is already used by %s (%s:%d)",
                            a->name, a->public_name, o->name, o->file, o->line);
    return auth_prompts(p, a);
}

/* cfg_auth_finish - check the instance just read (at its own line) */
int
cfg_auth_finish(struct pctx *p)
{
    if (!p->inst)
        return 0;
    struct cfg_auth *a = auth_cur(p);
    int saved = p->line;
    p->inst = 0;
    p->line = a->line;
    if (auth_check_inst(p, a) < 0)
        return -1;
    p->line = saved;
    return 0;
}
