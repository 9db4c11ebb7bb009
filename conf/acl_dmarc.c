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

static const struct acl_words dmarc_list = {
    "DMARC status", " (accept, reject, quarantine, none, norecord, nofrom, temperror or off)",
    dmarc_word};

/* acl__dmarc_match - 1 when an item matches status, 0 if none, -1 for an
 * unknown word (its text in err) */
int
acl__dmarc_match(const char *list, const char *status, char *err, size_t errlen)
{
    return acl__word_match(&dmarc_list, list, status, err, errlen);
}

/* acl__dmarc_list_check - load-time check of a constant list */
int
acl__dmarc_list_check(const char *list, char *err, size_t errlen)
{
    return acl__word_list_check(&dmarc_list, list, err, errlen);
}
