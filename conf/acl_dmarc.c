/*
 * acl_dmarc.c - the "dmarc_status" ACL condition's list (seed "DMARC
 *               Support"): status words, '!' negation, left-to-right first
 *               match.
 *
 * Synopsis
 *   acl__dmarc_list_check("accept : none : off", err, sizeof err);  load time
 *   acl__dmarc_match("!accept", "reject", err, sizeof err)  -> 1      run time
 *
 * Description
 *   Items are separated by ':' (or the character after a leading '<').
 *   Words: accept reject quarantine none norecord nofrom temperror off (the
 *   seed's list), any case. The status itself is the caller's $dmarc_status
 *   (conf/ cannot evaluate DMARC: mailauth/ sits beside it, and the caller
 *   owns the DNS). Pure.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "conf/acl_int.h"

static const char *const dmarc_words[] = {"accept",   "reject", "quarantine", "none",
                                          "norecord", "nofrom", "temperror",  "off"};

/* dmarc_word - the canonical word for s[0..n), or NULL */
static const char *
dmarc_word(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof dmarc_words / sizeof dmarc_words[0]; i++)
        if (strlen(dmarc_words[i]) == n && strncasecmp(s, dmarc_words[i], n) == 0)
            return dmarc_words[i];
    return NULL;
}

/* acl__dmarc_match - 1 when an item matches status, 0 if none, -1 for an
 * unknown word (its text in err) */
int
acl__dmarc_match(const char *list, const char *status, char *err, size_t errlen)
{
    const char *p = list, *it;
    size_t n;
    char sep = acl__list_sep(&p);

    while (acl__list_next(&p, sep, &it, &n)) {
        int neg = it[0] == '!';
        size_t skip = neg ? 1 + strspn(it + 1, " \t") : 0;
        const char *w = dmarc_word(it + skip, n - skip);
        if (w == NULL) {
            snprintf(err, errlen,
                     "unknown DMARC status \"%.*s\" (accept, reject, quarantine, none, "
                     "norecord, nofrom, temperror or off)",
                     (int)(n > 40 ? 40 : n), it);
            return -1;
        }
        if ((strcasecmp(w, status) == 0) != neg)
            return 1;
    }
    return 0;
}

/* acl__dmarc_list_check - load-time check of a constant list */
int
acl__dmarc_list_check(const char *list, char *err, size_t errlen)
{
    const char *p = list, *it;
    size_t n;
    char sep = acl__list_sep(&p);
    int items = 0;

    while (acl__list_next(&p, sep, &it, &n))
        items++;
    if (items == 0) {
        snprintf(err, errlen, "a list of DMARC status words is needed");
        return -1;
    }
    return acl__dmarc_match(list, "", err, errlen) < 0 ? -1 : 0;
}
