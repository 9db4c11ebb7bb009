/*
 * test_dmarc.c - the DMARC evaluator (mailauth/dmarc.h): a table of
 *                messages against fake DNS, each its own case.
 *
 * Why each expectation holds (RFC 7489 unless "bis"):
 * - §3.1.1/§3.1.2: relaxed alignment = same Organizational Domain (public
 *   suffix list); strict = the same name. Only a *passing* SPF or DKIM
 *   result can align; one aligned pass is a DMARC pass (§4.2).
 * - §6.6.3: the From domain's record, else the Organizational Domain's;
 *   a name whose set holds a v=DMARC1 record ends discovery there (steps
 *   2-3), several DMARC records end it with no policy (step 5), and a
 *   record without a valid p= or with a bad sp= counts as p=none only when
 *   rua= is valid (step 6). v=DMARC1 must come first (§6.4, "DMARC1" is
 *   %x-coded, so case matters). Tag lists follow DKIM's (§6.4 refers to
 *   RFC 6376 §3.2): a duplicate tag or a tag without "=" voids the record.
 * - §6.3 sp: the policy for subdomains, used when the record came from the
 *   Organizational Domain; §6.6.4 pct: a failing message outside the sample
 *   gets the next lower policy (reject -> quarantine -> none).
 * - bis (DMARCbis -41 §4.10): tree walk, several records at a name are
 *   dropped and the walk goes on, psd=n/psd=y fix the Org Domain, np= for a
 *   non-existent From domain, t=y lowers the policy, pct= is gone.
 * Cases that python3-authheaders can check too are cross-checked by
 * tests/unit/dmarc_xcheck.py (run on the table this program prints with
 * --dump); the cases where that library departs from the RFC are marked
 * there with the reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailauth/dmarc.h"

#include <cmocka.h>

#define PSL_FILE "/usr/share/publicsuffix/public_suffix_list.dat"

enum { OK = 0, NX = 1, TEMP = 2 };

struct zone {
    const char *name; /* the TXT owner, "_dmarc.<domain>" */
    int rc;           /* OK, NX, TEMP */
    const char *txt[3];
};

struct tcase {
    const char *name;
    int walk;         /* DMARCbis tree walk */
    const char *from; /* NULL: nofrom */
    const char *spf_dom;
    enum dmarc_auth spf;
    const char *dkim_d[2];
    enum dmarc_auth dkim[2];
    unsigned rnd; /* the pct draw */
    int from_nx;  /* the From domain does not exist */
    int off;      /* dmarc_disable */
    struct zone z[4];
    enum dmarc_status want;
    const char *used; /* expected used domain, NULL: "" */
    int sampled;
};

#define P DMARC_AUTH_PASS
#define F DMARC_AUTH_FAIL
#define RJ "v=DMARC1; p=reject"
#define EC "_dmarc.example.com"

static const struct tcase cases[] = {
    /* SPF alignment */
    {"spf_relaxed_sub_pass",
     0,
     "example.com",
     "mail.example.com",
     P,
     {0},
     {0},
     0,
     0,
     0,
     {{EC, OK, {RJ}}},
     DMARC_ST_ACCEPT,
     "example.com",
     0},
    {"spf_strict_sub_fails",
     0,
     "example.com",
     "mail.example.com",
     P,
     {0},
     {0},
     0,
     0,
     0,
     {{EC, OK, {RJ "; aspf=s"}}},
     DMARC_ST_REJECT,
     "example.com",
     0},
    {"spf_strict_exact_pass",
     0,
     "example.com",
     "example.com",
     P,
     {0},
     {0},
     0,
     0,
     0,
     {{EC, OK, {RJ "; aspf=s"}}},
     DMARC_ST_ACCEPT,
     "example.com",
     0},
    {"spf_fail_same_domain",
     0,
     "example.com",
     "example.com",
     F,
     {0},
     {0},
     0,
     0,
     0,
     {{EC, OK, {RJ}}},
     DMARC_ST_REJECT,
     "example.com",
     0},
    {"spf_softfail_not_pass",
     0,
     "example.com",
     "example.com",
     DMARC_AUTH_SOFTFAIL,
     {0},
     {0},
     0,
     0,
     0,
     {{EC, OK, {RJ}}},
     DMARC_ST_REJECT,
     "example.com",
     0},
    {"spf_other_org",
     0,
     "example.com",
     "mail.example.net",
     P,
     {0},
     {0},
     0,
     0,
     0,
     {{EC, OK, {RJ}}},
     DMARC_ST_REJECT,
     "example.com",
     0},
    {"spf_suffix_trick",
     0,
     "example.com",
     "example.com.evil.net",
     P,
     {0},
     {0},
     0,
     0,
     0,
     {{EC, OK, {RJ}}},
     DMARC_ST_REJECT,
     "example.com",
     0},
    /* DKIM alignment */
    {"dkim_relaxed_parent",
     0,
     "news.example.com",
     NULL,
     0,
     {"example.com"},
     {P},
     0,
     0,
     0,
     {{EC, OK, {RJ "; sp=quarantine"}}},
     DMARC_ST_ACCEPT,
     "example.com",
     0},
    {"dkim_strict_parent_fails",
     0,
     "news.example.com",
     NULL,
     0,
     {"example.com"},
     {P},
     0,
     0,
     0,
     {{EC, OK, {RJ "; sp=quarantine; adkim=s"}}},
     DMARC_ST_QUARANTINE,
     "example.com",
     0},
    {"dkim_strict_child_fails",
     0,
     "example.com",
     NULL,
     0,
     {"sub.example.com"},
     {P},
     0,
     0,
     0,
     {{EC, OK, {RJ "; adkim=s"}}},
     DMARC_ST_REJECT,
     "example.com",
     0},
    {"dkim_fail_aligned",
     0,
     "example.com",
     NULL,
     0,
     {"example.com"},
     {F},
     0,
     0,
     0,
     {{EC, OK, {RJ}}},
     DMARC_ST_REJECT,
     "example.com",
     0},
    {"dkim_pass_other_org",
     0,
     "example.com",
     NULL,
     0,
     {"example.net"},
     {P},
     0,
     0,
     0,
     {{EC, OK, {RJ}}},
     DMARC_ST_REJECT,
     "example.com",
     0},
    {"dkim_second_sig_aligned",
     0,
     "example.com",
     NULL,
     0,
     {"example.net", "example.com"},
     {P, P},
     0,
     0,
     0,
     {{EC, OK, {RJ}}},
     DMARC_ST_ACCEPT,
     "example.com",
     0},
    {"dkim_fail_spf_unaligned",
     0,
     "example.com",
     "example.org",
     P,
     {"example.com"},
     {F},
     0,
     0,
     0,
     {{EC, OK, {RJ}}},
     DMARC_ST_REJECT,
     "example.com",
     0},
    {"dkim_case_insensitive",
     0,
     "EXAMPLE.COM",
     NULL,
     0,
     {"Example.Com"},
     {P},
     0,
     0,
     0,
     {{EC, OK, {RJ "; adkim=s"}}},
     DMARC_ST_ACCEPT,
     "example.com",
     0},
    /* policies */
    {"p_none_fail",
     0,
     "example.com",
     NULL,
     0,
     {0},
     {0},
     0,
     0,
     0,
     {{EC, OK, {"v=DMARC1; p=none"}}},
     DMARC_ST_NONE,
     "example.com",
     0},
    {"p_quarantine_fail",
     0,
     "example.com",
     NULL,
     0,
     {0},
     {0},
     0,
     0,
     0,
     {{EC, OK, {"v=DMARC1; p=quarantine"}}},
     DMARC_ST_QUARANTINE,
     "example.com",
     0},
    {"sp_for_subdomain",
     0,
     "a.example.com",
     NULL,
     0,
     {0},
     {0},
     0,
     0,
     0,
     {{EC, OK, {RJ "; sp=none"}}},
     DMARC_ST_NONE,
     "example.com",
     0},
    {"sp_absent_is_p",
     0,
     "a.example.com",
     NULL,
     0,
     {0},
     {0},
     0,
     0,
     0,
     {{EC, OK, {"v=DMARC1; p=quarantine"}}},
     DMARC_ST_QUARANTINE,
     "example.com",
     0},
    {"sp_not_for_own_domain",
     0,
     "example.com",
     NULL,
     0,
     {0},
     {0},
     0,
     0,
     0,
     {{EC, OK, {"v=DMARC1; p=none; sp=reject"}}},
     DMARC_ST_NONE,
     "example.com",
     0},
    {"sub_own_record_wins",
     0,
     "a.example.com",
     NULL,
     0,
     {0},
     {0},
     0,
     0,
     0,
     {{"_dmarc.a.example.com", OK, {"v=DMARC1; p=none"}}, {EC, OK, {RJ}}},
     DMARC_ST_NONE,
     "a.example.com",
     0},
    /* pct */
    {"pct_in_sample",
     0,
     "example.com",
     NULL,
     0,
     {0},
     {0},
     10,
     0,
     0,
     {{EC, OK, {RJ "; pct=50"}}},
     DMARC_ST_REJECT,
     "example.com",
     0},
    {"pct_out_reject_to_quarantine",
     0,
     "example.com",
     NULL,
     0,
     {0},
     {0},
     70,
     0,
     0,
     {{EC, OK, {RJ "; pct=50"}}},
     DMARC_ST_QUARANTINE,
     "example.com",
     1},
    {"pct_out_quarantine_to_none",
     0,
     "example.com",
     NULL,
     0,
     {0},
     {0},
     20,
     0,
     0,
     {{EC, OK, {"v=DMARC1; p=quarantine; pct=20"}}},
     DMARC_ST_NONE,
     "example.com",
     1},
    {"pct_zero",
     0,
     "example.com",
     NULL,
     0,
     {0},
     {0},
     0,
     0,
     0,
     {{EC, OK, {RJ "; pct=0"}}},
     DMARC_ST_QUARANTINE,
     "example.com",
     1},
    {"pct_bad_is_100",
     0,
     "example.com",
     NULL,
     0,
     {0},
     {0},
     99,
     0,
     0,
     {{EC, OK, {RJ "; pct=200"}}},
     DMARC_ST_REJECT,
     "example.com",
     0},
    {"pct_pass_unaffected",
     0,
     "example.com",
     "example.com",
     P,
     {0},
     {0},
     99,
     0,
     0,
     {{EC, OK, {RJ "; pct=10"}}},
     DMARC_ST_ACCEPT,
     "example.com",
     0},
    /* Organizational Domains */
    {"org_co_uk",
     0,
     "mail.shop.example.co.uk",
     NULL,
     0,
     {"example.co.uk"},
     {P},
     0,
     0,
     0,
     {{"_dmarc.example.co.uk", OK, {RJ}}},
     DMARC_ST_ACCEPT,
     "example.co.uk",
     0},
    {"org_unlisted_tld",
     0,
     "a.b.example.test",
     NULL,
     0,
     {0},
     {0},
     0,
     0,
     0,
     {{"_dmarc.example.test", OK, {RJ}}},
     DMARC_ST_REJECT,
     "example.test",
     0},
    {"org_private_suffix",
     0,
     "x.y.github.io",
     NULL,
     0,
     {"github.io"},
     {P},
     0,
     0,
     0,
     {{"_dmarc.y.github.io", OK, {RJ}}},
     DMARC_ST_REJECT,
     "y.github.io",
     0},
    /* missing, several and bad records */
    {"no_record", 0, "example.com", NULL, 0, {0}, {0}, 0, 0, 0, {{0}}, DMARC_ST_NORECORD, NULL, 0},
    {"no_record_sub_and_org",
     0,
     "a.example.com",
     NULL,
     0,
     {0},
     {0},
     0,
     0,
     0,
     {{0}},
     DMARC_ST_NORECORD,
     NULL,
     0},
    {"not_dmarc_txt",
     0,
     "example.com",
     NULL,
     0,
     {0},
     {0},
     0,
     0,
     0,
     {{EC, OK, {"v=spf1 -all"}}},
     DMARC_ST_NORECORD,
     NULL,
     0},
    {"version_not_first",
     0,
     "example.com",
     NULL,
     0,
     {0},
     {0},
     0,
     0,
     0,
     {{EC, OK, {"p=reject; v=DMARC1"}}},
     DMARC_ST_NORECORD,
     NULL,
     0},
    {"version_lower_case",
     0,
     "example.com",
     NULL,
     0,
     {0},
     {0},
     0,
     0,
     0,
     {{EC, OK, {"v=dmarc1; p=reject"}}},
     DMARC_ST_NORECORD,
     NULL,
     0},
    {"two_records_stop",
     0,
     "a.example.com",
     NULL,
     0,
     {0},
     {0},
     0,
     0,
     0,
     {{"_dmarc.a.example.com", OK, {RJ, "v=DMARC1; p=none"}}, {EC, OK, {RJ}}},
     DMARC_ST_NORECORD,
     NULL,
     0},
    {"one_dmarc_among_txt",
     0,
     "example.com",
     NULL,
     0,
     {0},
     {0},
     0,
     0,
     0,
     {{EC, OK, {"v=spf1 -all", RJ}}},
     DMARC_ST_REJECT,
     "example.com",
     0},
    {"duplicate_tag",
     0,
     "example.com",
     NULL,
     0,
     {0},
     {0},
     0,
     0,
     0,
     {{EC, OK, {"v=DMARC1; p=none; p=reject"}}},
     DMARC_ST_NORECORD,
     NULL,
     0},
    {"bad_p_no_rua",
     0,
     "example.com",
     NULL,
     0,
     {0},
     {0},
     0,
     0,
     0,
     {{EC, OK, {"v=DMARC1; p=bogus"}}},
     DMARC_ST_NORECORD,
     NULL,
     0},
    {"bad_p_with_rua",
     0,
     "example.com",
     NULL,
     0,
     {0},
     {0},
     0,
     0,
     0,
     {{EC, OK, {"v=DMARC1; p=bogus; rua=mailto:d@example.com"}}},
     DMARC_ST_NONE,
     "example.com",
     0},
    {"no_p_with_rua",
     0,
     "example.com",
     NULL,
     0,
     {0},
     {0},
     0,
     0,
     0,
     {{EC, OK, {"v=DMARC1; rua=mailto:d@example.com"}}},
     DMARC_ST_NONE,
     "example.com",
     0},
    {"bad_sp_with_rua",
     0,
     "a.example.com",
     NULL,
     0,
     {0},
     {0},
     0,
     0,
     0,
     {{EC, OK, {RJ "; sp=bogus; rua=mailto:d@example.com"}}},
     DMARC_ST_NONE,
     "example.com",
     0},
    {"bad_at_from_no_fallback",
     0,
     "a.example.com",
     NULL,
     0,
     {0},
     {0},
     0,
     0,
     0,
     {{"_dmarc.a.example.com", OK, {"v=DMARC1; p=bogus"}}, {EC, OK, {RJ}}},
     DMARC_ST_NORECORD,
     NULL,
     0},
    {"tag_without_equals",
     0,
     "example.com",
     NULL,
     0,
     {0},
     {0},
     0,
     0,
     0,
     {{EC, OK, {RJ "; foo"}}},
     DMARC_ST_NORECORD,
     NULL,
     0},
    {"unknown_tag_ignored",
     0,
     "example.com",
     NULL,
     0,
     {0},
     {0},
     0,
     0,
     0,
     {{EC, OK, {RJ "; x=y"}}},
     DMARC_ST_REJECT,
     "example.com",
     0},
    {"spaces_in_record",
     0,
     "example.com",
     NULL,
     0,
     {"a.example.com"},
     {P},
     0,
     0,
     0,
     {{EC, OK, {"  v = DMARC1 ;p = reject ; adkim = s ;"}}},
     DMARC_ST_REJECT,
     "example.com",
     0},
    /* errors, nofrom, off */
    {"temperror_from",
     0,
     "example.com",
     NULL,
     0,
     {0},
     {0},
     0,
     0,
     0,
     {{EC, TEMP, {0}}},
     DMARC_ST_TEMPERROR,
     NULL,
     0},
    {"temperror_org",
     0,
     "a.example.com",
     NULL,
     0,
     {0},
     {0},
     0,
     0,
     0,
     {{EC, TEMP, {0}}},
     DMARC_ST_TEMPERROR,
     NULL,
     0},
    {"nofrom", 0, NULL, NULL, 0, {0}, {0}, 0, 0, 0, {{0}}, DMARC_ST_NOFROM, NULL, 0},
    {"off", 0, "example.com", NULL, 0, {0}, {0}, 0, 0, 1, {{EC, OK, {RJ}}}, DMARC_ST_OFF, NULL, 0},
    /* DMARCbis tree walk */
    {"walk_parent",
     1,
     "a.b.example.com",
     NULL,
     0,
     {"example.com"},
     {P},
     0,
     0,
     0,
     {{EC, OK, {RJ}}},
     DMARC_ST_ACCEPT,
     "example.com",
     0},
    {"walk_psd_y",
     1,
     "a.b.example.com",
     NULL,
     0,
     {"example.com"},
     {P},
     0,
     0,
     0,
     {{"_dmarc.com", OK, {RJ "; psd=y"}}},
     DMARC_ST_ACCEPT,
     "com",
     0},
    {"walk_psd_n",
     1,
     "a.b.example.com",
     NULL,
     0,
     {"example.com"},
     {P},
     0,
     0,
     0,
     {{"_dmarc.b.example.com", OK, {"v=DMARC1; p=quarantine; psd=n"}}, {EC, OK, {RJ}}},
     DMARC_ST_QUARANTINE,
     "b.example.com",
     0},
    {"walk_np_nxdomain",
     1,
     "nx.example.com",
     NULL,
     0,
     {0},
     {0},
     0,
     1,
     0,
     {{EC, OK, {"v=DMARC1; p=none; np=reject"}}},
     DMARC_ST_REJECT,
     "example.com",
     0},
    {"walk_np_exists",
     1,
     "nx.example.com",
     NULL,
     0,
     {0},
     {0},
     0,
     0,
     0,
     {{EC, OK, {"v=DMARC1; p=none; np=reject"}}},
     DMARC_ST_NONE,
     "example.com",
     0},
    {"walk_many_dropped",
     1,
     "a.example.com",
     NULL,
     0,
     {0},
     {0},
     0,
     0,
     0,
     {{"_dmarc.a.example.com", OK, {RJ, "v=DMARC1; p=none"}}, {EC, OK, {RJ}}},
     DMARC_ST_REJECT,
     "example.com",
     0},
    {"walk_t_y",
     1,
     "example.com",
     NULL,
     0,
     {0},
     {0},
     0,
     0,
     0,
     {{EC, OK, {RJ "; t=y"}}},
     DMARC_ST_QUARANTINE,
     "example.com",
     1},
    {"walk_pct_ignored",
     1,
     "example.com",
     NULL,
     0,
     {0},
     {0},
     0,
     0,
     0,
     {{EC, OK, {RJ "; pct=0"}}},
     DMARC_ST_REJECT,
     "example.com",
     0},
    {"walk_temperror",
     1,
     "a.example.com",
     NULL,
     0,
     {0},
     {0},
     0,
     0,
     0,
     {{EC, TEMP, {0}}},
     DMARC_ST_TEMPERROR,
     NULL,
     0},
    {"walk_relaxed_sibling",
     1,
     "a.example.com",
     "b.example.com",
     P,
     {0},
     {0},
     0,
     0,
     0,
     {{EC, OK, {RJ}}},
     DMARC_ST_ACCEPT,
     "example.com",
     0},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static struct dmarc_psl *psl;
static char qlog[16][300]; /* the questions asked, for the walk cases */
static size_t nq;

/* rnd - the case's pct draw */
static unsigned
rnd(void *arg)
{
    return ((const struct tcase *)arg)->rnd;
}

/* answer - serve one TXT question from the case's zone (absent: NXDOMAIN) */
static void
answer(struct dmarc_ctx *c, const struct tcase *t, const char *name)
{
    size_t lens[3], n, i;

    for (i = 0; i < 4 && t->z[i].name != NULL; i++) {
        if (strcmp(t->z[i].name, name) != 0)
            continue;
        for (n = 0; n < 3 && t->z[i].txt[n] != NULL; n++)
            lens[n] = strlen(t->z[i].txt[n]);
        enum dmarc_dns rc = t->z[i].rc == OK   ? DMARC_DNS_OK
                            : t->z[i].rc == NX ? DMARC_DNS_NXDOMAIN
                                               : DMARC_DNS_TEMPERROR;
        assert_int_equal(dmarc_give_txt(c, name, rc, t->z[i].txt, lens, n), 0);
        return;
    }
    assert_int_equal(dmarc_give_txt(c, name, DMARC_DNS_NXDOMAIN, NULL, NULL, 0), 0);
}

/* evaluate - drive a context for case t to the end */
static struct dmarc_ctx *
evaluate(const struct tcase *t)
{
    struct dmarc_opts o = {psl, t->walk, rnd, (void *)t};
    struct dmarc_ctx *c = dmarc_new(&o);
    enum dmarc_step st;
    const char *name;

    assert_non_null(c);
    if (t->from != NULL)
        assert_int_equal(dmarc_set_from(c, t->from), 0);
    if (t->spf_dom != NULL)
        assert_int_equal(dmarc_set_spf(c, t->spf_dom, t->spf), 0);
    for (size_t i = 0; i < 2 && t->dkim_d[i] != NULL; i++)
        assert_int_equal(dmarc_add_dkim(c, t->dkim_d[i], "sel", t->dkim[i]), 0);
    if (t->off)
        dmarc_disable(c);
    for (nq = 0; (st = dmarc_step(c, &name)) != DMARC_STEP_DONE; nq++) {
        assert_true(nq < 16);
        snprintf(qlog[nq], sizeof(qlog[nq]), "%s", name);
        if (st == DMARC_STEP_TXT)
            answer(c, t, name);
        else
            dmarc_give_exists(c, name, t->from_nx ? DMARC_DNS_NXDOMAIN : DMARC_DNS_OK);
    }
    return c;
}

/* run - case by name: status, used domain and sampling as expected */
static void
run(const char *name)
{
    const struct tcase *t = NULL;
    const struct dmarc_result *r;
    struct dmarc_ctx *c;

    for (size_t i = 0; i < NCASES; i++)
        if (strcmp(cases[i].name, name) == 0)
            t = &cases[i];
    assert_non_null(t);
    c = evaluate(t);
    r = dmarc_result(c);
    assert_string_equal(dmarc_status_word(r->status), dmarc_status_word(t->want));
    assert_string_equal(r->used_domain, t->used ? t->used : "");
    assert_int_equal(r->sampled_out, t->sampled);
    dmarc_free(c);
}

/* one cmocka case per table row */
#define CASE(n)                                                                                    \
    static void n(void **s)                                                                        \
    {                                                                                              \
        (void)s;                                                                                   \
        run(#n);                                                                                   \
    }
CASE(spf_relaxed_sub_pass)
CASE(spf_strict_sub_fails)
CASE(spf_strict_exact_pass)
CASE(spf_fail_same_domain)
CASE(spf_softfail_not_pass)
CASE(spf_other_org)
CASE(spf_suffix_trick)
CASE(dkim_relaxed_parent)
CASE(dkim_strict_parent_fails)
CASE(dkim_strict_child_fails)
CASE(dkim_fail_aligned)
CASE(dkim_pass_other_org)
CASE(dkim_second_sig_aligned)
CASE(dkim_fail_spf_unaligned)
CASE(dkim_case_insensitive)
CASE(p_none_fail)
CASE(p_quarantine_fail)
CASE(sp_for_subdomain)
CASE(sp_absent_is_p)
CASE(sp_not_for_own_domain)
CASE(sub_own_record_wins)
CASE(pct_in_sample)
CASE(pct_out_reject_to_quarantine)
CASE(pct_out_quarantine_to_none)
CASE(pct_zero)
CASE(pct_bad_is_100)
CASE(pct_pass_unaffected)
CASE(org_co_uk)
CASE(org_unlisted_tld)
CASE(org_private_suffix)
CASE(no_record)
CASE(no_record_sub_and_org)
CASE(not_dmarc_txt)
CASE(version_not_first)
CASE(version_lower_case)
CASE(two_records_stop)
CASE(one_dmarc_among_txt)
CASE(duplicate_tag)
CASE(bad_p_no_rua)
CASE(bad_p_with_rua)
CASE(no_p_with_rua)
CASE(bad_sp_with_rua)
CASE(bad_at_from_no_fallback)
CASE(tag_without_equals)
CASE(unknown_tag_ignored)
CASE(spaces_in_record)
CASE(temperror_from)
CASE(temperror_org)
CASE(nofrom)
CASE(off)
CASE(walk_parent)
CASE(walk_psd_y)
CASE(walk_psd_n)
CASE(walk_np_nxdomain)
CASE(walk_np_exists)
CASE(walk_many_dropped)
CASE(walk_t_y)
CASE(walk_pct_ignored)
CASE(walk_temperror)
CASE(walk_relaxed_sibling)

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(spf_relaxed_sub_pass),
    cmocka_unit_test(spf_strict_sub_fails),
    cmocka_unit_test(spf_strict_exact_pass),
    cmocka_unit_test(spf_fail_same_domain),
    cmocka_unit_test(spf_softfail_not_pass),
    cmocka_unit_test(spf_other_org),
    cmocka_unit_test(spf_suffix_trick),
    cmocka_unit_test(dkim_relaxed_parent),
    cmocka_unit_test(dkim_strict_parent_fails),
    cmocka_unit_test(dkim_strict_child_fails),
    cmocka_unit_test(dkim_fail_aligned),
    cmocka_unit_test(dkim_pass_other_org),
    cmocka_unit_test(dkim_second_sig_aligned),
    cmocka_unit_test(dkim_fail_spf_unaligned),
    cmocka_unit_test(dkim_case_insensitive),
    cmocka_unit_test(p_none_fail),
    cmocka_unit_test(p_quarantine_fail),
    cmocka_unit_test(sp_for_subdomain),
    cmocka_unit_test(sp_absent_is_p),
    cmocka_unit_test(sp_not_for_own_domain),
    cmocka_unit_test(sub_own_record_wins),
    cmocka_unit_test(pct_in_sample),
    cmocka_unit_test(pct_out_reject_to_quarantine),
    cmocka_unit_test(pct_out_quarantine_to_none),
    cmocka_unit_test(pct_zero),
    cmocka_unit_test(pct_bad_is_100),
    cmocka_unit_test(pct_pass_unaffected),
    cmocka_unit_test(org_co_uk),
    cmocka_unit_test(org_unlisted_tld),
    cmocka_unit_test(org_private_suffix),
    cmocka_unit_test(no_record),
    cmocka_unit_test(no_record_sub_and_org),
    cmocka_unit_test(not_dmarc_txt),
    cmocka_unit_test(version_not_first),
    cmocka_unit_test(version_lower_case),
    cmocka_unit_test(two_records_stop),
    cmocka_unit_test(one_dmarc_among_txt),
    cmocka_unit_test(duplicate_tag),
    cmocka_unit_test(bad_p_no_rua),
    cmocka_unit_test(bad_p_with_rua),
    cmocka_unit_test(no_p_with_rua),
    cmocka_unit_test(bad_sp_with_rua),
    cmocka_unit_test(bad_at_from_no_fallback),
    cmocka_unit_test(tag_without_equals),
    cmocka_unit_test(unknown_tag_ignored),
    cmocka_unit_test(spaces_in_record),
    cmocka_unit_test(temperror_from),
    cmocka_unit_test(temperror_org),
    cmocka_unit_test(nofrom),
    cmocka_unit_test(off),
    cmocka_unit_test(walk_parent),
    cmocka_unit_test(walk_psd_y),
    cmocka_unit_test(walk_psd_n),
    cmocka_unit_test(walk_np_nxdomain),
    cmocka_unit_test(walk_np_exists),
    cmocka_unit_test(walk_many_dropped),
    cmocka_unit_test(walk_t_y),
    cmocka_unit_test(walk_pct_ignored),
    cmocka_unit_test(walk_temperror),
    cmocka_unit_test(walk_relaxed_sibling),
};

/* dump - the RFC 7489 cases as JSON lines, for dmarc_xcheck.py */
static void
dump(void)
{
    for (size_t i = 0; i < NCASES; i++) {
        const struct tcase *t = &cases[i];
        if (t->walk || t->off || t->from == NULL)
            continue;
        printf("{\"name\":\"%s\",\"from\":\"%s\",\"spf_dom\":\"%s\",\"spf\":%d,", t->name, t->from,
               t->spf_dom ? t->spf_dom : "", (int)t->spf);
        printf("\"dkim\":[");
        for (size_t k = 0; k < 2 && t->dkim_d[k]; k++)
            printf("%s[\"%s\",%d]", k ? "," : "", t->dkim_d[k], (int)t->dkim[k]);
        printf("],\"zone\":[");
        for (size_t k = 0; k < 4 && t->z[k].name; k++) {
            printf("%s[\"%s\",%d", k ? "," : "", t->z[k].name, t->z[k].rc);
            for (size_t j = 0; j < 3 && t->z[k].txt[j]; j++)
                printf(",\"%s\"", t->z[k].txt[j]);
            printf("]");
        }
        printf("],\"want\":\"%s\",\"used\":\"%s\"}\n", dmarc_status_word(t->want),
               t->used ? t->used : "");
    }
}

static int
setup(void **state)
{
    char err[256];

    (void)state;
    psl = dmarc_psl_load(PSL_FILE, err, sizeof(err));
    return psl ? 0 : -1;
}

static int
teardown(void **state)
{
    (void)state;
    dmarc_psl_free(psl);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--dump") == 0) {
        dump();
        return 0;
    }
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, setup, teardown);
}
