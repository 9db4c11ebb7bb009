/*
 * config_lists.c - parsing host lists (addresses, CIDR blocks, "*", host
 *                  name patterns, "+name") and domain lists ("name",
 *                  "*.suffix", "*", "+name"), each item maybe negated.
 *                  Matching them is config_match.c's.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>

#include "conf/config_int.h"

/* cfg_find_named - a named list defined earlier, or NULL (also for one that
 * only ACL conditions can use: its list is NULL) */
void *
cfg_find_named(struct pctx *p, const char *name, int is_host)
{
    for (size_t i = 0; i < p->nnamed; i++)
        if (p->named[i].is_host == is_host && strcmp(p->named[i].name, name) == 0)
            return p->named[i].list;
    return NULL;
}

/* cfg_named_why - why "+name" is refused: undefined, or usable by ACLs only */
static const char *
cfg_named_why(struct pctx *p, const char *name, int is_host)
{
    for (size_t i = 0; i < p->nnamed; i++)
        if (p->named[i].is_host == is_host && strcmp(p->named[i].name, name) == 0)
            return "holds items only ACL conditions support (@, @[], lookups, regexes)";
    return "is not defined (define it first)";
}

/* cfg_parse_hostitem - "*", "+name", "ip", "ip/bits", each maybe after "!" */
static int
cfg_parse_hostitem(struct pctx *p, const char *opt, const char *item, struct cfg_hostitem *out)
{
    const char *s = item;
    char buf[INET6_ADDRSTRLEN + 1];
    memset(out, 0, sizeof *out);
    if (*s == '!') {
        out->negate = 1;
        s = cfg_skip_ws(s + 1);
    }
    if (strcmp(s, "*") == 0) {
        out->any = 1;
        return 0;
    }
    if (*s == '+') {
        out->sub = cfg_find_named(p, s + 1, 1);
        if (out->sub == NULL)
            return cfg_perr(p, "option %s: host list \"+%.64s\" %s", opt, s + 1,
                            cfg_named_why(p, s + 1, 1));
        return 0;
    }
    const char *slash = strchr(s, '/');
    size_t hl = slash ? (size_t)(slash - s) : strlen(s);
    if (hl == 0 || hl >= sizeof buf)
        goto bad;
    memcpy(buf, s, hl);
    buf[hl] = '\0';
    int maxbits;
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
        maxbits = 32;
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = AF_INET6;
        maxbits = 128;
    } else if (p->host_names && slash == NULL) {
        struct cfg_domainitem *d = cfg_ar_alloc(p->a, sizeof(*d));
        if (cfg_parse_domainitem(p, opt, s, d, 0) < 0)
            return -1;
        out->name = d;
        return 0;
    } else {
        goto bad;
    }
    long long bits = maxbits;
    if (slash != NULL && (cfg_parse_ll(slash + 1, &bits) < 0 || bits < 0 || bits > maxbits))
        goto bad;
    out->prefix = (int)bits;
    return 0;
bad:
    return cfg_perr(p,
                    "option %s: bad host list item \"%.100s\" (expected an IP address, "
                    "address/bits, \"*\" or +name)",
                    opt, item);
}

/* cfg_parse_hostlist - an Exim host list into out */
int
cfg_parse_hostlist(struct pctx *p, const char *opt, const char *val, struct cfg_hostlist *out)
{
    char **items;
    size_t n;
    cfg_split_list(p, val, ':', 0, &items, &n);
    out->items = n ? cfg_ar_alloc(p->a, n * sizeof *out->items) : NULL;
    out->n = 0;
    for (size_t i = 0; i < n; i++)
        if (cfg_parse_hostitem(p, opt, items[i], &out->items[i]) < 0)
            return -1;
    out->n = n;
    return 0;
}

/* cfg_parse_domainitem - "*", "*.suffix", "name", "+list", "!" first if allowed */
int
cfg_parse_domainitem(struct pctx *p, const char *opt, const char *item, struct cfg_domainitem *out,
                     int allow_negate)
{
    const char *s = item;
    memset(out, 0, sizeof *out);
    if (*s == '!') {
        if (!allow_negate)
            return cfg_perr(p, "option %s: \"!\" is not allowed in \"%.100s\"", opt, item);
        out->negate = 1;
        s = cfg_skip_ws(s + 1);
    }
    if (strcmp(s, "*") == 0) {
        out->kind = 2;
        out->name = cfg_ar_strdup(p->a, "*");
        return 0;
    }
    if (*s == '+') {
        out->kind = 3;
        out->name = cfg_ar_strdup(p->a, s + 1);
        out->sub = cfg_find_named(p, s + 1, 0);
        if (out->sub == NULL)
            return cfg_perr(p, "option %s: domain list \"+%.64s\" %s", opt, s + 1,
                            cfg_named_why(p, s + 1, 0));
        return 0;
    }
    if (s[0] == '*' && s[1] == '.') {
        out->kind = 1;
        s += 2;
    }
    char *name = cfg_ar_strdup(p->a, s);
    size_t n = strlen(name);
    if (n > 1 && name[n - 1] == '.')
        name[--n] = '\0';
    if (!cfg_valid_hostname(name))
        return cfg_perr(p, "option %s: bad domain list item \"%.100s\"", opt, item);
    for (char *c = name; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    out->name = name;
    return 0;
}

/* cfg_parse_domainlist - an Exim domain list into out */
int
cfg_parse_domainlist(struct pctx *p, const char *opt, const char *val, struct cfg_domainlist *out)
{
    char **items;
    size_t n;
    cfg_split_list(p, val, ':', 0, &items, &n);
    out->items = n ? cfg_ar_alloc(p->a, n * sizeof *out->items) : NULL;
    out->n = 0;
    for (size_t i = 0; i < n; i++)
        if (cfg_parse_domainitem(p, opt, items[i], &out->items[i], 1) < 0)
            return -1;
    out->n = n;
    return 0;
}
