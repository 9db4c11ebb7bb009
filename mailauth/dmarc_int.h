/*
 * dmarc_int.h - what the files of the DMARC evaluator share: the context
 *               behind struct dmarc_ctx and its answer cache. Not for use
 *               outside mailauth/dmarc*.c.
 */
#ifndef SPATE_MAILAUTH_DMARC_INT_H
#define SPATE_MAILAUTH_DMARC_INT_H

#include "mailauth/dmarc.h"

#define DMARC__ANS_MAX 64 /* answers one message may need */
#define DMARC__DKIM_MAX 16
#define DMARC__NAME_MAX (DMARC_DOMAIN_MAX + 8) /* "_dmarc." + domain */
#define DMARC__WALK_MAX 8                      /* DMARCbis: queries per walk */

/* one answer the caller gave */
struct dmarc__ans {
    char name[DMARC__NAME_MAX];
    enum dmarc_step kind; /* DMARC_STEP_TXT or DMARC_STEP_EXISTS */
    enum dmarc_dns rc;
    int sel;                  /* DMARC_SEL_*: NONE for NXDOMAIN */
    struct dmarc_record *rec; /* owned; set for DMARC_SEL_ONE */
};

struct dmarc__dkim {
    char d[DMARC_DOMAIN_MAX];
    char s[64];
    enum dmarc_auth result;
};

struct dmarc_ctx {
    struct dmarc_opts o;
    int disabled, have_from, done, overflow;
    char from[DMARC_DOMAIN_MAX];
    char spf_domain[DMARC_DOMAIN_MAX];
    enum dmarc_auth spf;
    struct dmarc__dkim dkim[DMARC__DKIM_MAX];
    size_t ndkim;
    struct dmarc__ans ans[DMARC__ANS_MAX];
    size_t nans;
    char need[DMARC__NAME_MAX]; /* the name of the pending question */
    enum dmarc_step need_kind;
    struct dmarc_result res;
};

/* dmarc__find - the answer of that kind for name (the full query name), or
 * NULL when not given yet */
const struct dmarc__ans *dmarc__find(const struct dmarc_ctx *c, enum dmarc_step kind,
                                     const char *name);

/* dmarc__domain_copy - validate and lower-case a domain name into out
 * (DMARC_DOMAIN_MAX); a trailing dot is dropped. 0 or -1. */
int dmarc__domain_copy(const char *domain, char *out);

#endif
