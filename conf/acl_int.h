/*
 * acl_int.h - the compiled form of ACLs and lists, shared by the files of
 *             the ACL engine (acl_*.c). Not part of the conf/ contract.
 *
 * The files, lowest first:
 *   acl_list.c    rich lists: parsing (at load, or at use for lists that
 *                 hold '$') and matching (hosts, domains, local parts,
 *                 addresses)
 *   acl_parse.c   the "begin acl" section, the acl_smtp_* options, named
 *                 address/local-part lists, resolution and freeing
 *   acl_vars.c    acl_c/acl_m variables, the expansion variables of a run
 *   acl_run.c     the evaluator (frames, suspension), ${acl} hook
 *
 * Everything below hangs off struct acl_set (malloc'd, freed with the cfg);
 * once cfg_load_*() returns it is immutable.
 */
#ifndef SPATE_CONF_ACL_INT_H
#define SPATE_CONF_ACL_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conf/acl.h"

struct exp_str;
struct lookup_type;
struct pctx;
struct cfg_optdef;

/* ---- lists (acl_list.c) --------------------------------------------- */

enum acl_lkind { AL_HOST, AL_DOMAIN, AL_LOCALPART, AL_ADDRESS, AL_NKINDS };
enum acl_ikind {
    LI_ANY,     /* "*" */
    LI_NAMED,   /* "+name" */
    LI_CIDR,    /* host: address or address/bits */
    LI_IFACE,   /* host: "@[]" */
    LI_PRIMARY, /* domain: "@" */
    LI_LOOKUP,  /* "type;file" */
    LI_REGEX,   /* "^..." */
    LI_PATTERN, /* text with '*' wildcards (or none) */
    LI_EMPTY,   /* the single empty item of "senders = :" */
};

struct acl_list;
struct acl_litem {
    int kind; /* enum acl_ikind */
    int negate;
    int family; /* LI_CIDR */
    uint8_t addr[16];
    int prefix;
    const struct acl_list *sub;   /* LI_NAMED */
    const struct lookup_type *lt; /* LI_LOOKUP */
    char *text;                   /* LI_LOOKUP file, LI_PATTERN pattern, LI_NAMED name */
    pcre2_code *re;               /* LI_REGEX */
};
struct acl_list {
    int kind; /* enum acl_lkind */
    struct acl_litem *items;
    size_t n;
};

/* What matching needs besides the subject. */
struct acl_mctx {
    const char *primary_hostname;
    const struct sockaddr *client; /* host lists */
    const struct sockaddr *local;  /* "@[]" */
    char *err;                     /* why, for -1 */
    size_t errlen;
};

/* acl__list_parse - parse an Exim list of kind; "+name" is looked up in set.
 * A malloc'd list, or NULL with why in err. */
struct acl_list *acl__list_parse(const struct acl_set *set, int kind, const char *text, char *err,
                                 size_t errlen);
/* acl__list_free - release a list (NULL is fine) */
void acl__list_free(struct acl_list *l);
/* acl__list_match - first matching item decides (negated: no); nothing
 * matched: yes only if the last item is negated. subject: domain, local part or address (host lists
 * use m->client). 1 match, 0 not, -1 a lookup could not be done (m->err). */
int acl__list_match(const struct acl_list *l, const struct acl_mctx *m, const char *subject);
/* acl__kind_name - "hostlist", "domainlist", "localpartlist", "addresslist" */
const char *acl__kind_name(int kind);

/* ---- compiled ACLs (acl_parse.c) ------------------------------------ */

enum acl_verb { VB_ACCEPT, VB_DENY, VB_DEFER, VB_DROP, VB_WARN, VB_REQUIRE, VB_DISCARD };
enum acl_ikind2 {
    AC_HOSTS,
    AC_DOMAINS,
    AC_LOCAL_PARTS,
    AC_SENDERS,
    AC_RECIPIENTS,
    AC_AUTHENTICATED,
    AC_CONDITION,
    AC_RATELIMIT,
    AC_VERIFY,
    AC_ACL,
    AM_MESSAGE, /* the modifiers from here on */
    AM_LOG_MESSAGE,
    AM_LOGWRITE,
    AM_ADD_HEADER,
    AM_REMOVE_HEADER,
    AM_SET,
    AM_CONTROL,
    AM_DELAY,
    AC_SPF,          /* "spf = result list" (RFC 7208 via acl_env.spf): a condition */
    AC_DKIM_STATUS,  /* "dkim_status = none : invalid : fail : pass" (via env->var) */
    AC_DMARC_STATUS, /* DMARC: "dmarc_status = accept : reject : ..." (via env->var) */
};

struct acl_item {
    int kind; /* enum acl_ikind2 */
    int negate;
    int line;
    struct exp_str *exp;   /* the value (lists: only when it holds '$') */
    struct acl_list *list; /* list conditions with a constant value */
    const struct acl *sub; /* AC_ACL with a constant name */
    int verify;            /* AC_VERIFY: ACL_VERIFY_RECIPIENT / _SENDER */
    unsigned control;      /* AM_CONTROL: the bit */
    int control_clear;     /* AM_CONTROL: clears the bit (enforce_sync) */
    char *var;             /* AM_SET: "acl_m_foo" */
};

struct acl_stmt {
    int verb; /* enum acl_verb */
    int line;
    struct acl_item *items;
    size_t n, cap;
};

struct acl {
    char *name;
    const char *file;
    int line;
    int builtin; /* -1: a written ACL; ACL_ACCEPT / ACL_DENY for the words */
    struct acl_stmt *stmts;
    size_t n, cap;
};

struct acl_named {
    char *name;
    int kind;
    struct acl_list *list;
};

/* a main option naming an ACL, resolved once the whole file is read */
struct acl_ref {
    const struct acl **slot;
    char *name;
    const char *file;
    int line;
    char *ovname;    /* set by -o */
    const char *opt; /* the option's name */
};

struct acl_set {
    struct acl **acls;
    size_t n, cap;
    struct acl accept_acl, deny_acl;
    struct acl_named *named;
    size_t nnamed, capnamed;
    struct acl_ref *refs;
    size_t nrefs, caprefs;
    struct acl_list *local_domains;
    int in_acl; /* the section's reader: an ACL is open */
};

/* acl__set_get - c->acls, made on first use */
struct acl_set *acl__set_get(struct pctx *p);
/* acl__set_free - release a set (cfg_free) */
void acl__set_free(struct acl_set *s);
/* acl__find_named - a named list of kind, or NULL */
const struct acl_list *acl__find_named(const struct acl_set *s, const char *name, int kind);
/* acl__find - an ACL by name (written ones first, then accept/deny) */
const struct acl *acl__find(const struct acl_set *s, const char *name);

/* parser hooks (called from config*.c) */
int acl__section_line(struct pctx *p, char *line);
int acl__section_finish(struct pctx *p);
/* acl__named_line - "addresslist NAME = ...", "localpartlist NAME = ...";
 * also hostlist/domainlist (kind given), kept for ACL "+name" items */
int acl__named_line(struct pctx *p, int kind, const char *name, const char *val);
/* acl__opt_acl - setter of the acl_smtp_* options */
int acl__opt_acl(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val);
/* acl__opt_local_domains - setter of local_domains */
int acl__opt_local_domains(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val);
/* acl__resolve - after the file and overrides: the acl_smtp_* names */
int acl__resolve(struct pctx *p);

/* ---- evaluation state (acl_run.c, acl_vars.c) ---------------------- */

/* One ACL being evaluated: where it is, and what it remembered. */
struct acl_frame {
    const struct acl *acl;
    size_t stmt, item;
    char *args[9]; /* $acl_arg1..9 (malloc'd) */
    int nargs;
    const struct exp_str *msg, *logmsg; /* "message" / "log_message" reached */
    int resumed;                        /* the current item resumes after a suspension */
};

/* What a result keeps between acl_run and acl_resume (acl_result.priv). */
struct acl_state {
    struct acl_frame frames[ACL_MAX_DEPTH + 1];
    int nframes;
    char sender_rate[32], sender_rate_limit[32], sender_rate_period[64];
    char verify_msg[512]; /* $acl_verify_message */
    char *nested_msg;     /* the message of the last nested ACL that ended */
};

/* One call of acl_run/acl_resume: the state plus scratch for variables. */
struct acl_st {
    struct acl_env *env;
    struct acl_result *res;
    struct acl_state *s;
    char ip[64], port[16], lp[512], domain[512];
    char err[512];
};

/* acl__vars_set - set name to value (copied) */
void acl__vars_set(struct acl_vars *v, const char *name, const char *value);
/* acl__var - the exp_ctx.var callback of a run (arg: struct acl_st *) */
const char *acl__var(void *arg, const char *name);
/* acl__split_recipient - $local_part and $domain of st->env->recipient */
void acl__split_recipient(struct acl_st *st);

/* acl_spf.c: the "spf" condition's list. acl__spf_match: 1 an item matches
 * result, 0 none, -1 an unknown word (err); acl__spf_list_check: 0 or -1 */
int acl__spf_match(const char *list, const char *result, char *err, size_t errlen);
int acl__spf_list_check(const char *list, char *err, size_t errlen);
/* acl__list_sep / acl__list_next - Exim's "<X" separator prefix, and the
 * next trimmed item of a word list at *p (0 at the end); acl_spf.c */
char acl__list_sep(const char **p);
/* A list of words for the spf, dkim_status and dmarc_status conditions:
 * what names them in errors ("SPF result"), hint follows an unknown one,
 * word gives the canonical word for s[0..n) or NULL */
struct acl_words {
    const char *what, *hint;
    const char *(*word)(const char *s, size_t n);
};
/* acl__word_match - 1 when an item of list (Exim list, items may be "!word")
 * names value (case-insensitive), 0 if none, -1 with err for an unknown word */
int acl__word_match(const struct acl_words *ws, const char *list, const char *value, char *err,
                    size_t errlen);
/* acl__word_list_check - load-time check: a non-empty list of known words */
int acl__word_list_check(const struct acl_words *ws, const char *list, char *err, size_t errlen);
int acl__list_next(const char **p, char sep, const char **item, size_t *len);

/* acl_dkim.c: the "dkim_status" condition's list, as for spf (words none
 * invalid fail pass) */
int acl__dkim_match(const char *list, const char *status, char *err, size_t errlen);
int acl__dkim_list_check(const char *list, char *err, size_t errlen);

/* acl_dmarc.c: the "dmarc_status" condition's list, as for spf (words accept
 * reject quarantine none norecord nofrom temperror off) */
int acl__dmarc_match(const char *list, const char *status, char *err, size_t errlen);
int acl__dmarc_list_check(const char *list, char *err, size_t errlen);

/* ---- ratelimit ----------------------------------------------------- */
#include "conf/ratelimit.h"

#endif
