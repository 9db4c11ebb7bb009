/*
 * config_lex.c - the parser's lexical helpers: positioned error messages,
 *                white space and words, whole numbers, host names, and the
 *                splitting of Exim lists and address lists into items.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config_int.h"
/* cfg_perr - format an error with its position; returns -1 */
__attribute__((format(printf, 2, 3))) int
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
char *
cfg_skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return (char *)s;
}

/* cfg_trim - strip white space at both ends, in place */
char *
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
int
cfg_is_word(const char *line, const char *word)
{
    size_t n = strlen(word);
    return strncmp(line, word, n) == 0 && (line[n] == '\0' || line[n] == ' ' || line[n] == '\t');
}

/* ---- scalar parsers ------------------------------------------------- */

/* cfg_parse_ll - a whole decimal number, nothing else; 0 or -1 */
int
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
int
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
void
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

/* cfg_split_addrs - address option items: an Exim "<X" list, or ',' / blanks */
void
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
