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

static const struct acl_words dkim_list = {"DKIM status", " (none, invalid, fail or pass)",
                                           dkim_word};

/* acl__dkim_match - 1 when an item matches status, 0 if none, -1 for an
 * unknown word (its text in err) */
int
acl__dkim_match(const char *list, const char *status, char *err, size_t errlen)
{
    return acl__word_match(&dkim_list, list, status, err, errlen);
}

/* acl__dkim_list_check - load-time check of a constant list */
int
acl__dkim_list_check(const char *list, char *err, size_t errlen)
{
    return acl__word_list_check(&dkim_list, list, err, errlen);
}
