/*
 * config_int.h - the parser's inside, shared by the files of the
 *                configuration parser (config*.c). Not part of the conf/
 *                contract: only conf/config*.c include it.
 *
 * The files, lowest first (each uses only the ones above it):
 *   config_arena.c     the arena everything parsed lives in
 *   config_lex.c       errors, white space, words, numbers, list splitting
 *   config_lists.c     host and domain list parsing, named lists
 *   config_match.c     the public match and find functions (no parsing)
 *   config_values.c    the setters for plain values (strings, numbers,
 *                      times, sizes, addresses, lists, expansions)
 *   config_opts.c      the option tables and the driver-specific setters
 *                      (driver, transport, route_list, max_message_rate)
 *   config_sections.c  the section table, option lines, named lists,
 *                      driver instances, retry rules, "begin"
 *   config.c           macros, logical lines, -o overrides, loading, freeing
 */
#ifndef SPATE_CONF_CONFIG_INT_H
#define SPATE_CONF_CONFIG_INT_H

#include <stddef.h>

#include "conf/config.h"

#define CFG_LINE_MAX 65536 /* a logical line, also after macro expansion */
#define CFG_IDCHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"
#define CFG_INSTCHARS CFG_IDCHARS "-."

#define CFG_AT(base, off, type) ((type *)((char *)(base) + (off)))

/* ---- arena (config_arena.c) ------------------------------------------ */

struct cfg_arena_blk;
struct cfg_arena {
    struct cfg_arena_blk *head;
};

/* cfg_ar_alloc - zeroed memory from the arena (out of memory is fatal) */
void *cfg_ar_alloc(struct cfg_arena *a, size_t n);
/* cfg_ar_strndup - copy n bytes of s as a string */
char *cfg_ar_strndup(struct cfg_arena *a, const char *s, size_t n);
/* cfg_ar_strdup - copy s */
char *cfg_ar_strdup(struct cfg_arena *a, const char *s);
/* cfg_ar_grow - make room for element n of an array (doubling; old copy stays in the arena) */
void *cfg_ar_grow(struct cfg_arena *a, void *arr, size_t n, size_t *cap, size_t el);
/* cfg_ar_free - release every block (a itself may live in one of them) */
void cfg_ar_free(struct cfg_arena *a);

/* ---- parse context -------------------------------------------------- */

struct cfg_macro {
    const char *name;
    size_t nlen;
    const char *value;
    size_t vlen;
};
struct cfg_named {
    const char *name;
    int is_host;
    void *list; /* struct cfg_hostlist or struct cfg_domainlist */
};

struct pctx;
struct cfg_optdef;
typedef int (*cfg_setter)(struct pctx *, const struct cfg_optdef *, void *, const char *);

/* One option: setter(value) stores at base + off. min/max: range of numbers,
 * min = 1 for a string that must not be empty, min = default port for an
 * address list (off_n: its count). dflt: applied before the file, or NULL. */
struct cfg_optdef {
    const char *name;
    cfg_setter set;
    size_t off;
    size_t off_n;
    long long min, max;
    const char *dflt;
};

/* A driver section (routers, transports): where its instances live and how
 * each is checked once read. Offsets: arr_off/n_off in struct cfg, cap_off in
 * struct pctx, name_off/file_off/line_off in the instance. */
struct cfg_drvclass {
    const char *what; /* "router" */
    size_t size, arr_off, n_off, cap_off, name_off, file_off, line_off;
    int (*check)(struct pctx *, void *inst);
    int no_driver;          /* instances have no driver option (destinations) */
    const char *name_chars; /* characters allowed in an instance name; NULL: the default */
};

struct cfg_section {
    const char *name;
    const struct cfg_optdef *opts;
    const struct cfg_drvclass *cls; /* driver sections only */
    int (*line)(struct pctx *, char *);
    int (*finish)(struct pctx *);
};

struct pctx {
    struct cfg *c;
    struct cfg_arena *a;  /* the result's */
    struct cfg_arena tmp; /* scratch */
    const char *file;
    int line, lstart;
    const char *ovname;    /* set while applying an override */
    int host_names;        /* the host list being parsed may name hosts */
    int applying_defaults; /* the value being set is the option's default */
    char *err;
    size_t errlen;
    const struct cfg_section *sec;
    int inst, inst_driver; /* a driver instance is open; its driver was set */
    struct cfg_macro *macros;
    size_t nmacros, capmacros, macro_bytes;
    struct cfg_named *named;
    size_t nnamed, capnamed;
    size_t cap_routers, cap_transports, cap_retry, cap_destinations;
    char *lbuf, *xbuf; /* CFG_LINE_MAX + 1 each */
};

/* ---- lexical helpers (config_lex.c) --------------------------------- */

/* cfg_perr - format an error with its position; returns -1 */
__attribute__((format(printf, 2, 3))) int cfg_perr(struct pctx *p, const char *fmt, ...);
/* cfg_skip_ws - first non-blank character of s */
char *cfg_skip_ws(const char *s);
/* cfg_trim - strip white space at both ends, in place */
char *cfg_trim(char *s);
/* cfg_is_word - does line start with word, followed by white space or its end? */
int cfg_is_word(const char *line, const char *word);
/* cfg_parse_ll - a whole decimal number, nothing else; 0 or -1 */
int cfg_parse_ll(const char *s, long long *out);
/* cfg_valid_hostname - letters, digits, '-', '_', '.' (UTF-8 allowed), no empty labels */
int cfg_valid_hostname(const char *s);
/* cfg_split_list - split an Exim list (see config_lex.c); items live in p->tmp */
void cfg_split_list(struct pctx *p, const char *s, int sep, int brackets, char ***out,
                    size_t *nout);
/* cfg_split_addrs - address option items: an Exim "<X" list, or ',' / blanks */
void cfg_split_addrs(struct pctx *p, const char *val, char ***out, size_t *nout);

/* ---- host and domain lists (config_lists.c) ------------------------- */

/* cfg_find_named - a named list defined earlier, or NULL */
void *cfg_find_named(struct pctx *p, const char *name, int is_host);
/* cfg_parse_hostlist - an Exim host list into out */
int cfg_parse_hostlist(struct pctx *p, const char *opt, const char *val, struct cfg_hostlist *out);
/* cfg_parse_domainitem - "*", "*.suffix", "name", "+list", "!" first if allowed */
int cfg_parse_domainitem(struct pctx *p, const char *opt, const char *item,
                         struct cfg_domainitem *out, int allow_negate);
/* cfg_parse_domainlist - an Exim domain list into out */
int cfg_parse_domainlist(struct pctx *p, const char *opt, const char *val,
                         struct cfg_domainlist *out);

/* ---- value setters (config_values.c) -------------------------------- */

/* cfg_bad_value - the common "bad value" error */
int cfg_bad_value(struct pctx *p, const struct cfg_optdef *d, const char *val, const char *expect);
/* cfg_refuse_ctl - an error if v holds a control octet (a tab if !allow_tab);
 * opt NULL: the octet is in the line */
int cfg_refuse_ctl(struct pctx *p, const char *opt, const char *v, int allow_tab);

/* Setters for the option tables; each stores at base + d->off. */
int cfg_opt_str(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val);
int cfg_opt_host(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val);
int cfg_opt_bool(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val);
/* cfg_transport_check - a transport's options against its driver (config_opts.c) */
int cfg_transport_check(struct pctx *p, void *inst);
int cfg_opt_int(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val);
int cfg_opt_port(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val);
int cfg_opt_time(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val);
int cfg_opt_time_ms(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val);
int cfg_opt_size(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val);
int cfg_opt_hostlist(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val);
int cfg_opt_addrs(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val);
int cfg_opt_domainlist(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val);
int cfg_opt_expand(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val);
int cfg_opt_hostnames(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val);
/* log_selector: "+name" / "-name" words (names: proxy, all) into unsigned CFG_LOG_* bits */
int cfg_opt_log_selector(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val);

/* ---- option tables (config_opts.c) ---------------------------------- */

extern const struct cfg_optdef cfg_main_opts[];
extern const struct cfg_optdef cfg_router_opts[];
extern const struct cfg_optdef cfg_transport_opts[];
extern const struct cfg_optdef cfg_destination_opts[];

/* cfg_find_opt - an option by name in a table, or NULL */
const struct cfg_optdef *cfg_find_opt(const struct cfg_optdef *t, const char *name);
/* cfg_apply_defaults - run every default through its setter */
int cfg_apply_defaults(struct pctx *p, const struct cfg_optdef *t, void *base);

/* ---- sections (config_sections.c) ----------------------------------- */

extern const struct cfg_section cfg_main_section;

/* cfg_set_option - set name (value NULL: bare name) from table on base */
int cfg_set_option(struct pctx *p, const struct cfg_optdef *t, void *base, const char *name,
                   const char *val);
/* cfg_begin_line - "begin NAME": close the section in force, open NAME */
int cfg_begin_line(struct pctx *p, char *line);

/* ---- DSN options (config_dsn.c) -------------------------------------- */
int cfg_opt_delay_warning(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val);
int cfg_opt_template_file(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val);
void cfg_dsn_free(struct cfg *c); /* the compiled strings the DSN options hold */

/* ---- spate_user / spate_group (config_user.c) ------------------------ */
/* both store into the struct cfg_run_as at d->off; unknown names are errors */
int cfg_opt_run_user(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val);
int cfg_opt_run_group(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val);

#endif
