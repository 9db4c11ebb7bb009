/*
 * dmarc_ctx.c - the per-message DMARC context: the identities the caller
 *               sets and the cache of DNS answers it gives (each TXT RRset
 *               reduced at once to its DMARC record, RFC 7489 §6.6.3).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailauth/dmarc_int.h"

struct dmarc_ctx *
dmarc_new(const struct dmarc_opts *opts)
{
    struct dmarc_ctx *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    if (opts != NULL)
        c->o = *opts;
    c->res.status = DMARC_ST_NOFROM;
    return c;
}

void
dmarc_free(struct dmarc_ctx *c)
{
    size_t i;

    if (c == NULL)
        return;
    for (i = 0; i < c->nans; i++)
        free(c->ans[i].rec);
    free(c);
}

int
dmarc_set_from(struct dmarc_ctx *c, const char *domain)
{
    c->have_from = domain != NULL && dmarc__domain_copy(domain, c->from) == 0;
    c->done = 0;
    return c->have_from ? 0 : -1;
}

int
dmarc_set_spf(struct dmarc_ctx *c, const char *domain, enum dmarc_auth result)
{
    c->spf = DMARC_AUTH_NONE;
    c->spf_domain[0] = '\0';
    if (domain == NULL || dmarc__domain_copy(domain, c->spf_domain) < 0)
        return -1;
    c->spf = result;
    return 0;
}

int
dmarc_add_dkim(struct dmarc_ctx *c, const char *d, const char *selector, enum dmarc_auth result)
{
    struct dmarc__dkim *k;

    if (c->ndkim == DMARC__DKIM_MAX)
        return -1;
    k = &c->dkim[c->ndkim];
    if (d == NULL || dmarc__domain_copy(d, k->d) < 0)
        return -1;
    snprintf(k->s, sizeof(k->s), "%s", selector ? selector : "");
    k->result = result;
    c->ndkim++;
    return 0;
}

void
dmarc_disable(struct dmarc_ctx *c)
{
    c->disabled = 1;
}

const struct dmarc__ans *
dmarc__find(const struct dmarc_ctx *c, enum dmarc_step kind, const char *name)
{
    size_t i;

    for (i = 0; i < c->nans; i++)
        if (c->ans[i].kind == kind && strcmp(c->ans[i].name, name) == 0)
            return &c->ans[i];
    return NULL;
}

/* slot - a fresh cache entry for name, or NULL when full (or too long) */
static struct dmarc__ans *
slot(struct dmarc_ctx *c, enum dmarc_step kind, const char *name, enum dmarc_dns rc)
{
    struct dmarc__ans *a;

    if (c->nans == DMARC__ANS_MAX || name == NULL || strlen(name) >= DMARC__NAME_MAX) {
        c->overflow = 1;
        return NULL;
    }
    a = &c->ans[c->nans++];
    memset(a, 0, sizeof(*a));
    strcpy(a->name, name);
    for (char *p = a->name; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    a->kind = kind;
    a->rc = rc;
    a->sel = DMARC_SEL_NONE;
    return a;
}

int
dmarc_give_txt(struct dmarc_ctx *c, const char *name, enum dmarc_dns rc, const char *const *txt,
               const size_t *len, size_t n)
{
    struct dmarc_record rec;
    struct dmarc__ans *a = slot(c, DMARC_STEP_TXT, name, rc);

    if (a == NULL)
        return -1;
    if (rc != DMARC_DNS_OK || n == 0)
        return 0;
    a->sel = dmarc_record_select(txt, len, n, &rec);
    if (a->sel == DMARC_SEL_ONE) {
        if ((a->rec = malloc(sizeof(rec))) == NULL) {
            a->rc = DMARC_DNS_TEMPERROR;
            return 0;
        }
        *a->rec = rec;
    }
    return 0;
}

int
dmarc_give_exists(struct dmarc_ctx *c, const char *name, enum dmarc_dns rc)
{
    return slot(c, DMARC_STEP_EXISTS, name, rc) ? 0 : -1;
}

const struct dmarc_result *
dmarc_result(const struct dmarc_ctx *c)
{
    return &c->res;
}
