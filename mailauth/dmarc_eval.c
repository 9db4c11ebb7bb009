/*
 * dmarc_eval.c - DMARC evaluation over the answers given so far: policy
 *                discovery (RFC 7489 §6.6.3, or the DMARCbis tree walk),
 *                identifier alignment (§3.1), policy selection (p, sp, np)
 *                and sampling (pct §6.6.4, or DMARCbis t=y).
 *
 * Each function returns 0 when done, NEED when an answer is missing (the
 * question is then in c->need) or TEMP after a DNS temporary failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailauth/dmarc_int.h"

#define NEED 1
#define TEMP (-1)

/* what discovery found */
struct found {
    const struct dmarc_record *rec; /* NULL: no record */
    char at[DMARC_DOMAIN_MAX];      /* where */
    char org[DMARC_DOMAIN_MAX];     /* the From domain's Organizational Domain */
};

/* the records of one tree walk, longest name first */
struct walk {
    const char *name[DMARC__WALK_MAX];
    const struct dmarc_record *rec[DMARC__WALK_MAX];
    size_t n;
};

/* ask - the answer of that kind for dom, or NEED with the question set */
static int
ask(struct dmarc_ctx *c, enum dmarc_step kind, const char *dom, const struct dmarc__ans **a)
{
    char name[DMARC__NAME_MAX];

    snprintf(name, sizeof(name), "%s%s", kind == DMARC_STEP_TXT ? "_dmarc." : "", dom);
    if ((*a = dmarc__find(c, kind, name)) != NULL)
        return kind == DMARC_STEP_TXT && (*a)->rc == DMARC_DNS_TEMPERROR ? TEMP : 0;
    strcpy(c->need, name);
    c->need_kind = kind;
    return NEED;
}

/* take - keep the record of answer a, found at dom */
static void
take(struct found *f, const struct dmarc__ans *a, const char *dom)
{
    if (a->sel != DMARC_SEL_ONE)
        return; /* several, or one unusable: no DMARC for this message */
    f->rec = a->rec;
    snprintf(f->at, sizeof(f->at), "%s", dom);
}

/* discover_psl - RFC 7489 §6.6.3: the From domain, else its Org Domain */
static int
discover_psl(struct dmarc_ctx *c, struct found *f)
{
    const struct dmarc__ans *a;
    int rc;

    if (dmarc_psl_org_domain(c->o.psl, c->from, f->org, sizeof(f->org)) < 0)
        strcpy(f->org, c->from); /* no list: no fallback */
    if ((rc = ask(c, DMARC_STEP_TXT, c->from, &a)) != 0)
        return rc;
    if (a->sel != DMARC_SEL_NONE || strcmp(f->org, c->from) == 0) {
        take(f, a, c->from);
        return 0;
    }
    if ((rc = ask(c, DMARC_STEP_TXT, f->org, &a)) != 0)
        return rc;
    take(f, a, f->org);
    return 0;
}

/* labels - how many labels dom has */
static size_t
labels(const char *dom)
{
    size_t n = 1;

    for (; *dom; dom++)
        n += *dom == '.';
    return n;
}

/* suffix - the last k labels of dom (k <= labels(dom)) */
static const char *
suffix(const char *dom, size_t k)
{
    size_t skip = labels(dom) - k;

    while (skip-- > 0)
        dom = strchr(dom, '.') + 1;
    return dom;
}

/* walk_names - DMARCbis: dom, then its parents; over 8 labels, dom then
 * its last 7; at most 8 names */
static size_t
walk_names(const char *dom, const char *names[DMARC__WALK_MAX])
{
    size_t nl = labels(dom), n = 0;

    names[n++] = dom;
    if (nl > DMARC__WALK_MAX) {
        nl = DMARC__WALK_MAX - 1;
        names[n++] = dom = suffix(dom, nl);
    }
    while (nl > 1 && n < DMARC__WALK_MAX) {
        dom = strchr(dom, '.') + 1;
        nl--;
        names[n++] = dom;
    }
    return n;
}

/* walk_do - the whole walk from dom; several records at a name are dropped */
static int
walk_do(struct dmarc_ctx *c, const char *dom, struct walk *w)
{
    const char *names[DMARC__WALK_MAX];
    const struct dmarc__ans *a;
    size_t n = walk_names(dom, names), i;
    int rc;

    w->n = 0;
    for (i = 0; i < n; i++) {
        if ((rc = ask(c, DMARC_STEP_TXT, names[i], &a)) != 0)
            return rc;
        if (a->sel == DMARC_SEL_ONE) {
            w->name[w->n] = names[i];
            w->rec[w->n++] = a->rec;
        }
    }
    return 0;
}

/* walk_org - DMARCbis Organizational Domain of dom from its walk */
static void
walk_org(const char *dom, const struct walk *w, char *org)
{
    const char *o = w->n > 0 ? w->name[w->n - 1] : dom; /* fewest labels */
    size_t i;

    for (i = 0; i < w->n; i++) {
        if (w->rec[i]->psd == 'n') {
            o = w->name[i];
            break;
        }
        if (w->rec[i]->psd == 'y') {
            o = w->name[i] == dom ? dom : suffix(dom, labels(w->name[i]) + 1);
            break;
        }
    }
    snprintf(org, DMARC_DOMAIN_MAX, "%s", o);
}

/* discover_walk - DMARCbis: the first record of the From domain's walk */
static int
discover_walk(struct dmarc_ctx *c, struct found *f)
{
    struct walk w;
    int rc = walk_do(c, c->from, &w);

    if (rc != 0)
        return rc;
    walk_org(c->from, &w, f->org);
    if (w.n > 0) {
        f->rec = w.rec[0];
        snprintf(f->at, sizeof(f->at), "%s", w.name[0]);
    }
    return 0;
}

/* under - is x equal to or below org? */
static int
under(const char *x, const char *org)
{
    size_t lx = strlen(x), lo = strlen(org);

    if (lx == lo)
        return strcmp(x, org) == 0;
    return lx > lo && x[lx - lo - 1] == '.' && strcmp(x + lx - lo, org) == 0;
}

/* relaxed - do x and the From domain share an Organizational Domain? */
static int
relaxed(struct dmarc_ctx *c, const char *x, const char *org, int *ok)
{
    char xorg[DMARC_DOMAIN_MAX];
    struct walk w;
    int rc;

    *ok = 0;
    if (strcmp(x, c->from) == 0) {
        *ok = 1;
        return 0;
    }
    if (!c->o.tree_walk) {
        *ok = dmarc_psl_org_domain(c->o.psl, x, xorg, sizeof(xorg)) == 0 && strcmp(xorg, org) == 0;
        return 0;
    }
    if (!under(x, org))
        return 0; /* its walk cannot end at org */
    if ((rc = walk_do(c, x, &w)) != 0)
        return rc;
    walk_org(x, &w, xorg);
    *ok = strcmp(xorg, org) == 0;
    return 0;
}

/* aligned - x against the From domain in mode a */
static int
aligned(struct dmarc_ctx *c, const char *x, enum dmarc_align a, const char *org, int *ok)
{
    if (a == DMARC_ALIGN_STRICT) {
        *ok = strcmp(x, c->from) == 0;
        return 0;
    }
    return relaxed(c, x, org, ok);
}

/* align_all - §3.1: any passing DKIM d= aligned; the passing SPF domain */
static int
align_all(struct dmarc_ctx *c, const struct found *f)
{
    struct dmarc_result *r = &c->res;
    size_t i;
    int rc, ok;

    for (i = 0; i < c->ndkim && !r->dkim_aligned; i++) {
        if (c->dkim[i].result != DMARC_AUTH_PASS)
            continue;
        if ((rc = aligned(c, c->dkim[i].d, f->rec->adkim, f->org, &ok)) != 0)
            return rc;
        r->dkim_aligned = ok;
    }
    if (c->spf == DMARC_AUTH_PASS && c->spf_domain[0] != '\0') {
        if ((rc = aligned(c, c->spf_domain, f->rec->aspf, f->org, &ok)) != 0)
            return rc;
        r->spf_aligned = ok;
    }
    r->pass = r->dkim_aligned || r->spf_aligned;
    return 0;
}

/* pick_policy - p for the record's own domain; sp below it; np (DMARCbis)
 * for a From domain that does not exist */
static int
pick_policy(struct dmarc_ctx *c, const struct found *f)
{
    const struct dmarc_record *rec = f->rec;
    const struct dmarc__ans *a;
    int rc;

    c->res.policy = rec->p;
    if (strcmp(f->at, c->from) == 0)
        return 0;
    if (rec->sp != DMARC_POLICY_UNSET)
        c->res.policy = rec->sp;
    if (!c->o.tree_walk || rec->np == DMARC_POLICY_UNSET || c->res.pass)
        return 0;
    if ((rc = ask(c, DMARC_STEP_EXISTS, c->from, &a)) != 0)
        return rc;
    if (a->rc == DMARC_DNS_NXDOMAIN)
        c->res.policy = rec->np;
    return 0;
}

/* lower - the next lower policy (§6.6.4) */
static enum dmarc_policy
lower(enum dmarc_policy p)
{
    return p == DMARC_POLICY_REJECT ? DMARC_POLICY_QUARANTINE : DMARC_POLICY_NONE;
}

/* sample - pct (RFC 7489) or t=y (DMARCbis): the policy to act on */
static enum dmarc_policy
sample(struct dmarc_ctx *c, enum dmarc_policy p)
{
    const struct dmarc_record *rec = &c->res.rec;
    int out;

    if (c->o.tree_walk) {
        out = rec->testing;
    } else if (rec->pct >= 100) {
        out = 0;
    } else {
        unsigned r = c->o.rand100 ? c->o.rand100(c->o.rand_arg) : arc4random_uniform(100);
        out = r % 100 >= rec->pct;
    }
    c->res.sampled_out = out && p != DMARC_POLICY_NONE;
    return out ? lower(p) : p;
}

/* finish - the status word from alignment and the sampled policy */
static void
finish(struct dmarc_ctx *c)
{
    enum dmarc_policy p;

    if (c->res.pass) {
        c->res.status = DMARC_ST_ACCEPT;
        return;
    }
    p = sample(c, c->res.policy);
    c->res.status = p == DMARC_POLICY_REJECT       ? DMARC_ST_REJECT
                    : p == DMARC_POLICY_QUARANTINE ? DMARC_ST_QUARANTINE
                                                   : DMARC_ST_NONE;
}

/* evaluate - the whole evaluation; 0 with c->res set, or NEED */
static int
evaluate(struct dmarc_ctx *c)
{
    struct dmarc_result *r = &c->res;
    struct found f = {NULL, "", ""};
    int rc;

    memset(r, 0, sizeof(*r));
    r->status = c->disabled ? DMARC_ST_OFF : DMARC_ST_NOFROM;
    if (c->disabled || !c->have_from)
        return 0;
    strcpy(r->from_domain, c->from);
    r->status = DMARC_ST_TEMPERROR;
    rc = c->overflow ? TEMP : c->o.tree_walk ? discover_walk(c, &f) : discover_psl(c, &f);
    if (rc == 0) {
        strcpy(r->org_domain, f.org);
        r->status = DMARC_ST_NORECORD;
        if (f.rec == NULL)
            return 0;
        r->has_record = 1;
        r->rec = *f.rec;
        strcpy(r->used_domain, f.at);
        if ((rc = align_all(c, &f)) == 0)
            rc = pick_policy(c, &f);
    }
    if (rc == NEED)
        return NEED;
    if (rc == TEMP) {
        r->status = DMARC_ST_TEMPERROR;
        return 0;
    }
    finish(c);
    return 0;
}

enum dmarc_step
dmarc_step(struct dmarc_ctx *c, const char **name)
{
    if (!c->done && evaluate(c) == NEED) {
        if (name != NULL)
            *name = c->need;
        return c->need_kind;
    }
    c->done = 1;
    return DMARC_STEP_DONE;
}
