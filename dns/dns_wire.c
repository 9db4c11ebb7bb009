/*
 * dns_wire.c - what the resolver reads from the network: c-ares query
 *              results turned into cacheable answers, the TTLs of a reply,
 *              domain-name normalisation, and RFC 5321 §5.1 MX ordering.
 *
 * Synopsis
 *   a = dns__answer_parse(T_MX, status, abuf, alen);  ... dns__answer_unref(a);
 *   dns__scan_ttls(abuf, alen, T_A, &ttl, &neg);
 *   dns__name_norm("Example.COM.", buf, sizeof(buf));  -> "example.com"
 *   dns_mx_order(hosts, n, rnd, arg);
 *
 * Description
 *   Everything here is pure (no I/O, no globals) and bounds-checked against
 *   hostile replies: record contents come from c-ares' parsers
 *   (ares_parse_mx_reply, ares_parse_a_reply, ares_parse_aaaa_reply), TTLs
 *   from our own walk over the message, which c-ares' MX parser does not
 *   report. Answer TTLs are the minimum over the RRset, capped at one hour and
 *   at least one second; negative answers (NXDOMAIN, NODATA) live for
 *   min(SOA TTL, SOA MINIMUM) when the authority section holds an SOA
 *   (RFC 2308 §5), else 60 seconds, with the same bounds.
 *
 * Diagnostics
 *   A reply that does not parse becomes a DNS__ANS_TEMP answer (never
 *   cached); allocation failure aborts, as everywhere in the engine.
 */
#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns.h"

#define TTL_MAX 3600u
#define TTL_NEG_DEFAULT 60u

/* xcalloc - calloc that aborts on failure */
static void *
xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (p == NULL)
        abort();
    return p;
}

/* dns__name_norm - lower-case, strip one trailing dot, check the syntax */
int
dns__name_norm(const char *in, char *out, size_t outlen)
{
    size_t len, label = 0;
    if (in == NULL)
        return -1;
    len = strnlen(in, 256);
    if (len > 0 && in[len - 1] == '.')
        len--;
    if (len == 0 || len > 253 || len + 1 > outlen)
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '.') {
            if (label == 0)
                return -1;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
            label++;
        } else if (c >= 'A' && c <= 'Z') {
            c = (unsigned char)(c - 'A' + 'a');
            label++;
        } else {
            return -1;
        }
        if (label > 63)
            return -1;
        out[i] = (char)c;
    }
    if (label == 0)
        return -1;
    out[len] = '\0';
    return 0;
}

/* rd16 / rd32 - big-endian reads */
static uint32_t
rd16(const unsigned char *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}
static uint32_t
rd32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* skip_name - advance *off past a (possibly compressed) name; 0 or -1 */
static int
skip_name(const unsigned char *m, size_t len, size_t *off)
{
    size_t o = *off;
    for (int i = 0; i < 128; i++) {
        unsigned c;
        if (o >= len)
            return -1;
        c = m[o];
        if (c == 0) {
            *off = o + 1;
            return 0;
        }
        if ((c & 0xc0) == 0xc0) {
            if (o + 2 > len)
                return -1;
            *off = o + 2;
            return 0;
        }
        if (c & 0xc0)
            return -1;
        o += 1 + c;
    }
    return -1;
}

/* rr_ttl - an RR's TTL; values with the top bit set mean 0 (RFC 2181 §8) */
static long
rr_ttl(const unsigned char *p)
{
    uint32_t t = rd32(p);
    return (t & 0x80000000u) ? 0 : (long)t;
}

/* dns__scan_ttls - walk question, answer and authority sections for TTLs */
int
dns__scan_ttls(const unsigned char *m, size_t len, int type, long *ans_ttl, long *neg_ttl)
{
    size_t off = 12, qd, an, ns;
    *ans_ttl = *neg_ttl = -1;
    if (m == NULL || len < 12)
        return -1;
    qd = rd16(m + 4), an = rd16(m + 6), ns = rd16(m + 8);
    for (size_t i = 0; i < qd; i++) {
        if (skip_name(m, len, &off) < 0 || off + 4 > len)
            return -1;
        off += 4;
    }
    for (size_t i = 0; i < an + ns; i++) {
        uint32_t rtype, rclass, rdlen;
        long ttl;
        if (skip_name(m, len, &off) < 0 || off + 10 > len)
            return -1;
        rtype = rd16(m + off), rclass = rd16(m + off + 2);
        ttl = rr_ttl(m + off + 4);
        rdlen = rd16(m + off + 8);
        off += 10;
        if (off + rdlen > len)
            return -1;
        if (rclass == 1 && i < an && rtype == (uint32_t)type && (*ans_ttl < 0 || ttl < *ans_ttl))
            *ans_ttl = ttl;
        if (rclass == 1 && i >= an && rtype == T_SOA && rdlen >= 22) {
            long min = rr_ttl(m + off + rdlen - 4);
            *neg_ttl = ttl < min ? ttl : min;
        }
        off += rdlen;
    }
    return 0;
}

/* clamp_ttl - keep a TTL within [1 s, 1 h]; dflt when unknown (< 0) */
static uint32_t
clamp_ttl(long ttl, uint32_t dflt)
{
    if (ttl < 0)
        return dflt;
    if (ttl < 1)
        return 1;
    return ttl > (long)TTL_MAX ? TTL_MAX : (uint32_t)ttl;
}

/* answer_new - an empty answer with one reference */
static struct dns__answer *
answer_new(int type, enum dns__astatus st, int ares_status)
{
    struct dns__answer *a = xcalloc(1, sizeof(*a));
    a->refs = 1;
    a->type = type;
    a->status = st;
    a->ares_status = ares_status;
    return a;
}

/* dns__answer_temp - a temporary-failure answer */
struct dns__answer *
dns__answer_temp(int type, int ares_status)
{
    return answer_new(type, DNS__ANS_TEMP, ares_status);
}

/* dns__answer_unref - drop a reference */
void
dns__answer_unref(struct dns__answer *a)
{
    if (a == NULL || --a->refs > 0)
        return;
    free(a->mx);
    free(a->addrs);
    for (size_t i = 0; a->txt != NULL && i < a->n; i++)
        free(a->txt[i]);
    free(a->txt);
    free(a->tlen);
    free(a);
}

/* parse_mx - MX records of a NOERROR reply with answers */
static int
parse_mx(struct dns__answer *a, const unsigned char *abuf, int alen)
{
    struct ares_mx_reply *list = NULL;
    int rc = ares_parse_mx_reply(abuf, alen, &list);
    if (rc != ARES_SUCCESS)
        return rc;
    a->mx = xcalloc(DNS__MAX_MX, sizeof(*a->mx));
    for (struct ares_mx_reply *p = list; p != NULL && a->n < DNS__MAX_MX; p = p->next) {
        struct dns__mx *x = &a->mx[a->n];
        x->pref = p->priority;
        if (p->host == NULL || p->host[0] == '\0' || strcmp(p->host, ".") == 0)
            x->name[0] = '\0'; /* the root: null MX */
        else if (dns__name_norm(p->host, x->name, sizeof(x->name)) < 0)
            continue; /* a target we could never resolve: drop it */
        a->n++;
    }
    ares_free_data(list);
    return ARES_SUCCESS;
}

/* txt_add - append bytes to record i of a TXT/PTR answer (new: start it) */
static void
txt_add(struct dns__answer *a, int start, const unsigned char *p, size_t len)
{
    size_t i;
    if (a->txt == NULL) {
        a->txt = xcalloc(DNS__MAX_TXT, sizeof(*a->txt));
        a->tlen = xcalloc(DNS__MAX_TXT, sizeof(*a->tlen));
    }
    if (start || a->n == 0) {
        if (a->n == DNS__MAX_TXT)
            return;
        a->txt[a->n] = xcalloc(1, 1);
        a->n++;
    }
    i = a->n - 1;
    char *t = realloc(a->txt[i], a->tlen[i] + len + 1);
    if (t == NULL)
        abort();
    memcpy(t + a->tlen[i], p, len);
    a->tlen[i] += len;
    t[a->tlen[i]] = '\0';
    a->txt[i] = t;
}

/* parse_txt - TXT records, each record's strings joined (RFC 7208 §3.3) */
static int
parse_txt(struct dns__answer *a, const unsigned char *abuf, int alen)
{
    struct ares_txt_ext *list = NULL;
    int rc = ares_parse_txt_reply_ext(abuf, alen, &list);
    if (rc != ARES_SUCCESS)
        return rc;
    for (struct ares_txt_ext *p = list; p != NULL; p = p->next)
        txt_add(a, p->record_start, p->txt, p->length);
    ares_free_data(list);
    return a->n > 0 ? ARES_SUCCESS : ARES_ENODATA;
}

/* parse_ptr - PTR names of the answer section, normalised */
static int
parse_ptr(struct dns__answer *a, const unsigned char *m, int alen)
{
    size_t off = 12, len = (size_t)alen, an;
    if (len < 12 || rd16(m + 4) != 1)
        return ARES_EBADRESP;
    an = rd16(m + 6);
    if (skip_name(m, len, &off) < 0 || off + 4 > len)
        return ARES_EBADRESP;
    off += 4;
    for (size_t i = 0; i < an; i++) {
        char *name = NULL, norm[256];
        long el;
        if (skip_name(m, len, &off) < 0 || off + 10 > len)
            return ARES_EBADRESP;
        uint32_t type = rd16(m + off), rdlen = rd16(m + off + 8);
        off += 10;
        if (off + rdlen > len)
            return ARES_EBADRESP;
        if (type == T_PTR && ares_expand_name(m + off, m, alen, &name, &el) == ARES_SUCCESS) {
            if (dns__name_norm(name, norm, sizeof(norm)) == 0)
                txt_add(a, 1, (const unsigned char *)norm, strlen(norm));
            ares_free_string(name);
        }
        off += rdlen;
    }
    return a->n > 0 ? ARES_SUCCESS : ARES_ENODATA;
}

/* parse_addrs - A or AAAA records (CNAME chains followed by c-ares) */
static int
parse_addrs(struct dns__answer *a, const unsigned char *abuf, int alen, long *minttl)
{
    struct ares_addrttl v4[DNS__MAX_ADDRS];
    struct ares_addr6ttl v6[DNS__MAX_ADDRS];
    int n = DNS__MAX_ADDRS, rc;
    if (a->type == T_A)
        rc = ares_parse_a_reply(abuf, alen, NULL, v4, &n);
    else
        rc = ares_parse_aaaa_reply(abuf, alen, NULL, v6, &n);
    if (rc != ARES_SUCCESS && rc != ARES_ENODATA)
        return rc;
    if (n <= 0)
        return ARES_ENODATA;
    a->addrs = xcalloc((size_t)n, sizeof(*a->addrs));
    for (int i = 0; i < n; i++) {
        int ttl = a->type == T_A ? v4[i].ttl : v6[i].ttl;
        a->addrs[i].family = a->type == T_A ? AF_INET : AF_INET6;
        if (a->type == T_A)
            memcpy(a->addrs[i].a, &v4[i].ipaddr, 4);
        else
            memcpy(a->addrs[i].a, &v6[i].ip6addr, 16);
        if (*minttl < 0 || ttl < *minttl)
            *minttl = ttl < 0 ? 0 : ttl;
    }
    a->n = (size_t)n;
    return ARES_SUCCESS;
}

/* dns__answer_parse - classify a c-ares result and extract its records */
struct dns__answer *
dns__answer_parse(int type, int ares_status, const unsigned char *abuf, int alen)
{
    struct dns__answer *a;
    long ans_ttl = -1, neg_ttl = -1;
    int rc = ares_status;
    if (abuf != NULL && alen > 0)
        dns__scan_ttls(abuf, (size_t)alen, type, &ans_ttl, &neg_ttl);
    if (rc == ARES_SUCCESS) {
        if (abuf == NULL || alen <= 0)
            return dns__answer_temp(type, ARES_EBADRESP);
        if (type != T_MX && type != T_A && type != T_AAAA && type != T_TXT && type != T_PTR)
            return dns__answer_temp(type, ARES_ENOTIMP);
        a = answer_new(type, DNS__ANS_OK, 0);
        if (type == T_MX)
            rc = parse_mx(a, abuf, alen);
        else if (type == T_TXT)
            rc = parse_txt(a, abuf, alen);
        else if (type == T_PTR)
            rc = parse_ptr(a, abuf, alen);
        else
            rc = parse_addrs(a, abuf, alen, &ans_ttl);
        if (rc == ARES_SUCCESS) {
            a->ttl = clamp_ttl(ans_ttl, TTL_NEG_DEFAULT);
            return a;
        }
        dns__answer_unref(a);
    }
    if (rc == ARES_ENODATA || rc == ARES_ENOTFOUND) {
        a = answer_new(type, rc == ARES_ENODATA ? DNS__ANS_NODATA : DNS__ANS_NXDOMAIN, rc);
        a->ttl = clamp_ttl(neg_ttl, TTL_NEG_DEFAULT);
        return a;
    }
    return dns__answer_temp(type, rc);
}

/* pref_cmp - qsort order: ascending MX preference */
static int
pref_cmp(const void *a, const void *b)
{
    const struct dns_host *x = a, *y = b;
    return (int)x->pref - (int)y->pref;
}

/* shuffle - Fisher-Yates over hosts[0..n) with rnd */
static void
shuffle(struct dns_host *h, size_t n, uint32_t (*rnd)(void *), void *arg)
{
    for (size_t k = n - 1; k > 0; k--) {
        size_t u = (size_t)(((uint64_t)rnd(arg) * (uint64_t)(k + 1)) >> 32);
        struct dns_host t = h[k];
        h[k] = h[u];
        h[u] = t;
    }
}

/* dns_mx_order - ascending preference, random order among equal ones */
void
dns_mx_order(struct dns_host *hosts, size_t n, uint32_t (*rnd)(void *), void *rnd_arg)
{
    size_t i, j;
    if (n < 2)
        return;
    qsort(hosts, n, sizeof(*hosts), pref_cmp);
    if (rnd == NULL)
        return;
    for (i = 0; i < n; i = j) {
        for (j = i + 1; j < n && hosts[j].pref == hosts[i].pref; j++)
            ;
        if (j - i > 1)
            shuffle(hosts + i, j - i, rnd, rnd_arg);
    }
}
