/*
 * spf_eval.c - check_host() (RFC 7208 §4, §5, §6): record lookup and
 *              selection, mechanisms left to right, redirect, exp, and the
 *              processing limits of §4.6.4.
 *
 * Description
 *   Runs against the answers memoised in the context (spf_ctx.c); a query
 *   with no answer yet stops the run with SPF__PENDING, and spf_step() runs
 *   it again from the start once the answer is in. Lookup and void counts
 *   are per run, so the replay counts them exactly as one run would.
 *   A mechanism yields SPF__NOMATCH, a qualifier's result on a match, or an
 *   error result (temperror, permerror) that ends the evaluation.
 *   A target name that cannot be queried (an empty or over-long label after
 *   macro expansion) does not match (the suite accepts fail or permerror).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mailauth/spf_int.h"

#define MAX_MX_NAMES 10

/* why - note the reason of a result and return it */
static int
why(struct spf__run *r, int res, const char *fmt, const char *a, size_t alen)
{
    snprintf(r->reason, sizeof r->reason, fmt, (int)alen, a);
    return res;
}

/* mvals - the macro values for the current domain */
static void
mvals(struct spf__run *r, const char *domain, struct spf__mvals *m)
{
    struct spf_ctx *c = r->c;
    memset(m, 0, sizeof *m);
    m->s = c->sender, m->l = c->local, m->o = c->domain, m->d = domain;
    m->i = c->inaddr, m->h = c->helo, m->c = c->ipstr;
    m->r = c->receiver, m->t = c->tstamp, m->v = c->fam == 4 ? "in-addr" : "ip6";
}

/* expand - a macro-string for domain, fetching %{p} when used; 0, -1 or
 * SPF__PENDING */
static int
expand(struct spf__run *r, const char *domain, const char *in, size_t len, int exp, char *out,
       size_t outlen)
{
    struct spf__mvals m;
    char pname[SPF__DOMAIN_MAX + 2];
    mvals(r, domain, &m);
    int rc = spf__macro_expand(&m, in, len, exp, out, outlen);
    if (rc == 1) { /* %{p}: validate the client's PTR names (§7.3) */
        rc = spf__pvalue(r, domain, pname, sizeof pname);
        if (rc == SPF__PENDING)
            return rc;
        m.p = pname;
        rc = spf__macro_expand(&m, in, len, exp, out, outlen);
    }
    return rc == 0 ? 0 : -1;
}

/* target - the domain a term names (its expanded spec, or domain), cut to
 * 253 octets from the left (§4.8); 0, -1 or SPF__PENDING */
static int
target(struct spf__run *r, const char *domain, const char *spec, size_t len, char *out,
       size_t outlen)
{
    char buf[SPF__TEXT_MAX];
    if (spec == NULL) {
        snprintf(out, outlen, "%s", domain);
        return 0;
    }
    int rc = expand(r, domain, spec, len, 0, buf, sizeof buf);
    if (rc != 0)
        return rc;
    size_t n = strlen(buf);
    if (n > 0 && buf[n - 1] == '.')
        buf[--n] = '\0';
    const char *p = buf;
    while (strlen(p) > SPF__DOMAIN_MAX && strchr(p, '.') != NULL)
        p = strchr(p, '.') + 1;
    snprintf(out, outlen, "%s", p);
    return 0;
}

/* count - one more DNS-querying term; SPF__NOMATCH or a permerror */
static int
count(struct spf__run *r)
{
    if (++r->lookups > r->c->max_lookups)
        return why(r, SPF_RESULT_PERMERROR, "%.*stoo many DNS lookups", "", 0);
    return SPF__NOMATCH;
}

/* answer - look name/type up: the memo, SPF__PENDING, a temperror, or NULL
 * for a void answer (counted; a permerror past the limit in *err) */
static int
answer(struct spf__run *r, const char *name, int type, const struct spf__memo **out,
       int void_counts)
{
    const struct spf__memo *m = spf__lookup(r, name, type);
    *out = NULL;
    if (m == NULL)
        return SPF__PENDING;
    if (m->status == SPF_DNS_TEMP)
        return why(r, SPF_RESULT_TEMPERROR, "DNS lookup of %.*s failed", name, strlen(name));
    if (m->status == SPF_DNS_OK && m->n > 0) {
        *out = m;
        return SPF__NOMATCH;
    }
    if (void_counts && ++r->voids > r->c->max_void)
        return why(r, SPF_RESULT_PERMERROR, "%.*stoo many void DNS lookups", "", 0);
    return SPF__NOMATCH;
}

/* in_net - does addr (family fam) fall in net/bits? */
static int
in_net(const uint8_t *addr, const uint8_t *net, int bits)
{
    int full = bits / 8, rest = bits % 8;
    if (memcmp(addr, net, (size_t)full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (addr[full] & mask) == (net[full] & mask);
}

/* addr_match - any A/AAAA record of name within the term's CIDR? */
static int
addr_match(struct spf__run *r, const char *name, const struct spf__term *t, int void_counts)
{
    const struct spf__memo *m;
    struct spf_ctx *c = r->c;
    if (!spf__name_ok(name))
        return SPF__NOMATCH;
    int rc = answer(r, name, c->fam == 4 ? SPF_QT_A : SPF_QT_AAAA, &m, void_counts);
    if (m == NULL)
        return rc;
    for (size_t i = 0; i < m->n; i++)
        if (in_net(c->ip, m->rr[i].addr, c->fam == 4 ? t->cidr4 : t->cidr6))
            return SPF_RESULT_PASS; /* "matched": the caller applies the qualifier */
    return SPF__NOMATCH;
}

/* mech_mx - §5.4 */
static int
mech_mx(struct spf__run *r, const char *name, const struct spf__term *t)
{
    const struct spf__memo *m;
    if (!spf__name_ok(name))
        return SPF__NOMATCH;
    int rc = answer(r, name, SPF_QT_MX, &m, 1);
    if (m == NULL)
        return rc;
    if (m->n > MAX_MX_NAMES)
        return why(r, SPF_RESULT_PERMERROR, "more than 10 MX names for %.*s", name, strlen(name));
    for (size_t i = 0; i < m->n; i++) {
        if (m->rr[i].text == NULL || m->rr[i].text[0] == '\0')
            continue;
        rc = addr_match(r, m->rr[i].text, t, 0);
        if (rc != SPF__NOMATCH)
            return rc;
    }
    return SPF__NOMATCH;
}

/* name_under - is name domain or a subdomain of it? */
static int
name_under(const char *name, const char *domain)
{
    size_t n = strlen(name), d = strlen(domain);
    if (n > 0 && name[n - 1] == '.')
        n--;
    if (d > 0 && domain[d - 1] == '.')
        d--;
    if (n == d)
        return strncasecmp(name, domain, n) == 0;
    return n > d && name[n - d - 1] == '.' && strncasecmp(name + n - d, domain, d) == 0;
}

/* mech_ptr - §5.5 */
static int
mech_ptr(struct spf__run *r, const char *name)
{
    char names[10][SPF__DOMAIN_MAX + 2];
    int n = spf__ptr_names(r, names);
    if (n < 0)
        return n;
    for (int i = 0; i < n; i++)
        if (name_under(names[i], name))
            return SPF_RESULT_PASS;
    return SPF__NOMATCH;
}

/* mech_include - §5.2 */
static int
mech_include(struct spf__run *r, const char *name)
{
    int res = spf__check_host(r, name, 0);
    switch (res) {
    case SPF__PENDING:
    case SPF_RESULT_TEMPERROR:
    case SPF_RESULT_PERMERROR:
        return res;
    case SPF_RESULT_PASS:
        return SPF_RESULT_PASS;
    case SPF_RESULT_NONE:
        return why(r, SPF_RESULT_PERMERROR, "include:%.*s: no SPF record", name, strlen(name));
    }
    return SPF__NOMATCH;
}

/* mech_exists - §5.7: any A record */
static int
mech_exists(struct spf__run *r, const char *name)
{
    const struct spf__memo *m;
    if (!spf__name_ok(name))
        return SPF__NOMATCH;
    int rc = answer(r, name, SPF_QT_A, &m, 1);
    return m == NULL ? rc : SPF_RESULT_PASS;
}

/* ip_match - ip4/ip6 mechanisms */
static int
ip_match(struct spf__run *r, const struct spf__term *t)
{
    int fam = t->mech == SPF__IP4 ? 4 : 6;
    if (r->c->fam != fam)
        return SPF__NOMATCH;
    return in_net(r->c->ip, t->net, fam == 4 ? t->cidr4 : t->cidr6) ? SPF_RESULT_PASS
                                                                    : SPF__NOMATCH;
}

/* mech_eval - one mechanism: SPF_RESULT_PASS for "matched", SPF__NOMATCH,
 * SPF__PENDING or an error result */
static int
mech_eval(struct spf__run *r, const char *domain, const struct spf__term *t)
{
    char name[SPF__TEXT_MAX];
    int rc;
    if (t->mech == SPF__ALL)
        return SPF_RESULT_PASS;
    if (t->mech == SPF__IP4 || t->mech == SPF__IP6)
        return ip_match(r, t);
    if ((rc = count(r)) != SPF__NOMATCH)
        return rc;
    rc = target(r, domain, t->spec, t->speclen, name, sizeof name);
    if (rc == SPF__PENDING)
        return rc;
    if (rc < 0)
        return why(r, SPF_RESULT_PERMERROR, "bad macro in '%.*s'", t->text, t->textlen);
    switch (t->mech) {
    case SPF__INCLUDE:
        return mech_include(r, name);
    case SPF__A:
        return addr_match(r, name, t, 1);
    case SPF__MX:
        return mech_mx(r, name, t);
    case SPF__PTR:
        return mech_ptr(r, name);
    default:
        return mech_exists(r, name);
    }
}

/* explain - §6.2: the exp= text for a fail, or the default */
static int
explain(struct spf__run *r, const char *domain, const struct spf__record *rec)
{
    char name[SPF__TEXT_MAX];
    const struct spf__memo *m;
    r->have_exp = 0;
    if (rec->exp == NULL)
        return 0;
    int rc = target(r, domain, rec->exp, strlen(rec->exp), name, sizeof name);
    if (rc != 0 || !spf__name_ok(name))
        return rc == SPF__PENDING ? rc : 0;
    m = spf__lookup(r, name, SPF_QT_TXT);
    if (m == NULL)
        return SPF__PENDING;
    if (m->status != SPF_DNS_OK || m->n != 1)
        return 0;
    rc = expand(r, domain, m->rr[0].text, m->rr[0].len, 1, r->exp, sizeof r->exp);
    if (rc == SPF__PENDING)
        return rc;
    r->have_exp = rc == 0;
    return 0;
}

/* evaluate - the terms of rec, then redirect, then neutral */
static int
evaluate(struct spf__run *r, const char *domain, const struct spf__record *rec, int want_exp)
{
    char name[SPF__TEXT_MAX];
    for (size_t i = 0; i < rec->n; i++) {
        const struct spf__term *t = &rec->t[i];
        int rc = mech_eval(r, domain, t);
        if (rc == SPF__NOMATCH)
            continue;
        if (rc != SPF_RESULT_PASS)
            return rc;
        why(r, t->qual, "mechanism '%.*s' matched", t->text, t->textlen);
        if (t->qual == SPF_RESULT_FAIL && want_exp && explain(r, domain, rec) == SPF__PENDING)
            return SPF__PENDING;
        return t->qual;
    }
    if (rec->redirect == NULL)
        return why(r, SPF_RESULT_NEUTRAL, "%.*sno mechanism matched", "", 0);
    int rc = count(r);
    if (rc != SPF__NOMATCH)
        return rc;
    rc = target(r, domain, rec->redirect, strlen(rec->redirect), name, sizeof name);
    if (rc != 0)
        return rc == SPF__PENDING ? rc : why(r, SPF_RESULT_PERMERROR, "bad redirect%.*s", "", 0);
    rc = spf__check_host(r, name, want_exp);
    if (rc == SPF_RESULT_NONE)
        return why(r, SPF_RESULT_PERMERROR, "redirect=%.*s: no SPF record", name, strlen(name));
    return rc;
}

/* find_record - §4.4, §4.5: the one "v=spf1" TXT record of domain */
static int
find_record(struct spf__run *r, const char *domain, const struct spf_rr **out)
{
    const struct spf__memo *m;
    int found = 0;
    *out = NULL;
    if (!spf__name_ok(domain) || strchr(domain, '.') == NULL)
        return why(r, SPF_RESULT_NONE, "'%.*s' is not a domain name", domain, strlen(domain));
    m = spf__lookup(r, domain, SPF_QT_TXT);
    if (m == NULL)
        return SPF__PENDING;
    if (m->status == SPF_DNS_TEMP)
        return why(r, SPF_RESULT_TEMPERROR, "DNS lookup of %.*s failed", domain, strlen(domain));
    for (size_t i = 0; m->status == SPF_DNS_OK && i < m->n; i++)
        if (spf__is_spf1(m->rr[i].text, m->rr[i].len))
            found++, *out = &m->rr[i];
    if (found == 0)
        return why(r, SPF_RESULT_NONE, "no SPF record at %.*s", domain, strlen(domain));
    if (found > 1)
        return why(r, SPF_RESULT_PERMERROR, "several SPF records at %.*s", domain, strlen(domain));
    return SPF__NOMATCH;
}

/* spf__check_host - §4 */
int
spf__check_host(struct spf__run *r, const char *domain, int want_exp)
{
    const struct spf_rr *txt;
    struct spf__record rec;
    char err[160];
    int rc = find_record(r, domain, &txt);
    if (rc != SPF__NOMATCH)
        return rc;
    if (r->depth >= SPF__MAX_DEPTH)
        return why(r, SPF_RESULT_PERMERROR, "%.*stoo deeply nested", "", 0);
    if (spf__record_parse(txt->text, txt->len, &rec, err, sizeof err) < 0)
        return why(r, SPF_RESULT_PERMERROR, "%.*s", err, strlen(err));
    r->depth++;
    rc = evaluate(r, domain, &rec, want_exp);
    r->depth--;
    spf__record_free(&rec);
    return rc;
}
