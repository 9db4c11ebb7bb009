/*
 * dmarc_report.c - what a DMARC outcome is shown as: the seed's status
 *                  words and texts, the Authentication-Results header
 *                  (RFC 8601 §2.7.1, RFC 7489 §11.2) and one message's
 *                  entry of an OpenDMARC history file (the format
 *                  opendmarc-import reads, with libopendmarc's numeric codes).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mailauth/dmarc_int.h"

/* libopendmarc's codes, as its history files carry them */
enum {
    OD_POLICY_ABSENT = 14,
    OD_POLICY_PASS = 15,
    OD_POLICY_REJECT = 16,
    OD_POLICY_QUARANTINE = 17,
    OD_POLICY_NONE = 18,
    OD_ALIGN_PASS = 4,
    OD_ALIGN_FAIL = 5,
    OD_ACTION_REJECT = 0,
    OD_ACTION_ACCEPT = 2,
    OD_ACTION_TEMPFAIL = 3,
    OD_ACTION_QUARANTINE = 4,
};

static const char *const words[] = {"accept",   "reject", "quarantine", "none",
                                    "norecord", "nofrom", "temperror",  "off"};
static const char *const texts[] = {"Accept",
                                    "Reject",
                                    "Quarantine",
                                    "None, Accept",
                                    "No DMARC record",
                                    "No From: domain found",
                                    "Temporary error in DMARC record lookup",
                                    "DMARC verification disabled"};

const char *
dmarc_status_word(enum dmarc_status s)
{
    return (unsigned)s < sizeof(words) / sizeof(words[0]) ? words[s] : "temperror";
}

const char *
dmarc_status_text(const struct dmarc_result *r)
{
    return (unsigned)r->status < sizeof(texts) / sizeof(texts[0]) ? texts[r->status]
                                                                  : texts[DMARC_ST_TEMPERROR];
}

const char *
dmarc_ar_result(const struct dmarc_result *r)
{
    switch (r->status) {
    case DMARC_ST_ACCEPT:
        return "pass";
    case DMARC_ST_REJECT:
    case DMARC_ST_QUARANTINE:
    case DMARC_ST_NONE:
        return "fail";
    case DMARC_ST_NORECORD:
        return "none";
    case DMARC_ST_NOFROM:
        return "permerror";
    case DMARC_ST_OFF:
        return NULL;
    default:
        return "temperror";
    }
}

/* put - append to buf at *off; -1 once it does not fit */
static int
put(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf + *off, len - *off, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len - *off)
        return -1;
    *off += (size_t)n;
    return 0;
}

/* disposition - the dis= word: what the policy made of the message */
static const char *
disposition(const struct dmarc_result *r)
{
    if (r->status == DMARC_ST_REJECT)
        return "reject";
    return r->status == DMARC_ST_QUARANTINE ? "quarantine" : "none";
}

int
dmarc_ar_header(const struct dmarc_result *r, const char *authserv_id, char *buf, size_t len)
{
    const char *res = dmarc_ar_result(r);
    size_t off = 0;
    int rc;

    if (buf == NULL || len == 0 || authserv_id == NULL || *authserv_id == '\0')
        return -1;
    buf[0] = '\0';
    if (res == NULL)
        return 0;
    rc = put(buf, len, &off, "Authentication-Results: %s; dmarc=%s", authserv_id, res);
    if (rc == 0 && r->status == DMARC_ST_NOFROM)
        rc = put(buf, len, &off, " (no single From domain)");
    if (rc == 0 && r->has_record && r->status <= DMARC_ST_NONE)
        rc = put(buf, len, &off, " (p=%s dis=%s)", dmarc_policy_word(r->rec.p), disposition(r));
    if (rc == 0 && r->from_domain[0] != '\0')
        rc = put(buf, len, &off, " header.from=%s", r->from_domain);
    return rc == 0 ? (int)off : -1;
}

/* ares - libopendmarc's ARES_RESULT_* for an SPF or DKIM outcome */
static int
ares(enum dmarc_auth a)
{
    static const int map[] = {6, 0, 7, 2, 3, 4, 5}; /* none pass fail soft neutral temp perm */
    return (unsigned)a < sizeof(map) / sizeof(map[0]) ? map[a] : 11;
}

/* od_policy - 'n', 'q', 'r' as the history's p/sp numbers; 0 unset */
static int
od_policy(enum dmarc_policy p)
{
    return p == DMARC_POLICY_NONE         ? 'n'
           : p == DMARC_POLICY_QUARANTINE ? 'q'
           : p == DMARC_POLICY_REJECT     ? 'r'
                                          : 0;
}

/* od_result - the history's policy and action numbers for the outcome */
static void
od_result(const struct dmarc_result *r, int *policy, int *action)
{
    static const int pol[] = {OD_POLICY_PASS, OD_POLICY_REJECT, OD_POLICY_QUARANTINE,
                              OD_POLICY_NONE, OD_POLICY_ABSENT};
    static const int act[] = {OD_ACTION_ACCEPT, OD_ACTION_REJECT, OD_ACTION_QUARANTINE,
                              OD_ACTION_ACCEPT, OD_ACTION_ACCEPT};

    *policy = r->status <= DMARC_ST_NORECORD ? pol[r->status] : OD_POLICY_ABSENT;
    *action = r->status <= DMARC_ST_NORECORD ? act[r->status] : OD_ACTION_TEMPFAIL;
}

/* clean - a history value: printable, no spaces (each line is "key value") */
static int
clean(const char *s)
{
    if (s == NULL)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f)
            return 0;
    return 1;
}

/* put_rua - one "rua" line per URI, "rua -" for none */
static int
put_rua(char *buf, size_t len, size_t *off, const char *rua)
{
    int rc = 0;

    if (*rua == '\0')
        return put(buf, len, off, "rua -\n");
    while (rc == 0 && *rua) {
        size_t n = strcspn(rua, ","), lead = strspn(rua, " \t");
        size_t end = n;
        while (end > lead && (rua[end - 1] == ' ' || rua[end - 1] == '\t'))
            end--;
        rc = put(buf, len, off, "rua %.*s\n", (int)(end - lead), rua + lead);
        rua += n + (rua[n] == ',');
    }
    return rc;
}

/* put_head - job .. spf and the dkim lines */
static int
put_head(const struct dmarc_ctx *c, const struct dmarc_hist_in *in, char *buf, size_t len,
         size_t *off)
{
    size_t i;
    int rc = put(buf, len, off,
                 "job %s\nreporter %s\nreceived %lld\nipaddr %s\nfrom %s\nmfrom %s\n", in->job,
                 in->reporter, (long long)in->received, in->ipaddr, c->res.from_domain, in->mfrom);

    if (rc == 0)
        rc = put(buf, len, off, "spf %d\n", c->spf_domain[0] ? ares(c->spf) : -1);
    for (i = 0; rc == 0 && i < c->ndkim; i++)
        rc = put(buf, len, off, "dkim %s %s %d\n", c->dkim[i].d,
                 clean(c->dkim[i].s) ? c->dkim[i].s : "-", ares(c->dkim[i].result));
    return rc;
}

int
dmarc_history(const struct dmarc_ctx *c, const struct dmarc_hist_in *in, char *buf, size_t len)
{
    const struct dmarc_result *r = &c->res;
    const struct dmarc_record *rec = &r->rec;
    size_t off = 0;
    int policy, action, rc;

    if (buf == NULL || len == 0 || in == NULL || !r->has_record || !clean(in->job) ||
        !clean(in->reporter) || !clean(in->ipaddr) || in->mfrom == NULL ||
        (in->mfrom[0] && !clean(in->mfrom)))
        return -1;
    od_result(r, &policy, &action);
    rc = put_head(c, in, buf, len, &off);
    if (rc == 0)
        rc = put(buf, len, &off, "pdomain %s\npolicy %d\n", r->used_domain, policy);
    if (rc == 0)
        rc = put_rua(buf, len, &off, rec->rua);
    if (rc == 0)
        rc =
            put(buf, len, &off, "pct %u\nadkim %d\naspf %d\np %d\nsp %d\n", rec->pct,
                rec->adkim == DMARC_ALIGN_STRICT ? 's' : 'r',
                rec->aspf == DMARC_ALIGN_STRICT ? 's' : 'r', od_policy(rec->p), od_policy(rec->sp));
    if (rc == 0)
        rc = put(buf, len, &off, "align_dkim %d\nalign_spf %d\naction %d\n",
                 r->dkim_aligned ? OD_ALIGN_PASS : OD_ALIGN_FAIL,
                 r->spf_aligned ? OD_ALIGN_PASS : OD_ALIGN_FAIL, action);
    return rc == 0 ? (int)off : -1;
}
