/*
 * dmarc.h - DMARC evaluation (RFC 7489; the DMARCbis DNS tree walk as an
 *           option), as pure functions with no DNS of their own.
 *
 * The evaluator never resolves anything. It is a small state machine that
 * asks its caller for DNS answers by name, so the SMTP server can drive it
 * from its event loop:
 *
 *     struct dmarc_ctx *c = dmarc_new(&opts);
 *     dmarc_set_from(c, from_domain);               (NULL: no usable From)
 *     dmarc_set_spf(c, mfrom_domain, DMARC_AUTH_PASS);
 *     dmarc_add_dkim(c, "example.com", "sel", DMARC_AUTH_PASS);
 *     while ((step = dmarc_step(c, &name)) != DMARC_STEP_DONE)
 *         step == DMARC_STEP_TXT    ? fetch TXT at name, dmarc_give_txt()
 *                                   : ask whether name exists (A, AAAA or
 *                                     MX), dmarc_give_exists()
 *     r = dmarc_result(c);
 *
 * dmarc_step() re-runs the whole evaluation over the answers given so far
 * (kept in the context, parsed once) and names the first one still
 * missing; nothing it returns is final until DMARC_STEP_DONE. pct sampling
 * draws its random number once, at that point.
 *
 * RFC 7489 mode (opts.tree_walk == 0): policy discovery per §6.6.3 -- the
 * record at _dmarc.<From domain>, else at _dmarc.<Organizational Domain>;
 * Organizational Domains from the public suffix list (libpsl, the file of
 * the dmarc_tld_file option; the implicit "*" rule makes unlisted TLDs such
 * as .test work). Records not starting with v=DMARC1 are ignored; several
 * DMARC records at one name end discovery (norecord); one whose tag-list is
 * broken (duplicate tags, bad syntax) or that lacks a valid p= (and has no
 * valid rua= to fall back to p=none, step 6) is no record either. sp= applies
 * when the record came from the Organizational Domain. pct= is applied:
 * a failing message outside the sample gets the next lower policy (§6.6.4).
 *
 * Tree-walk mode (DMARCbis): _dmarc.<From domain>, then each parent up to
 * the TLD, at most 8 queries (names over 8 labels jump to their last 7
 * after the first query); several records at one name are all discarded;
 * the first record found is the policy record; the Organizational Domain is
 * the name with a psd=n record, one label below a psd=y record, else the
 * record with the fewest labels, else the domain itself. np= applies to a
 * non-existent subdomain (the caller is asked whether it exists), t=y lowers
 * the policy one step, and pct= is ignored (DMARCbis removed it).
 *
 * Threads: a context belongs to one thread at a time. A loaded public suffix
 * list (struct dmarc_psl) is read-only and may be shared by every thread.
 * Memory: the context owns everything it returns; strings given to it are
 * copied.
 */
#ifndef SPATE_MAILAUTH_DMARC_H
#define SPATE_MAILAUTH_DMARC_H

#include <stddef.h>
#include <time.h>

#define DMARC_DOMAIN_MAX 256 /* a domain name and its NUL */
#define DMARC_URI_MAX 1024   /* an rua= or ruf= value and its NUL; longer: ignored */

/* ---- records (RFC 7489 §6.3, §6.4; DMARCbis np, psd, t) ---- */

enum dmarc_policy {
    DMARC_POLICY_UNSET = 0, /* not given (sp, np: inherit) */
    DMARC_POLICY_NONE,
    DMARC_POLICY_QUARANTINE,
    DMARC_POLICY_REJECT,
};

enum dmarc_align { DMARC_ALIGN_RELAXED = 0, DMARC_ALIGN_STRICT };

struct dmarc_record {
    enum dmarc_policy p;          /* never UNSET in a parsed record */
    enum dmarc_policy sp;         /* UNSET: as p */
    enum dmarc_policy np;         /* UNSET: as sp */
    int p_from_rua;               /* p was missing or invalid: p=none because rua= is valid */
    unsigned pct;                 /* 0..100, default 100; a bad value gives the default */
    enum dmarc_align adkim, aspf; /* default relaxed */
    char psd;                     /* 'y', 'n' or 'u' (default) */
    int testing;                  /* t=y */
    unsigned long ri;             /* seconds, default 86400 */
    char fo[16];                  /* default "0" */
    char rf[16];                  /* default "afrf" */
    char rua[DMARC_URI_MAX];      /* "" when absent or invalid */
    char ruf[DMARC_URI_MAX];
};

/* dmarc_record_parse results */
#define DMARC_REC_OK 0
#define DMARC_REC_NOT_DMARC (-1) /* does not start with v=DMARC1: not a DMARC record */
#define DMARC_REC_INVALID (-2)   /* a DMARC record that cannot be used (see above) */

/* dmarc_record_parse - parse one TXT record's text (its strings already
 * joined); text need not be NUL-terminated. Fills *out on DMARC_REC_OK. */
int dmarc_record_parse(const char *text, size_t len, struct dmarc_record *out);

/* dmarc_record_select results: what one name's TXT RRset holds */
#define DMARC_SEL_ONE 0     /* exactly one DMARC record, usable: *out filled */
#define DMARC_SEL_NONE 1    /* no record starting with v=DMARC1 */
#define DMARC_SEL_MANY 2    /* several DMARC records (§6.6.3 step 5) */
#define DMARC_SEL_INVALID 3 /* one DMARC record, unusable */

/* dmarc_record_select - §6.6.3 steps 2-6 over the n TXT texts of one name */
int dmarc_record_select(const char *const *txt, const size_t *len, size_t n,
                        struct dmarc_record *out);

/* dmarc_policy_word - "none", "quarantine", "reject"; "" for UNSET */
const char *dmarc_policy_word(enum dmarc_policy p);

/* ---- Organizational Domains (public suffix list through libpsl) ---- */

struct dmarc_psl; /* opaque; read-only once loaded, shareable between threads */

/* dmarc_psl_load - load a public suffix list file (text or DAFSA, as libpsl
 * reads). NULL on failure, with a message in err. */
struct dmarc_psl *dmarc_psl_load(const char *file, char *err, size_t errlen);
void dmarc_psl_free(struct dmarc_psl *psl);

/* dmarc_psl_org_domain - the Organizational Domain of domain (RFC 7489
 * §3.2): its registrable domain, or the domain itself when it is a public
 * suffix. Lower case into out. 0, or -1 when out is too small or domain bad. */
int dmarc_psl_org_domain(const struct dmarc_psl *psl, const char *domain, char *out, size_t outlen);

/* ---- the From domain (RFC 5322 §3.6.2, RFC 7489 §6.6.1) ---- */

/* dmarc_from_field_domain - the domain of the one address in a From field
 * value (folding allowed; display names, quoted strings, comments). Lower
 * case into out. 0, or -1 for none, several addresses, groups, a domain
 * literal, a bad domain, or out too small. */
int dmarc_from_field_domain(const char *value, size_t len, char *out, size_t outlen);

/* dmarc_from_domain - the same over a message's header section (it may run
 * on into the body: the scan stops at the first empty line). -1 when there
 * is no From field or more than one. */
int dmarc_from_domain(const char *headers, size_t len, char *out, size_t outlen);

/* ---- evaluation ---- */

/* SPF and DKIM outcomes as the caller's evaluators give them */
enum dmarc_auth {
    DMARC_AUTH_NONE = 0,
    DMARC_AUTH_PASS,
    DMARC_AUTH_FAIL,
    DMARC_AUTH_SOFTFAIL,
    DMARC_AUTH_NEUTRAL,
    DMARC_AUTH_TEMPERROR,
    DMARC_AUTH_PERMERROR,
};

/* the seed's dmarc_status words, in this order */
enum dmarc_status {
    DMARC_ST_ACCEPT = 0, /* aligned pass */
    DMARC_ST_REJECT,
    DMARC_ST_QUARANTINE,
    DMARC_ST_NONE, /* failed, policy none (or sampled down to none) */
    DMARC_ST_NORECORD,
    DMARC_ST_NOFROM,
    DMARC_ST_TEMPERROR, /* DNS failure during discovery */
    DMARC_ST_OFF,       /* dmarc_disable() */
};

/* dmarc_status_word - "accept", "reject", ... "off" */
const char *dmarc_status_word(enum dmarc_status s);

struct dmarc_opts {
    const struct dmarc_psl *psl; /* RFC 7489 mode: required */
    int tree_walk;               /* nonzero: DMARCbis tree walk, psl unused */
    /* pct sampling: a number in 0..99; NULL: arc4random_uniform(100) */
    unsigned (*rand100)(void *arg);
    void *rand_arg;
};

enum dmarc_dns {
    DMARC_DNS_OK = 0, /* an answer: TXT records (maybe none), or the name exists */
    DMARC_DNS_NXDOMAIN,
    DMARC_DNS_TEMPERROR, /* timeout, SERVFAIL: the result becomes temperror */
};

enum dmarc_step {
    DMARC_STEP_DONE = 0,
    DMARC_STEP_TXT,    /* give the TXT RRset of *name (_dmarc.<domain>) */
    DMARC_STEP_EXISTS, /* does *name have A, AAAA or MX? (np=, tree-walk mode) */
};

struct dmarc_result {
    enum dmarc_status status;
    int pass;                           /* DMARC pass: an aligned SPF or DKIM pass */
    int dkim_aligned;                   /* a passing DKIM signature aligned */
    int spf_aligned;                    /* the passing SPF identity aligned */
    int has_record;                     /* rec, policy and used_domain are set */
    struct dmarc_record rec;            /* the policy record */
    enum dmarc_policy policy;           /* the one that applied: p, sp or np (before pct, t) */
    int sampled_out;                    /* pct or t=y lowered the policy */
    char from_domain[DMARC_DOMAIN_MAX]; /* "" for nofrom */
    char used_domain[DMARC_DOMAIN_MAX]; /* where the record was found */
    char org_domain[DMARC_DOMAIN_MAX];  /* the From domain's Organizational Domain */
};

struct dmarc_ctx;

/* dmarc_new - a context for one message; opts is copied. NULL on ENOMEM. */
struct dmarc_ctx *dmarc_new(const struct dmarc_opts *opts);
void dmarc_free(struct dmarc_ctx *c);

/* dmarc_set_from - the RFC5322.From domain (NULL or invalid: nofrom). 0/-1 */
int dmarc_set_from(struct dmarc_ctx *c, const char *domain);
/* dmarc_set_spf - the domain SPF checked (MAIL FROM, or HELO for <>) and its
 * result. 0, -1 for a bad domain. */
int dmarc_set_spf(struct dmarc_ctx *c, const char *domain, enum dmarc_auth result);
/* dmarc_add_dkim - one DKIM signature's d=, s= and result; at most 16 are
 * kept (later ones: -1). */
int dmarc_add_dkim(struct dmarc_ctx *c, const char *d, const char *selector,
                   enum dmarc_auth result);
/* dmarc_disable - control = dmarc_disable_verify: the result is "off" */
void dmarc_disable(struct dmarc_ctx *c);

/* dmarc_step - run the evaluation; DONE, or a question about *name (owned by
 * the context, valid until the next call). */
enum dmarc_step dmarc_step(struct dmarc_ctx *c, const char **name);
/* dmarc_give_txt - the answer to DMARC_STEP_TXT for name: rc and, for
 * DMARC_DNS_OK, the n TXT texts (strings of one record joined). 0, -1 when
 * the context is full (64 answers): the result becomes temperror. */
int dmarc_give_txt(struct dmarc_ctx *c, const char *name, enum dmarc_dns rc, const char *const *txt,
                   const size_t *len, size_t n);
/* dmarc_give_exists - the answer to DMARC_STEP_EXISTS: OK exists, NXDOMAIN
 * not, TEMPERROR unknown (treated as existing). 0 or -1 as above. */
int dmarc_give_exists(struct dmarc_ctx *c, const char *name, enum dmarc_dns rc);

/* dmarc_result - the outcome; meaningful once dmarc_step returned DONE */
const struct dmarc_result *dmarc_result(const struct dmarc_ctx *c);

/* ---- what the outcome is shown as (dmarc_report.c) ---- */

/* dmarc_status_text - $dmarc_status_text: "Accept", "Reject", ... */
const char *dmarc_status_text(const struct dmarc_result *r);
/* dmarc_ar_result - the RFC 8601 dmarc= word: pass, fail, none, temperror,
 * permerror (nofrom); NULL for off */
const char *dmarc_ar_result(const struct dmarc_result *r);
/* dmarc_ar_header - $dmarc_ar_header: one line, no CRLF,
 * "Authentication-Results: ID; dmarc=fail (p=reject dis=quarantine)
 * header.from=example.com"; "" for off. Returns the length, or -1 when it
 * does not fit in len. */
int dmarc_ar_header(const struct dmarc_result *r, const char *authserv_id, char *buf, size_t len);

/* what the history record needs beyond the evaluation */
struct dmarc_hist_in {
    const char *job;      /* the message id */
    const char *reporter; /* primary_hostname */
    time_t received;
    const char *ipaddr; /* the client's address */
    const char *mfrom;  /* the envelope sender's domain ("" for <>) */
};

/* dmarc_history - one message's entry of an OpenDMARC history file (the
 * lines opendmarc-import reads: job, reporter, received, ipaddr, from,
 * mfrom, spf, dkim, pdomain, policy, rua, pct, adkim, aspf, p, sp,
 * align_dkim, align_spf, action), with OpenDMARC's numeric codes. Written
 * only for a message with a record (has_record); -1 otherwise, or when it
 * does not fit. Returns the length. */
int dmarc_history(const struct dmarc_ctx *c, const struct dmarc_hist_in *in, char *buf, size_t len);

#endif
