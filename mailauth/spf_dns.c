/*
 * spf_dns.c - what check_host reads from the DNS answers kept in the
 *             context: the memo lookup (noting the query a run waits for),
 *             and the client's validated PTR names (ptr mechanism, %{p}).
 *
 * Description
 *   RFC 7208 §5.5: the PTR names of the client address, the first 10 only,
 *   each kept when one of its A (or AAAA) records is the client address; a
 *   failed address lookup validates nothing. %{p} (§7.3) prefers the domain
 *   itself, then a name under it, then any validated name, else "unknown".
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mailauth/spf_int.h"

/* spf__lookup - a kept answer, or NULL with the query noted */
const struct spf__memo *
spf__lookup(struct spf__run *r, const char *name, int type)
{
    struct spf_ctx *c = r->c;
    for (size_t i = 0; i < c->nmemo; i++)
        if (c->memo[i].type == type && strcasecmp(c->memo[i].name, name) == 0)
            return &c->memo[i];
    snprintf(c->qname, sizeof c->qname, "%s", name);
    c->qtype = type;
    return NULL;
}

/* reverse_name - the in-addr.arpa / ip6.arpa name of the client */
static void
reverse_name(const struct spf_ctx *c, char *out, size_t outlen)
{
    size_t k = 0;
    if (c->fam == 4) {
        snprintf(out, outlen, "%u.%u.%u.%u.in-addr.arpa", c->ip[3], c->ip[2], c->ip[1], c->ip[0]);
        return;
    }
    for (int i = 31; i >= 0 && k + 2 < outlen; i--) {
        out[k++] = "0123456789abcdef"[(c->ip[i / 2] >> (i % 2 ? 0 : 4)) & 0xf];
        out[k++] = '.';
    }
    snprintf(out + k, outlen - k, "ip6.arpa");
}

/* validated - does name have an address equal to the client's? 1, 0 or
 * SPF__PENDING (a failed lookup validates nothing) */
static int
validated(struct spf__run *r, const char *name)
{
    struct spf_ctx *c = r->c;
    size_t alen = c->fam == 4 ? 4 : 16;
    if (!spf__name_ok(name))
        return 0;
    const struct spf__memo *m = spf__lookup(r, name, c->fam == 4 ? SPF_QT_A : SPF_QT_AAAA);
    if (m == NULL)
        return SPF__PENDING;
    for (size_t i = 0; m->status == SPF_DNS_OK && i < m->n; i++)
        if (memcmp(m->rr[i].addr, c->ip, alen) == 0)
            return 1;
    return 0;
}

/* spf__ptr_names - validated names of the client, first 10 PTRs only */
int
spf__ptr_names(struct spf__run *r, char names[][SPF__DOMAIN_MAX + 2])
{
    char rev[80];
    int n = 0;
    reverse_name(r->c, rev, sizeof rev);
    const struct spf__memo *m = spf__lookup(r, rev, SPF_QT_PTR);
    if (m == NULL)
        return SPF__PENDING;
    for (size_t i = 0; m->status == SPF_DNS_OK && i < m->n && i < 10; i++) {
        int v = validated(r, m->rr[i].text);
        if (v == SPF__PENDING)
            return v;
        if (v == 1)
            snprintf(names[n++], SPF__DOMAIN_MAX + 2, "%s", m->rr[i].text);
    }
    return n;
}

/* spf__pvalue - %{p}: a validated name, preferring domain or under it */
int
spf__pvalue(struct spf__run *r, const char *domain, char *out, size_t outlen)
{
    char names[10][SPF__DOMAIN_MAX + 2];
    int n = spf__ptr_names(r, names), pick = -1;
    if (n == SPF__PENDING)
        return n;
    for (int i = 0; i < n && pick < 0; i++)
        if (strcasecmp(names[i], domain) == 0)
            pick = i;
    for (int i = 0; i < n && pick < 0; i++) {
        size_t a = strlen(names[i]), b = strlen(domain);
        if (a > b && names[i][a - b - 1] == '.' && strcasecmp(names[i] + a - b, domain) == 0)
            pick = i;
    }
    if (pick < 0 && n > 0)
        pick = 0;
    snprintf(out, outlen, "%s", pick < 0 ? "unknown" : names[pick]);
    return 0;
}
