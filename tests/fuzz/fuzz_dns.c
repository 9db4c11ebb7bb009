/*
 * fuzz_dns.c - libFuzzer target for what the resolver reads from the
 *              network: DNS replies through dns__answer_parse() (c-ares'
 *              MX, A and AAAA parsers plus our TTL/SOA walk), and the
 *              names in them through dns__name_norm() and dns_mx_order().
 *
 * Build: clang -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_dns.c
 *        dns/dns_wire.c -lcares
 */
#include <ares.h>
#include <arpa/nameser.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns.h"

/* fixed_rnd - deterministic shuffling source */
static uint32_t
fixed_rnd(void *arg)
{
    uint32_t *s = arg;
    *s = *s * 1664525u + 1013904223u;
    return *s;
}

/* check_answer - invariants every parsed answer must keep */
static void
check_answer(const struct dns__answer *a, int type)
{
    if (a->refs != 1 || a->type != type)
        abort();
    if (a->status == DNS__ANS_TEMP)
        return;
    if (a->ttl < 1 || a->ttl > 3600)
        abort();
    if (a->status != DNS__ANS_OK && a->n != 0)
        abort();
    if (type == T_MX && a->n > DNS__MAX_MX)
        abort();
    if (type != T_MX && a->n > DNS__MAX_ADDRS)
        abort();
}

/* order_mx - feed parsed MX targets to the ordering and re-check names */
static void
order_mx(const struct dns__answer *a)
{
    struct dns_host h[DNS__MAX_MX];
    uint32_t seed = 1;
    char norm[256];
    for (size_t i = 0; i < a->n; i++) {
        h[i] = (struct dns_host){.name = (char *)a->mx[i].name, .pref = a->mx[i].pref};
        if (a->mx[i].name[0] != '\0' && (dns__name_norm(a->mx[i].name, norm, sizeof(norm)) != 0 ||
                                         strcmp(norm, a->mx[i].name) != 0))
            abort(); /* stored names are already normal */
    }
    dns_mx_order(h, a->n, fixed_rnd, &seed);
    for (size_t i = 1; i < a->n; i++)
        if (h[i - 1].pref > h[i].pref)
            abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int types[] = {T_MX, T_A, T_AAAA};
    static const int statuses[] = {ARES_SUCCESS, ARES_ENODATA, ARES_ENOTFOUND};
    long ans, neg;
    char name[300], out[256];

    if (size > 65535)
        return 0;
    for (size_t t = 0; t < 3; t++) {
        dns__scan_ttls(data, size, types[t], &ans, &neg);
        for (size_t s = 0; s < 3; s++) {
            struct dns__answer *a = dns__answer_parse(types[t], statuses[s], data, (int)size);
            check_answer(a, types[t]);
            if (a->type == T_MX && a->status == DNS__ANS_OK)
                order_mx(a);
            dns__answer_unref(a);
        }
    }
    /* the same bytes as a domain name */
    memcpy(name, data, size < sizeof(name) - 1 ? size : sizeof(name) - 1);
    name[size < sizeof(name) - 1 ? size : sizeof(name) - 1] = '\0';
    if (dns__name_norm(name, out, sizeof(out)) == 0 && (out[0] == '\0' || strlen(out) > 253))
        abort();
    return 0;
}
