/*
 * acl_spf.c - the "spf" ACL condition's list (seed "SPF"): result words,
 *             '!' negation, left-to-right first match.
 *
 * Synopsis
 *   acl__spf_list_check("pass : !fail", err, sizeof err);   load time
 *   acl__spf_match("fail : softfail", "softfail")  -> 1     run time
 *
 * Description
 *   Items are separated by ':' (or the character after a leading '<').
 *   Words: pass fail softfail none neutral permerror temperror, and the
 *   deprecated err_perm (permerror) and err_temp (temperror); any case.
 *   The result itself comes from acl_env.spf (conf/ cannot evaluate SPF:
 *   mailauth/ sits beside it, and the caller owns the DNS). Pure.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "conf/acl_int.h"

static const char *const spf_words[] = {"pass",    "fail",      "softfail", "none",
                                        "neutral", "permerror", "temperror"};

/* spf_word - the canonical word for s[0..n), or NULL */
static const char *
spf_word(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof spf_words / sizeof spf_words[0]; i++)
        if (strlen(spf_words[i]) == n && strncasecmp(s, spf_words[i], n) == 0)
            return spf_words[i];
    if (n == 8 && strncasecmp(s, "err_perm", 8) == 0)
        return "permerror";
    if (n == 8 && strncasecmp(s, "err_temp", 8) == 0)
        return "temperror";
    return NULL;
}

/* acl__list_next - the next trimmed item of list at *p; 0 at the end */
int
acl__list_next(const char **p, char sep, const char **item, size_t *len)
{
    const char *s = *p;
    while (*s == sep || isspace((unsigned char)*s))
        s++;
    if (*s == '\0')
        return 0;
    const char *e = strchr(s, sep);
    size_t n = e ? (size_t)(e - s) : strlen(s);
    *p = s + n;
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    *item = s, *len = n;
    return 1;
}

/* acl__list_sep - Exim's "<X" separator prefix */
char
acl__list_sep(const char **p)
{
    const char *s = *p;
    while (isspace((unsigned char)*s))
        s++;
    if (s[0] == '<' && s[1] != '\0' && !isspace((unsigned char)s[1])) {
        *p = s + 2;
        return s[1];
    }
    return ':';
}

/* acl__word_match - see acl_int.h */
int
acl__word_match(const struct acl_words *ws, const char *list, const char *value, char *err,
                size_t errlen)
{
    const char *p = list, *it;
    size_t n;
    char sep = acl__list_sep(&p);

    while (acl__list_next(&p, sep, &it, &n)) {
        int neg = it[0] == '!';
        size_t skip = neg ? 1 + strspn(it + 1, " \t") : 0;
        const char *w = ws->word(it + skip, n - skip);
        if (w == NULL) {
            snprintf(err, errlen, "unknown %s \"%.*s\"%s", ws->what, (int)(n > 40 ? 40 : n), it,
                     ws->hint);
            return -1;
        }
        if ((strcasecmp(w, value) == 0) != neg)
            return 1;
    }
    return 0;
}

/* acl__word_list_check - see acl_int.h */
int
acl__word_list_check(const struct acl_words *ws, const char *list, char *err, size_t errlen)
{
    const char *p = list, *it;
    size_t n;
    char sep = acl__list_sep(&p);
    int items = 0;

    while (acl__list_next(&p, sep, &it, &n))
        items++;
    if (items == 0) {
        snprintf(err, errlen, "a list of %s words is needed", ws->what);
        return -1;
    }
    return acl__word_match(ws, list, "", err, errlen) < 0 ? -1 : 0;
}

static const struct acl_words spf_list = {"SPF result", "", spf_word};

/* acl__spf_match - 1 when an item matches result, 0 if none, -1 for an
 * unknown word (its text in err) */
int
acl__spf_match(const char *list, const char *result, char *err, size_t errlen)
{
    return acl__word_match(&spf_list, list, result, err, errlen);
}

/* acl__spf_list_check - load-time check of a constant list */
int
acl__spf_list_check(const char *list, char *err, size_t errlen)
{
    return acl__word_list_check(&spf_list, list, err, errlen);
}
