/*
 * config_values.c - the setters for plain option values: strings (quoted
 *                   or not), host names, booleans, numbers, ports, times,
 *                   sizes, host, domain and address lists, expansion
 *                   strings. Each checks the value and stores it at its
 *                   offset in the structure being filled.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/sockaddr.h"
#include "conf/config_check.h"
#include "conf/config_int.h"
#include "conf/expand.h"

/* ---- option setters ------------------------------------------------- */

/* cfg_bad_value - the common "bad value" error */
int
cfg_bad_value(struct pctx *p, const struct cfg_optdef *d, const char *val, const char *expect)
{
    return cfg_perr(p, "bad value \"%.100s\" for option %s (expected %s)", val, d->name, expect);
}

/* cfg_unquote - a string value; "..." quoted with \\ \" \n \t escapes */
static char *
cfg_unquote(struct pctx *p, const char *opt, const char *val)
{
    size_t len = strlen(val);
    if (val[0] != '"')
        return cfg_ar_strndup(p->a, val, len);
    char *out = cfg_ar_alloc(p->a, len), *o = out;
    const char *s = val + 1;
    for (; *s && *s != '"'; s++) {
        if (*s == '\\' && s[1] != '\0') {
            s++;
            *o++ = *s == 'n' ? '\n' : *s == 't' ? '\t' : *s == 'r' ? '\r' : *s;
        } else {
            *o++ = *s;
        }
    }
    if (*s != '"' || s[1] != '\0') {
        cfg_perr(p, "option %s: bad quoted string %.100s", opt, val);
        return NULL;
    }
    *o = '\0';
    return out;
}

/* cfg_refuse_ctl - an error if v holds a control octet (a tab if !allow_tab) */
int
cfg_refuse_ctl(struct pctx *p, const char *opt, const char *v, int allow_tab)
{
    int c = cfg_ctl_octet(v, allow_tab);
    if (c < 0)
        return 0;
    if (opt == NULL)
        return cfg_perr(p, "control character 0x%02x in the line", c);
    return cfg_perr(p, "option %s: control character 0x%02x in the value", opt, c);
}

/* cfg_opt_str - a string (min 1: must not be empty) */
int
cfg_opt_str(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    char *v = cfg_unquote(p, d->name, val);
    if (v == NULL || cfg_refuse_ctl(p, d->name, v, 0) < 0)
        return -1;
    if (d->min > 0 && *v == '\0')
        return cfg_perr(p, "option %s must not be empty", d->name);
    *CFG_AT(base, d->off, char *) = v;
    return 0;
}

/* cfg_opt_host - a host name (helo_data: or an address literal), sent in
 * SMTP greetings and EHLO as it is */
int
cfg_opt_host(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    int helo = strcmp(d->name, "helo_data") == 0;
    const char *v;
    if (cfg_opt_str(p, d, base, val) < 0)
        return -1;
    v = *CFG_AT(base, d->off, char *);
    if (helo ? cfg_valid_helo(v) : cfg_valid_ldh_name(v))
        return 0;
    return cfg_bad_value(p, d, v,
                         helo ? "a host name or an address literal such as [192.0.2.1]"
                              : "a host name: letters, digits and inner hyphens, dot-separated");
}

/* cfg_opt_bool - true/false/yes/no, or a bare name (true) */
int
cfg_opt_bool(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    int v;
    if (val == NULL || strcasecmp(val, "true") == 0 || strcasecmp(val, "yes") == 0)
        v = 1;
    else if (strcasecmp(val, "false") == 0 || strcasecmp(val, "no") == 0)
        v = 0;
    else
        return cfg_bad_value(p, d, val, "true, false, yes or no");
    *CFG_AT(base, d->off, int) = v;
    return 0;
}

/* cfg_opt_int - a whole number in [min, max] */
int
cfg_opt_int(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    long long v;
    if (cfg_parse_ll(val, &v) < 0 || v < d->min || v > d->max) {
        char want[96];
        snprintf(want, sizeof want, "a whole number from %lld to %lld", d->min, d->max);
        return cfg_bad_value(p, d, val, want);
    }
    *CFG_AT(base, d->off, int) = (int)v;
    return 0;
}

/* cfg_opt_port - a port number 1..65535 */
int
cfg_opt_port(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    if (net_parse_port(val, CFG_AT(base, d->off, uint16_t)) < 0)
        return cfg_bad_value(p, d, val, "a port from 1 to 65535");
    return 0;
}

/* cfg_opt_time - an Exim time in seconds, in [min, max] */
int
cfg_opt_time(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    long v = cfg_parse_time(val);
    if (v < 0 || v < d->min || v > d->max)
        return cfg_bad_value(p, d, val, "a time such as 30s, 5m, 2h or 1h30m");
    *CFG_AT(base, d->off, int) = (int)v;
    return 0;
}

/* cfg_opt_time_ms - an Exim time stored in milliseconds ("500ms" is not Exim: seconds only) */
int
cfg_opt_time_ms(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    long v = cfg_parse_time(val);
    if (v < 0 || (long long)v * 1000 < d->min || (long long)v * 1000 > d->max)
        return cfg_bad_value(p, d, val, "a time such as 1s or 2m");
    *CFG_AT(base, d->off, int) = (int)(v * 1000);
    return 0;
}

/* cfg_opt_size - a size in bytes into an int (max <= INT_MAX) or a uint64_t */
int
cfg_opt_size(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    long long v = cfg_parse_size(val);
    if (v < 0 || v < d->min || v > d->max)
        return cfg_bad_value(p, d, val, "a size such as 100K, 50M or 1G");
    if (d->max <= INT_MAX)
        *CFG_AT(base, d->off, int) = (int)v;
    else
        *CFG_AT(base, d->off, uint64_t) = (uint64_t)v;
    return 0;
}

/* cfg_opt_hostlist - a host list */
int
cfg_opt_hostlist(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    return cfg_parse_hostlist(p, d->name, val, CFG_AT(base, d->off, struct cfg_hostlist));
}

/* cfg_opt_addrs - a list of socket addresses (min = default port) */
int
cfg_opt_addrs(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    char **items;
    size_t n;
    cfg_split_addrs(p, val, &items, &n);
    struct net_addr *arr = n ? cfg_ar_alloc(p->a, n * sizeof *arr) : NULL;
    for (size_t i = 0; i < n; i++)
        if (net_addr_parse(items[i], (uint16_t)d->min, &arr[i]) < 0)
            return cfg_perr(p,
                            "option %s: bad address \"%.100s\" (expected ip, ip:port or "
                            "[ipv6]:port)",
                            d->name, items[i]);
    *CFG_AT(base, d->off, struct net_addr *) = arr;
    *CFG_AT(base, d->off_n, size_t) = n;
    return 0;
}

/* cfg_opt_domainlist - a plain domain list option */
int
cfg_opt_domainlist(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    return cfg_parse_domainlist(p, d->name, val, CFG_AT(base, d->off, struct cfg_domainlist));
}

/* cfg_opt_expand - an expansion string, compiled now so a syntax error
 * stops the load with its file, line and column */
int
cfg_opt_expand(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    char err[256];
    struct exp_str **slot = CFG_AT(base, d->off, struct exp_str *);
    char *v = cfg_unquote(p, d->name, val);
    struct exp_str *e;
    if (v == NULL || cfg_refuse_ctl(p, d->name, v, 1) < 0)
        return -1;
    if ((e = exp_compile(v, err, sizeof err)) == NULL)
        return cfg_perr(p, "option %s: %s", d->name, err);
    if (*slot != NULL) { /* set twice: the later one wins */
        exp_free(*slot);
    }
    *slot = e;
    return 0;
}

/* cfg_opt_hostnames - a host list whose items may also be host names */
int
cfg_opt_hostnames(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    int rc;
    p->host_names = 1;
    rc = cfg_opt_hostlist(p, d, base, val);
    p->host_names = 0;
    if (rc == 0 && strcmp(d->name, "hosts_request_ocsp") == 0)
        ((struct cfg_transport *)base)->hosts_request_ocsp_default = p->applying_defaults;
    return rc;
}

/* log_selector names and their CFG_LOG_* bits ("all" sets every one) */
static const struct {
    const char *name;
    unsigned bit;
} cfg_log_names[] = {
    {"all", CFG_LOG_PROXY},
    {"proxy", CFG_LOG_PROXY},
};

/* cfg_log_bit - the bits of a log_selector name, 0 if unknown */
static unsigned
cfg_log_bit(const char *name)
{
    for (size_t i = 0; i < sizeof(cfg_log_names) / sizeof(cfg_log_names[0]); i++)
        if (strcmp(name, cfg_log_names[i].name) == 0)
            return cfg_log_names[i].bit;
    return 0;
}

/* cfg_opt_log_selector - Exim's "+name -name ..." list: each word adds or
 * removes a selector, left to right, from none; an unknown name is an error */
int
cfg_opt_log_selector(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    unsigned bits = 0;
    char *save = NULL, *copy = cfg_ar_strdup(&p->tmp, val);

    for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        unsigned bit = cfg_log_bit(w + 1);
        if ((*w != '+' && *w != '-') || bit == 0)
            return cfg_bad_value(p, d, w, "+name or -name words; names: all, proxy");
        bits = *w == '+' ? bits | bit : bits & ~bit;
    }
    *CFG_AT(base, d->off, unsigned) = bits;
    return 0;
}
