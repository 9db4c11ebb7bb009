/*
 * spf_report.c - what an SPF outcome says to people: result words, the
 *                header and SMTP comments, and Received-SPF (RFC 7208 §9.1).
 *
 * Synopsis
 *   spf_result_name(SPF_RESULT_FAIL) -> "fail"
 *   spf_result_parse("err_perm", 8)  -> SPF_RESULT_PERMERROR
 *
 * Description
 *   Received-SPF carries the result, a comment, and the key-value pairs
 *   client-ip, envelope-from, helo, receiver, identity; a value that is not
 *   a dot-atom is written as a quoted-string. Pure.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailauth/spf_int.h"

static const char *const names[] = {"none",     "neutral",   "pass",     "fail",
                                    "softfail", "temperror", "permerror"};

/* spf_result_name - the RFC 7208 word */
const char *
spf_result_name(int r)
{
    return r >= 0 && r < (int)(sizeof names / sizeof names[0]) ? names[r] : "?";
}

/* spf_result_parse - a word, with Exim's deprecated aliases */
int
spf_result_parse(const char *word, size_t len)
{
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (strlen(names[i]) == len && strncasecmp(word, names[i], len) == 0)
            return i;
    if (len == 8 && strncasecmp(word, "err_perm", 8) == 0)
        return SPF_RESULT_PERMERROR;
    if (len == 8 && strncasecmp(word, "err_temp", 8) == 0)
        return SPF_RESULT_TEMPERROR;
    return -1;
}

/* xasprintf - formatted allocation that aborts on failure */
static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *
xasprintf(const char *fmt, ...)
{
    char *p = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&p, fmt, ap) < 0)
        abort();
    va_end(ap);
    return p;
}

/* header_comment - the text between the parentheses */
static char *
header_comment(const struct spf_ctx *c)
{
    const char *rv = c->receiver, *s = c->sender, *ip = c->ipstr;
    switch (c->result) {
    case SPF_RESULT_PASS:
        return xasprintf("%s: domain of %s designates %s as permitted sender", rv, s, ip);
    case SPF_RESULT_FAIL:
        return xasprintf("%s: domain of %s does not designate %s as permitted sender", rv, s, ip);
    case SPF_RESULT_SOFTFAIL:
        return xasprintf("%s: transitioning domain of %s does not designate %s as permitted sender",
                         rv, s, ip);
    case SPF_RESULT_NEUTRAL:
        return xasprintf("%s: %s is neither permitted nor denied by domain of %s", rv, ip, s);
    case SPF_RESULT_NONE:
        return xasprintf("%s: domain of %s does not designate permitted sender hosts", rv, s);
    case SPF_RESULT_TEMPERROR:
        return xasprintf("%s: error in processing during lookup of %s: %s", rv, s, c->reason);
    default:
        return xasprintf("%s: permanent error in processing domain of %s: %s", rv, s, c->reason);
    }
}

/* dot_atom - can v go unquoted in a key-value pair? */
static int
dot_atom(const char *v)
{
    if (*v == '\0' || *v == '.')
        return 0;
    for (const char *p = v; *p; p++)
        if (!(isalnum((unsigned char)*p) || strchr("!#$%&'*+-/=?^_`{|}~.", *p) != NULL) ||
            (p[0] == '.' && (p[1] == '.' || p[1] == '\0')))
            return 0;
    return 1;
}

/* quoted - v as a dot-atom or a quoted-string (printable ASCII kept) */
static char *
quoted(const char *v)
{
    size_t n = strlen(v), k = 0;
    char *q;
    if (dot_atom(v))
        return xasprintf("%s", v);
    q = malloc(n * 2 + 3);
    if (q == NULL)
        abort();
    q[k++] = '"';
    for (const char *p = v; *p; p++) {
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            continue;
        if (*p == '"' || *p == '\\')
            q[k++] = '\\';
        q[k++] = *p;
    }
    q[k++] = '"';
    q[k] = '\0';
    return q;
}

/* spf__comments - header comment, SMTP comment and Received-SPF */
void
spf__comments(struct spf_ctx *c)
{
    char *from = quoted(c->sender), *helo = quoted(c->helo[0] ? c->helo : "unknown");
    char *rcv = quoted(c->receiver);
    c->hdr_comment = header_comment(c);
    if (c->result == SPF_RESULT_FAIL)
        c->smtp_comment = xasprintf("%s", c->exp);
    else
        c->smtp_comment = xasprintf("%s: %s", spf_result_name(c->result), c->reason);
    c->received = xasprintf("Received-SPF: %s (%s) client-ip=%s; envelope-from=%s; helo=%s; "
                            "receiver=%s; identity=%s;",
                            spf_result_name(c->result), c->hdr_comment, c->ipstr, from, helo, rcv,
                            c->identity_helo ? "helo" : "mailfrom");
    free(from), free(helo), free(rcv);
}
