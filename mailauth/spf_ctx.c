/*
 * spf_ctx.c - the SPF context: request, memoised answers, the step loop,
 *             %{p} and PTR validation, and the outcome's getters.
 *
 * Synopsis
 *   c = spf_new(&rq); while (spf_step(c) == SPF_STEP_QUERY) spf_answer(c, ...);
 *
 * Description
 *   See spf.h. Answers are kept per (name, type), names compared without
 *   case; a run that needs one not yet kept records it as the query and
 *   stops. Out of memory aborts.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mailauth/spf_int.h"

/* xstrdup / xrealloc - allocation that aborts on failure */
static char *
xstrndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p == NULL)
        abort();
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
static char *
xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}
static void *
xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (p == NULL)
        abort();
    return p;
}

/* parse_ip - client address into c (IPv4-mapped IPv6 becomes IPv4) */
static int
parse_ip(struct spf_ctx *c, const char *ip)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    uint8_t a[16];
    if (ip == NULL)
        return -1;
    if (inet_pton(AF_INET, ip, a) == 1) {
        c->fam = 4;
        memcpy(c->ip, a, 4);
    } else if (inet_pton(AF_INET6, ip, a) == 1) {
        c->fam = memcmp(a, mapped, 12) == 0 ? 4 : 6;
        memcpy(c->ip, c->fam == 4 ? a + 12 : a, c->fam == 4 ? 4 : 16);
    } else {
        return -1;
    }
    inet_ntop(c->fam == 4 ? AF_INET : AF_INET6, c->ip, c->ipstr, sizeof c->ipstr);
    if (c->fam == 4) {
        snprintf(c->inaddr, sizeof c->inaddr, "%s", c->ipstr);
        return 0;
    }
    for (int i = 0; i < 32; i++) {
        int nib = (c->ip[i / 2] >> (i % 2 ? 0 : 4)) & 0xf;
        c->inaddr[i * 2] = "0123456789ABCDEF"[nib]; /* as the RFC 7208 suite expects */
        c->inaddr[i * 2 + 1] = i == 31 ? '\0' : '.';
    }
    return 0;
}

/* set_identity - sender, local part and domain (§4.3, §2.3) */
static void
set_identity(struct spf_ctx *c, const char *sender, const char *helo)
{
    const char *at;
    c->helo = xstrdup(helo ? helo : "");
    if (sender == NULL || sender[0] == '\0') {
        c->local = xstrdup("postmaster");
        c->domain = xstrdup(c->helo);
    } else if ((at = strrchr(sender, '@')) != NULL) {
        c->local = at == sender ? xstrdup("postmaster") : xstrndup(sender, (size_t)(at - sender));
        c->domain = xstrdup(at + 1);
    } else {
        c->local = xstrdup("postmaster");
        c->domain = xstrdup(sender);
    }
    size_t n = strlen(c->local) + strlen(c->domain) + 2;
    c->sender = xrealloc(NULL, n);
    snprintf(c->sender, n, "%s@%s", c->local, c->domain);
}

/* spf_new - see spf.h */
struct spf_ctx *
spf_new(const struct spf_request *rq)
{
    struct spf_ctx *c = calloc(1, sizeof *c);
    if (c == NULL)
        abort();
    if (parse_ip(c, rq->ip) < 0) {
        free(c);
        return NULL;
    }
    c->identity_helo = rq->sender == NULL || rq->sender[0] == '\0';
    set_identity(c, rq->sender, rq->helo);
    c->receiver = xstrdup(rq->receiver ? rq->receiver : "unknown");
    c->default_exp = rq->default_exp ? xstrdup(rq->default_exp) : NULL;
    c->max_lookups = rq->max_lookups ? rq->max_lookups : 10;
    c->max_void = rq->max_void ? rq->max_void : 2;
    snprintf(c->tstamp, sizeof c->tstamp, "%lld",
             (long long)(rq->now ? rq->now : (int64_t)time(NULL)));
    return c;
}

/* spf_answer - keep the answer to the last query */
void
spf_answer(struct spf_ctx *c, int status, const struct spf_rr *rrs, size_t n)
{
    struct spf__memo *m;
    if (c->qname[0] == '\0')
        return;
    if (c->nmemo == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->memo = xrealloc(c->memo, c->cap * sizeof *c->memo);
    }
    m = &c->memo[c->nmemo++];
    memset(m, 0, sizeof *m);
    m->name = xstrdup(c->qname);
    m->type = c->qtype;
    m->status = status == SPF_DNS_OK && n == 0 ? SPF_DNS_NODATA : status;
    if (m->status == SPF_DNS_OK) {
        m->rr = xrealloc(NULL, n * sizeof *m->rr);
        for (size_t i = 0; i < n; i++) {
            size_t len = rrs[i].text ? (rrs[i].len ? rrs[i].len : strlen(rrs[i].text)) : 0;
            m->rr[i] = rrs[i];
            m->rr[i].text = xstrndup(rrs[i].text ? rrs[i].text : "", len);
            m->rr[i].len = len;
        }
        m->n = n;
    }
    c->qname[0] = '\0';
}

/* default_exp - the default explanation, expanded */
static void
default_exp(struct spf_ctx *c, char *out, size_t outlen)
{
    static const char dflt[] =
        "Please see http://www.open-spf.org/Why?s=mfrom;id=%{S};ip=%{C};r=%{R}";
    const char *t = c->default_exp ? c->default_exp : dflt;
    struct spf__mvals m = {c->sender,
                           c->local,
                           c->domain,
                           c->domain,
                           c->inaddr,
                           "unknown",
                           c->helo,
                           c->ipstr,
                           c->receiver,
                           c->tstamp,
                           c->fam == 4 ? "in-addr" : "ip6"};
    if (spf__macro_expand(&m, t, strlen(t), 1, out, outlen) != 0)
        snprintf(out, outlen, "%s", t);
}

/* spf_step - run check_host against the answers kept */
int
spf_step(struct spf_ctx *c)
{
    struct spf__run *r;
    if (c->done)
        return SPF_STEP_DONE;
    r = calloc(1, sizeof *r);
    if (r == NULL)
        abort();
    r->c = c;
    int res = spf__check_host(r, c->domain, 1);
    if (res == SPF__PENDING) {
        free(r);
        return SPF_STEP_QUERY;
    }
    c->done = 1;
    c->result = (enum spf_result)res;
    c->reason = xstrdup(r->reason);
    if (res == SPF_RESULT_FAIL) {
        if (!r->have_exp)
            default_exp(c, r->exp, sizeof r->exp);
        c->exp = xstrdup(r->exp);
    } else {
        c->exp = xstrdup("");
    }
    free(r);
    spf__comments(c);
    return SPF_STEP_DONE;
}

const char *
spf_query_name(const struct spf_ctx *c)
{
    return c->qname;
}
int
spf_query_type(const struct spf_ctx *c)
{
    return c->qtype;
}
size_t
spf_queries(const struct spf_ctx *c)
{
    return c->nmemo;
}
enum spf_result
spf_result(const struct spf_ctx *c)
{
    return c->done ? c->result : SPF_RESULT_TEMPERROR;
}
const char *
spf_explanation(const struct spf_ctx *c)
{
    return c->exp ? c->exp : "";
}
const char *
spf_reason(const struct spf_ctx *c)
{
    return c->reason ? c->reason : "";
}
const char *
spf_domain(const struct spf_ctx *c)
{
    return c->domain;
}
const char *
spf_header_comment(const struct spf_ctx *c)
{
    return c->hdr_comment ? c->hdr_comment : "";
}
const char *
spf_smtp_comment(const struct spf_ctx *c)
{
    return c->smtp_comment ? c->smtp_comment : "";
}
const char *
spf_received(const struct spf_ctx *c)
{
    return c->received ? c->received : "";
}

/* spf_free - the context and everything it holds */
void
spf_free(struct spf_ctx *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->nmemo; i++) {
        for (size_t j = 0; j < c->memo[i].n; j++)
            free((char *)c->memo[i].rr[j].text);
        free(c->memo[i].rr);
        free(c->memo[i].name);
    }
    free(c->memo);
    free(c->sender), free(c->helo), free(c->receiver), free(c->default_exp);
    free(c->domain), free(c->local), free(c->exp), free(c->reason);
    free(c->hdr_comment), free(c->smtp_comment), free(c->received);
    free(c);
}
