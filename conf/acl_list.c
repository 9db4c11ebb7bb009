/*
 * acl_list.c - the lists of ACL conditions and named lists (see acl.h):
 *              parsing an Exim list into items, and matching a host,
 *              domain, local part or address against it.
 *
 * Lists are malloc'd (they are parsed at load, and again at each use when
 * they hold expansions); acl__list_free releases one. Matching allocates
 * only for lookups, and may block in them.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/acl_int.h"
#include "conf/config_int.h"
#include "conf/lookup.h"

#define ACL_LIST_DEPTH 32

/* acl__kind_name - the keyword of a list kind */
const char *
acl__kind_name(int kind)
{
    static const char *const names[] = {"hostlist", "domainlist", "localpartlist", "addresslist"};
    return kind >= 0 && kind < AL_NKINDS ? names[kind] : "list";
}

/* acl__find_named - a named list of kind */
const struct acl_list *
acl__find_named(const struct acl_set *s, const char *name, int kind)
{
    for (size_t i = 0; s != NULL && i < s->nnamed; i++)
        if (s->named[i].kind == kind && strcmp(s->named[i].name, name) == 0)
            return s->named[i].list;
    return NULL;
}

/* ---- splitting ------------------------------------------------------ */

/* acl_trim - strip white space at both ends, in place */
static char *
acl_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* acl_split - an Exim list into trimmed, non-empty items ("<X" separator,
 * doubled separator literal). Items point into *buf (malloc'd, as is *out). */
static size_t
acl_split(const char *s, char **buf, char ***out)
{
    int sep = ':';
    while (isspace((unsigned char)*s))
        s++;
    if (s[0] == '<' && s[1] && !isalnum((unsigned char)s[1]) && !isspace((unsigned char)s[1])) {
        sep = (unsigned char)s[1];
        s += 2;
    }
    size_t len = strlen(s), n = 0;
    char *b = malloc(len + 1), **items = malloc((len / 2 + 2) * sizeof *items);
    if (b == NULL || items == NULL)
        abort();
    *buf = b;
    *out = items;
    while (*s) {
        char *item = b;
        for (; *s && !(*s == sep && s[1] != sep); s++) {
            if (*s == sep)
                s++; /* doubled */
            *b++ = *s;
        }
        if (*s == sep)
            s++;
        *b++ = '\0';
        item = acl_trim(item);
        if (*item != '\0')
            items[n++] = item;
    }
    return n;
}

/* ---- items ---------------------------------------------------------- */

/* acl_item_err - the common error for a bad item; returns -1 */
static int
acl_item_err(int kind, const char *item, const char *why, char *err, size_t errlen)
{
    snprintf(err, errlen, "bad %s item \"%.100s\": %s", acl__kind_name(kind), item, why);
    return -1;
}

/* acl_parse_cidr - "ip" or "ip/bits": 1 done, 0 not an address, -1 bad bits */
static int
acl_parse_cidr(const char *s, struct acl_litem *it)
{
    char buf[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(s, '/');
    size_t hl = slash ? (size_t)(slash - s) : strlen(s);
    if (hl == 0 || hl >= sizeof buf)
        return 0;
    memcpy(buf, s, hl);
    buf[hl] = '\0';
    int max = 32;
    if (inet_pton(AF_INET, buf, it->addr) == 1)
        it->family = AF_INET;
    else if (inet_pton(AF_INET6, buf, it->addr) == 1)
        it->family = AF_INET6, max = 128;
    else
        return 0;
    char *end = NULL;
    long bits = slash ? strtol(slash + 1, &end, 10) : max;
    if (slash && (end == slash + 1 || *end != '\0' || bits < 0 || bits > max))
        return -1;
    it->prefix = (int)bits;
    it->kind = LI_CIDR;
    return 1;
}

/* acl_parse_lookup - "type;file" (host lists also "net-type;file"): 1, 0 not one, -1 */
static int
acl_parse_lookup(int kind, const char *s, struct acl_litem *it, char *err, size_t errlen)
{
    const char *semi = strchr(s, ';');
    size_t tl = semi ? (size_t)(semi - s) : 0;
    if (semi == NULL || tl == 0 || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") != tl)
        return 0;
    if (kind == AL_HOST && tl > 4 && strncmp(s, "net-", 4) == 0)
        s += 4, tl -= 4;
    it->lt = lookup_type_find(s, tl);
    if (it->lt == NULL || lookup_type_is_query(it->lt))
        return acl_item_err(kind, s, "unknown or query-style lookup type", err, errlen);
    const char *file = semi + 1;
    while (isspace((unsigned char)*file))
        file++;
    if (*file == '\0')
        return acl_item_err(kind, s, "the lookup needs a file", err, errlen);
    it->kind = LI_LOOKUP;
    it->text = strdup(file);
    return 1;
}

/* acl_parse_regex - "^...": compiled with PCRE2 (caseless) */
static int
acl_parse_regex(int kind, const char *s, struct acl_litem *it, char *err, size_t errlen)
{
    int ec;
    PCRE2_SIZE off;
    it->re = pcre2_compile((PCRE2_SPTR)s, PCRE2_ZERO_TERMINATED, PCRE2_CASELESS, &ec, &off, NULL);
    if (it->re == NULL) {
        char msg[128];
        pcre2_get_error_message(ec, (PCRE2_UCHAR *)msg, sizeof msg);
        return acl_item_err(kind, s, msg, err, errlen);
    }
    it->kind = LI_REGEX;
    return 0;
}

/* acl_domain_ok - a domain pattern: "[literal]", or a host name after an
 * optional leading "*" or "*." */
static int
acl_domain_ok(const char *s)
{
    if (*s == '[')
        return s[strlen(s) - 1] == ']';
    if (*s == '*')
        s += s[1] == '.' ? 2 : 1;
    char buf[256];
    size_t n = strlen(s);
    if (n == 0 || n >= sizeof buf)
        return 0;
    memcpy(buf, s, n + 1);
    if (n > 1 && buf[n - 1] == '.')
        buf[n - 1] = '\0';
    return cfg_valid_hostname(buf);
}

/* acl_parse_host - a host list item (after "!", "+name", "*", lookups) */
static int
acl_parse_host(const char *s, struct acl_litem *it, char *err, size_t errlen)
{
    if (strcmp(s, "@[]") == 0) {
        it->kind = LI_IFACE;
        return 0;
    }
    int rc = acl_parse_cidr(s, it);
    if (rc < 0)
        return acl_item_err(AL_HOST, s, "bad prefix length", err, errlen);
    if (rc > 0)
        return 0;
    if (acl_domain_ok(s) && *s != '[')
        return acl_item_err(AL_HOST, s,
                            "host names are not supported (no DNS from ACLs): use addresses", err,
                            errlen);
    return acl_item_err(AL_HOST, s, "expected an address, address/bits, @[], * or +name", err,
                        errlen);
}

/* acl_parse_item - one item of a list of kind */
static int
acl_parse_item(const struct acl_set *set, int kind, const char *s, struct acl_litem *it, char *err,
               size_t errlen)
{
    if (*s == '!') {
        it->negate = 1;
        for (s++; isspace((unsigned char)*s);)
            s++;
    }
    if (strcmp(s, "*") == 0) {
        it->kind = LI_ANY;
        return 0;
    }
    if (*s == '+') {
        it->kind = LI_NAMED;
        it->text = strdup(s + 1);
        it->sub = set ? acl__find_named(set, s + 1, kind) : NULL;
        if (it->sub == NULL && set != NULL && kind == AL_DOMAIN &&
            strcmp(s + 1, "local_domains") == 0)
            it->sub = set->local_domains; /* the option, when no list has that name */
        return it->sub ? 0
                       : acl_item_err(kind, s, "no such named list (define it first)", err, errlen);
    }
    int rc = acl_parse_lookup(kind, s, it, err, errlen);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    if (kind == AL_HOST)
        return acl_parse_host(s, it, err, errlen);
    if (*s == '^')
        return acl_parse_regex(kind, s, it, err, errlen);
    if (kind == AL_DOMAIN && strcmp(s, "@") == 0) {
        it->kind = LI_PRIMARY;
        return 0;
    }
    if (kind == AL_DOMAIN && !acl_domain_ok(s))
        return acl_item_err(kind, s, "not a domain or domain pattern", err, errlen);
    it->kind = LI_PATTERN;
    it->text = strdup(s);
    return 0;
}

/* acl__list_parse - an Exim list of kind (see acl_int.h) */
struct acl_list *
acl__list_parse(const struct acl_set *set, int kind, const char *text, char *err, size_t errlen)
{
    char *buf, **items;
    size_t n = acl_split(text, &buf, &items);
    struct acl_list *l = calloc(1, sizeof *l);
    if (l == NULL)
        abort();
    l->kind = kind;
    if (n == 0 && strchr(text, ':') != NULL && kind != AL_HOST) {
        l->items = calloc(1, sizeof *l->items); /* "senders = :" */
        l->items[0].kind = LI_EMPTY;
        l->n = 1;
    } else if (n > 0) {
        l->items = calloc(n, sizeof *l->items);
    }
    for (size_t i = 0; i < n; i++) {
        if (acl_parse_item(set, kind, items[i], &l->items[i], err, errlen) < 0) {
            l->n = i + 1;
            acl__list_free(l);
            l = NULL;
            break;
        }
        l->n = i + 1;
    }
    free(buf);
    free(items);
    return l;
}

/* acl__list_free - release a list */
void
acl__list_free(struct acl_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].text);
        if (l->items[i].re != NULL)
            pcre2_code_free(l->items[i].re);
    }
    free(l->items);
    free(l);
}

/* ---- matching ------------------------------------------------------- */

/* acl_glob - case-insensitive match of s against pat, '*' any run */
static int
acl_glob(const char *pat, const char *s)
{
    const char *star = NULL, *mark = NULL;
    while (*s) {
        if (*pat == '*') {
            star = pat++;
            mark = s;
        } else if (tolower((unsigned char)*pat) == tolower((unsigned char)*s)) {
            pat++, s++;
        } else if (star != NULL) {
            pat = star + 1;
            s = ++mark;
        } else {
            return 0;
        }
    }
    while (*pat == '*')
        pat++;
    return *pat == '\0';
}

/* acl_sa_bytes - the address of sa as 4 (v4, or v4-mapped) or 16 bytes; family or 0 */
static int
acl_sa_bytes(const struct sockaddr *sa, uint8_t *a4, uint8_t *a6)
{
    if (sa == NULL)
        return 0;
    if (sa->sa_family == AF_INET) {
        memcpy(a4, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return AF_INET;
    }
    if (sa->sa_family != AF_INET6)
        return 0;
    const struct in6_addr *in6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    memcpy(a6, in6, 16);
    if (IN6_IS_ADDR_V4MAPPED(in6)) {
        memcpy(a4, a6 + 12, 4);
        return AF_INET;
    }
    return AF_INET6;
}

/* acl_prefix_eq - do a and b agree in their first bits bits? */
static int
acl_prefix_eq(const uint8_t *a, const uint8_t *b, int bits)
{
    int full = bits / 8, rem = bits % 8;
    if (memcmp(a, b, (size_t)full) != 0)
        return 0;
    uint8_t mask = (uint8_t)(0xff << (8 - rem));
    return rem == 0 || (a[full] & mask) == (b[full] & mask);
}

/* acl_cidr_match - does sa fall in the item's block? */
static int
acl_cidr_match(const struct acl_litem *it, const struct sockaddr *sa)
{
    uint8_t a4[4], a6[16];
    int fam = acl_sa_bytes(sa, a4, a6);
    if (fam == 0 || fam != it->family)
        return 0;
    return acl_prefix_eq(it->addr, fam == AF_INET ? a4 : a6, it->prefix);
}

/* acl_same_addr - do two socket addresses hold the same IP? */
static int
acl_same_addr(const struct sockaddr *a, const struct sockaddr *b)
{
    uint8_t a4[4], a6[16], b4[4], b6[16];
    int fa = acl_sa_bytes(a, a4, a6), fb = acl_sa_bytes(b, b4, b6);
    if (fa == 0 || fa != fb)
        return 0;
    return fa == AF_INET ? memcmp(a4, b4, 4) == 0 : memcmp(a6, b6, 16) == 0;
}

/* acl_ip_text - the IP of sa as text ("" if none) */
static void
acl_ip_text(const struct sockaddr *sa, char *buf, size_t len)
{
    uint8_t a4[4], a6[16];
    int fam = acl_sa_bytes(sa, a4, a6);
    buf[0] = '\0';
    if (fam != 0)
        inet_ntop(fam, fam == AF_INET ? (void *)a4 : (void *)a6, buf, (socklen_t)len);
}

/* acl_lookup_match - is key in the item's file? 1, 0, -1 */
static int
acl_lookup_match(const struct acl_litem *it, const struct acl_mctx *m, const char *key)
{
    char *val = NULL, msg[256] = "";
    enum lookup_rc rc = lookup_run(it->lt, key, it->text, &val, msg, sizeof msg);
    free(val);
    if (rc == LOOKUP_OK)
        return 1;
    if (rc == LOOKUP_NOTFOUND)
        return 0;
    if (m->err != NULL && m->errlen > 0)
        snprintf(m->err, m->errlen, "%s lookup in %s: %s", lookup_type_name(it->lt), it->text, msg);
    return -1;
}

/* acl_regex_match - does the regex match s? */
static int
acl_regex_match(const pcre2_code *re, const char *s)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (md == NULL)
        abort();
    int rc = pcre2_match(re, (PCRE2_SPTR)s, strlen(s), 0, 0, md, NULL);
    pcre2_match_data_free(md);
    return rc >= 0;
}

/* acl_pattern_match - a wildcard item against the subject of its kind */
static int
acl_pattern_match(int kind, const char *pat, const char *s, const struct acl_mctx *m)
{
    if (kind == AL_ADDRESS && strchr(pat, '@') == NULL) { /* a domain item */
        const char *at = strrchr(s, '@');
        s = at ? at + 1 : s;
        kind = AL_DOMAIN;
    }
    if (kind == AL_ADDRESS && pat[0] == '@') { /* "@domain": any local part */
        const char *at = strrchr(s, '@');
        return at != NULL && strcasecmp(at + 1, pat + 1) == 0;
    }
    if (kind == AL_DOMAIN && strcmp(pat, "@") == 0)
        return m->primary_hostname != NULL && strcasecmp(s, m->primary_hostname) == 0;
    return acl_glob(pat, s);
}

static int acl_list_walk(const struct acl_list *l, const struct acl_mctx *m, const char *s,
                         int depth);

/* acl_item_match - one item, ignoring its negation: 1, 0, -1 */
static int
acl_item_match(const struct acl_list *l, const struct acl_litem *it, const struct acl_mctx *m,
               const char *s, int depth)
{
    char ip[INET6_ADDRSTRLEN];
    switch (it->kind) {
    case LI_ANY:
        return 1;
    case LI_NAMED:
        return acl_list_walk(it->sub, m, s, depth + 1);
    case LI_CIDR:
        return acl_cidr_match(it, m->client);
    case LI_IFACE:
        return acl_same_addr(m->client, m->local);
    case LI_PRIMARY:
        return m->primary_hostname != NULL && strcasecmp(s, m->primary_hostname) == 0;
    case LI_LOOKUP:
        if (l->kind == AL_HOST) {
            acl_ip_text(m->client, ip, sizeof ip);
            s = ip;
        }
        return *s ? acl_lookup_match(it, m, s) : 0;
    case LI_REGEX:
        return acl_regex_match(it->re, s);
    case LI_PATTERN:
        return acl_pattern_match(l->kind, it->text, s, m);
    case LI_EMPTY:
        return *s == '\0';
    default:
        return 0;
    }
}

/* acl_list_walk - first matching item decides; none: yes if the last is negated */
static int
acl_list_walk(const struct acl_list *l, const struct acl_mctx *m, const char *s, int depth)
{
    if (l == NULL || depth > ACL_LIST_DEPTH)
        return 0;
    for (size_t i = 0; i < l->n; i++) {
        int r = acl_item_match(l, &l->items[i], m, s, depth);
        if (r < 0)
            return -1;
        if (r > 0)
            return !l->items[i].negate;
    }
    return l->n > 0 && l->items[l->n - 1].negate; /* "!a : !b": all others match */
}

/* acl__list_match - see acl_int.h */
int
acl__list_match(const struct acl_list *l, const struct acl_mctx *m, const char *subject)
{
    if (l == NULL)
        return 0;
    if (subject == NULL)
        subject = "";
    if (l->kind == AL_HOST && m->client == NULL)
        return 0;
    return acl_list_walk(l, m, subject, 0);
}
