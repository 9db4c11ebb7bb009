/*
 * config.c - the configuration parser (Exim-style syntax; see config.h).
 *
 * Reading happens in three layers:
 *   1. cfg_next_line() joins physical lines into logical ones: comment lines
 *      are dropped (also in the middle of a continuation), a trailing '\'
 *      joins the next line with its leading white space removed.
 *   2. cfg_process_line() records macro definitions and substitutes macros,
 *      handles "begin SECTION" and hands the line to the section in force.
 *   3. The sections: main (options and named lists), routers and transports
 *      (driver instances and their options) and retry (rules). Sections live
 *      in a table, options in per-section tables of {name, setter, offset,
 *      range, default}; adding one is one line.
 *
 * After the text, the -o overrides are applied as main options, then each
 * router's transport name is resolved (routers may come first in the file).
 *
 * Memory: everything the result points to lives in one arena owned by the
 * struct cfg (cfg_free releases it in one go); scratch data (macros, list
 * splitting, line buffers) lives in a second arena released when loading ends.
 *
 * Diagnostics: the first error stops the load; err gets "FILE:LINE: why"
 * (or "-o NAME: why" for an override) and the caller gets -1.
 *
 * Thread rules: loading uses no global state, so loads may run on any thread;
 * the result is immutable and may be read by any number of threads.
 */
#include "conf/config.h"

#include "base/sockaddr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf/address.h"
#include "conf/config_check.h"
#include "conf/expand.h"
#include "conf/retry_syntax.h"

#define CFG_LINE_MAX 65536             /* a logical line, also after macro expansion */
#define CFG_MACRO_TOTAL_MAX (4u << 20) /* all macro values together */
#define CFG_FILE_MAX (16u << 20)
#define CFG_ARENA_BLOCK 16384
#define CFG_IDCHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"
#define CFG_INSTCHARS CFG_IDCHARS "-."

const char cfg_default_text[] = "# spate built-in configuration, used when spated runs without -c\n"
                                "spool_directory = ./var/spool\n"
                                "smtp_listen = 127.0.0.1:2525\n"
                                "http_listen = 127.0.0.1:8025\n"
                                "relay_from_hosts = <; 127.0.0.0/8 ; ::1\n"
                                "\n"
                                "begin routers\n"
                                "\n"
                                "dnslookup:\n"
                                "  driver = dnslookup\n"
                                "  transport = remote_smtp\n"
                                "\n"
                                "begin transports\n"
                                "\n"
                                "remote_smtp:\n"
                                "  driver = smtp\n"
                                "  port = 25\n"
                                "\n"
                                "begin retry\n"
                                "\n"
                                "*  *  F,2h,15m; G,16h,1h,1.5; F,4d,6h\n";

/* ---- arena ----------------------------------------------------------
 *
 * Under AddressSanitizer every allocation is followed by a poisoned red zone
 * (and a block's unused tail stays poisoned), so an overflow from one arena
 * object into the next is reported as it would be between malloc'd objects.
 * Elsewhere the red zone is empty and the macros do nothing. */

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CFG_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(CFG_ASAN)
#define CFG_ASAN 1
#endif
#ifdef CFG_ASAN
#include <sanitizer/asan_interface.h>
#define CFG_REDZONE (2 * sizeof(max_align_t))
#define CFG_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define CFG_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define CFG_REDZONE 0
#define CFG_POISON(p, n) ((void)(p), (void)(n))
#define CFG_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

struct cfg_arena_blk {
    struct cfg_arena_blk *next;
    size_t used, cap;
    max_align_t data[];
};
struct cfg_arena {
    struct cfg_arena_blk *head;
};

/* cfg_ar_block - a new block of cap bytes, all poisoned, linked into a */
static struct cfg_arena_blk *
cfg_ar_block(struct cfg_arena *a, size_t cap, int big)
{
    struct cfg_arena_blk *b = a->head, *nb = malloc(sizeof *nb + cap);
    if (nb == NULL)
        abort();
    nb->cap = cap;
    nb->used = 0;
    CFG_POISON(nb->data, cap);
    if (big && b != NULL) { /* keep filling the current block */
        nb->next = b->next;
        b->next = nb;
    } else {
        nb->next = b;
        a->head = nb;
    }
    return nb;
}

/* cfg_ar_alloc - zeroed memory from the arena (out of memory is fatal) */
static void *
cfg_ar_alloc(struct cfg_arena *a, size_t n)
{
    const size_t al = sizeof(max_align_t);
    if (n > SIZE_MAX / 2)
        abort();
    size_t want = n;
    n = (n == 0 ? al : (n + al - 1) / al * al) + CFG_REDZONE;
    struct cfg_arena_blk *b = a->head;
    if (b == NULL || b->cap - b->used < n) {
        int big = n > CFG_ARENA_BLOCK / 4;
        b = cfg_ar_block(a, big ? n : CFG_ARENA_BLOCK, big);
    }
    void *r = (char *)b->data + b->used;
    b->used += n;
    CFG_UNPOISON(r, want ? want : 1);
    memset(r, 0, want ? want : 1);
    return r;
}

/* cfg_ar_strndup - copy n bytes of s as a string */
static char *
cfg_ar_strndup(struct cfg_arena *a, const char *s, size_t n)
{
    char *d = cfg_ar_alloc(a, n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* cfg_ar_strdup - copy s */
static char *
cfg_ar_strdup(struct cfg_arena *a, const char *s)
{
    return cfg_ar_strndup(a, s, strlen(s));
}

/* cfg_ar_grow - make room for element n of an array (doubling; old copy stays in the arena) */
static void *
cfg_ar_grow(struct cfg_arena *a, void *arr, size_t n, size_t *cap, size_t el)
{
    if (n < *cap)
        return arr;
    size_t nc = *cap ? *cap * 2 : 4;
    void *na = cfg_ar_alloc(a, nc * el);
    if (n > 0)
        memcpy(na, arr, n * el);
    *cap = nc;
    return na;
}

/* cfg_ar_free - release every block (a itself may live in one of them) */
static void
cfg_ar_free(struct cfg_arena *a)
{
    struct cfg_arena_blk *b = a->head;
    while (b != NULL) {
        struct cfg_arena_blk *next = b->next;
        free(b);
        b = next;
    }
}

/* ---- parse context -------------------------------------------------- */

struct cfg_macro {
    const char *name;
    size_t nlen;
    const char *value;
    size_t vlen;
};
struct cfg_named {
    const char *name;
    int is_host;
    void *list; /* struct cfg_hostlist or struct cfg_domainlist */
};

struct pctx;
struct cfg_optdef;
typedef int (*cfg_setter)(struct pctx *, const struct cfg_optdef *, void *, const char *);

/* One option: setter(value) stores at base + off. min/max: range of numbers,
 * min = 1 for a string that must not be empty, min = default port for an
 * address list (off_n: its count). dflt: applied before the file, or NULL. */
struct cfg_optdef {
    const char *name;
    cfg_setter set;
    size_t off;
    size_t off_n;
    long long min, max;
    const char *dflt;
};

/* A driver section (routers, transports): where its instances live and how
 * each is checked once read. Offsets: arr_off/n_off in struct cfg, cap_off in
 * struct pctx, name_off/file_off/line_off in the instance. */
struct cfg_drvclass {
    const char *what; /* "router" */
    size_t size, arr_off, n_off, cap_off, name_off, file_off, line_off;
    int (*check)(struct pctx *, void *inst);
    int no_driver;          /* instances have no driver option (destinations) */
    const char *name_chars; /* characters allowed in an instance name; NULL: the default */
};

struct cfg_section {
    const char *name;
    const struct cfg_optdef *opts;
    const struct cfg_drvclass *cls; /* driver sections only */
    int (*line)(struct pctx *, char *);
    int (*finish)(struct pctx *);
};

struct pctx {
    struct cfg *c;
    struct cfg_arena *a;  /* the result's */
    struct cfg_arena tmp; /* scratch */
    const char *file;
    int line, lstart;
    const char *ovname;    /* set while applying an override */
    int host_names;        /* the host list being parsed may name hosts */
    int applying_defaults; /* the value being set is the option's default */
    char *err;
    size_t errlen;
    const struct cfg_section *sec;
    int inst, inst_driver; /* a driver instance is open; its driver was set */
    struct cfg_macro *macros;
    size_t nmacros, capmacros, macro_bytes;
    struct cfg_named *named;
    size_t nnamed, capnamed;
    size_t cap_routers, cap_transports, cap_retry, cap_destinations;
    char *lbuf, *xbuf; /* CFG_LINE_MAX + 1 each */
};

/* cfg_perr - format an error with its position; returns -1 */
__attribute__((format(printf, 2, 3))) static int
cfg_perr(struct pctx *p, const char *fmt, ...)
{
    char msg[CFG_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p->err == NULL || p->errlen == 0)
        return -1;
    if (p->ovname != NULL)
        snprintf(p->err, p->errlen, "-o %s: %s", p->ovname, msg);
    else
        snprintf(p->err, p->errlen, "%s:%d: %s", p->file, p->line, msg);
    return -1;
}

/* cfg_skip_ws - first non-blank character of s */
static char *
cfg_skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return (char *)s;
}

/* cfg_trim - strip white space at both ends, in place */
static char *
cfg_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* cfg_is_word - does line start with word, followed by white space or its end? */
static int
cfg_is_word(const char *line, const char *word)
{
    size_t n = strlen(word);
    return strncmp(line, word, n) == 0 && (line[n] == '\0' || line[n] == ' ' || line[n] == '\t');
}

/* ---- scalar parsers ------------------------------------------------- */

/* cfg_parse_ll - a whole decimal number, nothing else; 0 or -1 */
static int
cfg_parse_ll(const char *s, long long *out)
{
    const char *d = s[0] == '-' ? s + 1 : s;
    if (!isdigit((unsigned char)*d))
        return -1;
    errno = 0;
    char *e;
    long long v = strtoll(s, &e, 10);
    if (errno != 0 || *e != '\0')
        return -1;
    *out = v;
    return 0;
}

/* cfg_valid_hostname - letters, digits, '-', '_', '.' (UTF-8 allowed), no empty labels */
static int
cfg_valid_hostname(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253 || s[0] == '.' || s[0] == '-' || strstr(s, "..") != NULL)
        return 0;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (!isalnum(ch) && ch != '-' && ch != '_' && ch != '.' && ch < 0x80)
            return 0;
    }
    return 1;
}

/* ---- lists ---------------------------------------------------------- */

/* cfg_split_list - split an Exim list ("<X" picks separator X; a doubled
 * separator is a literal one; items trimmed, empty ones dropped). With
 * brackets, text inside [...] is taken as it is. Items live in p->tmp. */
static void
cfg_split_list(struct pctx *p, const char *s, int sep, int brackets, char ***out, size_t *nout)
{
    char **items = NULL;
    size_t n = 0, cap = 0;
    s = cfg_skip_ws(s);
    if (s[0] == '<' && s[1] != '\0' && !isalnum((unsigned char)s[1]) &&
        !isspace((unsigned char)s[1])) {
        sep = (unsigned char)s[1];
        s += 2;
    }
    char *buf = cfg_ar_alloc(&p->tmp, 2 * strlen(s) + 2);
    while (*s) {
        size_t k = 0;
        int inside = 0;
        for (; *s; s++) {
            if (brackets && *s == '[')
                inside = 1;
            else if (brackets && *s == ']')
                inside = 0;
            if (*s == sep && !inside) {
                if (s[1] != sep)
                    break;
                s++; /* doubled: a literal separator */
            }
            buf[k++] = *s;
        }
        if (*s == sep)
            s++;
        buf[k] = '\0';
        char *item = cfg_trim(buf);
        buf += k + 1;
        if (*item == '\0')
            continue;
        items = cfg_ar_grow(&p->tmp, items, n, &cap, sizeof *items);
        items[n++] = item;
    }
    *out = items;
    *nout = n;
}

/* cfg_find_named - a named list defined earlier, or NULL */
static void *
cfg_find_named(struct pctx *p, const char *name, int is_host)
{
    for (size_t i = 0; i < p->nnamed; i++)
        if (p->named[i].is_host == is_host && strcmp(p->named[i].name, name) == 0)
            return p->named[i].list;
    return NULL;
}

static int cfg_parse_domainitem(struct pctx *p, const char *opt, const char *item,
                                struct cfg_domainitem *out, int allow_negate);

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
            return cfg_perr(p, "option %s: host list \"+%.64s\" is not defined (define it first)",
                            opt, s + 1);
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
static int
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
static int
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
            return cfg_perr(p, "option %s: domain list \"+%.64s\" is not defined (define it first)",
                            opt, s + 1);
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
static int
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

/* cfg_split_addrs - address option items: an Exim "<X" list, or ',' / blanks */
static void
cfg_split_addrs(struct pctx *p, const char *val, char ***out, size_t *nout)
{
    const char *s = cfg_skip_ws(val);
    if (*s == '<') {
        cfg_split_list(p, s, ':', 0, out, nout);
        return;
    }
    char **items = NULL, *save = NULL;
    size_t n = 0, cap = 0;
    char *copy = cfg_ar_strdup(&p->tmp, s);
    for (char *t = strtok_r(copy, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
        items = cfg_ar_grow(&p->tmp, items, n, &cap, sizeof *items);
        items[n++] = t;
    }
    *out = items;
    *nout = n;
}

/* ---- match functions ------------------------------------------------ */

/* cfg_prefix_eq - do a and b agree in their first bits bits? */
static int
cfg_prefix_eq(const uint8_t *a, const uint8_t *b, int bits)
{
    int full = bits / 8, rem = bits % 8;
    if (memcmp(a, b, (size_t)full) != 0)
        return 0;
    if (rem == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rem));
    return (a[full] & mask) == (b[full] & mask);
}

/* cfg_hostlist_match_addr - the list walk, with the address in both forms */
static int
cfg_hostlist_match_addr(const struct cfg_hostlist *l, const char *name, const uint8_t *a4,
                        const uint8_t *a6, int depth)
{
    if (l == NULL || depth > 32)
        return 0;
    for (size_t i = 0; i < l->n; i++) {
        const struct cfg_hostitem *it = &l->items[i];
        int m = 0;
        if (it->any)
            m = 1;
        else if (it->name != NULL)
            m = name != NULL && cfg_domain_match(it->name, name);
        else if (it->sub != NULL)
            m = cfg_hostlist_match_addr(it->sub, name, a4, a6, depth + 1);
        else if (it->family == AF_INET && a4 != NULL)
            m = cfg_prefix_eq(it->addr, a4, it->prefix);
        else if (it->family == AF_INET6 && a6 != NULL)
            m = cfg_prefix_eq(it->addr, a6, it->prefix);
        if (m)
            return !it->negate;
    }
    return l->n > 0 && l->items[l->n - 1].negate;
}

/* cfg_hostlist_match - does the address match the list? */
int
cfg_hostlist_match(const struct cfg_hostlist *l, const struct sockaddr *sa)
{
    return sa != NULL && cfg_hostlist_match_host(l, NULL, sa);
}

/* cfg_hostlist_match_host - names and addresses (see config.h); an IPv4-mapped
 * IPv6 address also matches IPv4 items */
int
cfg_hostlist_match_host(const struct cfg_hostlist *l, const char *name, const struct sockaddr *sa)
{
    uint8_t a4[4], a6[16];
    const uint8_t *p4 = NULL, *p6 = NULL;
    if (l == NULL)
        return 0;
    if (sa != NULL && sa->sa_family == AF_INET) {
        memcpy(a4, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        p4 = a4;
    } else if (sa != NULL && sa->sa_family == AF_INET6) {
        const struct in6_addr *in6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        memcpy(a6, in6, 16);
        p6 = a6;
        if (IN6_IS_ADDR_V4MAPPED(in6)) {
            memcpy(a4, a6 + 12, 4);
            p4 = a4;
        }
    }
    return cfg_hostlist_match_addr(l, name, p4, p6, 0);
}

/* cfg_domain_match - one item against a domain (case-insensitive), ignoring negate */
int
cfg_domain_match(const struct cfg_domainitem *it, const char *domain)
{
    if (it == NULL || domain == NULL)
        return 0;
    size_t len = strlen(domain);
    if (len > 1 && domain[len - 1] == '.')
        len--;
    switch (it->kind) {
    case 0:
        return strlen(it->name) == len && strncasecmp(domain, it->name, len) == 0;
    case 1: {
        size_t nl = strlen(it->name);
        return len > nl + 1 && domain[len - nl - 1] == '.' &&
               strncasecmp(domain + len - nl, it->name, nl) == 0;
    }
    case 2:
        return 1;
    case 3:
        return cfg_domainlist_match(it->sub, domain);
    default:
        return 0;
    }
}

/* cfg_domainlist_match - first matching item decides; 1 match, 0 not */
int
cfg_domainlist_match(const struct cfg_domainlist *l, const char *domain)
{
    if (l == NULL || domain == NULL)
        return 0;
    for (size_t i = 0; i < l->n; i++)
        if (cfg_domain_match(&l->items[i], domain))
            return !l->items[i].negate;
    return l->n > 0 && l->items[l->n - 1].negate;
}

/* cfg_router_find_route - for a manualroute router, the first rule matching domain */
const struct cfg_route_rule *
cfg_router_find_route(const struct cfg_router *r, const char *domain)
{
    if (r == NULL || domain == NULL || r->driver != CFG_ROUTER_MANUALROUTE)
        return NULL;
    for (size_t i = 0; i < r->nroutes; i++)
        if (cfg_domain_match(&r->route_list[i].pattern, domain))
            return &r->route_list[i];
    return NULL;
}

/* cfg_retry_find_error - first rule for the domain whose error is "*" or error */
const struct cfg_retry_rule *
cfg_retry_find_error(const struct cfg *c, const char *domain, const char *error)
{
    if (c == NULL || domain == NULL)
        return NULL;
    for (size_t i = 0; i < c->nretry; i++) {
        const struct cfg_retry_rule *r = &c->retry[i];
        if (!cfg_domain_match(&r->pattern, domain))
            continue;
        if (strcmp(r->error, "*") == 0 || (error != NULL && strcasecmp(r->error, error) == 0))
            return r;
    }
    return NULL;
}

/* cfg_retry_find - the first retry rule matching the domain with error "*" */
const struct cfg_retry_rule *
cfg_retry_find(const struct cfg *c, const char *domain)
{
    return cfg_retry_find_error(c, domain, NULL);
}

/* ---- option setters ------------------------------------------------- */

#define CFG_AT(base, off, type) ((type *)((char *)(base) + (off)))

/* cfg_bad_value - the common "bad value" error */
static int
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
static int
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
static int
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
static int
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
static int
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
static int
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
static int
cfg_opt_port(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    if (net_parse_port(val, CFG_AT(base, d->off, uint16_t)) < 0)
        return cfg_bad_value(p, d, val, "a port from 1 to 65535");
    return 0;
}

/* cfg_opt_time - an Exim time in seconds, in [min, max] */
static int
cfg_opt_time(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    long v = cfg_parse_time(val);
    if (v < 0 || v < d->min || v > d->max)
        return cfg_bad_value(p, d, val, "a time such as 30s, 5m, 2h or 1h30m");
    *CFG_AT(base, d->off, int) = (int)v;
    return 0;
}

/* cfg_opt_time_ms - an Exim time stored in milliseconds ("500ms" is not Exim: seconds only) */
static int
cfg_opt_time_ms(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    long v = cfg_parse_time(val);
    if (v < 0 || (long long)v * 1000 < d->min || (long long)v * 1000 > d->max)
        return cfg_bad_value(p, d, val, "a time such as 1s or 2m");
    *CFG_AT(base, d->off, int) = (int)(v * 1000);
    return 0;
}

/* cfg_opt_size - a size in bytes into an int (max <= INT_MAX) or a uint64_t */
static int
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
static int
cfg_opt_hostlist(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    return cfg_parse_hostlist(p, d->name, val, CFG_AT(base, d->off, struct cfg_hostlist));
}

/* cfg_opt_addrs - a list of socket addresses (min = default port) */
static int
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

/* cfg_opt_driver - a driver name from the table for the section in force */
static int
cfg_opt_driver(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    static const struct {
        const char *section, *name;
        int value;
    } drivers[] = {
        {"routers", "dnslookup", CFG_ROUTER_DNSLOOKUP},
        {"routers", "manualroute", CFG_ROUTER_MANUALROUTE},
        {"routers", "accept", CFG_ROUTER_ACCEPT},
        {"transports", "smtp", CFG_TRANSPORT_SMTP},
    };
    for (size_t i = 0; i < sizeof drivers / sizeof drivers[0]; i++) {
        if (strcmp(drivers[i].section, p->sec->name) == 0 && strcmp(drivers[i].name, val) == 0) {
            *CFG_AT(base, d->off, int) = drivers[i].value;
            p->inst_driver = 1;
            return 0;
        }
    }
    return cfg_perr(p, "unknown driver \"%.64s\" in the %s section", val, p->sec->name);
}

/* cfg_opt_domains - a router's domains list */
static int
cfg_opt_domains(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    struct cfg_router *r = base;
    r->has_domains = 1;
    return cfg_parse_domainlist(p, d->name, val, &r->domains);
}

/* cfg_opt_domainlist - a plain domain list option */
static int
cfg_opt_domainlist(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    return cfg_parse_domainlist(p, d->name, val, CFG_AT(base, d->off, struct cfg_domainlist));
}

/* cfg_opt_transport - a router's transport name, resolved after the whole file */
static int
cfg_opt_transport(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    struct cfg_router *r = base;
    if (*val == '\0' || strspn(val, CFG_INSTCHARS) != strlen(val))
        return cfg_bad_value(p, d, val, "a transport name");
    r->transport_name = cfg_ar_strdup(p->a, val);
    r->transport_line = p->line;
    return 0;
}

/* cfg_opt_avoid_pipelining - a host list; "*" also sets the "all" flag */
static int
cfg_opt_avoid_pipelining(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    struct cfg_transport *t = base;
    if (cfg_parse_hostlist(p, d->name, val, &t->hosts_avoid_pipelining) < 0)
        return -1;
    const struct cfg_hostlist *l = &t->hosts_avoid_pipelining;
    t->hosts_avoid_pipelining_all = l->n > 0 && l->items[0].any && !l->items[0].negate;
    return 0;
}

/* cfg_parse_route_host - "name", "ip", "name:port", "[v6]", "[v6]:port", bare v6 */
static int
cfg_parse_route_host(struct pctx *p, const char *item, struct cfg_route_host *h)
{
    char host[256];
    const char *port;
    unsigned char bin[16];
    if (net_split_hostport(item, host, sizeof host, &port) < 0)
        goto bad;
    int is_ip = inet_pton(AF_INET6, host, bin) == 1 || inet_pton(AF_INET, host, bin) == 1;
    if (!is_ip && (*item == '[' || strchr(host, ':') != NULL || !cfg_valid_hostname(host)))
        goto bad;
    h->port = 0;
    if (port != NULL && net_parse_port(port, &h->port) < 0)
        goto bad;
    h->name = cfg_ar_strdup(p->a, host);
    return 0;
bad:
    return cfg_perr(p,
                    "option route_list: bad host \"%.100s\" (expected name, ip, name::port, "
                    "[ipv6] or [ipv6]::port)",
                    item);
}

/* cfg_route_option - apply a trailing rule option word; 0 if it is not one */
static int
cfg_route_option(struct cfg_route_rule *r, const char *w)
{
    if (strcmp(w, "randomize") == 0)
        r->randomize = 1;
    else if (strcmp(w, "no_randomize") == 0)
        r->randomize = 0;
    else if (strcmp(w, "byname") == 0)
        r->byname = 1;
    else if (strcmp(w, "bydns") == 0)
        r->byname = 0;
    else
        return 0;
    return 1;
}

/* cfg_parse_route_rule - "domain-pattern host-list [randomize|byname...]" */
static int
cfg_parse_route_rule(struct pctx *p, char *rule, struct cfg_route_rule *out)
{
    size_t dl = strcspn(rule, " \t");
    if (rule[dl] == '\0')
        return cfg_perr(p, "option route_list: rule \"%.100s\" has no host list", rule);
    rule[dl] = '\0';
    char *rest = cfg_trim(rule + dl + 1);
    for (;;) { /* option words at the end; the host list stays */
        char *w = rest + strlen(rest);
        while (w > rest && w[-1] != ' ' && w[-1] != '\t')
            w--;
        if (w == rest || !cfg_route_option(out, w))
            break;
        *w = '\0';
        rest = cfg_trim(rest);
    }
    size_t rl = strlen(rest);
    if (rl >= 2 && rest[0] == '"' && rest[rl - 1] == '"') {
        rest[rl - 1] = '\0';
        rest++;
    }
    if (cfg_parse_domainitem(p, "route_list", rule, &out->pattern, 0) < 0)
        return -1;
    char **items;
    size_t n;
    cfg_split_list(p, rest, ':', 1, &items, &n);
    if (n == 0)
        return cfg_perr(p, "option route_list: rule for \"%.100s\" has no hosts", rule);
    out->hosts = cfg_ar_alloc(p->a, n * sizeof *out->hosts);
    for (size_t i = 0; i < n; i++)
        if (cfg_parse_route_host(p, items[i], &out->hosts[i]) < 0)
            return -1;
    out->nhosts = n;
    return 0;
}

/* cfg_opt_route_list - manualroute rules separated by ';' */
static int
cfg_opt_route_list(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    struct cfg_router *r = base;
    char **rules;
    size_t n;
    (void)d;
    cfg_split_list(p, val, ';', 0, &rules, &n);
    struct cfg_route_rule *arr = n ? cfg_ar_alloc(p->a, n * sizeof *arr) : NULL;
    for (size_t i = 0; i < n; i++)
        if (cfg_parse_route_rule(p, rules[i], &arr[i]) < 0)
            return -1;
    r->route_list = arr;
    r->nroutes = n;
    return 0;
}

/* ---- option tables -------------------------------------------------- */

#define CFG_M(f) offsetof(struct cfg, f)
#define CFG_R(f) offsetof(struct cfg_router, f)
#define CFG_T(f) offsetof(struct cfg_transport, f)
#define CFG_D(f) offsetof(struct cfg_destination, f)

/* cfg_opt_expand - an expansion string, compiled now so a syntax error
 * stops the load with its file, line and column */
static int
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
static int
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

/* cfg_opt_rate - "N/s", "N/m", "N/h" (also "N / sec", "N/min", "N/hour") */
static int
cfg_opt_rate(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    struct cfg_destination *dst = base;
    char unit[16] = "";
    unsigned long n = 0;
    int used = 0;
    (void)d;
    if (sscanf(val, "%lu / %15[a-z]%n", &n, unit, &used) != 2 || val[used] != '\0' || n == 0 ||
        n > 10000000)
        return cfg_bad_value(p, d, val, "a rate such as 500/s, 100/m or 3600/h");
    if (strcmp(unit, "s") == 0 || strcmp(unit, "sec") == 0)
        dst->rate_period_s = 1;
    else if (strcmp(unit, "m") == 0 || strcmp(unit, "min") == 0)
        dst->rate_period_s = 60;
    else if (strcmp(unit, "h") == 0 || strcmp(unit, "hour") == 0)
        dst->rate_period_s = 3600;
    else
        return cfg_bad_value(p, d, val, "a rate such as 500/s, 100/m or 3600/h");
    dst->rate_count = (uint32_t)n;
    return 0;
}

static const struct cfg_optdef cfg_main_opts[] = {
    {"primary_hostname", cfg_opt_host, CFG_M(primary_hostname), 0, 1, 0, NULL},
    {"spool_directory", cfg_opt_str, CFG_M(spool_directory), 0, 1, 0, "./var/spool"},
    {"log_file_path", cfg_opt_str, CFG_M(log_file_path), 0, 0, 0, ""},
    {"smtp_listen", cfg_opt_addrs, CFG_M(smtp_listen), CFG_M(n_smtp_listen), 2525, 0,
     "127.0.0.1:2525"},
    {"http_listen", cfg_opt_addrs, CFG_M(http_listen), CFG_M(n_http_listen), 8025, 0,
     "127.0.0.1:8025"},
    {"worker_threads", cfg_opt_int, CFG_M(worker_threads), 0, 1, 256, NULL},
    {"relay_from_hosts", cfg_opt_hostlist, CFG_M(relay_from_hosts), 0, 0, 0,
     "<; 127.0.0.0/8 ; ::1"},
    {"dns_servers", cfg_opt_addrs, CFG_M(dns_servers), CFG_M(n_dns_servers), 53, 0, ""},
    {"message_size_limit", cfg_opt_size, CFG_M(message_size_limit), 0, 0, LLONG_MAX, "50M"},
    {"smtp_accept_max", cfg_opt_int, CFG_M(smtp_accept_max), 0, 1, 1000000, "1000"},
    {"smtp_receive_timeout", cfg_opt_time, CFG_M(smtp_receive_timeout_s), 0, 1, INT_MAX, "5m"},
    {"smtp_accept_max_per_host", cfg_opt_int, CFG_M(smtp_accept_max_per_host), 0, 0, 1000000,
     "100"},
    {"smtp_first_command_timeout", cfg_opt_time, CFG_M(smtp_first_command_timeout_s), 0, 1,
     INT_MAX, "10s"},
    {"http_accept_max", cfg_opt_int, CFG_M(http_accept_max), 0, 1, 1000000, "1000"},
    {"http_accept_max_per_host", cfg_opt_int, CFG_M(http_accept_max_per_host), 0, 0, 1000000,
     "100"},
    {"http_connection_timeout", cfg_opt_time, CFG_M(http_connection_timeout_s), 0, 1, INT_MAX,
     "10s"},
    {"shutdown_grace", cfg_opt_time, CFG_M(shutdown_grace_s), 0, 0, INT_MAX, "30s"},
    {"allow_domain_literals", cfg_opt_bool, CFG_M(allow_domain_literals), 0, 0, 0, "false"},
    {"queue_run_interval", cfg_opt_time, CFG_M(queue_run_interval_s), 0, 1, INT_MAX, "1m"},
    {"bounce_return_size_limit", cfg_opt_size, CFG_M(bounce_return_size_limit), 0, 0, INT_MAX,
     "100K"},
    {"spool_commit_max_batch", cfg_opt_int, CFG_M(spool_commit_max_batch), 0, 1, 100000, "512"},
    {"json_log", cfg_opt_bool, CFG_M(json_log), 0, 0, 0, "false"},
    {"queue_only", cfg_opt_bool, CFG_M(queue_only), 0, 0, 0, "false"},
    {"redis_servers", cfg_opt_str, CFG_M(redis_servers), 0, 0, 0, NULL},
    {"redis_connect_timeout", cfg_opt_time_ms, CFG_M(redis_connect_timeout_ms), 0, 1, 3600000,
     "1s"},
    {"redis_command_timeout", cfg_opt_time_ms, CFG_M(redis_command_timeout_ms), 0, 1, 3600000,
     "1s"},
    {"event_action", cfg_opt_expand, CFG_M(event_action), 0, 0, 0, NULL},
    {"dns_trust_anchor_file", cfg_opt_str, CFG_M(dns_trust_anchor_file), 0, 1, 0, NULL},
    {"dnssec_stub_zones", cfg_opt_domainlist, CFG_M(dnssec_stub_zones), 0, 0, 0, NULL},
    {"proxy_required_hosts", cfg_opt_hostlist, CFG_M(proxy_required_hosts), 0, 0, 0, ""},
    {NULL, NULL, 0, 0, 0, 0, NULL},
};

static const struct cfg_optdef cfg_router_opts[] = {
    {"driver", cfg_opt_driver, CFG_R(driver), 0, 0, 0, NULL},
    {"domains", cfg_opt_domains, CFG_R(domains), 0, 0, 0, NULL},
    {"transport", cfg_opt_transport, CFG_R(transport_name), 0, 0, 0, NULL},
    {"route_list", cfg_opt_route_list, CFG_R(route_list), CFG_R(nroutes), 0, 0, NULL},
    {"dsn_lasthop", cfg_opt_bool, CFG_R(dsn_lasthop), 0, 0, 0, "false"},
    {NULL, NULL, 0, 0, 0, 0, NULL},
};

static const struct cfg_optdef cfg_transport_opts[] = {
    {"driver", cfg_opt_driver, CFG_T(driver), 0, 0, 0, NULL},
    {"port", cfg_opt_port, CFG_T(port), 0, 1, 65535, "25"},
    {"helo_data", cfg_opt_host, CFG_T(helo_data), 0, 1, 0, NULL},
    {"connect_timeout", cfg_opt_time, CFG_T(connect_timeout_s), 0, 1, INT_MAX, "30s"},
    {"command_timeout", cfg_opt_time, CFG_T(command_timeout_s), 0, 1, INT_MAX, "5m"},
    {"data_timeout", cfg_opt_time, CFG_T(data_timeout_s), 0, 1, INT_MAX, "5m"},
    {"max_rcpt", cfg_opt_int, CFG_T(max_rcpt), 0, 1, 100000, "100"},
    {"hosts_avoid_pipelining", cfg_opt_avoid_pipelining, CFG_T(hosts_avoid_pipelining), 0, 0, 0,
     ""},
    {"chunking", cfg_opt_bool, CFG_T(chunking), 0, 0, 0, "false"},
    {"event_action", cfg_opt_expand, CFG_T(event_action), 0, 0, 0, NULL},
    {"hosts_require_tls", cfg_opt_hostnames, CFG_T(hosts_require_tls), 0, 0, 0, ""},
    {"hosts_avoid_tls", cfg_opt_hostnames, CFG_T(hosts_avoid_tls), 0, 0, 0, ""},
    {"tls_verify_hosts", cfg_opt_hostnames, CFG_T(tls_verify_hosts), 0, 0, 0, ""},
    {"tls_try_verify_hosts", cfg_opt_hostnames, CFG_T(tls_try_verify_hosts), 0, 0, 0, "*"},
    {"tls_verify_cert_hostnames", cfg_opt_hostnames, CFG_T(tls_verify_cert_hostnames), 0, 0, 0,
     "*"},
    {"hosts_try_dane", cfg_opt_hostnames, CFG_T(hosts_try_dane), 0, 0, 0, ""},
    {"hosts_require_dane", cfg_opt_hostnames, CFG_T(hosts_require_dane), 0, 0, 0, ""},
    {"hosts_request_ocsp", cfg_opt_hostnames, CFG_T(hosts_request_ocsp), 0, 0, 0, "*"},
    {"hosts_require_ocsp", cfg_opt_hostnames, CFG_T(hosts_require_ocsp), 0, 0, 0, ""},
    {"tls_verify_certificates", cfg_opt_str, CFG_T(tls_verify_certificates), 0, 1, 0, NULL},
    {"tls_crl", cfg_opt_str, CFG_T(tls_crl), 0, 1, 0, NULL},
    {"tls_certificate", cfg_opt_str, CFG_T(tls_certificate), 0, 1, 0, NULL},
    {"tls_privatekey", cfg_opt_str, CFG_T(tls_privatekey), 0, 1, 0, NULL},
    {NULL, NULL, 0, 0, 0, 0, NULL},
};

static const struct cfg_optdef cfg_destination_opts[] = {
    {"max_connections", cfg_opt_int, CFG_D(max_connections), 0, 1, 100000, "20"},
    {"max_messages_per_connection", cfg_opt_int, CFG_D(max_messages_per_connection), 0, 1, 10000000,
     "100"},
    {"max_message_rate", cfg_opt_rate, 0, 0, 0, 0, NULL},
    {"connection_idle_timeout", cfg_opt_time, CFG_D(connection_idle_timeout_s), 0, 0, INT_MAX,
     "5s"},
    {"connect_timeout", cfg_opt_time, CFG_D(connect_timeout_s), 0, 1, INT_MAX, NULL},
    {NULL, NULL, 0, 0, 0, 0, NULL},
};

/* cfg_find_opt - an option by name in a table, or NULL */
static const struct cfg_optdef *
cfg_find_opt(const struct cfg_optdef *t, const char *name)
{
    for (; t != NULL && t->name != NULL; t++)
        if (strcmp(t->name, name) == 0)
            return t;
    return NULL;
}

/* cfg_apply_defaults - run every default through its setter */
static int
cfg_apply_defaults(struct pctx *p, const struct cfg_optdef *t, void *base)
{
    int rc = 0;
    p->applying_defaults = 1;
    for (; rc == 0 && t->name != NULL; t++)
        if (t->dflt != NULL && t->set(p, t, base, t->dflt) < 0)
            rc = -1;
    p->applying_defaults = 0;
    return rc;
}

/* ---- sections ------------------------------------------------------- */

static int cfg_main_line(struct pctx *p, char *line);
static int cfg_driver_line(struct pctx *p, char *line);
static int cfg_driver_finish(struct pctx *p);
static int cfg_router_check(struct pctx *p, void *inst);
static int cfg_retry_line(struct pctx *p, char *line);
static int cfg_destination_check(struct pctx *p, void *inst);

#define CFG_CLASS(what, type, arr, n, cap, check)                                                  \
    {                                                                                              \
        what, sizeof(type), offsetof(struct cfg, arr), offsetof(struct cfg, n),                    \
            offsetof(struct pctx, cap), offsetof(type, name), offsetof(type, file),                \
            offsetof(type, line), check, 0, NULL                                                   \
    }
static const struct cfg_drvclass cfg_router_class =
    CFG_CLASS("router", struct cfg_router, routers, nrouters, cap_routers, cfg_router_check);
static const struct cfg_drvclass cfg_transport_class =
    CFG_CLASS("transport", struct cfg_transport, transports, ntransports, cap_transports, NULL);
static const struct cfg_drvclass cfg_destination_class = {
    "destination",
    sizeof(struct cfg_destination),
    offsetof(struct cfg, destinations),
    offsetof(struct cfg, ndestinations),
    offsetof(struct pctx, cap_destinations),
    offsetof(struct cfg_destination, name),
    offsetof(struct cfg_destination, file),
    offsetof(struct cfg_destination, line),
    cfg_destination_check,
    1,
    CFG_INSTCHARS "*",
};

static const struct cfg_section cfg_main_section = {"main", cfg_main_opts, NULL, cfg_main_line,
                                                    NULL};

/* "begin NAME" sections; "acl" joins this table later */
static const struct cfg_section cfg_sections[] = {
    {"routers", cfg_router_opts, &cfg_router_class, cfg_driver_line, cfg_driver_finish},
    {"transports", cfg_transport_opts, &cfg_transport_class, cfg_driver_line, cfg_driver_finish},
    {"retry", NULL, NULL, cfg_retry_line, NULL},
    {"destinations", cfg_destination_opts, &cfg_destination_class, cfg_driver_line,
     cfg_driver_finish},
};
#define CFG_NSECTIONS (sizeof cfg_sections / sizeof cfg_sections[0])

/* cfg_wrong_section - the section whose table has name, other than the current one */
static const struct cfg_section *
cfg_wrong_section(const struct pctx *p, const char *name)
{
    if (p->sec != &cfg_main_section && cfg_find_opt(cfg_main_opts, name))
        return &cfg_main_section;
    for (size_t i = 0; i < CFG_NSECTIONS; i++)
        if (&cfg_sections[i] != p->sec && cfg_find_opt(cfg_sections[i].opts, name))
            return &cfg_sections[i];
    return NULL;
}

/* cfg_set_option - set name (value NULL: bare name) from table on base */
static int
cfg_set_option(struct pctx *p, const struct cfg_optdef *t, void *base, const char *name,
               const char *val)
{
    const struct cfg_optdef *d = cfg_find_opt(t, name);
    if (d == NULL && strncmp(name, "no_", 3) == 0) {
        d = cfg_find_opt(t, name + 3);
        if (d != NULL && d->set != cfg_opt_bool)
            return cfg_perr(p, "\"no_\" applies to boolean options only, not to %s", d->name);
        if (d != NULL && val != NULL)
            return cfg_perr(p, "option %s takes no value", name);
        if (d != NULL)
            val = "false";
    }
    if (d == NULL) {
        const struct cfg_section *s = cfg_wrong_section(p, name);
        if (s != NULL)
            return cfg_perr(p, "option \"%.64s\" is not valid in the %s section (it belongs to %s)",
                            name, p->sec->name, s->name);
        return cfg_perr(p, "unknown option \"%.64s\"", name);
    }
    if (val == NULL && d->set != cfg_opt_bool)
        return cfg_perr(p, "option %s needs a value (\"%s = ...\")", name, name);
    return d->set(p, d, base, val);
}

/* cfg_option_line - "name = value", "name" or "no_name" */
static int
cfg_option_line(struct pctx *p, const struct cfg_optdef *t, void *base, char *line)
{
    size_t n = strspn(line, CFG_IDCHARS);
    if (n == 0)
        return cfg_perr(p, "syntax error: \"%.64s\"", line);
    char *rest = cfg_skip_ws(line + n);
    char next = *rest, save = line[n];
    char *val = next == '=' ? cfg_skip_ws(rest + 1) : NULL;
    line[n] = '\0'; /* may be the '=' itself: next and val were taken first */
    if (next == '\0' || next == '=')
        return cfg_set_option(p, t, base, line, val);
    if (cfg_find_opt(t, line) == NULL && cfg_wrong_section(p, line) == NULL)
        return cfg_perr(p, "unknown option \"%.64s\"", line);
    line[n] = save;
    return cfg_perr(p, "syntax error: expected \"name = value\" in \"%.64s\"", line);
}

/* cfg_named_line - "hostlist NAME = list" or "domainlist NAME = list" */
static int
cfg_named_line(struct pctx *p, char *line)
{
    int is_host = line[0] == 'h';
    const char *kw = is_host ? "hostlist" : "domainlist";
    char *s = cfg_skip_ws(line + strlen(kw));
    size_t n = strspn(s, CFG_IDCHARS);
    char *name = cfg_ar_strndup(p->a, s, n);
    s = cfg_skip_ws(s + n);
    if (n == 0 || *s != '=')
        return cfg_perr(p, "syntax error: expected \"%s NAME = list\"", kw);
    if (cfg_find_named(p, name, is_host) != NULL)
        return cfg_perr(p, "%s %s is already defined", kw, name);
    char label[96];
    snprintf(label, sizeof label, "%s %s", kw, name);
    void *list;
    if (is_host) {
        list = cfg_ar_alloc(p->a, sizeof(struct cfg_hostlist));
        if (cfg_parse_hostlist(p, label, cfg_skip_ws(s + 1), list) < 0)
            return -1;
    } else {
        list = cfg_ar_alloc(p->a, sizeof(struct cfg_domainlist));
        if (cfg_parse_domainlist(p, label, cfg_skip_ws(s + 1), list) < 0)
            return -1;
    }
    p->named = cfg_ar_grow(&p->tmp, p->named, p->nnamed, &p->capnamed, sizeof *p->named);
    p->named[p->nnamed++] = (struct cfg_named){name, is_host, list};
    return 0;
}

/* cfg_main_line - a line of the main section */
static int
cfg_main_line(struct pctx *p, char *line)
{
    if (cfg_is_word(line, "hostlist") || cfg_is_word(line, "domainlist"))
        return cfg_named_line(p, line);
    return cfg_option_line(p, cfg_main_opts, p->c, line);
}

/* cfg_instance_name - if line starts "name:", its length and the text after ':' */
static size_t
cfg_instance_name(char *line, const char *chars, char **after)
{
    size_t n = strspn(line, chars ? chars : CFG_INSTCHARS);
    char *t = cfg_skip_ws(line + n);
    if (n == 0 || *t != ':')
        return 0;
    *after = cfg_skip_ws(t + 1);
    return n;
}

/* cfg_driver_inst - the instance being read in the section in force */
static void *
cfg_driver_inst(struct pctx *p)
{
    const struct cfg_drvclass *k = p->sec->cls;
    size_t n = *CFG_AT(p->c, k->n_off, size_t);
    return *CFG_AT(p->c, k->arr_off, char *) + (n - 1) * k->size;
}

/* cfg_driver_new - append an instance named name (n bytes) to the section's array */
static void *
cfg_driver_new(struct pctx *p, const char *name, size_t len)
{
    const struct cfg_drvclass *k = p->sec->cls;
    char **arr = CFG_AT(p->c, k->arr_off, char *);
    size_t *n = CFG_AT(p->c, k->n_off, size_t);
    for (size_t i = 0; i < *n; i++) {
        const char *other = *CFG_AT(*arr + i * k->size, k->name_off, char *);
        if (strlen(other) == len && strncmp(other, name, len) == 0) {
            cfg_perr(p, "duplicate %s name \"%s\"", k->what, other);
            return NULL;
        }
    }
    *arr = cfg_ar_grow(p->a, *arr, *n, CFG_AT(p, k->cap_off, size_t), k->size);
    char *inst = *arr + (*n)++ * k->size;
    memset(inst, 0, k->size);
    *CFG_AT(inst, k->name_off, char *) = cfg_ar_strndup(p->a, name, len);
    *CFG_AT(inst, k->file_off, const char *) = p->file;
    *CFG_AT(inst, k->line_off, int) = p->line;
    p->inst = 1;
    p->inst_driver = 0;
    return cfg_apply_defaults(p, p->sec->opts, inst) < 0 ? NULL : inst;
}

/* cfg_driver_line - in routers/transports: "name:" starts an instance, other lines are options */
static int
cfg_driver_line(struct pctx *p, char *line)
{
    char *after;
    size_t n = cfg_instance_name(line, p->sec->cls->name_chars, &after);
    if (n == 0) {
        if (!p->inst)
            return cfg_perr(p, "option line before any %s (expected \"name:\")", p->sec->cls->what);
        return cfg_option_line(p, p->sec->opts, cfg_driver_inst(p), line);
    }
    if (cfg_driver_finish(p) < 0)
        return -1;
    void *inst = cfg_driver_new(p, line, n);
    if (inst == NULL)
        return -1;
    return *after ? cfg_option_line(p, p->sec->opts, inst, after) : 0;
}

/* cfg_driver_finish - check the instance just read (at its own line) */
static int
cfg_driver_finish(struct pctx *p)
{
    if (!p->inst)
        return 0;
    const struct cfg_drvclass *k = p->sec->cls;
    void *inst = cfg_driver_inst(p);
    const char *name = *CFG_AT(inst, k->name_off, char *);
    int saved = p->line;
    p->inst = 0;
    p->line = *CFG_AT(inst, k->line_off, int);
    if (!p->inst_driver && !k->no_driver)
        return cfg_perr(p, "%s %s: no driver set", k->what, name);
    if (k->check != NULL && k->check(p, inst) < 0)
        return -1;
    p->line = saved;
    return 0;
}

/* cfg_destination_check - the instance name must be a usable pattern */
static int
cfg_destination_check(struct pctx *p, void *inst)
{
    struct cfg_destination *d = inst;
    return cfg_parse_domainitem(p, "destination pattern", d->name, &d->pattern, 0);
}

/* cfg_destination_find - the entry for a destination (see config.h) */
const struct cfg_destination *
cfg_destination_find(const struct cfg *c, const char *domain, const char *const *hosts,
                     size_t nhosts)
{
    const struct cfg_destination *star = NULL;
    for (size_t i = 0; i < c->ndestinations; i++) {
        const struct cfg_destination *d = &c->destinations[i];
        if (d->pattern.kind == 2) {
            if (star == NULL)
                star = d;
            continue;
        }
        if (domain != NULL && cfg_domain_match(&d->pattern, domain))
            return d;
        for (size_t k = 0; k < nhosts; k++)
            if (cfg_domain_match(&d->pattern, hosts[k]))
                return d;
    }
    return star;
}

/* cfg_router_check - options that depend on the router's driver */
static int
cfg_router_check(struct pctx *p, void *inst)
{
    const struct cfg_router *r = inst;
    if (r->driver == CFG_ROUTER_MANUALROUTE && r->nroutes == 0)
        return cfg_perr(p, "router %s: a manualroute router needs route_list", r->name);
    if (r->driver != CFG_ROUTER_MANUALROUTE && r->nroutes > 0)
        return cfg_perr(p, "router %s: route_list is for manualroute routers only", r->name);
    if (r->driver != CFG_ROUTER_ACCEPT && r->transport_name == NULL)
        return cfg_perr(p, "router %s: no transport set", r->name);
    return 0;
}

/* cfg_next_word - cut the first blank-separated word off *s */
static char *
cfg_next_word(char **s)
{
    char *w = cfg_skip_ws(*s);
    char *e = w + strcspn(w, " \t");
    if (*e != '\0')
        *e++ = '\0';
    *s = cfg_skip_ws(e);
    return w;
}

/* cfg_retry_line - "pattern error-type steps" */
static int
cfg_retry_line(struct pctx *p, char *line)
{
    struct cfg *c = p->c;
    char *rest = line;
    char *pat = cfg_next_word(&rest), *error = cfg_next_word(&rest);
    if (*error == '\0')
        return cfg_perr(p, "bad retry rule: expected \"pattern error-type steps\"");
    if (strcmp(error, "*") != 0 && strspn(error, CFG_IDCHARS) != strlen(error))
        return cfg_perr(p, "bad retry error type \"%.64s\" (\"*\" or a name like timeout)", error);
    c->retry = cfg_ar_grow(p->a, c->retry, c->nretry, &p->cap_retry, sizeof *c->retry);
    struct cfg_retry_rule *r = &c->retry[c->nretry];
    memset(r, 0, sizeof *r);
    const char *dom = pat, *at = strchr(pat, '@');
    if (at != NULL) {
        if (at != pat + 1 || pat[0] != '*')
            return cfg_perr(
                p, "retry pattern \"%.100s\": only \"*@domain\" addresses are supported", pat);
        dom = at + 1;
    }
    if (cfg_parse_domainitem(p, "retry pattern", dom, &r->pattern, 0) < 0)
        return -1;
    r->error = cfg_ar_strdup(p->a, error);
    if (*rest != '\0') { /* no steps at all: no retrying, fail at once */
        struct cfg_retry_step *steps;
        const char *why = "?";
        if (retry_parse_steps(rest, &steps, &r->nsteps, &why) < 0)
            return cfg_perr(p, "bad retry rule \"%.100s\": %s", rest, why);
        r->steps = cfg_ar_alloc(p->a, r->nsteps * sizeof *steps);
        memcpy(r->steps, steps, r->nsteps * sizeof *steps);
        free(steps);
    }
    c->nretry++;
    return 0;
}

/* cfg_begin_line - "begin NAME": close the section in force, open NAME */
static int
cfg_begin_line(struct pctx *p, char *line)
{
    char *name = cfg_trim(line + 5);
    if (*name == '\0' || strcspn(name, " \t") != strlen(name))
        return cfg_perr(p, "syntax error: expected \"begin SECTION\"");
    if (p->sec->finish != NULL && p->sec->finish(p) < 0)
        return -1;
    for (size_t i = 0; i < CFG_NSECTIONS; i++) {
        if (strcmp(cfg_sections[i].name, name) == 0) {
            p->sec = &cfg_sections[i];
            return 0;
        }
    }
    return cfg_perr(p, "unknown section \"%.64s\"", name);
}

/* ---- macros and lines ----------------------------------------------- */

/* cfg_find_macro - a macro by name (n bytes of name) */
static const struct cfg_macro *
cfg_find_macro(const struct pctx *p, const char *name, size_t n)
{
    for (size_t i = 0; i < p->nmacros; i++)
        if (p->macros[i].nlen == n && memcmp(p->macros[i].name, name, n) == 0)
            return &p->macros[i];
    return NULL;
}

/* cfg_expand_macros - substitute macros (whole words) into p->xbuf; *line points there */
static int
cfg_expand_macros(struct pctx *p, char **line)
{
    const char *s = *line;
    size_t k = 0;
    if (p->nmacros == 0)
        return 0;
    while (*s) {
        size_t n = strspn(s, CFG_IDCHARS);
        const char *src = s;
        size_t len = n ? n : 1;
        if (n > 0 && isupper((unsigned char)*s)) {
            const struct cfg_macro *m = cfg_find_macro(p, s, n);
            if (m != NULL) {
                src = m->value;
                len = m->vlen;
            }
        }
        if (k + len > CFG_LINE_MAX)
            return cfg_perr(p, "line too long after macro substitution");
        memcpy(p->xbuf + k, src, len);
        k += len;
        s += n ? n : 1;
    }
    p->xbuf[k] = '\0';
    *line = p->xbuf;
    return 0;
}

/* cfg_macro_line - "NAME = value" (or "NAME == value" to redefine): 1 done, 0 not one */
static int
cfg_macro_line(struct pctx *p, char *line)
{
    if (!isupper((unsigned char)line[0]))
        return 0;
    size_t n = strspn(line, CFG_IDCHARS);
    char *s = cfg_skip_ws(line + n);
    if (*s != '=')
        return 0;
    int redefine = s[1] == '=';
    char *val = cfg_skip_ws(s + 1 + redefine);
    const struct cfg_macro *old = cfg_find_macro(p, line, n);
    if (old != NULL && !redefine)
        return cfg_perr(p, "macro %.*s is already defined (\"==\" redefines it)", (int)n, line);
    if (cfg_expand_macros(p, &val) < 0)
        return -1;
    size_t vl = strlen(val);
    if ((p->macro_bytes += vl) > CFG_MACRO_TOTAL_MAX)
        return cfg_perr(p, "macros too large in total");
    struct cfg_macro *m = (struct cfg_macro *)old;
    if (m == NULL) {
        p->macros = cfg_ar_grow(&p->tmp, p->macros, p->nmacros, &p->capmacros, sizeof *p->macros);
        m = &p->macros[p->nmacros++];
        m->name = cfg_ar_strndup(&p->tmp, line, n);
        m->nlen = n;
    }
    m->value = cfg_ar_strndup(&p->tmp, val, vl);
    m->vlen = vl;
    return 1;
}

struct cfg_reader {
    const char *p, *end;
    int lineno;
};

/* cfg_next_line - the next logical line into p->lbuf: 1, 0 at the end, -1 */
static int
cfg_next_line(struct pctx *p, struct cfg_reader *r)
{
    size_t k = 0;
    int cont = 0;
    while (r->p < r->end) {
        const char *nl = memchr(r->p, '\n', (size_t)(r->end - r->p));
        const char *s = r->p, *e = nl ? nl : r->end;
        r->p = nl ? nl + 1 : r->end;
        r->lineno++;
        while (s < e && isspace((unsigned char)*s))
            s++;
        while (e > s && isspace((unsigned char)e[-1]))
            e--;
        if (s < e && *s == '#')
            continue;
        if (!cont && s == e)
            continue;
        if (!cont)
            p->lstart = r->lineno;
        int more = e > s && e[-1] == '\\';
        if (more)
            e--;
        if (k + (size_t)(e - s) > CFG_LINE_MAX) {
            p->line = p->lstart;
            return cfg_perr(p, "line too long");
        }
        memcpy(p->lbuf + k, s, (size_t)(e - s));
        k += (size_t)(e - s);
        if (!more) {
            p->lbuf[k] = '\0';
            p->line = p->lstart;
            return 1;
        }
        cont = 1;
    }
    if (cont) {
        p->line = p->lstart;
        return cfg_perr(p, "continuation line ('\\' at the end) runs into the end of the file");
    }
    return 0;
}

/* cfg_process_line - macros, "begin", then the section in force */
static int
cfg_process_line(struct pctx *p, char *line)
{
    int rc = cfg_refuse_ctl(p, NULL, line, 1) < 0 ? -1 : cfg_macro_line(p, line);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    if (cfg_expand_macros(p, &line) < 0)
        return -1;
    line = cfg_trim(line);
    if (*line == '\0')
        return 0;
    if (cfg_is_word(line, "begin"))
        return cfg_begin_line(p, line);
    return p->sec->line(p, line);
}

/* cfg_parse_text - every line of text, then the end of the last section */
static int
cfg_parse_text(struct pctx *p, const char *text)
{
    struct cfg_reader r = {text, text + strlen(text), 0};
    int rc;
    while ((rc = cfg_next_line(p, &r)) > 0)
        if (cfg_process_line(p, p->lbuf) < 0)
            return -1;
    if (rc < 0)
        return -1;
    p->line = r.lineno;
    return p->sec->finish != NULL ? p->sec->finish(p) : 0;
}

/* cfg_apply_override - "name=value" (or a bare boolean name) as a main option */
static int
cfg_apply_override(struct pctx *p, const char *ov)
{
    const char *eq = strchr(ov, '=');
    char *name = cfg_trim(cfg_ar_strndup(&p->tmp, ov, eq ? (size_t)(eq - ov) : strlen(ov)));
    char *val = eq ? cfg_trim(cfg_ar_strdup(&p->tmp, eq + 1)) : NULL;
    p->ovname = name;
    p->sec = &cfg_main_section;
    if (*name == '\0' || strspn(name, CFG_IDCHARS) != strlen(name))
        return cfg_perr(p, "expected name=value");
    if (val != NULL && cfg_refuse_ctl(p, NULL, val, 1) < 0)
        return -1;
    return cfg_set_option(p, cfg_main_opts, p->c, name, val);
}

/* cfg_resolve_transports - point each router at its transport */
static int
cfg_resolve_transports(struct pctx *p)
{
    struct cfg *c = p->c;
    for (size_t i = 0; i < c->nrouters; i++) {
        struct cfg_router *r = &c->routers[i];
        if (r->transport_name == NULL)
            continue;
        for (size_t j = 0; j < c->ntransports && r->transport == NULL; j++)
            if (strcmp(c->transports[j].name, r->transport_name) == 0)
                r->transport = &c->transports[j];
        if (r->transport == NULL) {
            p->line = r->transport_line;
            return cfg_perr(p, "router %s: unknown transport \"%s\"", r->name, r->transport_name);
        }
    }
    return 0;
}

/* cfg_main_defaults - table defaults plus the computed ones */
static int
cfg_main_defaults(struct pctx *p)
{
    char host[256];
    if (gethostname(host, sizeof host) != 0 || host[0] == '\0')
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    p->c->primary_hostname = cfg_ar_strdup(p->a, host);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    p->c->worker_threads = ncpu < 1 ? 1 : ncpu > 256 ? 256 : (int)ncpu;
    return cfg_apply_defaults(p, cfg_main_opts, p->c);
}

/* cfg_load_string - parse text; name is used in error messages */
int
cfg_load_string(const char *text, const char *name, const char *const *overrides, size_t noverrides,
                struct cfg **out, char *err, size_t errlen)
{
    struct cfg_arena boot = {NULL};
    struct cfg *c = cfg_ar_alloc(&boot, sizeof *c);
    struct cfg_arena *a = cfg_ar_alloc(&boot, sizeof *a);
    *a = boot; /* from here on the arena lives inside itself */
    struct pctx p = {.c = c, .a = a, .err = err, .errlen = errlen, .sec = &cfg_main_section};
    c->arena = a;
    p.file = cfg_ar_strdup(a, name ? name : "(config)");
    p.lbuf = cfg_ar_alloc(&p.tmp, CFG_LINE_MAX + 1);
    p.xbuf = cfg_ar_alloc(&p.tmp, CFG_LINE_MAX + 1);
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    int rc = cfg_main_defaults(&p);
    if (rc == 0)
        rc = cfg_parse_text(&p, text ? text : "");
    for (size_t i = 0; rc == 0 && i < noverrides; i++)
        rc = overrides[i] ? cfg_apply_override(&p, overrides[i]) : 0;
    p.ovname = NULL;
    if (rc == 0)
        rc = cfg_resolve_transports(&p);
    cfg_ar_free(&p.tmp);
    if (rc < 0 || out == NULL) {
        cfg_free(c); /* compiled expansions too */
        if (out != NULL)
            *out = NULL;
        return rc < 0 ? -1 : 0;
    }
    *out = c;
    return 0;
}

/* cfg_load_file - read path and parse it */
int
cfg_load_file(const char *path, const char *const *overrides, size_t noverrides, struct cfg **out,
              char *err, size_t errlen)
{
    FILE *f = path ? fopen(path, "r") : NULL;
    if (f == NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s:0: cannot open: %s", path ? path : "(null)",
                     path ? strerror(errno) : "no file name");
        return -1;
    }
    char *text = malloc(CFG_FILE_MAX + 1);
    if (text == NULL)
        abort();
    size_t n = fread(text, 1, CFG_FILE_MAX + 1, f);
    int bad = ferror(f), saved = errno;
    fclose(f);
    const char *why = bad                     ? strerror(saved)
                      : n > CFG_FILE_MAX      ? "file too large"
                      : memchr(text, '\0', n) ? "file contains a NUL byte"
                                              : NULL;
    if (why != NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s:0: cannot read: %s", path, why);
        free(text);
        return -1;
    }
    text[n] = '\0';
    int rc = cfg_load_string(text, path, overrides, noverrides, out, err, errlen);
    free(text);
    return rc;
}

/* cfg_free - release a configuration nobody reads any more */
void
cfg_free(struct cfg *c)
{
    if (c == NULL)
        return;
    exp_free(c->event_action);
    for (size_t i = 0; i < c->ntransports; i++)
        exp_free(c->transports[i].event_action);
    cfg_ar_free(c->arena);
}
