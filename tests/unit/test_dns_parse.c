/*
 * test_dns_parse.c - unit tests for dns/ that need no server: MX ordering,
 *                    name checks, and reply parsing on well-formed and
 *                    malformed input.
 */
#include <ares.h>
#include <arpa/nameser.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns.h"

#include <cmocka.h>

/* ---- dns_mx_order ---- */

/* lcg - deterministic "random" source for the ordering tests */
static uint32_t
lcg(void *arg)
{
    uint64_t *s = arg;
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(*s >> 32);
}

/* counting_rnd - counts calls */
static uint32_t
counting_rnd(void *arg)
{
    (*(int *)arg)++;
    return 0;
}

static void
test_mx_order_sorted(void **state)
{
    struct dns_host h[6] = {{.name = "c", .pref = 30},    {.name = "a", .pref = 10},
                            {.name = "b", .pref = 20},    {.name = "z", .pref = 0},
                            {.name = "m", .pref = 65535}, {.name = "y", .pref = 5}};
    int calls = 0;
    (void)state;
    dns_mx_order(h, 6, counting_rnd, &calls);
    assert_string_equal(h[0].name, "z");
    assert_string_equal(h[1].name, "y");
    assert_string_equal(h[2].name, "a");
    assert_string_equal(h[3].name, "b");
    assert_string_equal(h[4].name, "c");
    assert_string_equal(h[5].name, "m");
    assert_int_equal(calls, 0); /* no equal preferences: nothing to shuffle */
}

static void
test_mx_order_equal_shuffled(void **state)
{
    const char *perms[6] = {NULL};
    int seen[6] = {0}, kinds = 0;
    uint64_t seed = 42;
    (void)state;
    for (int run = 0; run < 300; run++) {
        struct dns_host h[4] = {{.name = "x", .pref = 10},
                                {.name = "b", .pref = 5},
                                {.name = "y", .pref = 10},
                                {.name = "z", .pref = 10}};
        char key[4];
        size_t k;
        dns_mx_order(h, 4, lcg, &seed);
        assert_string_equal(h[0].name, "b"); /* the lone best preference first */
        for (int i = 1; i < 4; i++)
            assert_int_equal(h[i].pref, 10);
        snprintf(key, sizeof(key), "%s%s%s", h[1].name, h[2].name, h[3].name);
        for (k = 0; k < 6 && perms[k] != NULL && strcmp(perms[k], key) != 0; k++)
            ;
        assert_true(k < 6);
        if (perms[k] == NULL) {
            perms[k] = strdup(key);
            kinds++;
        }
        seen[k]++;
    }
    assert_int_equal(kinds, 6); /* every order of the three equals occurs */
    for (int k = 0; k < 6; k++) {
        assert_true(seen[k] > 20); /* and none is rare (300 runs, ~50 each) */
        free((void *)perms[k]);
    }
}

static void
test_mx_order_single_and_empty(void **state)
{
    struct dns_host one = {.name = "only", .pref = 7};
    int calls = 0;
    (void)state;
    dns_mx_order(&one, 1, counting_rnd, &calls);
    assert_string_equal(one.name, "only");
    assert_int_equal(one.pref, 7);
    dns_mx_order(NULL, 0, counting_rnd, &calls);
    assert_int_equal(calls, 0);
}

static void
test_mx_order_large(void **state)
{
    enum { N = 20000 };
    struct dns_host *h = calloc(N, sizeof(*h));
    uint64_t seed = 7, sum = 0, sum2 = 0;
    size_t moved = 0;
    (void)state;
    assert_non_null(h);
    for (size_t i = 0; i < N; i++) {
        h[i].pref = (uint16_t)(lcg(&seed) % 50);
        h[i].naddr = i; /* identity, to check nothing is lost or duplicated */
        sum += i;
    }
    dns_mx_order(h, N, lcg, &seed);
    for (size_t i = 0; i < N; i++) {
        if (i > 0)
            assert_true(h[i - 1].pref <= h[i].pref);
        sum2 += h[i].naddr;
        moved += h[i].naddr != i;
    }
    assert_int_equal(sum, sum2);
    assert_true(moved > N / 2);
    free(h);
}

/* ---- names and replies ---- */

static void
test_name_norm(void **state)
{
    char out[256], longname[300];
    (void)state;
    assert_int_equal(dns__name_norm("Example.COM.", out, sizeof(out)), 0);
    assert_string_equal(out, "example.com");
    assert_int_equal(dns__name_norm("mx_1-a.example", out, sizeof(out)), 0);
    assert_int_equal(dns__name_norm("", out, sizeof(out)), -1);
    assert_int_equal(dns__name_norm(".", out, sizeof(out)), -1);
    assert_int_equal(dns__name_norm("a..b", out, sizeof(out)), -1);
    assert_int_equal(dns__name_norm(".a", out, sizeof(out)), -1);
    assert_int_equal(dns__name_norm("a..", out, sizeof(out)), -1);
    assert_int_equal(dns__name_norm("a b.example", out, sizeof(out)), -1);
    assert_int_equal(dns__name_norm("bad\\.example", out, sizeof(out)), -1);
    assert_int_equal(dns__name_norm("caf\xc3\xa9.example", out, sizeof(out)), -1);
    assert_int_equal(dns__name_norm(NULL, out, sizeof(out)), -1);
    /* 63-octet labels pass, 64 do not */
    memset(longname, 'a', 64);
    longname[64] = '\0';
    assert_int_equal(dns__name_norm(longname, out, sizeof(out)), -1);
    longname[63] = '\0';
    assert_int_equal(dns__name_norm(longname, out, sizeof(out)), 0);
    /* 253 octets pass (with or without the trailing dot), 254 do not */
    for (int i = 0; i < 253; i++)
        longname[i] = (i % 50 == 49) ? '.' : 'b';
    longname[253] = '\0';
    assert_int_equal(dns__name_norm(longname, out, sizeof(out)), 0);
    longname[253] = '.';
    longname[254] = '\0';
    assert_int_equal(dns__name_norm(longname, out, sizeof(out)), 0);
    longname[253] = 'c';
    assert_int_equal(dns__name_norm(longname, out, sizeof(out)), -1);
}

/* put_rr - append name (pre-encoded), type, class IN, ttl and rdata */
static size_t
put_rr(unsigned char *m, size_t off, const char *name, size_t nlen, int type, uint32_t ttl,
       const unsigned char *rd, size_t rdlen)
{
    memcpy(m + off, name, nlen);
    off += nlen;
    m[off++] = (unsigned char)(type >> 8);
    m[off++] = (unsigned char)type;
    m[off++] = 0;
    m[off++] = 1;
    m[off++] = (unsigned char)(ttl >> 24);
    m[off++] = (unsigned char)(ttl >> 16);
    m[off++] = (unsigned char)(ttl >> 8);
    m[off++] = (unsigned char)ttl;
    m[off++] = (unsigned char)(rdlen >> 8);
    m[off++] = (unsigned char)rdlen;
    memcpy(m + off, rd, rdlen);
    return off + rdlen;
}

/* build_reply - an MX reply for "d.t": two MX (TTL 900 and 120) or, when
 * nodata, none and an SOA (TTL 600, MINIMUM 45) in the authority section */
static size_t
build_reply(unsigned char *m, int nodata)
{
    static const char qname[] = "\1d\1t";
    static const unsigned char mx1[] = {0, 10, 2, 'm', 'x', 0xc0, 12};
    static const unsigned char mx2[] = {0, 20, 3, 'm', 'x', '2', 0xc0, 12};
    static const unsigned char soa[] = {0xc0, 12, 0xc0, 12, 0, 0, 0, 1, 0, 0, 0, 2,
                                        0,    0,  0,    3,  0, 0, 0, 4, 0, 0, 0, 45};
    static const unsigned char ptr[] = {0xc0, 12};
    size_t off = 12;
    memset(m, 0, 12);
    m[0] = 0xab;
    m[2] = 0x81;
    m[3] = 0x80;
    m[5] = 1;
    m[7] = nodata ? 0 : 2;
    m[9] = nodata ? 1 : 0;
    memcpy(m + off, qname, sizeof(qname));
    off += sizeof(qname);
    m[off++] = 0, m[off++] = T_MX, m[off++] = 0, m[off++] = 1;
    if (nodata)
        return put_rr(m, off, (const char *)ptr, 2, T_SOA, 600, soa, sizeof(soa));
    off = put_rr(m, off, (const char *)ptr, 2, T_MX, 900, mx1, sizeof(mx1));
    return put_rr(m, off, (const char *)ptr, 2, T_MX, 120, mx2, sizeof(mx2));
}

static void
test_parse_reply_ttls(void **state)
{
    unsigned char m[512];
    size_t len = build_reply(m, 0);
    long ans, neg;
    struct dns__answer *a;
    (void)state;
    assert_int_equal(dns__scan_ttls(m, len, T_MX, &ans, &neg), 0);
    assert_int_equal(ans, 120);
    assert_int_equal(neg, -1);
    a = dns__answer_parse(T_MX, ARES_SUCCESS, m, (int)len);
    assert_int_equal(a->status, DNS__ANS_OK);
    assert_int_equal(a->ttl, 120);
    assert_int_equal(a->n, 2);
    assert_string_equal(a->mx[0].name, "mx.d.t");
    assert_int_equal(a->mx[0].pref, 10);
    assert_string_equal(a->mx[1].name, "mx2.d.t");
    dns__answer_unref(a);

    len = build_reply(m, 1);
    assert_int_equal(dns__scan_ttls(m, len, T_MX, &ans, &neg), 0);
    assert_int_equal(neg, 45);
    a = dns__answer_parse(T_MX, ARES_ENODATA, m, (int)len);
    assert_int_equal(a->status, DNS__ANS_NODATA);
    assert_int_equal(a->ttl, 45);
    dns__answer_unref(a);
    a = dns__answer_parse(T_A, ARES_ENOTFOUND, NULL, 0); /* no SOA: 60 s */
    assert_int_equal(a->status, DNS__ANS_NXDOMAIN);
    assert_int_equal(a->ttl, 60);
    dns__answer_unref(a);
    a = dns__answer_parse(T_A, ARES_ESERVFAIL, NULL, 0);
    assert_int_equal(a->status, DNS__ANS_TEMP);
    assert_int_equal(a->ares_status, ARES_ESERVFAIL);
    dns__answer_unref(a);
}

static void
test_parse_reply_malformed(void **state)
{
    unsigned char m[512], bad[512];
    size_t len = build_reply(m, 0);
    long ans, neg;
    struct dns__answer *a;
    (void)state;
    /* every truncation is rejected or parsed without reading past the end */
    for (size_t cut = 0; cut < len; cut++) {
        unsigned char *copy = malloc(cut ? cut : 1);
        memcpy(copy, m, cut);
        (void)dns__scan_ttls(copy, cut, T_MX, &ans, &neg);
        a = dns__answer_parse(T_MX, ARES_SUCCESS, copy, (int)cut);
        assert_int_not_equal(a->status, DNS__ANS_OK);
        dns__answer_unref(a);
        free(copy);
    }
    assert_int_equal(dns__scan_ttls(m, 5, T_MX, &ans, &neg), -1);
    /* a label running past the end, an unknown label type */
    memcpy(bad, m, len);
    bad[12] = 60;
    assert_int_equal(dns__scan_ttls(bad, len, T_MX, &ans, &neg), -1);
    bad[12] = 0x80;
    assert_int_equal(dns__scan_ttls(bad, len, T_MX, &ans, &neg), -1);
    /* answer count larger than the records present */
    memcpy(bad, m, len);
    bad[7] = 200;
    assert_int_equal(dns__scan_ttls(bad, len, T_MX, &ans, &neg), -1);
    a = dns__answer_parse(T_MX, ARES_SUCCESS, bad, (int)len);
    assert_int_equal(a->status, DNS__ANS_TEMP);
    dns__answer_unref(a);
    /* rdlength past the end */
    memcpy(bad, m, len);
    bad[len - 10] = 0xff; /* high byte of the last RR's rdlength */
    assert_int_equal(dns__scan_ttls(bad, len, T_MX, &ans, &neg), -1);
    /* a TTL with the top bit set counts as 0, and keeps at least 1 s */
    memcpy(bad, m, len);
    bad[len - 14] = 0x80;
    assert_int_equal(dns__scan_ttls(bad, len, T_MX, &ans, &neg), 0);
    assert_int_equal(ans, 0);
    a = dns__answer_parse(T_MX, ARES_SUCCESS, bad, (int)len);
    assert_int_equal(a->ttl, 1);
    dns__answer_unref(a);
    /* an A query type over an MX reply: no addresses (NODATA), not a crash */
    a = dns__answer_parse(T_A, ARES_SUCCESS, m, (int)len);
    assert_int_not_equal(a->status, DNS__ANS_OK);
    dns__answer_unref(a);
    a = dns__answer_parse(T_MX, ARES_SUCCESS, NULL, 0);
    assert_int_equal(a->status, DNS__ANS_TEMP);
    dns__answer_unref(a);
}

const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_mx_order_sorted),
    cmocka_unit_test(test_mx_order_equal_shuffled),
    cmocka_unit_test(test_mx_order_single_and_empty),
    cmocka_unit_test(test_mx_order_large),
    cmocka_unit_test(test_name_norm),
    cmocka_unit_test(test_parse_reply_ttls),
    cmocka_unit_test(test_parse_reply_malformed),
};

int
main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
