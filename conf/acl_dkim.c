/*
 * acl_dkim.c - the "dkim_status" ACL condition's list (Exim's DKIM
 *              chapter): status words, '!' negation, left-to-right first
 *              match.
 *
 * Synopsis
 *   acl__dkim_list_check("fail : invalid", err, sizeof err);   load time
 *   acl__dkim_match("!pass", "fail", err, sizeof err)  -> 1     run time
 *
 * Description
 *   Items are separated by ':' (or the character after a leading '<').
 *   Words: none invalid fail pass (Exim's $dkim_verify_status), any case.
 *   The status itself is the caller's $dkim_verify_status (conf/ cannot
 *   verify: mailauth/ sits beside it, and the caller owns the DNS). Pure.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "conf/acl_int.h"

static const char *const dkim_words[] = {"none", "invalid", "fail", "pass"};

/* dkim_word - the canonical word for s[0..n), or NULL */
static const char *
dkim_word(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof dkim_words / sizeof dkim_words[0]; i++)
        if (strlen(dkim_words[i]) == n && strncasecmp(s, dkim_words[i], n) == 0)
            return dkim_words[i];
    return NULL;
}

/* acl__dkim_match - 1 when an item matches status, 0 if none, -1 for an
 * unknown word (its text in err) */
int
acl__dkim_match(const char *list, const char *status, char *err, size_t errlen)
{
    const char *p = list, *it;
    size_t n;
    char sep = acl__list_sep(&p);

    while (acl__list_next(&p, sep, &it, &n)) {
        int neg = it[0] == '!';
        size_t skip = neg ? 1 + strspn(it + 1, " \t") : 0;
        const char *w = dkim_word(it + skip, n - skip);
        if (w == NULL) {
            snprintf(err, errlen, "unknown DKIM status \"%.*s\" (none, invalid, fail or pass)",
                     (int)(n > 40 ? 40 : n), it);
            return -1;
        }
        if ((strcasecmp(w, status) == 0) != neg)
            return 1;
    }
    return 0;
}

/* acl__dkim_list_check - load-time check of a constant list */
int
acl__dkim_list_check(const char *list, char *err, size_t errlen)
{
    const char *p = list, *it;
    size_t n;
    char sep = acl__list_sep(&p);
    int items = 0;

    while (acl__list_next(&p, sep, &it, &n))
        items++;
    if (items == 0) {
        snprintf(err, errlen, "a list of DKIM status words is needed");
        return -1;
    }
    return acl__dkim_match(list, "", err, errlen) < 0 ? -1 : 0;
}
