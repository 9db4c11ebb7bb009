/*
 * config_sections.c - the sections: the main one (options and named lists),
 *                     the driver sections (routers, transports,
 *                     destinations: "name:" instances and their options,
 *                     checked once read) and retry (rules); "begin NAME"
 *                     switches between them.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/acl_int.h"
#include "conf/auth_int.h"
#include "conf/config_int.h"
#include "conf/retry_syntax.h"

/* ---- sections ------------------------------------------------------- */

static int cfg_main_line(struct pctx *p, char *line);
static int cfg_driver_line(struct pctx *p, char *line);
static int cfg_driver_finish(struct pctx *p);
static int cfg_router_check(struct pctx *p, void *inst);
static int cfg_retry_line(struct pctx *p, char *line);
static int cfg_destination_check(struct pctx *p, void *inst);

#define CFG_CLASS(what, type, arr, n, cap, check)                                                  \
    {                                                                                              \
        what, sizeof(type), offsetof(struct cfg, arr), offsetof(struct cfg, n),                    \
            offsetof(struct pctx, cap), offsetof(type, name), offsetof(type, file),                \
            offsetof(type, line), check, 0, NULL                                                   \
    }
static const struct cfg_drvclass cfg_router_class =
    CFG_CLASS("router", struct cfg_router, routers, nrouters, cap_routers, cfg_router_check);
static const struct cfg_drvclass cfg_transport_class =
    CFG_CLASS("transport", struct cfg_transport, transports, ntransports, cap_transports,
              cfg_transport_check);
static const struct cfg_drvclass cfg_destination_class = {
    "destination",
    sizeof(struct cfg_destination),
    offsetof(struct cfg, destinations),
    offsetof(struct cfg, ndestinations),
    offsetof(struct pctx, cap_destinations),
    offsetof(struct cfg_destination, name),
    offsetof(struct cfg_destination, file),
    offsetof(struct cfg_destination, line),
    cfg_destination_check,
    1,
    CFG_INSTCHARS "*",
};

const struct cfg_section cfg_main_section = {"main", cfg_main_opts, NULL, cfg_main_line, NULL};

/* "begin NAME" sections */
static const struct cfg_section cfg_sections[] = {
    {"acl", NULL, NULL, acl__section_line, acl__section_finish}, /* conf/acl_parse.c */
    {"routers", cfg_router_opts, &cfg_router_class, cfg_driver_line, cfg_driver_finish},
    {"transports", cfg_transport_opts, &cfg_transport_class, cfg_driver_line, cfg_driver_finish},
    {"retry", NULL, NULL, cfg_retry_line, NULL},
    {"destinations", cfg_destination_opts, &cfg_destination_class, cfg_driver_line,
     cfg_driver_finish},
    /* SMTP AUTH, conf/auth_config.c */
    {"authenticators", cfg_auth_opts, NULL, cfg_auth_line, cfg_auth_finish},
};
#define CFG_NSECTIONS (sizeof cfg_sections / sizeof cfg_sections[0])

/* cfg_wrong_section - the section whose table has name, other than the current one */
static const struct cfg_section *
cfg_wrong_section(const struct pctx *p, const char *name)
{
    if (p->sec != &cfg_main_section && cfg_find_opt(cfg_main_opts, name))
        return &cfg_main_section;
    for (size_t i = 0; i < CFG_NSECTIONS; i++)
        if (&cfg_sections[i] != p->sec && cfg_find_opt(cfg_sections[i].opts, name))
            return &cfg_sections[i];
    return NULL;
}

/* cfg_set_option - set name (value NULL: bare name) from table on base */
int
cfg_set_option(struct pctx *p, const struct cfg_optdef *t, void *base, const char *name,
               const char *val)
{
    const struct cfg_optdef *d = cfg_find_opt(t, name);
    if (d == NULL && strncmp(name, "no_", 3) == 0) {
        d = cfg_find_opt(t, name + 3);
        if (d != NULL && d->set != cfg_opt_bool)
            return cfg_perr(p, "\"no_\" applies to boolean options only, not to %s", d->name);
        if (d != NULL && val != NULL)
            return cfg_perr(p, "option %s takes no value", name);
        if (d != NULL)
            val = "false";
    }
    if (d == NULL) {
        const struct cfg_section *s = cfg_wrong_section(p, name);
        if (s != NULL)
            return cfg_perr(p, "option \"%.64s\" is not valid in the %s section (it belongs to %s)",
                            name, p->sec->name, s->name);
        return cfg_perr(p, "unknown option \"%.64s\"", name);
    }
    if (val == NULL && d->set != cfg_opt_bool)
        return cfg_perr(p, "option %s needs a value (\"%s = ...\")", name, name);
    return d->set(p, d, base, val);
}

/* cfg_option_line - "name = value", "name" or "no_name" */
static int
cfg_option_line(struct pctx *p, const struct cfg_optdef *t, void *base, char *line)
{
    size_t n = strspn(line, CFG_IDCHARS);
    if (n == 0)
        return cfg_perr(p, "syntax error: \"%.64s\"", line);
    char *rest = cfg_skip_ws(line + n);
    char next = *rest, save = line[n];
    char *val = next == '=' ? cfg_skip_ws(rest + 1) : NULL;
    line[n] = '\0'; /* may be the '=' itself: next and val were taken first */
    if (next == '\0' || next == '=')
        return cfg_set_option(p, t, base, line, val);
    if (cfg_find_opt(t, line) == NULL && cfg_wrong_section(p, line) == NULL)
        return cfg_perr(p, "unknown option \"%.64s\"", line);
    line[n] = save;
    return cfg_perr(p, "syntax error: expected \"name = value\" in \"%.64s\"", line);
}

/* cfg_named_line - "hostlist NAME = list" or "domainlist NAME = list" */
static int
cfg_named_line(struct pctx *p, char *line)
{
    int is_host = line[0] == 'h';
    const char *kw = is_host ? "hostlist" : "domainlist";
    char *s = cfg_skip_ws(line + strlen(kw));
    size_t n = strspn(s, CFG_IDCHARS);
    char *name = cfg_ar_strndup(p->a, s, n);
    s = cfg_skip_ws(s + n);
    if (n == 0 || *s != '=')
        return cfg_perr(p, "syntax error: expected \"%s NAME = list\"", kw);
    if (cfg_find_named(p, name, is_host) != NULL)
        return cfg_perr(p, "%s %s is already defined", kw, name);
    char label[96];
    snprintf(label, sizeof label, "%s %s", kw, name);
    /* ACL conditions read the list with every item kind (conf/acl_parse.c);
     * the options that take +name need the plain form, which may fail on
     * items only ACLs know (@, @[], lookups, regexes): then the name stays
     * unknown to them */
    if (acl__named_line(p, is_host ? AL_HOST : AL_DOMAIN, name, cfg_skip_ws(s + 1)) < 0)
        return -1;
    char *saved_err = p->err, scratch[CFG_ERR_MAX];
    void *list;
    int rc;
    p->err = scratch;
    if (is_host) {
        list = cfg_ar_alloc(p->a, sizeof(struct cfg_hostlist));
        rc = cfg_parse_hostlist(p, label, cfg_skip_ws(s + 1), list);
    } else {
        list = cfg_ar_alloc(p->a, sizeof(struct cfg_domainlist));
        rc = cfg_parse_domainlist(p, label, cfg_skip_ws(s + 1), list);
    }
    p->err = saved_err;
    if (rc < 0)
        list = NULL; /* known, but to ACL conditions only */
    p->named = cfg_ar_grow(&p->tmp, p->named, p->nnamed, &p->capnamed, sizeof *p->named);
    p->named[p->nnamed++] = (struct cfg_named){name, is_host, list};
    return 0;
}

/* cfg_acl_named_line - "addresslist NAME = list" or "localpartlist NAME = list" */
static int
cfg_acl_named_line(struct pctx *p, char *line)
{
    int addr = line[0] == 'a';
    const char *kw = addr ? "addresslist" : "localpartlist";
    char *s = cfg_skip_ws(line + strlen(kw));
    size_t n = strspn(s, CFG_IDCHARS);
    char *name = cfg_ar_strndup(&p->tmp, s, n);
    s = cfg_skip_ws(s + n);
    if (n == 0 || *s != '=')
        return cfg_perr(p, "syntax error: expected \"%s NAME = list\"", kw);
    return acl__named_line(p, addr ? AL_ADDRESS : AL_LOCALPART, name, cfg_skip_ws(s + 1));
}

/* cfg_main_line - a line of the main section */
static int
cfg_main_line(struct pctx *p, char *line)
{
    if (cfg_is_word(line, "hostlist") || cfg_is_word(line, "domainlist"))
        return cfg_named_line(p, line);
    if (cfg_is_word(line, "addresslist") || cfg_is_word(line, "localpartlist"))
        return cfg_acl_named_line(p, line); /* ACL-only named lists */
    return cfg_option_line(p, cfg_main_opts, p->c, line);
}

/* cfg_instance_name - if line starts "name:", its length and the text after ':' */
static size_t
cfg_instance_name(char *line, const char *chars, char **after)
{
    size_t n = strspn(line, chars ? chars : CFG_INSTCHARS);
    char *t = cfg_skip_ws(line + n);
    if (n == 0 || *t != ':')
        return 0;
    *after = cfg_skip_ws(t + 1);
    return n;
}

/* cfg_driver_inst - the instance being read in the section in force */
static void *
cfg_driver_inst(struct pctx *p)
{
    const struct cfg_drvclass *k = p->sec->cls;
    size_t n = *CFG_AT(p->c, k->n_off, size_t);
    return *CFG_AT(p->c, k->arr_off, char *) + (n - 1) * k->size;
}

/* cfg_driver_new - append an instance named name (n bytes) to the section's array */
static void *
cfg_driver_new(struct pctx *p, const char *name, size_t len)
{
    const struct cfg_drvclass *k = p->sec->cls;
    char **arr = CFG_AT(p->c, k->arr_off, char *);
    size_t *n = CFG_AT(p->c, k->n_off, size_t);
    for (size_t i = 0; i < *n; i++) {
        const char *other = *CFG_AT(*arr + i * k->size, k->name_off, char *);
        if (strlen(other) == len && strncmp(other, name, len) == 0) {
            cfg_perr(p, "duplicate %s name \"%s\"", k->what, other);
            return NULL;
        }
    }
    *arr = cfg_ar_grow(p->a, *arr, *n, CFG_AT(p, k->cap_off, size_t), k->size);
    char *inst = *arr + (*n)++ * k->size;
    memset(inst, 0, k->size);
    *CFG_AT(inst, k->name_off, char *) = cfg_ar_strndup(p->a, name, len);
    *CFG_AT(inst, k->file_off, const char *) = p->file;
    *CFG_AT(inst, k->line_off, int) = p->line;
    p->inst = 1;
    p->inst_driver = 0;
    return cfg_apply_defaults(p, p->sec->opts, inst) < 0 ? NULL : inst;
}

/* cfg_driver_line - in routers/transports: "name:" starts an instance, other lines are options */
static int
cfg_driver_line(struct pctx *p, char *line)
{
    char *after;
    size_t n = cfg_instance_name(line, p->sec->cls->name_chars, &after);
    if (n == 0) {
        if (!p->inst)
            return cfg_perr(p, "option line before any %s (expected \"name:\")", p->sec->cls->what);
        return cfg_option_line(p, p->sec->opts, cfg_driver_inst(p), line);
    }
    if (cfg_driver_finish(p) < 0)
        return -1;
    void *inst = cfg_driver_new(p, line, n);
    if (inst == NULL)
        return -1;
    return *after ? cfg_option_line(p, p->sec->opts, inst, after) : 0;
}

/* cfg_driver_finish - check the instance just read (at its own line) */
static int
cfg_driver_finish(struct pctx *p)
{
    if (!p->inst)
        return 0;
    const struct cfg_drvclass *k = p->sec->cls;
    void *inst = cfg_driver_inst(p);
    const char *name = *CFG_AT(inst, k->name_off, char *);
    int saved = p->line;
    p->inst = 0;
    p->line = *CFG_AT(inst, k->line_off, int);
    if (!p->inst_driver && !k->no_driver)
        return cfg_perr(p, "%s %s: no driver set", k->what, name);
    if (k->check != NULL && k->check(p, inst) < 0)
        return -1;
    p->line = saved;
    return 0;
}

/* cfg_destination_check - the instance name must be a usable pattern */
static int
cfg_destination_check(struct pctx *p, void *inst)
{
    struct cfg_destination *d = inst;
    return cfg_parse_domainitem(p, "destination pattern", d->name, &d->pattern, 0);
}

/* cfg_router_check - options that depend on the router's driver */
static int
cfg_router_check(struct pctx *p, void *inst)
{
    const struct cfg_router *r = inst;
    if (r->driver == CFG_ROUTER_MANUALROUTE && r->nroutes == 0)
        return cfg_perr(p, "router %s: a manualroute router needs route_list", r->name);
    if (r->driver != CFG_ROUTER_MANUALROUTE && r->nroutes > 0)
        return cfg_perr(p, "router %s: route_list is for manualroute routers only", r->name);
    if (r->driver != CFG_ROUTER_ACCEPT && r->transport_name == NULL)
        return cfg_perr(p, "router %s: no transport set", r->name);
    return 0;
}

/* cfg_next_word - cut the first blank-separated word off *s */
static char *
cfg_next_word(char **s)
{
    char *w = cfg_skip_ws(*s);
    char *e = w + strcspn(w, " \t");
    if (*e != '\0')
        *e++ = '\0';
    *s = cfg_skip_ws(e);
    return w;
}

/* cfg_retry_line - "pattern error-type steps" */
static int
cfg_retry_line(struct pctx *p, char *line)
{
    struct cfg *c = p->c;
    char *rest = line;
    char *pat = cfg_next_word(&rest), *error = cfg_next_word(&rest);
    if (*error == '\0')
        return cfg_perr(p, "bad retry rule: expected \"pattern error-type steps\"");
    if (strcmp(error, "*") != 0 && strspn(error, CFG_IDCHARS) != strlen(error))
        return cfg_perr(p, "bad retry error type \"%.64s\" (\"*\" or a name like timeout)", error);
    c->retry = cfg_ar_grow(p->a, c->retry, c->nretry, &p->cap_retry, sizeof *c->retry);
    struct cfg_retry_rule *r = &c->retry[c->nretry];
    memset(r, 0, sizeof *r);
    const char *dom = pat, *at = strchr(pat, '@');
    if (at != NULL) {
        if (at != pat + 1 || pat[0] != '*')
            return cfg_perr(
                p, "retry pattern \"%.100s\": only \"*@domain\" addresses are supported", pat);
        dom = at + 1;
    }
    if (cfg_parse_domainitem(p, "retry pattern", dom, &r->pattern, 0) < 0)
        return -1;
    r->error = cfg_ar_strdup(p->a, error);
    if (*rest != '\0') { /* no steps at all: no retrying, fail at once */
        struct cfg_retry_step *steps;
        const char *why = "?";
        if (retry_parse_steps(rest, &steps, &r->nsteps, &why) < 0)
            return cfg_perr(p, "bad retry rule \"%.100s\": %s", rest, why);
        r->steps = cfg_ar_alloc(p->a, r->nsteps * sizeof *steps);
        memcpy(r->steps, steps, r->nsteps * sizeof *steps);
        free(steps);
    }
    c->nretry++;
    return 0;
}

/* cfg_begin_line - "begin NAME": close the section in force, open NAME */
int
cfg_begin_line(struct pctx *p, char *line)
{
    char *name = cfg_trim(line + 5);
    if (*name == '\0' || strcspn(name, " \t") != strlen(name))
        return cfg_perr(p, "syntax error: expected \"begin SECTION\"");
    if (p->sec->finish != NULL && p->sec->finish(p) < 0)
        return -1;
    for (size_t i = 0; i < CFG_NSECTIONS; i++) {
        if (strcmp(cfg_sections[i].name, name) == 0) {
            p->sec = &cfg_sections[i];
            return 0;
        }
    }
    return cfg_perr(p, "unknown section \"%.64s\"", name);
}
