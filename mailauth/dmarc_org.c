/*
 * dmarc_org.c - Organizational Domains from the public suffix list
 *               (RFC 7489 §3.2) through libpsl, and the domain-name checks
 *               the evaluator shares.
 *
 * libpsl applies the list's rules and the implicit "*" rule, so a name under
 * a TLD the list lacks still has an Organizational Domain (libopendmarc
 * 1.4.2 gave none). A loaded list is only read afterwards: libpsl's lookup
 * functions may be called from several threads at once.
 */
#include <ctype.h>
#include <libpsl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailauth/dmarc_int.h"

struct dmarc_psl {
    psl_ctx_t *psl;
};

struct dmarc_psl *
dmarc_psl_load(const char *file, char *err, size_t errlen)
{
    struct dmarc_psl *p;

    if (file == NULL || *file == '\0') {
        snprintf(err, errlen, "no public suffix list file");
        return NULL;
    }
    if ((p = malloc(sizeof(*p))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if ((p->psl = psl_load_file(file)) == NULL) {
        snprintf(err, errlen, "%s: cannot load as a public suffix list", file);
        free(p);
        return NULL;
    }
    return p;
}

void
dmarc_psl_free(struct dmarc_psl *psl)
{
    if (psl == NULL)
        return;
    psl_free(psl->psl);
    free(psl);
}

int
dmarc__domain_copy(const char *domain, char *out)
{
    size_t n, i, label = 0;

    if (domain == NULL || (n = strlen(domain)) == 0)
        return -1;
    if (domain[n - 1] == '.')
        n--;
    if (n == 0 || n >= DMARC_DOMAIN_MAX)
        return -1;
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)domain[i];
        if (ch == '.' ? label == 0 : !(isalnum(ch) || ch == '-' || ch == '_' || ch >= 0x80))
            return -1;
        label = ch == '.' ? 0 : label + 1;
        if (label > 63)
            return -1;
        out[i] = (char)tolower(ch);
    }
    out[n] = '\0';
    return label > 0 ? 0 : -1;
}

int
dmarc_psl_org_domain(const struct dmarc_psl *psl, const char *domain, char *out, size_t outlen)
{
    char low[DMARC_DOMAIN_MAX];
    const char *reg;

    if (psl == NULL || outlen == 0 || dmarc__domain_copy(domain, low) < 0)
        return -1;
    reg = psl_registrable_domain(psl->psl, low);
    if (reg == NULL)
        reg = low; /* a public suffix is its own Organizational Domain */
    if (strlen(reg) >= outlen)
        return -1;
    strcpy(out, reg);
    return 0;
}
