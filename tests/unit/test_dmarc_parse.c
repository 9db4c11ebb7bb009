/*
 * test_dmarc_parse.c - the DMARC pieces other than the evaluation: the
 *                      record parser's fields, the From domain, the
 *                      Authentication-Results text and the history entry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "mailauth/dmarc.h"

#include <cmocka.h>

/* parse - dmarc_record_parse over a C string */
static int
parse(const char *s, struct dmarc_record *r)
{
    return dmarc_record_parse(s, strlen(s), r);
}

static void
record_all_tags(void **state)
{
    struct dmarc_record r;

    (void)state;
    assert_int_equal(parse("v=DMARC1; p=Quarantine; sp=reject; np=none; pct=25; adkim=s; "
                           "aspf=s; rua=mailto:a@example.com, mailto:b@example.net!10m; "
                           "ruf=mailto:f@example.com; fo=1:d; rf=afrf; ri=3600; psd=n; t=y",
                           &r),
                     DMARC_REC_OK);
    assert_int_equal(r.p, DMARC_POLICY_QUARANTINE);
    assert_int_equal(r.sp, DMARC_POLICY_REJECT);
    assert_int_equal(r.np, DMARC_POLICY_NONE);
    assert_int_equal(r.pct, 25);
    assert_int_equal(r.adkim, DMARC_ALIGN_STRICT);
    assert_int_equal(r.aspf, DMARC_ALIGN_STRICT);
    assert_string_equal(r.rua, "mailto:a@example.com, mailto:b@example.net!10m");
    assert_string_equal(r.ruf, "mailto:f@example.com");
    assert_string_equal(r.fo, "1:d");
    assert_int_equal(r.ri, 3600);
    assert_int_equal(r.psd, 'n');
    assert_int_equal(r.testing, 1);
}

static void
record_defaults(void **state)
{
    struct dmarc_record r;

    (void)state;
    assert_int_equal(parse("v=DMARC1;p=none", &r), DMARC_REC_OK);
    assert_int_equal(r.sp, DMARC_POLICY_UNSET);
    assert_int_equal(r.pct, 100);
    assert_int_equal(r.adkim, DMARC_ALIGN_RELAXED);
    assert_string_equal(r.fo, "0");
    assert_string_equal(r.rf, "afrf");
    assert_int_equal(r.ri, 86400);
    assert_int_equal(r.psd, 'u');
    assert_string_equal(r.rua, "");
}

static void
record_bad_values_default(void **state)
{
    struct dmarc_record r;

    (void)state;
    assert_int_equal(parse("v=DMARC1; p=reject; pct=-1; fo=x; rf=json; ri=soon; rua=nope; "
                           "adkim=x; psd=maybe",
                           &r),
                     DMARC_REC_OK);
    assert_int_equal(r.pct, 100);
    assert_string_equal(r.fo, "0");
    assert_string_equal(r.rf, "afrf");
    assert_int_equal(r.ri, 86400);
    assert_string_equal(r.rua, "");
    assert_int_equal(r.adkim, DMARC_ALIGN_RELAXED);
    assert_int_equal(r.psd, 'u');
}

static void
record_rejects(void **state)
{
    struct dmarc_record r;

    (void)state;
    assert_int_equal(parse("", &r), DMARC_REC_NOT_DMARC);
    assert_int_equal(parse("v=DMARC2; p=reject", &r), DMARC_REC_NOT_DMARC);
    assert_int_equal(parse("foo; v=DMARC1; p=reject", &r), DMARC_REC_NOT_DMARC);
    assert_int_equal(parse("v=DMARC1", &r), DMARC_REC_INVALID);
    assert_int_equal(parse("v=DMARC1; v=DMARC1; p=none", &r), DMARC_REC_INVALID);
    assert_int_equal(parse("v=DMARC1; 1p=none", &r), DMARC_REC_INVALID);
    assert_int_equal(parse("v=DMARC1; =none", &r), DMARC_REC_INVALID);
    assert_int_equal(dmarc_record_parse("v=DMARC1; p=none\0x", 18, &r), DMARC_REC_NOT_DMARC);
}

static void
select_sets(void **state)
{
    const char *two[] = {"v=DMARC1; p=none", "v=DMARC1; p=reject"};
    const char *mixed[] = {"v=spf1 -all", "v=DMARC1; p=reject"};
    const char *bad[] = {"v=DMARC1; p=x"};
    size_t l2[] = {16, 18}, lm[] = {11, 18}, lb[] = {13};
    struct dmarc_record r;

    (void)state;
    assert_int_equal(dmarc_record_select(two, l2, 2, &r), DMARC_SEL_MANY);
    assert_int_equal(dmarc_record_select(mixed, lm, 2, &r), DMARC_SEL_ONE);
    assert_int_equal(r.p, DMARC_POLICY_REJECT);
    assert_int_equal(dmarc_record_select(bad, lb, 1, &r), DMARC_SEL_INVALID);
    assert_int_equal(dmarc_record_select(NULL, NULL, 0, &r), DMARC_SEL_NONE);
}

/* from - the domain of a From field value, or "-" */
static const char *
from(const char *v)
{
    static char out[DMARC_DOMAIN_MAX];

    if (dmarc_from_field_domain(v, strlen(v), out, sizeof(out)) < 0)
        return "-";
    return out;
}

static void
from_forms(void **state)
{
    (void)state;
    assert_string_equal(from(" user@Example.COM"), "example.com");
    assert_string_equal(from(" \"Joe, Q\" <joe@example.org>"), "example.org");
    assert_string_equal(from(" Joe (at home, \"x\") <joe@a.example.net> (work)"), "a.example.net");
    assert_string_equal(from(" \"a@b\"@example.com"), "example.com");
    assert_string_equal(from(" Joe\r\n <joe@example.com.>"), "example.com");
    assert_string_equal(from(" <@relay.example:joe@example.com>"), "example.com");
}

static void
from_refused(void **state)
{
    (void)state;
    assert_string_equal(from(" a@example.com, b@example.net"), "-");
    assert_string_equal(from(" undisclosed:;"), "-");
    assert_string_equal(from(" group: a@example.com;"), "-");
    assert_string_equal(from(" <>"), "-");
    assert_string_equal(from(" joe@[192.0.2.1]"), "-");
    assert_string_equal(from(" joe"), "-");
    assert_string_equal(from(" @example.com"), "-");
    assert_string_equal(from(" joe@exa mple.com"), "-");
    assert_string_equal(from(" joe@example..com"), "-");
    assert_string_equal(from(" (unclosed joe@example.com"), "-");
    assert_string_equal(from(" \"unclosed joe@example.com"), "-");
    assert_string_equal(from(" <joe@example.com> trailing"), "-");
    assert_string_equal(from(""), "-");
}

static void
from_header_section(void **state)
{
    const char *one = "Subject: hi\r\nFrom: Joe\r\n <joe@example.com>\r\nTo: x@y.z\r\n\r\n"
                      "From: body@evil.example\r\n";
    const char *two = "From: a@example.com\r\nfrom : b@example.com\r\n\r\n";
    const char *none = "Sender: a@example.com\r\n\r\n";
    char out[DMARC_DOMAIN_MAX];

    (void)state;
    assert_int_equal(dmarc_from_domain(one, strlen(one), out, sizeof(out)), 0);
    assert_string_equal(out, "example.com");
    assert_int_equal(dmarc_from_domain(two, strlen(two), out, sizeof(out)), -1);
    assert_int_equal(dmarc_from_domain(none, strlen(none), out, sizeof(out)), -1);
}

static void
psl_org_domains(void **state)
{
    struct dmarc_psl *p;
    char err[256], out[DMARC_DOMAIN_MAX];

    (void)state;
    assert_null(dmarc_psl_load("/nonexistent/psl.dat", err, sizeof(err)));
    p = dmarc_psl_load("/usr/share/publicsuffix/public_suffix_list.dat", err, sizeof(err));
    assert_non_null(p);
    assert_int_equal(dmarc_psl_org_domain(p, "A.B.Example.CO.UK", out, sizeof(out)), 0);
    assert_string_equal(out, "example.co.uk");
    assert_int_equal(dmarc_psl_org_domain(p, "co.uk", out, sizeof(out)), 0);
    assert_string_equal(out, "co.uk");
    assert_int_equal(dmarc_psl_org_domain(p, "x.example.test", out, sizeof(out)), 0);
    assert_string_equal(out, "example.test");
    assert_int_equal(dmarc_psl_org_domain(p, "bad..name", out, sizeof(out)), -1);
    assert_int_equal(dmarc_psl_org_domain(p, "example.com", out, 5), -1);
    dmarc_psl_free(p);
}

/* run_one - a message from example.com against one record, evaluated */
static struct dmarc_ctx *
run_one(const char *rec, enum dmarc_auth dkim)
{
    struct dmarc_opts o = {NULL, 0, NULL, NULL};
    struct dmarc_ctx *c = dmarc_new(&o);
    const char *name;
    size_t len = strlen(rec);

    dmarc_set_from(c, "example.com");
    dmarc_set_spf(c, "bounce.example.org", DMARC_AUTH_PASS);
    dmarc_add_dkim(c, "example.com", "s1", dkim);
    assert_int_equal(dmarc_step(c, &name), DMARC_STEP_TXT);
    assert_string_equal(name, "_dmarc.example.com");
    dmarc_give_txt(c, name, DMARC_DNS_OK, &rec, &len, 1);
    assert_int_equal(dmarc_step(c, &name), DMARC_STEP_DONE);
    return c;
}

static void
ar_header_text(void **state)
{
    struct dmarc_ctx *c = run_one("v=DMARC1; p=reject", DMARC_AUTH_FAIL);
    char buf[512];
    int n;

    (void)state;
    n = dmarc_ar_header(dmarc_result(c), "mx.example.net", buf, sizeof(buf));
    assert_string_equal(buf, "Authentication-Results: mx.example.net; dmarc=fail "
                             "(p=reject dis=reject) header.from=example.com");
    assert_int_equal(n, (int)strlen(buf));
    assert_int_equal(dmarc_ar_header(dmarc_result(c), "mx.example.net", buf, 20), -1);
    assert_string_equal(dmarc_status_text(dmarc_result(c)), "Reject");
    assert_string_equal(dmarc_policy_word(dmarc_result(c)->policy), "reject");
    dmarc_free(c);
    c = run_one("v=DMARC1; p=quarantine", DMARC_AUTH_PASS);
    dmarc_ar_header(dmarc_result(c), "mx", buf, sizeof(buf));
    assert_string_equal(buf, "Authentication-Results: mx; dmarc=pass (p=quarantine dis=none) "
                             "header.from=example.com");
    dmarc_free(c);
}

static void
ar_header_nofrom_off(void **state)
{
    struct dmarc_ctx *c = dmarc_new(NULL);
    char buf[256];

    (void)state;
    assert_int_equal(dmarc_step(c, NULL), DMARC_STEP_DONE);
    dmarc_ar_header(dmarc_result(c), "mx", buf, sizeof(buf));
    assert_string_equal(buf, "Authentication-Results: mx; dmarc=permerror (no single From domain)");
    dmarc_free(c);
    c = dmarc_new(NULL);
    dmarc_set_from(c, "example.com");
    dmarc_disable(c);
    assert_int_equal(dmarc_step(c, NULL), DMARC_STEP_DONE);
    assert_int_equal(dmarc_ar_header(dmarc_result(c), "mx", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    assert_string_equal(dmarc_status_word(dmarc_result(c)->status), "off");
    dmarc_free(c);
}

static void
history_entry(void **state)
{
    struct dmarc_ctx *c = run_one("v=DMARC1; p=reject; sp=none; pct=50; adkim=s; "
                                  "rua=mailto:a@example.com, mailto:b@example.com",
                                  DMARC_AUTH_PASS);
    struct dmarc_hist_in in = {"1abcde-000001-AB", "mx.example.net", 1700000000, "192.0.2.7",
                               "example.org"};
    char buf[1024];

    (void)state;
    assert_true(dmarc_history(c, &in, buf, sizeof(buf)) > 0);
    assert_string_equal(buf, "job 1abcde-000001-AB\nreporter mx.example.net\n"
                             "received 1700000000\nipaddr 192.0.2.7\nfrom example.com\n"
                             "mfrom example.org\nspf 0\ndkim example.com s1 0\n"
                             "pdomain example.com\npolicy 15\nrua mailto:a@example.com\n"
                             "rua mailto:b@example.com\npct 50\nadkim 115\naspf 114\np 114\n"
                             "sp 110\nalign_dkim 4\nalign_spf 5\naction 2\n");
    assert_int_equal(dmarc_history(c, &in, buf, 100), -1);
    in.job = "bad id\nrua x";
    assert_int_equal(dmarc_history(c, &in, buf, sizeof(buf)), -1);
    dmarc_free(c);
}

static void
history_needs_record(void **state)
{
    struct dmarc_ctx *c = run_one("v=spf1 -all", DMARC_AUTH_PASS);
    struct dmarc_hist_in in = {"id", "mx", 0, "192.0.2.7", ""};
    char buf[1024];

    (void)state;
    assert_string_equal(dmarc_status_word(dmarc_result(c)->status), "norecord");
    assert_int_equal(dmarc_history(c, &in, buf, sizeof(buf)), -1);
    dmarc_free(c);
}

static void
answers_overflow_temperror(void **state)
{
    struct dmarc_opts o = {NULL, 1, NULL, NULL};
    struct dmarc_ctx *c = dmarc_new(&o);
    const char *name;
    int i;

    (void)state;
    dmarc_set_from(c, "a.example.com");
    for (i = 0; i < 64; i++)
        assert_int_equal(
            dmarc_give_txt(c, "_dmarc.junk.example", DMARC_DNS_NXDOMAIN, NULL, NULL, 0), 0);
    assert_int_equal(dmarc_give_txt(c, "_dmarc.one.more", DMARC_DNS_NXDOMAIN, NULL, NULL, 0), -1);
    assert_int_equal(dmarc_step(c, &name), DMARC_STEP_DONE);
    assert_string_equal(dmarc_status_word(dmarc_result(c)->status), "temperror");
    dmarc_free(c);
}

static void
walk_long_name(void **state)
{
    struct dmarc_opts o = {NULL, 1, NULL, NULL};
    struct dmarc_ctx *c = dmarc_new(&o);
    const char *name, *rec = "v=DMARC1; p=reject";
    size_t len = strlen(rec);
    char asked[8][300];
    int n = 0;

    (void)state;
    dmarc_set_from(c, "l1.l2.l3.l4.l5.l6.l7.l8.l9.example.com");
    while (dmarc_step(c, &name) == DMARC_STEP_TXT) {
        assert_true(n < 8);
        snprintf(asked[n++], sizeof(asked[0]), "%s", name);
        if (strcmp(name, "_dmarc.example.com") == 0)
            dmarc_give_txt(c, name, DMARC_DNS_OK, &rec, &len, 1);
        else
            dmarc_give_txt(c, name, DMARC_DNS_NXDOMAIN, NULL, NULL, 0);
    }
    assert_int_equal(n, 8);
    assert_string_equal(asked[0], "_dmarc.l1.l2.l3.l4.l5.l6.l7.l8.l9.example.com");
    assert_string_equal(asked[1], "_dmarc.l5.l6.l7.l8.l9.example.com");
    assert_string_equal(asked[7], "_dmarc.com");
    assert_string_equal(dmarc_result(c)->used_domain, "example.com");
    assert_string_equal(dmarc_status_word(dmarc_result(c)->status), "reject");
    dmarc_free(c);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(record_all_tags),
    cmocka_unit_test(record_defaults),
    cmocka_unit_test(record_bad_values_default),
    cmocka_unit_test(record_rejects),
    cmocka_unit_test(select_sets),
    cmocka_unit_test(from_forms),
    cmocka_unit_test(from_refused),
    cmocka_unit_test(from_header_section),
    cmocka_unit_test(psl_org_domains),
    cmocka_unit_test(ar_header_text),
    cmocka_unit_test(ar_header_nofrom_off),
    cmocka_unit_test(history_entry),
    cmocka_unit_test(history_needs_record),
    cmocka_unit_test(answers_overflow_temperror),
    cmocka_unit_test(walk_long_name),
};

int
main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
