/*
 * expand.h - expansion strings: the Exim-compatible subset of SPEC §5,
 *            compiled once (at configuration load) and evaluated per use.
 *
 * Language
 *   text          copied as written
 *   \c            escapes: \\ \$ \{ \} and any other non-alphanumeric
 *                 character stand for themselves; \n \r \t; \xHH (hex);
 *                 \ooo (one to three octal digits); \N...\N copies the text
 *                 between the markers without expanding it (for regexes)
 *   $name ${name} a variable (letters, digits, '_'); $0..$9 are the captures
 *                 of the innermost successful "match" (empty otherwise);
 *                 $value is the lookup result inside a lookup's branches.
 *                 Other names are asked of exp_ctx.var; a name it does not
 *                 know (NULL) is an error naming the variable.
 *   ${if COND {yes}{no}}
 *                 the no-branch is optional (empty); the word "fail" in its
 *                 place forces failure when COND is false; with neither
 *                 branch the result is "true" or "". Captures of a "match"
 *                 in COND are visible in the branches and restored after.
 *   COND          eq {a}{b}, eqi {a}{b} (case-insensitive), = == < > <= >=
 *                 {a}{b} (integers with optional K/M/G suffix), match
 *                 {subject}{regex} (PCRE2; a constant regex is compiled at
 *                 exp_compile), def:name (the variable is non-empty; the
 *                 '$' is optional), bool {x} (true/yes/non-zero integer,
 *                 false/no/0/empty, anything else an error), and {{c1}{c2}..}
 *                 and or {{c1}{c2}..} (short-circuit, left to right), true,
 *                 false, and !COND.
 *                 crypteq {password}{hash}: Exim's password check (hash
 *                 forms and rules in conf/auth.h).
 *   ${lc:s} ${uc:s}
 *   ${quote_redis:s}
 *                 a backslash before every white-space character and every
 *                 backslash, so that s stays one argument of a Redis command
 *   ${lookup TYPE{query}...}         query-style lookups (redis)
 *   ${lookup{key}TYPE{file}...}      single-key lookups (lmdb)
 *                 followed by nothing (the value, or "" when not found),
 *                 {yes} (with $value; "" when not found), {yes}{no}, or
 *                 {yes}fail / fail (not found forces failure). A lookup that
 *                 cannot be done (Redis down, missing file) defers.
 *   ${certextract{FIELD}{CERT}...}
 *                 a field of the certificate CERT, given in PEM (the value of
 *                 $tls_out_peercert: certificates travel as text, so conf/
 *                 needs nothing of tls/; expand_cert.c parses them with
 *                 OpenSSL). FIELD: subject, issuer (RFC 2253 text), notbefore,
 *                 notafter ("Jan  2 03:04:05 2026 GMT"), serial_number (upper-
 *                 case hex), subj_altname ("DNS=a\nMAIL=b\nIP=c\nURI=d", one
 *                 per line), version ("3" for v3), sig_algorithm (OpenSSL's
 *                 long name, "ecdsa-with-SHA256"). A constant unknown FIELD is
 *                 a syntax error, an expanded one an evaluation error, as is
 *                 a CERT that is not a PEM certificate. Branches as for a
 *                 lookup: nothing (the field), {yes} with $value, {yes}{no},
 *                 fail; the "not found" side applies when CERT is "" (no
 *                 certificate: clear text).
 *   ${acl{name}{arg}...}
 *                 runs the named ACL with $acl_arg1.. set (up to nine
 *                 arguments) through exp_ctx.acl: its message is the
 *                 value on accept, deny forces failure, defer defers;
 *                 without exp_ctx.acl it is an error.
 *
 * Errors
 *   exp_compile() reports "column N: why" (N counts bytes from 1 in src); the
 *   configuration loader prefixes the option name and file:line. exp_eval()
 *   separates forced failure (EXP_FAIL: "fail", or a lookup miss with fail),
 *   a lookup that could not be done (EXP_DEFER: try again later) and other
 *   errors (EXP_ERROR: a non-number in a comparison, an unknown variable, a
 *   bad regex, an ACL). For DEFER and ERROR a message is written to ctx->err.
 *
 * Thread rules
 *   A compiled struct exp_str is immutable and may be evaluated by any number
 *   of threads at once. Evaluation allocates only its own result and
 *   temporaries. Lookups run in the calling thread and may block it for at
 *   most the lookup's timeouts (see lookup.h).
 */
#ifndef SPATE_CONF_EXPAND_H
#define SPATE_CONF_EXPAND_H

#include <stddef.h>

enum exp_rc {
    EXP_OK = 0,     /* *out is the result */
    EXP_FAIL = 1,   /* forced failure ("fail", or a lookup miss with fail) */
    EXP_DEFER = -1, /* a lookup could not be done now; try again later */
    EXP_ERROR = -2, /* anything else; message in ctx->err */
};

/* exp_ctx.flags */
#define EXP_F_NO_LOOKUPS 0x1 /* lookups are an error (fuzzing, -bt tests) */

/* What an evaluation may ask of its caller. */
struct exp_ctx {
    /* var - the value of a variable, "" when it exists but is unset; NULL when
     * no such variable exists (an error). The string must stay valid until
     * exp_eval() returns. May be NULL: then only $value and $0..$9 exist. */
    const char *(*var)(void *arg, const char *name);
    void *arg;
    char *err; /* caller's buffer for the message of EXP_DEFER / EXP_ERROR; may be NULL */
    size_t errlen;
    unsigned flags; /* EXP_F_* */
    /* acl - evaluates ${acl{name}{arg}...} (conf/acl.h's acl_exp_hook): an
     * enum exp_rc, with *out malloc'd on EXP_OK and err set for DEFER/ERROR.
     * NULL: ${acl} is an error. */
    int (*acl)(void *acl_arg, const char *name, char *const *args, int nargs, char **out, char *err,
               size_t errlen);
    void *acl_arg;
};

struct exp_str; /* opaque compiled form */

/* exp_compile - parse src into its compiled form; NULL with "column N: why"
 * in err on a syntax error (or "out of memory"). */
struct exp_str *exp_compile(const char *src, char *err, size_t errlen);
/* exp_free - release a compiled string (NULL is fine) */
void exp_free(struct exp_str *e);
/* exp_source - the text the string was compiled from */
const char *exp_source(const struct exp_str *e);
/* exp_is_constant - 1 when the string contains no expansion items (its
 * value is its source with escapes applied), 0 otherwise */
int exp_is_constant(const struct exp_str *e);

/* exp_eval - evaluate; EXP_OK with *out a malloc'd NUL-terminated result
 * (the caller frees it); otherwise *out is NULL and, for EXP_DEFER and
 * EXP_ERROR, ctx->err says why. */
int exp_eval(const struct exp_str *e, const struct exp_ctx *ctx, char **out);

/* exp_rc_name - "ok", "forced failure", "defer", "error" */
const char *exp_rc_name(int rc);

#endif
