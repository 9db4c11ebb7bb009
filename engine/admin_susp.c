/*
 * admin_susp.c - the table of suspended domains (admin.h: suspend/resume).
 *
 * A handful of entries at most in practice, so a flat array searched in
 * order. Scheduler thread only.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "engine/admin_int.h"

struct admin_susp {
    char *domain;  /* lower case */
    int64_t until; /* unix s, 0 = until resume */
    char *reason;  /* or NULL */
    int64_t since;
};

/* admin_iso - unix seconds as an RFC 3339 UTC time */
void
admin_iso(int64_t t, char *out, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static struct admin_susp *susp;
static size_t nsusp, capsusp;

/* admin_susp_find - index of domain's suspension if still in force, else -1 */
int
admin_susp_find(const char *domain, int64_t now)
{
    for (size_t i = 0; i < nsusp; i++)
        if (strcasecmp(susp[i].domain, domain) == 0 && (susp[i].until == 0 || susp[i].until > now))
            return (int)i;
    return -1;
}

/* admin_susp_count - entries in the table */
size_t
admin_susp_count(void)
{
    return nsusp;
}

/* admin_susp_add - suspend domain until (0: until resume); replaces an entry */
void
admin_susp_add(const char *domain, int64_t until, const char *reason)
{
    struct admin_susp *s = NULL;

    for (size_t i = 0; i < nsusp && s == NULL; i++)
        if (strcasecmp(susp[i].domain, domain) == 0)
            s = &susp[i];
    if (s == NULL) {
        if (nsusp == capsusp) {
            capsusp = capsusp ? capsusp * 2 : 8;
            if ((susp = realloc(susp, capsusp * sizeof(*susp))) == NULL)
                abort();
        }
        s = &susp[nsusp++];
        if ((s->domain = strdup(domain)) == NULL)
            abort();
        for (char *p = s->domain; *p; p++)
            *p = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
    } else {
        free(s->reason);
    }
    s->until = until;
    s->since = (int64_t)time(NULL);
    s->reason = reason ? strdup(reason) : NULL;
}

/* susp_drop - remove entry i */
static void
susp_drop(size_t i)
{
    free(susp[i].domain);
    free(susp[i].reason);
    susp[i] = susp[--nsusp];
}

/* admin_susp_del - resume domain; 0, or -1 when it was not suspended */
int
admin_susp_del(const char *domain)
{
    for (size_t i = 0; i < nsusp; i++)
        if (strcasecmp(susp[i].domain, domain) == 0) {
            susp_drop(i);
            return 0;
        }
    return -1;
}

/* admin_susp_expired - move the domains whose time is up into out */
size_t
admin_susp_expired(int64_t now, char **out, size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < nsusp && n < max;) {
        if (susp[i].until != 0 && susp[i].until <= now) {
            out[n++] = susp[i].domain;
            susp[i].domain = NULL;
            susp_drop(i);
        } else {
            i++;
        }
    }
    return n;
}

/* admin_susp_next - the earliest end of a timed suspension, 0 = none */
int64_t
admin_susp_next(void)
{
    int64_t next = 0;

    for (size_t i = 0; i < nsusp; i++)
        if (susp[i].until != 0 && (next == 0 || susp[i].until < next))
            next = susp[i].until;
    return next;
}

/* admin_susp_json - [{"domain", "since", "until", "reason"}] */
json_t *
admin_susp_json(void)
{
    json_t *a = json_array();
    char since[32], until[32];

    for (size_t i = 0; i < nsusp; i++) {
        admin_iso(susp[i].since, since, sizeof(since));
        admin_iso(susp[i].until, until, sizeof(until));
        json_array_append_new(a, json_pack("{s:s, s:s, s:s?, s:s?}", "domain", susp[i].domain,
                                           "since", since, "until", susp[i].until ? until : NULL,
                                           "reason", susp[i].reason));
    }
    return a;
}
