/*
 * spf_conform.c - the openspf test suites against mailauth/spf: reads the
 *                 JSON that spf_suite.py makes of a YAML suite, answers the
 *                 evaluator's queries from each scenario's zone data, and
 *                 prints every test that does not pass with its reason.
 *
 *   spf_conform SUITE.json     last line: "passed P/T"; exit 0 if all pass
 *
 * Zone rules (pyspf test/testspf.py DNSLookup): empty labels are dropped and
 * a label over 63 octets times out; a name not in the zone is NXDOMAIN, or
 * a timeout when it starts with "error."; entries are read in order and a
 * TIMEOUT entry times out the query unless a record of the asked type came
 * before it; a CNAME is followed. The default explanation is "DEFAULT".
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailauth/spf.h"

#define MAX_RR 64

static const char *
type_name(int t)
{
    switch (t) {
    case SPF_QT_A:
        return "A";
    case SPF_QT_AAAA:
        return "AAAA";
    case SPF_QT_MX:
        return "MX";
    case SPF_QT_PTR:
        return "PTR";
    default:
        return "TXT";
    }
}

/* norm - pydns label processing: drop empty labels, lower case; -1 if a
 * label is over 63 octets */
static int
norm(const char *in, char *out, size_t outlen)
{
    size_t k = 0, label = 0;
    for (const char *p = in; *p && k + 1 < outlen; p++) {
        if (*p == '.') {
            if (label > 0)
                out[k++] = '.';
            label = 0;
            continue;
        }
        if (++label > 63)
            return -1;
        out[k++] = (char)tolower((unsigned char)*p);
    }
    if (k > 0 && out[k - 1] == '.')
        k--;
    out[k] = '\0';
    return 0;
}

/* add_rr - one zone entry of the asked type into rrs */
static void
add_rr(int type, json_t *v, struct spf_rr *rr)
{
    memset(rr, 0, sizeof *rr);
    if (type == SPF_QT_A || type == SPF_QT_AAAA) {
        inet_pton(type == SPF_QT_A ? AF_INET : AF_INET6, json_string_value(v), rr->addr);
    } else if (type == SPF_QT_MX) {
        rr->pref = (uint16_t)json_integer_value(json_array_get(v, 0));
        rr->text = json_string_value(json_array_get(v, 1));
    } else {
        rr->text = json_string_value(v);
        rr->len = json_string_length(v);
    }
}

/* zone_lookup - answer (name, type) from zone; status, records in rrs */
static int
zone_lookup(json_t *zone, const char *qname, int type, struct spf_rr *rrs, size_t *n, int depth)
{
    char name[512];
    const char *cname = NULL;
    size_t i;
    json_t *e, *entries;
    *n = 0;
    if (norm(qname, name, sizeof name) < 0)
        return SPF_DNS_TEMP;
    entries = json_object_get(zone, name);
    if (entries == NULL)
        return strncmp(name, "error.", 6) == 0 ? SPF_DNS_TEMP : SPF_DNS_NXDOMAIN;
    int timeout = 1;
    json_array_foreach(entries, i, e)
    {
        if (json_is_string(e)) { /* TIMEOUT */
            if (timeout)
                return SPF_DNS_TEMP;
            break;
        }
        const char *t = json_string_value(json_array_get(e, 0));
        json_t *v = json_array_get(e, 1);
        if (strcmp(t, "CNAME") == 0)
            cname = json_string_value(v);
        if (strcmp(t, type_name(type)) != 0)
            continue;
        timeout = 0;
        if (json_is_string(v) && strcmp(json_string_value(v), "TIMEOUT") == 0)
            return SPF_DNS_TEMP;
        if (*n < MAX_RR)
            add_rr(type, v, &rrs[(*n)++]);
    }
    if (*n == 0 && cname != NULL && depth < 10)
        return zone_lookup(zone, cname, type, rrs, n, depth + 1);
    return *n ? SPF_DNS_OK : SPF_DNS_NODATA;
}

/* run_one - evaluate one test; 1 if it passes (else prints why) */
static int
run_one(const char *id, json_t *t, json_t *zone)
{
    struct spf_request rq = {.ip = json_string_value(json_object_get(t, "host")),
                             .sender = json_string_value(json_object_get(t, "mailfrom")),
                             .helo = json_string_value(json_object_get(t, "helo")),
                             .default_exp = "DEFAULT"};
    struct spf_rr rrs[MAX_RR];
    size_t n, i;
    json_t *want = json_object_get(t, "result"), *w;
    json_t *exp = json_object_get(t, "explanation");
    int ok = 0;
    struct spf_ctx *c = spf_new(&rq);
    if (c == NULL) {
        printf("FAIL %s: bad host %s\n", id, rq.ip);
        return 0;
    }
    while (spf_step(c) == SPF_STEP_QUERY) {
        int st = zone_lookup(zone, spf_query_name(c), spf_query_type(c), rrs, &n, 0);
        spf_answer(c, st, rrs, n);
    }
    const char *got = spf_result_name(spf_result(c));
    json_array_foreach(want, i, w) ok |= strcmp(json_string_value(w), got) == 0;
    if (!ok)
        printf("FAIL %s (spec %s): got %s (%s), want %s\n", id,
               json_string_value(json_object_get(t, "spec")), got, spf_reason(c),
               json_string_value(json_array_get(want, 0)));
    else if (json_is_string(exp) && strcmp(json_string_value(exp), spf_explanation(c)) != 0) {
        printf("FAIL %s: explanation \"%s\", want \"%s\"\n", id, spf_explanation(c),
               json_string_value(exp));
        ok = 0;
    }
    spf_free(c);
    return ok;
}

int
main(int argc, char **argv)
{
    json_error_t jerr;
    json_t *root, *suites, *s;
    size_t i, passed = 0, total = 0;
    if (argc != 2) {
        fprintf(stderr, "usage: spf_conform SUITE.json\n");
        return 2;
    }
    root = json_load_file(argv[1], JSON_ALLOW_NUL, &jerr);
    if (root == NULL) {
        fprintf(stderr, "%s:%d: %s\n", argv[1], jerr.line, jerr.text);
        return 2;
    }
    suites = json_object_get(root, "suites");
    json_array_foreach(suites, i, s)
    {
        const char *id;
        json_t *t;
        json_object_foreach(json_object_get(s, "tests"), id, t)
        {
            total++;
            passed += (size_t)run_one(id, t, json_object_get(s, "zone"));
        }
    }
    json_decref(root);
    printf("passed %zu/%zu\n", passed, total);
    return passed == total ? 0 : 1;
}
