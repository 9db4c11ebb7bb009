/*
 * test_dmarc.c - the DMARC evaluator (mailauth/dmarc.h): a table of
 *                messages (dmarc_cases.c, where each expectation is argued
 *                from the RFC) against fake DNS, each its own case. With
 *                --dump it prints the RFC 7489 rows as JSON lines for
 *                dmarc_xcheck.py.
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

#include "dmarc_cases.h"

#define cases dmarc_cases
#define NCASES dmarc_ncases

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
