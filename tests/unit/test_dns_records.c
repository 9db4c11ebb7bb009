/*
 * test_dns_records.c - dns_lookup(): single-type lookups answered with
 *                      their records, against nsd serving the test zone
 *                      (dnsfx.c), and the records made from parsed answers.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns/dns.h"
#include "dnsfx.h"
#include "testutil.h"

#include <cmocka.h>

#define MAX_REC 8
static struct dns_records *recs[MAX_REC];
static size_t nrecs;

/* on_rec - collect a record result */
static void
on_rec(struct dns_records *res, void *arg)
{
    struct fx *f = arg;
    if (f->in_call)
        f->reentered = 1;
    assert_true(nrecs < MAX_REC);
    recs[nrecs++] = res;
    f->outstanding--;
    advance(f);
}

static void
ask(struct fx *f, const char *name, int type)
{
    f->outstanding++;
    f->in_call = 1;
    assert_int_equal(dns_lookup(f->r, name, type, on_rec, f), 0);
    f->in_call = 0;
}

static void
drop(void)
{
    for (size_t i = 0; i < nrecs; i++)
        dns_records_free(recs[i]);
    nrecs = 0;
}

static void
s_txt(struct fx *f)
{
    ask(f, "SPF." ZONE ".", DNS_T_TXT);
}
/* two TXT records, the first made of two strings joined without a space */
static void
test_txt_records(void **state)
{
    struct fx *f = *state;
    run(f, 1, s_txt);
    assert_int_equal(nrecs, 1);
    assert_int_equal(recs[0]->status, DNS_REC_OK);
    assert_int_equal(recs[0]->n, 2);
    int first = strncmp(recs[0]->rr[0].text, "v=spf1", 6) == 0 ? 0 : 1;
    assert_string_equal(recs[0]->rr[first].text, "v=spf1 ip4:127.0.0.1 -all");
    assert_int_equal(recs[0]->rr[first].len, strlen("v=spf1 ip4:127.0.0.1 -all"));
    assert_string_equal(recs[0]->rr[1 - first].text, "other");
    assert_false(f->reentered);
    drop();
}

static void
s_kinds(struct fx *f)
{
    ask(f, "two." ZONE, DNS_T_MX);
    ask(f, "mx1." ZONE, DNS_T_AAAA);
    ask(f, "nosuchname." ZONE, DNS_T_A);
    ask(f, "txtonly." ZONE, DNS_T_A);
}
/* MX with preferences, AAAA, NXDOMAIN and NODATA */
static void
test_mx_aaaa_nx_nodata(void **state)
{
    struct fx *f = *state;
    uint8_t want[16];
    run(f, 1, s_kinds);
    assert_int_equal(nrecs, 4);
    for (size_t i = 0; i < nrecs; i++) {
        struct dns_records *r = recs[i];
        if (r->n == 2) { /* MX */
            int a = r->rr[0].pref == 10 ? 0 : 1;
            assert_string_equal(r->rr[a].text, "mx1." ZONE);
            assert_int_equal(r->rr[1 - a].pref, 20);
        } else if (r->n == 1) {
            inet_pton(AF_INET6, "2001:db8::1", want);
            assert_int_equal(r->rr[0].family, AF_INET6);
            assert_memory_equal(r->rr[0].addr, want, 16);
        } else {
            assert_true(r->status == DNS_REC_NXDOMAIN || r->status == DNS_REC_NODATA);
        }
    }
    drop();
}

static void
s_bad(struct fx *f)
{
    ask(f, "bad..name." ZONE, DNS_T_TXT);
}
/* a malformed name: a name error, no query, and never an unknown type */
static void
test_malformed_and_type(void **state)
{
    struct fx *f = *state;
    assert_int_equal(dns_lookup(f->r, "x." ZONE, 6 /* SOA */, on_rec, f), -EINVAL);
    uint64_t q = queries(f);
    run(f, 1, s_bad);
    assert_int_equal(recs[0]->status, DNS_REC_NXDOMAIN);
    assert_int_equal(queries(f), q);
    drop();
}

/* a TXT answer parsed from wire bytes: multi-string joined, PTR names */
static void
test_parse_ptr_wire(void **state)
{
    (void)state;
    static const unsigned char msg[] = {0, 1, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0,
                                        /* question 1.0.0.127.in-addr.arpa PTR IN */
                                        1, '1', 1, '0', 1, '0', 3, '1', '2', '7', 7, 'i', 'n', '-',
                                        'a', 'd', 'd', 'r', 4, 'a', 'r', 'p', 'a', 0, 0, 12, 0, 1,
                                        /* answer: PTR Host.Example. */
                                        0xc0, 12, 0, 12, 0, 1, 0, 0, 0, 60, 0, 14, 4, 'H', 'o', 's',
                                        't', 7, 'E', 'x', 'a', 'm', 'p', 'l', 'e', 0,
                                        /* answer: PTR mail.Host.Example (compressed) */
                                        0xc0, 12, 0, 12, 0, 1, 0, 0, 0, 60, 0, 7, 4, 'm', 'a', 'i',
                                        'l', 0xc0, 52};
    struct dns__answer *a = dns__answer_parse(T_PTR, 0, msg, (int)sizeof msg);
    assert_int_equal(a->status, DNS__ANS_OK);
    struct dns_records *r = dns__records_from(a);
    assert_int_equal(r->n, 2);
    assert_string_equal(r->rr[0].text, "host.example");
    assert_string_equal(r->rr[1].text, "mail.host.example");
    dns_records_free(r);
    dns__answer_unref(a);
    /* truncated: not an answer we trust */
    a = dns__answer_parse(T_PTR, 0, msg, 50);
    assert_int_equal(a->status, DNS__ANS_TEMP);
    dns__answer_unref(a);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_txt_records, setup_nsd, teardown),
        cmocka_unit_test_setup_teardown(test_mx_aaaa_nx_nodata, setup_nsd, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_and_type, setup_nsd, teardown),
        cmocka_unit_test(test_parse_ptr_wire),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
