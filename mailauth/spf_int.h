/*
 * spf_int.h - private to mailauth/spf*.c: the parsed record, the macro
 *             values, the answer memo and one evaluation run.
 */
#ifndef SPATE_MAILAUTH_SPF_INT_H
#define SPATE_MAILAUTH_SPF_INT_H

#include <stddef.h>
#include <stdint.h>

#include "mailauth/spf.h"

#define SPF__DOMAIN_MAX 253
#define SPF__TEXT_MAX 2048 /* expanded macro-strings and explanations */
#define SPF__MAX_DEPTH 20  /* nested include/redirect (the lookup limit stops sooner) */

enum spf__mech {
    SPF__ALL,
    SPF__INCLUDE,
    SPF__A,
    SPF__MX,
    SPF__PTR,
    SPF__IP4,
    SPF__IP6,
    SPF__EXISTS
};

/* one mechanism of a record; spec points into the record's copy */
struct spf__term {
    int mech;         /* enum spf__mech */
    int qual;         /* SPF_RESULT_PASS/FAIL/SOFTFAIL/NEUTRAL */
    const char *spec; /* domain-spec or NULL */
    size_t speclen;
    int cidr4, cidr6; /* prefix lengths (32 / 128 when absent) */
    uint8_t net[16];  /* ip4 / ip6 network */
    const char *text; /* the term as written, for spf_reason */
    size_t textlen;
};

struct spf__record {
    char *buf; /* a copy of the record text */
    struct spf__term *t;
    size_t n;
    const char *redirect, *exp; /* macro-strings (NUL-terminated in buf) or NULL */
};

/* spf__record_parse - parse rec (starting "v=spf1"); 0, or -1 with why */
int spf__record_parse(const char *rec, size_t len, struct spf__record *out, char *err,
                      size_t errlen);
void spf__record_free(struct spf__record *r);
/* spf__is_spf1 - does a TXT record select as SPF (§4.5)? */
int spf__is_spf1(const char *txt, size_t len);

/* macro values (§7.3); NULL p means "not needed yet / not known" */
struct spf__mvals {
    const char *s, *l, *o, *d, *i, *p, *h, *c, *r, *t, *v;
};
/* spf__macro_expand - expand in[0..len) (exp: explain-string, c r t and
 * spaces allowed); 0, -1 on a syntax error, 1 when %{p} is needed and
 * m->p is NULL */
int spf__macro_expand(const struct spf__mvals *m, const char *in, size_t len, int exp, char *out,
                      size_t outlen);
/* spf__macro_valid - syntax check alone (no values); 0 or -1 */
int spf__macro_valid(const char *in, size_t len, int exp);
/* spf__domain_spec_valid - §7.1 domain-spec: macro-string ending in a
 * macro-expand or "." toplabel ["."]; 0 or -1 */
int spf__domain_spec_valid(const char *in, size_t len);
/* spf__name_ok - can the name be queried (labels 1..63, total <= 253)? */
int spf__name_ok(const char *name);

/* a remembered answer */
struct spf__memo {
    char *name;
    int type, status;
    size_t n;
    struct spf_rr *rr; /* text copied (NUL-terminated) */
};

struct spf_ctx {
    /* request */
    int fam; /* 4 or 6 */
    uint8_t ip[16];
    char ipstr[64];  /* %{c} */
    char inaddr[80]; /* %{i}: dotted v4 or nibbles */
    char *sender, *helo, *receiver, *default_exp, *domain, *local;
    unsigned max_lookups, max_void;
    char tstamp[24];
    /* answers */
    struct spf__memo *memo;
    size_t nmemo, cap;
    char qname[SPF__DOMAIN_MAX + 2];
    int qtype;
    /* the outcome */
    int done;
    enum spf_result result;
    char *exp, *reason, *hdr_comment, *smtp_comment, *received;
    int identity_helo; /* checking the HELO identity */
};

/* one run of check_host from the start */
struct spf__run {
    struct spf_ctx *c;
    unsigned lookups, voids;
    int depth;
    char reason[512];
    char exp[SPF__TEXT_MAX];
    int have_exp;
};

#define SPF__PENDING (-2)
#define SPF__NOMATCH (-3)

/* spf__lookup - the memoised answer for (name, type), or NULL with the query
 * recorded in the context (the run must stop: SPF__PENDING) */
const struct spf__memo *spf__lookup(struct spf__run *r, const char *name, int type);
/* spf__check_host - RFC 7208 §4 for domain; an spf_result or SPF__PENDING */
int spf__check_host(struct spf__run *r, const char *domain, int want_exp);
/* spf__pvalue - the validated name of the client (%{p}); 0, or SPF__PENDING */
int spf__pvalue(struct spf__run *r, const char *domain, char *out, size_t outlen);
/* spf__ptr_names - validated PTR names (ptr mechanism, %{p}); count of names
 * set in names[] (max 10) or SPF__PENDING; temp errors count as no names */
int spf__ptr_names(struct spf__run *r, char names[][SPF__DOMAIN_MAX + 2]);
/* spf__comments - fill the header/SMTP comments and Received-SPF */
void spf__comments(struct spf_ctx *c);

#endif
