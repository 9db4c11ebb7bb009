/*
 * acl.h - access control lists (Exim's "Access control lists" chapter):
 *         the "begin acl" section compiled once at load, and the evaluator
 *         the inbound SMTP server runs at each stage of a session.
 *
 * Syntax (in "begin acl")
 *   NAME:                 starts an ACL
 *   VERB [item]           starts a statement: accept deny defer drop warn
 *                         require discard; one condition or modifier may
 *                         follow on the verb's line, the others each on a
 *                         line of their own: "[!]name = value", the value
 *                         running to the end of the (logical) line.
 *   Conditions            hosts domains local_parts senders recipients
 *                         authenticated condition ratelimit acl verify
 *                         (recipient | sender) spf dkim_status dmarc_status;
 *                         each may be
 *                         negated with '!'.
 *   spf = LIST            (seed "SPF") true when the SPF result (env->spf)
 *                         matches an item: pass fail softfail none neutral
 *                         permerror temperror, err_perm / err_temp the
 *                         deprecated aliases; "!word" matches any other
 *                         result; left to right, the first match wins, none
 *                         is false. Unknown words stop the load.
 *   dkim_status = LIST    (Exim) true when the DKIM verification status
 *                         (the variable $dkim_verify_status, through
 *                         env->var) matches an item: none invalid fail
 *                         pass, "!word" any other; left to right, first
 *                         match wins. Where the status is "" (before the
 *                         message text) the condition is an error.
 *   dmarc_status = LIST   (seed "DMARC Support") true when the DMARC status
 *                         ($dmarc_status, through env->var) matches an item:
 *                         accept reject quarantine none norecord nofrom
 *                         temperror off, "!word" any other; first match
 *                         wins; "" (before the message text) is an error.
 *   add_header            a value starting ":at_start:" keeps that prefix
 *                         on each of its lines: the caller puts those at
 *                         the top of the header section (Exim's position
 *                         word; ":at_end:" is the default and is dropped).
 *   Modifiers             message log_message logwrite add_header
 *                         remove_header "set acl_c_NAME|acl_cN|acl_m_NAME|
 *                         acl_mN = value" control delay endpass (ignored).
 *   Unknown words, a condition or modifier before any verb, an unknown
 *   control, a verify other than recipient/sender, an expansion syntax
 *   error and an unknown "acl = NAME" (constant) stop the load with
 *   "FILE:LINE: ..." naming the word.
 *
 * Lists (hosts, domains, local_parts, senders, recipients, authenticated and
 * the named addresslist / localpartlist / hostlist / domainlist): Exim
 * lists (':' separator, "<X" to choose another), items negated with '!',
 * "+name" (a named list of the same kind), "*", lookups "lsearch;FILE" and
 * "lmdb;FILE" (the item matches when the subject is a key of FILE; in host
 * lists the key is the client's IP address, "net-lsearch;" accepted too),
 * "^regex" (PCRE2, not in host lists). Host items: IP, CIDR, "@[]" (the
 * address the client connected to, env->local); host names are refused at
 * load (the evaluator does no DNS). Domain items: "@" (the
 * primary_hostname), "name", "*suffix" ("*.example.com"). Local parts and
 * addresses: '*' wildcards ("*@example.com", "user@*", "*-list"); an
 * address item without '@' is matched against the domain alone. A list
 * holding '$' is expanded at each use and parsed then. Matching is
 * case-insensitive. "senders = :" (one empty item) matches the null sender.
 *
 * Evaluation (Exim's rules)
 *   Items run in order; the first false condition ends the statement. accept
 *   (all true: accept), deny (all true: deny), defer, drop (deny and close),
 *   discard (accept, then throw the message/recipient away), require (a false
 *   condition denies, all true: next statement), warn (all true: log
 *   log_message; never ends the ACL). A condition that defers makes the ACL
 *   defer (warn: skipped). Running off the end denies (implicit_deny set).
 *   "message" and "log_message" are remembered when reached and expanded
 *   when the ACL ends; a failed verify supplies the message when none is
 *   set. A forced expansion failure ("fail") ignores the condition or
 *   modifier; another expansion error ends the ACL with ACL_ERROR.
 *   "acl = NAME [args]" runs a nested ACL: accept/discard is true, deny false,
 *   others end the outer ACL with that result. Nesting deeper than
 *   ACL_MAX_DEPTH is an error.
 *
 * Expansion variables inside ACLs: $sender_host_address $sender_host_port
 * $sender_helo_name $sender_address $local_part $domain $authenticated_id
 * $acl_verify_message $sender_rate $sender_rate_limit $sender_rate_period
 * $acl_c* $acl_m* (unset: "") $acl_arg1..9 $acl_narg, then env->var.
 *
 * Blocking: acl_run() never blocks except in lookups (lsearch, lmdb, Redis
 * through expansions: see lookup.h) and ratelimit's store; "delay" and a
 * "verify" the caller cannot answer at once return ACL_SUSPEND instead.
 *
 * Thread rules: the compiled ACLs are part of the immutable struct cfg. One
 * acl_env/acl_result pair belongs to one session and one thread at a time.
 */
#ifndef SPATE_CONF_ACL_H
#define SPATE_CONF_ACL_H

#include <stddef.h>
#include <sys/socket.h>

struct cfg;
struct acl;       /* one compiled ACL (opaque) */
struct acl_set;   /* every ACL of a configuration (struct cfg.acls) */
struct acl_vars;  /* acl_c_* or acl_m_* variables */
struct acl_state; /* resumption state (private) */

#define ACL_MAX_DEPTH 20 /* nested "acl =" calls */

enum acl_where {
    ACL_WHERE_CONNECT,
    ACL_WHERE_HELO,
    ACL_WHERE_MAIL,
    ACL_WHERE_RCPT,
    ACL_WHERE_PREDATA,
    ACL_WHERE_DATA,
    ACL_WHERE_DATA_PRDR,
    ACL_WHERE_QUIT,
    ACL_WHERE_EXPAND,
    ACL_WHERE_DKIM, /* acl_smtp_dkim: once per signer, after the text, before PRDR and DATA */
};
enum acl_rc { ACL_ACCEPT, ACL_DENY, ACL_DEFER, ACL_DROP, ACL_DISCARD, ACL_ERROR, ACL_SUSPEND };

/* answers of acl_env.verify */
enum { ACL_VERIFY_OK, ACL_VERIFY_FAIL, ACL_VERIFY_DEFER, ACL_VERIFY_PENDING };
/* what acl_env.verify is asked to verify */
enum { ACL_VERIFY_RECIPIENT = 1, ACL_VERIFY_SENDER = 2 };

/* "control =" bits in acl_result.controls */
#define ACL_CONTROL_QUEUE_ONLY 0x001              /* queue_only, queue, queue/only */
#define ACL_CONTROL_FREEZE 0x002                  /* freeze */
#define ACL_CONTROL_NO_ENFORCE_SYNC 0x004         /* no_enforce_sync (enforce_sync clears) */
#define ACL_CONTROL_NO_PIPELINING 0x008           /* no_pipelining: stop advertising it */
#define ACL_CONTROL_DMARC_DISABLE_VERIFY 0x010    /* dmarc_disable_verify */
#define ACL_CONTROL_DMARC_ENABLE_FORENSIC 0x020   /* dmarc_enable_forensic */
#define ACL_CONTROL_SUBMISSION 0x040              /* submission */
#define ACL_CONTROL_SUPPRESS_LOCAL_FIXUPS 0x080   /* suppress_local_fixups */
#define ACL_CONTROL_NO_MULTILINE_RESPONSES 0x100  /* no_multiline_responses */
#define ACL_CONTROL_ALLOW_AUTH_UNADVERTISED 0x200 /* allow_auth_unadvertised */

/* What the caller (one SMTP session) gives and keeps across calls. Strings
 * and addresses are the caller's and must stay valid during each call. */
struct acl_env {
    enum acl_where where;
    const struct cfg *cfg;
    const struct sockaddr *client; /* sender host address, NULL for none */
    const struct sockaddr *local;  /* address the client connected to (for @[]) */
    const char *helo, *sender;     /* may be NULL; sender "" is the null sender */
    const char *recipient;         /* at RCPT/DATA_PRDR; $local_part $domain derived */
    const char *authenticated_id;  /* NULL: not authenticated */
    /* var - other variables ($tls_in_cipher, $message_size, ...): value, ""
     * or NULL (unknown: an expansion error). May be NULL. */
    const char *(*var)(void *arg, const char *name);
    /* verify - "verify = recipient|sender": ACL_VERIFY_OK, _FAIL (msg set),
     * _DEFER (msg), or _PENDING: the answer comes later; the caller then calls
     * acl_resume() and verify is asked again and must answer. May be NULL
     * (verify is then an error). */
    int (*verify)(void *arg, int what, const char *address, char *msg, size_t msglen);
    void *arg;
    const char *conn_scope, *mail_scope; /* ids for ratelimit per_conn / per_mail */
    struct acl_vars *cvars; /* acl_c_*: the session's, from acl_vars_new(), kept across ACLs */
    struct acl_vars *mvars; /* acl_m_*: the message's, cleared by the caller at each MAIL */
    /* spf - "spf = ...": the SPF result of the session's client, sender and
     * HELO as a word (pass fail softfail none neutral permerror temperror)
     * written to result: ACL_VERIFY_OK, or ACL_VERIFY_PENDING (the caller
     * calls acl_resume() once it is known, and spf is asked again). May be
     * NULL (the condition is then an error). */
    int (*spf)(void *arg, char *result, size_t len);
};

/* Filled by acl_run()/acl_resume(); zero it once, then acl_result_clear()
 * after use (also before reusing it for another acl_run). */
struct acl_result {
    int rc;             /* enum acl_rc */
    char *message;      /* "message =" text (expanded), or NULL */
    char *log_message;  /* "log_message =" text (or why for ACL_ERROR), or NULL */
    int implicit_deny;  /* ran off the end */
    char **add_headers; /* "Name: value" lines, without CRLF */
    size_t nadd;
    char **remove_headers; /* header names */
    size_t nremove;
    unsigned controls;      /* ACL_CONTROL_* */
    unsigned delay_ms;      /* with ACL_SUSPEND: wait this long, then acl_resume */
    int wait_verify;        /* with ACL_SUSPEND: a verify answer is awaited */
    struct acl_state *priv; /* private: resumption state (frames of nested ACLs) */
};

/* acl_run - evaluate acl for env; returns (and sets) res->rc. A NULL acl
 * ("not set") returns ACL_ACCEPT and does nothing: the caller applies its
 * own default. res must be zeroed or cleared. */
int acl_run(const struct acl *acl, struct acl_env *env, struct acl_result *res);
/* acl_resume - continue after ACL_SUSPEND (a delay counts as done; a
 * pending verify is asked again). acl must be the one given to acl_run. */
int acl_resume(const struct acl *acl, struct acl_env *env, struct acl_result *res);
/* acl_result_clear - free what res holds and zero it */
void acl_result_clear(struct acl_result *res);

/* acl_vars_new / _clear / _free - a set of acl_c_* or acl_m_* variables */
struct acl_vars *acl_vars_new(void);
void acl_vars_clear(struct acl_vars *v);
void acl_vars_free(struct acl_vars *v);
/* acl_vars_get - a variable's value ("acl_m_foo", "acl_c0"), or NULL if unset */
const char *acl_vars_get(const struct acl_vars *v, const char *name);

/* acl_find - the ACL named name in c's "begin acl" section, or NULL */
const struct acl *acl_find(const struct cfg *c, const char *name);
/* acl_name - its name ("accept"/"deny" for the built-in words) */
const char *acl_name(const struct acl *acl);
/* acl_rc_name - "accept", "deny", "defer", "drop", "discard", "error", "suspend" */
const char *acl_rc_name(int rc);

/* acl_local_domain - is domain in the local_domains option? 1, 0, or -1
 * when a lookup in the list could not be done */
int acl_local_domain(const struct cfg *c, const char *domain);

/* acl_exp_hook - the exp_ctx.acl callback for ${acl{NAME}{arg}...}: acl_arg
 * is a struct acl_env * (cfg set; its where is taken as ACL_WHERE_EXPAND,
 * and verify and delay are errors there). accept: EXP_OK with the ACL's
 * message ("" if none) in *out; deny: EXP_FAIL; defer: EXP_DEFER; others
 * EXP_ERROR with why in err. */
int acl_exp_hook(void *acl_arg, const char *name, char *const *args, int nargs, char **out,
                 char *err, size_t errlen);

#endif
