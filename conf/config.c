/*
 * config.c - the configuration parser (Exim-style syntax; see config.h).
 *
 * Reading happens in three layers:
 *   1. cfg_next_line() joins physical lines into logical ones: comment lines
 *      are dropped (also in the middle of a continuation), a trailing '\'
 *      joins the next line with its leading white space removed.
 *   2. cfg_process_line() records macro definitions and substitutes macros,
 *      handles "begin SECTION" and hands the line to the section in force.
 *   3. The sections (config_sections.c): main (options and named lists),
 *      routers, transports and destinations (driver instances and their
 *      options) and retry (rules). Sections live in a table, options in
 *      per-section tables of {name, setter, offset, range, default}
 *      (config_opts.c); adding one is one line.
 *
 * After the text, the -o overrides are applied as main options, then each
 * router's transport name is resolved (routers may come first in the file).
 *
 * Memory: everything the result points to lives in one arena owned by the
 * struct cfg (cfg_free releases it in one go); scratch data (macros, list
 * splitting, line buffers) lives in a second arena released when loading ends
 * (config_arena.c). The files of the parser and their order: config_int.h.
 *
 * Diagnostics: the first error stops the load; err gets "FILE:LINE: why"
 * (or "-o NAME: why" for an override) and the caller gets -1.
 *
 * Thread rules: loading uses no global state, so loads may run on any thread;
 * the result is immutable and may be read by any number of threads.
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/acl_int.h"
#include "conf/auth.h"
#include "conf/config_int.h"
#include "conf/expand.h"

#define CFG_MACRO_TOTAL_MAX (4u << 20) /* all macro values together */
#define CFG_FILE_MAX (16u << 20)

const char cfg_default_text[] = "# spate built-in configuration, used when spated runs without -c\n"
                                "spool_directory = ./var/spool\n"
                                "smtp_listen = 127.0.0.1:2525\n"
                                "http_listen = 127.0.0.1:8025\n"
                                "relay_from_hosts = <; 127.0.0.0/8 ; ::1\n"
                                "\n"
                                "begin routers\n"
                                "\n"
                                "dnslookup:\n"
                                "  driver = dnslookup\n"
                                "  transport = remote_smtp\n"
                                "\n"
                                "begin transports\n"
                                "\n"
                                "remote_smtp:\n"
                                "  driver = smtp\n"
                                "  port = 25\n"
                                "\n"
                                "begin retry\n"
                                "\n"
                                "*  *  F,2h,15m; G,16h,1h,1.5; F,4d,6h\n";

/* ---- macros and lines ----------------------------------------------- */

/* cfg_find_macro - a macro by name (n bytes of name) */
static const struct cfg_macro *
cfg_find_macro(const struct pctx *p, const char *name, size_t n)
{
    for (size_t i = 0; i < p->nmacros; i++)
        if (p->macros[i].nlen == n && memcmp(p->macros[i].name, name, n) == 0)
            return &p->macros[i];
    return NULL;
}

/* cfg_expand_macros - substitute macros (whole words) into p->xbuf; *line points there */
static int
cfg_expand_macros(struct pctx *p, char **line)
{
    const char *s = *line;
    size_t k = 0;
    if (p->nmacros == 0)
        return 0;
    while (*s) {
        size_t n = strspn(s, CFG_IDCHARS);
        const char *src = s;
        size_t len = n ? n : 1;
        if (n > 0 && isupper((unsigned char)*s)) {
            const struct cfg_macro *m = cfg_find_macro(p, s, n);
            if (m != NULL) {
                src = m->value;
                len = m->vlen;
            }
        }
        if (k + len > CFG_LINE_MAX)
            return cfg_perr(p, "line too long after macro substitution");
        memcpy(p->xbuf + k, src, len);
        k += len;
        s += n ? n : 1;
    }
    p->xbuf[k] = '\0';
    *line = p->xbuf;
    return 0;
}

/* cfg_macro_line - "NAME = value" (or "NAME == value" to redefine): 1 done, 0 not one */
static int
cfg_macro_line(struct pctx *p, char *line)
{
    if (!isupper((unsigned char)line[0]))
        return 0;
    size_t n = strspn(line, CFG_IDCHARS);
    char *s = cfg_skip_ws(line + n);
    if (*s != '=')
        return 0;
    int redefine = s[1] == '=';
    char *val = cfg_skip_ws(s + 1 + redefine);
    const struct cfg_macro *old = cfg_find_macro(p, line, n);
    if (old != NULL && !redefine)
        return cfg_perr(p, "macro %.*s is already defined (\"==\" redefines it)", (int)n, line);
    if (cfg_expand_macros(p, &val) < 0)
        return -1;
    size_t vl = strlen(val);
    if ((p->macro_bytes += vl) > CFG_MACRO_TOTAL_MAX)
        return cfg_perr(p, "macros too large in total");
    struct cfg_macro *m = (struct cfg_macro *)old;
    if (m == NULL) {
        p->macros = cfg_ar_grow(&p->tmp, p->macros, p->nmacros, &p->capmacros, sizeof *p->macros);
        m = &p->macros[p->nmacros++];
        m->name = cfg_ar_strndup(&p->tmp, line, n);
        m->nlen = n;
    }
    m->value = cfg_ar_strndup(&p->tmp, val, vl);
    m->vlen = vl;
    return 1;
}

struct cfg_reader {
    const char *p, *end;
    int lineno;
};

/* cfg_next_line - the next logical line into p->lbuf: 1, 0 at the end, -1 */
static int
cfg_next_line(struct pctx *p, struct cfg_reader *r)
{
    size_t k = 0;
    int cont = 0;
    while (r->p < r->end) {
        const char *nl = memchr(r->p, '\n', (size_t)(r->end - r->p));
        const char *s = r->p, *e = nl ? nl : r->end;
        r->p = nl ? nl + 1 : r->end;
        r->lineno++;
        while (s < e && isspace((unsigned char)*s))
            s++;
        while (e > s && isspace((unsigned char)e[-1]))
            e--;
        if (s < e && *s == '#')
            continue;
        if (!cont && s == e)
            continue;
        if (!cont)
            p->lstart = r->lineno;
        int more = e > s && e[-1] == '\\';
        if (more)
            e--;
        if (k + (size_t)(e - s) > CFG_LINE_MAX) {
            p->line = p->lstart;
            return cfg_perr(p, "line too long");
        }
        memcpy(p->lbuf + k, s, (size_t)(e - s));
        k += (size_t)(e - s);
        if (!more) {
            p->lbuf[k] = '\0';
            p->line = p->lstart;
            return 1;
        }
        cont = 1;
    }
    if (cont) {
        p->line = p->lstart;
        return cfg_perr(p, "continuation line ('\\' at the end) runs into the end of the file");
    }
    return 0;
}

/* cfg_process_line - macros, "begin", then the section in force */
static int
cfg_process_line(struct pctx *p, char *line)
{
    int rc = cfg_refuse_ctl(p, NULL, line, 1) < 0 ? -1 : cfg_macro_line(p, line);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    if (cfg_expand_macros(p, &line) < 0)
        return -1;
    line = cfg_trim(line);
    if (*line == '\0')
        return 0;
    if (cfg_is_word(line, "begin"))
        return cfg_begin_line(p, line);
    return p->sec->line(p, line);
}

/* cfg_parse_text - every line of text, then the end of the last section */
static int
cfg_parse_text(struct pctx *p, const char *text)
{
    struct cfg_reader r = {text, text + strlen(text), 0};
    int rc;
    while ((rc = cfg_next_line(p, &r)) > 0)
        if (cfg_process_line(p, p->lbuf) < 0)
            return -1;
    if (rc < 0)
        return -1;
    p->line = r.lineno;
    return p->sec->finish != NULL ? p->sec->finish(p) : 0;
}

/* cfg_apply_override - "name=value" (or a bare boolean name) as a main option */
static int
cfg_apply_override(struct pctx *p, const char *ov)
{
    const char *eq = strchr(ov, '=');
    char *name = cfg_trim(cfg_ar_strndup(&p->tmp, ov, eq ? (size_t)(eq - ov) : strlen(ov)));
    char *val = eq ? cfg_trim(cfg_ar_strdup(&p->tmp, eq + 1)) : NULL;
    p->ovname = name;
    p->sec = &cfg_main_section;
    if (*name == '\0' || strspn(name, CFG_IDCHARS) != strlen(name))
        return cfg_perr(p, "expected name=value");
    if (val != NULL && cfg_refuse_ctl(p, NULL, val, 1) < 0)
        return -1;
    return cfg_set_option(p, cfg_main_opts, p->c, name, val);
}

/* cfg_resolve_transports - point each router at its transport */
static int
cfg_resolve_transports(struct pctx *p)
{
    struct cfg *c = p->c;
    for (size_t i = 0; i < c->nrouters; i++) {
        struct cfg_router *r = &c->routers[i];
        if (r->transport_name == NULL)
            continue;
        for (size_t j = 0; j < c->ntransports && r->transport == NULL; j++)
            if (strcmp(c->transports[j].name, r->transport_name) == 0)
                r->transport = &c->transports[j];
        if (r->transport == NULL) {
            p->line = r->transport_line;
            return cfg_perr(p, "router %s: unknown transport \"%s\"", r->name, r->transport_name);
        }
    }
    return 0;
}

/* cfg_main_defaults - table defaults plus the computed ones */
static int
cfg_main_defaults(struct pctx *p)
{
    char host[256];
    if (gethostname(host, sizeof host) != 0 || host[0] == '\0')
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    p->c->primary_hostname = cfg_ar_strdup(p->a, host);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    p->c->worker_threads = ncpu < 1 ? 1 : ncpu > 256 ? 256 : (int)ncpu;
    return cfg_apply_defaults(p, cfg_main_opts, p->c);
}

/* cfg_load_string - parse text; name is used in error messages */
int
cfg_load_string(const char *text, const char *name, const char *const *overrides, size_t noverrides,
                struct cfg **out, char *err, size_t errlen)
{
    struct cfg_arena boot = {NULL};
    struct cfg *c = cfg_ar_alloc(&boot, sizeof *c);
    struct cfg_arena *a = cfg_ar_alloc(&boot, sizeof *a);
    *a = boot; /* from here on the arena lives inside itself */
    struct pctx p = {.c = c, .a = a, .err = err, .errlen = errlen, .sec = &cfg_main_section};
    c->arena = a;
    p.file = cfg_ar_strdup(a, name ? name : "(config)");
    p.lbuf = cfg_ar_alloc(&p.tmp, CFG_LINE_MAX + 1);
    p.xbuf = cfg_ar_alloc(&p.tmp, CFG_LINE_MAX + 1);
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    int rc = cfg_main_defaults(&p);
    if (rc == 0)
        rc = cfg_parse_text(&p, text ? text : "");
    for (size_t i = 0; rc == 0 && i < noverrides; i++)
        rc = overrides[i] ? cfg_apply_override(&p, overrides[i]) : 0;
    p.ovname = NULL;
    if (rc == 0)
        rc = cfg_resolve_transports(&p);
    if (rc == 0)
        rc = acl__resolve(&p); /* acl_smtp_* names (conf/acl_parse.c) */
    cfg_ar_free(&p.tmp);
    if (rc < 0 || out == NULL) {
        cfg_free(c); /* compiled expansions too */
        if (out != NULL)
            *out = NULL;
        return rc < 0 ? -1 : 0;
    }
    *out = c;
    return 0;
}

/* cfg_load_file - read path and parse it */
int
cfg_load_file(const char *path, const char *const *overrides, size_t noverrides, struct cfg **out,
              char *err, size_t errlen)
{
    FILE *f = path ? fopen(path, "r") : NULL;
    if (f == NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s:0: cannot open: %s", path ? path : "(null)",
                     path ? strerror(errno) : "no file name");
        return -1;
    }
    char *text = malloc(CFG_FILE_MAX + 1);
    if (text == NULL)
        abort();
    size_t n = fread(text, 1, CFG_FILE_MAX + 1, f);
    int bad = ferror(f), saved = errno;
    fclose(f);
    const char *why = bad                     ? strerror(saved)
                      : n > CFG_FILE_MAX      ? "file too large"
                      : memchr(text, '\0', n) ? "file contains a NUL byte"
                                              : NULL;
    if (why != NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s:0: cannot read: %s", path, why);
        free(text);
        return -1;
    }
    text[n] = '\0';
    int rc = cfg_load_string(text, path, overrides, noverrides, out, err, errlen);
    free(text);
    return rc;
}

/* cfg_free - release a configuration nobody reads any more */
void
cfg_free(struct cfg *c)
{
    if (c == NULL)
        return;
    exp_free(c->event_action);
    for (size_t i = 0; i < c->ntransports; i++)
        exp_free(c->transports[i].event_action);
    for (size_t i = 0; i < c->ntransports; i++) { /* DKIM signing options */
        struct cfg_transport *t = &c->transports[i];
        exp_free(t->dkim_domain);
        exp_free(t->dkim_selector);
        exp_free(t->dkim_private_key);
        exp_free(t->dkim_canon);
        exp_free(t->dkim_sign_headers);
        exp_free(t->dkim_hash);
    }
    auth_cfg_free(c);                 /* the authenticators' compiled strings */
    acl__set_free(c->acls);           /* conf/acl_parse.c */
    cfg_dsn_free(c);                  /* conf/config_dsn.c: the DSN options' compiled strings */
    exp_free(c->dkim_verify_signers); /* DKIM verification (api/smtp_dkim.c) */
    cfg_ar_free(c->arena);
}
