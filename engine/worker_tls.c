/*
 * worker_tls.c - STARTTLS, DANE and OCSP for the delivery worker's SMTP
 *                sessions (SPEC 3; seeds "DANE", "Certificate name checking",
 *                "OCSP Stapling support"; RFC 3207, RFC 7672).
 *
 * Per host, before connecting (eng__tls_before_connect): when the transport's
 * hosts_try_dane or hosts_require_dane names the host, the MX RRset's
 * DNSSEC status is looked up once per session and the host's DANE decision
 * made through dns/dnssec (libunbound, on this worker's loop):
 *   DANE_FAIL (bogus, lookup error)         skip the host (RFC 7672 2.2)
 *   DANE_INSECURE, or an insecure MX RRset   normal TLS policy, or skip the
 *                                           host under hosts_require_dane
 *   secure, with or without usable TLSA      TLS mandatory, authenticated
 *                                           through DANE when usable
 * After EHLO (eng__tls_after_ehlo): STARTTLS when offered (unless
 * hosts_avoid_tls); when not offered but TLS is mandatory (DANE,
 * hosts_require_tls) the host is skipped - never clear text, so a man in the
 * middle stripping STARTTLS gains nothing. The handshake runs on the loop
 * (tls/tls.h); then EHLO again (RFC 3207 4.2).
 *
 * The session calls in here and acts on what each step returns (enum
 * eng_tls_rc); this file never calls the session back. The one step that
 * ends later, a DNSSEC lookup, hands the session back through the resume
 * function it was given. It uses only the session's I/O layer (sess_io.c).
 *
 * Everything here runs on the worker's thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/metrics.h"
#include "engine/worker_int.h"

/* host_sa - the current address as a sockaddr, for host list matching */
static const struct sockaddr *
host_sa(const struct eng_session *s, struct sockaddr_storage *ss)
{
    size_t n;
    const struct sockaddr_storage *v = eng__tls_addrs(s, &n);
    const struct dns_host *h = &s->d->hosts[s->host_i];
    if (v != NULL && s->addr_i < n)
        *ss = v[s->addr_i];
    else if (s->addr_i < h->naddr)
        *ss = h->addrs[s->addr_i];
    else
        return NULL;
    return (const struct sockaddr *)ss;
}

/* host_in - does the transport's list name the current host? */
static int
host_in(const struct eng_session *s, const struct cfg_hostlist *l)
{
    struct sockaddr_storage ss;
    if (l == NULL || l->n == 0)
        return 0;
    return cfg_hostlist_match_host(l, s->d->hosts[s->host_i].name, host_sa(s, &ss));
}

/* resolver - this worker's DNSSEC resolver, made on first use */
static dnssec_resolver *
resolver(struct eng_session *s)
{
    struct eng_worker *w = s->w;
    const struct cfg *c = w->cfg;
    const char *zones[64];
    struct dnssec_opts o = {0};
    char err[256];
    if (w->dnssec != NULL)
        return w->dnssec;
    o.servers = c->dns_servers;
    o.nservers = c->n_dns_servers;
    o.trust_anchor_file = c->dns_trust_anchor_file;
    for (size_t i = 0; i < c->dnssec_stub_zones.n && o.nzones < 64; i++)
        zones[o.nzones++] = c->dnssec_stub_zones.items[i].name;
    o.zones = zones;
    o.stub = o.nzones > 0;
    o.timeout_ms = 10000;
    w->dnssec = dnssec_resolver_new(w->loop, &o, err, sizeof(err));
    if (w->dnssec == NULL)
        log_err("DNSSEC resolver: %s", err);
    return w->dnssec;
}

/* skip_host - a lookup refused the current host: last_err says why, and
 * the session goes on without it */
static void
skip_host(struct eng_session *s, const char *why)
{
    metrics_inc(MC_DANE_FAILED);
    snprintf(s->last_err, sizeof(s->last_err), "H=%.200s: %.290s", s->d->hosts[s->host_i].name,
             why);
    s->dane_resume(s, 0);
}

/* implicit_mx - was the host list made from the domain itself (no MX)? */
static int
implicit_mx(const struct eng_session *s)
{
    return s->d->nhosts == 1 && strcmp(s->d->hosts[0].name, s->d->domain) == 0;
}

/* on_dane - the host's DANE decision arrived */
static void
on_dane(struct dnssec_dane *dn, void *arg)
{
    struct eng_session *s = arg;
    int require = host_in(s, &s->d->tp->hosts_require_dane);
    char why[800];
    if (s->w->stopping || s->st == SS_GONE) {
        dnssec_dane_free(dn);
        return;
    }
    dnssec_dane_free(s->dn);
    s->dn = dn;
    s->dn_host = s->host_i;
    s->dane = 0;
    log_debug("H=%s DANE %s (MX secure: %d, usable TLSA: %zu) %s", dn->host,
              dane_status_text(dn->status), s->mx_secure, dn->nusable, dn->why);
    if (dn->status == DANE_FAIL) {
        snprintf(why, sizeof(why), "DANE: %s", dn->why);
        skip_host(s, why);
        return;
    }
    if (dn->status == DANE_INSECURE || !(s->mx_secure || implicit_mx(s))) {
        if (require) {
            snprintf(why, sizeof(why), "hosts_require_dane: not DNSSEC-secure (%s)",
                     dn->status == DANE_INSECURE ? dn->why : "MX RRset insecure");
            skip_host(s, why);
            return;
        }
        s->dane_resume(s, 1); /* the normal TLS policy */
        return;
    }
    s->dane = 1; /* secure: TLS is mandatory from here on */
    s->dane_resume(s, 1);
}

/* on_mx - the MX RRset's security is known: look the host up */
static void
on_mx(struct dnssec_answer *a, void *arg)
{
    struct eng_session *s = arg;
    int sec = a->sec == DNSSEC_SECURE;
    dnssec_answer_free(a);
    if (s->w->stopping || s->st == SS_GONE)
        return;
    s->mx_checked = 1;
    s->mx_secure = sec;
    if (dnssec_dane_lookup(s->w->dnssec, s->d->hosts[s->host_i].name, s->d->port, on_dane, s) < 0)
        skip_host(s, "DANE: the lookup could not be started");
}

/* eng__tls_before_connect - the DANE decision for the current host */
enum eng_tls_rc
eng__tls_before_connect(struct eng_session *s, void (*resume)(struct eng_session *s, int usable))
{
    const struct cfg_transport *tp = s->d->tp;
    int dane_hosts = tp->hosts_try_dane.n > 0 || tp->hosts_require_dane.n > 0;
    dnssec_resolver *r;
    if (s->dn_host == s->host_i)
        return ENG_TLS_GO; /* decided already */
    s->dane = 0;
    if (!dane_hosts || !(host_in(s, &tp->hosts_try_dane) || host_in(s, &tp->hosts_require_dane)))
        return ENG_TLS_GO;
    if ((r = resolver(s)) == NULL) {
        snprintf(s->last_err, sizeof(s->last_err), "H=%s: DANE: no DNSSEC resolver",
                 s->d->hosts[s->host_i].name);
        metrics_inc(MC_DANE_FAILED);
        return ENG_TLS_SKIP;
    }
    s->st = SS_DNSSEC;
    s->dane_resume = resume;
    if (!s->mx_checked && !implicit_mx(s))
        return dnssec_resolve(r, s->d->domain, DNSSEC_T_MX, on_mx, s) < 0 ? ENG_TLS_SKIP
                                                                          : ENG_TLS_WAIT;
    if (implicit_mx(s))
        s->mx_secure = 1; /* the host is the domain itself: nothing to trust in between */
    if (dnssec_dane_lookup(r, s->d->hosts[s->host_i].name, s->d->port, on_dane, s) < 0)
        return ENG_TLS_SKIP;
    return ENG_TLS_WAIT;
}

/* eng__tls_addrs - DNSSEC-validated addresses of a DANE host */
const struct sockaddr_storage *
eng__tls_addrs(const struct eng_session *s, size_t *n)
{
    if (s->dn == NULL || s->dn_host != s->host_i || !s->dane || s->dn->naddr == 0)
        return NULL;
    *n = s->dn->naddr;
    return s->dn->addrs;
}

/* tls_mandatory - may this host be used without TLS? */
static int
tls_mandatory(const struct eng_session *s)
{
    return s->dane || host_in(s, &s->d->tp->hosts_require_tls);
}

/* eng__tls_after_ehlo - start STARTTLS, refuse the host, or go on in clear */
enum eng_tls_rc
eng__tls_after_ehlo(struct eng_session *s, char *why, size_t whylen)
{
    if (host_in(s, &s->d->tp->hosts_avoid_tls) && !tls_mandatory(s))
        return ENG_TLS_GO;
    if (s->starttls_offered) {
        eng__out_add(s, "STARTTLS\r\n", 10);
        s->st = SS_STARTTLS;
        if (eng__out_flush(s) < 0) {
            snprintf(why, whylen, "write error");
            return ENG_TLS_BROKEN;
        }
        return ENG_TLS_WAIT;
    }
    if (!tls_mandatory(s))
        return ENG_TLS_GO;
    metrics_inc(MC_TLS_FAILED);
    if (s->dane)
        metrics_inc(MC_DANE_FAILED);
    snprintf(why, whylen, "%s",
             s->dane ? "DANE: the server does not offer STARTTLS"
                     : "hosts_require_tls: the server does not offer STARTTLS");
    return ENG_TLS_FAIL;
}

/* cert_hook - tls:cert, from inside verification (tls.h cert_hook): the
 * certificate at depth is $tls_out_peercert, the depth $event_data; a
 * non-empty result refuses verification */
static int
cert_hook(void *arg, int depth, const char *pem)
{
    struct eng_session *s = arg;
    char d[16];
    int no;
    snprintf(d, sizeof(d), "%d", depth);
    s->tls_ev_cert = pem;
    no = eng__sess_event_says_no(s, "tls:cert", d);
    s->tls_ev_cert = s->tls_peercert;
    return no;
}

/* verify_mode_text - $verify_mode for the connection's parameters */
static const char *
verify_mode_text(const struct tls_conn_params *p)
{
    if (p->dane)
        return "dane";
    return p->verify == TLS_VERIFY_REQUIRE ? "required"
           : p->verify == TLS_VERIFY_TRY   ? "optional"
                                           : "none";
}

/* dane_params - names, TLSA records and OCSP under DANE (RFC 7672 3.2) */
static void
dane_params(struct eng_session *s, struct tls_conn_params *p, const char **names,
            struct tls_tlsa *tlsa, size_t maxtlsa)
{
    const struct cfg_transport *tp = s->d->tp;
    const char *host = s->d->hosts[s->host_i].name;
    size_t n = 0;
    p->dane = 1;
    p->sni = s->dn->base;
    names[n++] = s->dn->base;
    if (strcmp(host, s->dn->base) != 0)
        names[n++] = host;
    if (strcmp(s->dn->canon, s->dn->base) != 0 && strcmp(s->dn->canon, host) != 0)
        names[n++] = s->dn->canon;
    if (s->mx_secure && strcmp(s->d->domain, host) != 0)
        names[n++] = s->d->domain; /* RFC 7672 3.2.2: only when the MX was secure */
    p->names = names;
    p->nnames = n;
    for (size_t i = 0; i < s->dn->ntlsa && i < maxtlsa; i++) {
        tlsa[i].usage = s->dn->tlsa[i].usage;
        tlsa[i].selector = s->dn->tlsa[i].selector;
        tlsa[i].mtype = s->dn->tlsa[i].mtype;
        tlsa[i].data = s->dn->tlsa[i].data;
        tlsa[i].len = s->dn->tlsa[i].len;
        p->ntlsa++;
    }
    p->tlsa = tlsa;
    /* hosts_request_ocsp left at its default "*": under DANE only ask when
     * no DANE-EE record will decide (seed "DANE") */
    p->ocsp_request = tp->hosts_request_ocsp_default ? (s->dn->usage_bits & (1u << 3)) == 0
                                                     : host_in(s, &tp->hosts_request_ocsp);
}

/* pkix_params - verification, names and OCSP without DANE */
static void
pkix_params(struct eng_session *s, struct tls_conn_params *p, const char **names)
{
    const struct cfg_transport *tp = s->d->tp;
    const char *host = s->d->hosts[s->host_i].name;
    p->sni = host;
    p->verify = host_in(s, &tp->tls_verify_hosts)       ? TLS_VERIFY_REQUIRE
                : host_in(s, &tp->tls_try_verify_hosts) ? TLS_VERIFY_TRY
                                                        : TLS_VERIFY_NONE;
    if (host_in(s, &tp->tls_verify_cert_hostnames)) {
        names[0] = host;
        p->names = names;
        p->nnames = 1;
    }
    p->ocsp_request = host_in(s, &tp->hosts_request_ocsp);
}

/* conn_params - what tls_conn_new needs for the current host */
static void
conn_params(struct eng_session *s, struct tls_conn_params *p, const char **names,
            struct tls_tlsa *tlsa, size_t maxtlsa, char *key, size_t keylen)
{
    const struct cfg_transport *tp = s->d->tp;
    memset(p, 0, sizeof(*p));
    snprintf(key, keylen, "%s|%s", s->d->key, s->d->hosts[s->host_i].name);
    p->session_key = key;
    if (s->dane)
        dane_params(s, p, names, tlsa, maxtlsa);
    else
        pkix_params(s, p, names);
    p->ocsp_require = host_in(s, &tp->hosts_require_ocsp);
    if (p->ocsp_require)
        p->ocsp_request = 1;
    if (tp->event_action != NULL) {
        p->cert_hook = cert_hook;
        p->cert_arg = s;
    }
}

/* eng__tls_starttls_reply - 220: start the handshake; else clear text or skip */
enum eng_tls_rc
eng__tls_starttls_reply(struct eng_session *s, int code, char *why, size_t whylen)
{
    struct tls_conn_params p;
    const char *names[4];
    struct tls_tlsa tlsa[32];
    char key[600];
    if (code != 220) {
        if (!tls_mandatory(s))
            return ENG_TLS_GO; /* opportunistic: go on in clear */
        metrics_inc(MC_TLS_FAILED);
        snprintf(why, whylen, "STARTTLS refused: %s", s->reply.text);
        return ENG_TLS_FAIL;
    }
    if (s->d->tp->tls_ctx == NULL) {
        snprintf(why, whylen, "TLS: no client context for the transport");
        return ENG_TLS_FAIL;
    }
    conn_params(s, &p, names, tlsa, sizeof(tlsa) / sizeof(tlsa[0]), key, sizeof(key));
    s->tls = tls_conn_new(s->d->tp->tls_ctx, s->fd, &p);
    if (s->tls == NULL) {
        snprintf(why, whylen, "TLS: cannot set up the connection");
        return ENG_TLS_FAIL;
    }
    s->tls_verify_mode = verify_mode_text(&p);
    s->st = SS_TLS_HS; /* the reader hands over to eng__tls_handshake */
    return ENG_TLS_WAIT;
}

/* handshake_done - log fields, metrics, the certificate for events */
static void
handshake_done(struct eng_session *s)
{
    struct tls_info info;
    tls_conn_info(s->tls, &info);
    snprintf(s->tls_x, sizeof(s->tls_x), "%s", info.x);
    s->tls_cv = tls_cv_text(info.cv);
    s->tls_dane = info.dane;
    if (s->d->tp->event_action != NULL) { /* for smtp:connect, msg:delivery, ... */
        free(s->tls_peercert);
        s->tls_peercert = tls_conn_peer_cert_pem(s->tls);
        s->tls_ev_cert = s->tls_peercert;
    }
    metrics_inc(MC_TLS_SESSIONS);
    if (info.cv == TLS_CV_YES)
        metrics_inc(MC_TLS_VERIFIED);
    if (info.cv == TLS_CV_DANE)
        metrics_inc(MC_DANE_VERIFIED);
    if (info.ocsp == TLS_OCSP_GOOD)
        metrics_inc(MC_OCSP_GOOD);
    else if (info.ocsp != TLS_OCSP_NOT_REQUESTED &&
             (info.ocsp != TLS_OCSP_MISSING || host_in(s, &s->d->tp->hosts_require_ocsp)))
        metrics_inc(MC_OCSP_BAD); /* a staple merely absent when only requested is no fault */
}

/* eng__tls_handshake - drive the handshake on I/O events */
enum eng_tls_rc
eng__tls_handshake(struct eng_session *s, char *why, size_t whylen)
{
    int rc = tls_conn_handshake(s->tls);
    if (rc == TLS_WANT_READ) {
        eng_io_set(s->w->loop, &s->io, EPOLLIN);
        return ENG_TLS_WAIT;
    }
    if (rc == TLS_WANT_WRITE) {
        eng_io_set(s->w->loop, &s->io, EPOLLIN | EPOLLOUT);
        return ENG_TLS_WAIT;
    }
    if (rc != TLS_OK) {
        enum tls_ocsp ocsp = tls_conn_ocsp(s->tls);
        metrics_inc(MC_TLS_FAILED);
        if (s->dane)
            metrics_inc(MC_DANE_FAILED);
        if (ocsp != TLS_OCSP_NOT_REQUESTED && ocsp != TLS_OCSP_GOOD)
            metrics_inc(MC_OCSP_BAD);
        snprintf(why, whylen, "TLS: %s", tls_conn_error(s->tls));
        return ENG_TLS_FAIL;
    }
    handshake_done(s);
    return ENG_TLS_UP;
}

/* eng__tls_fill_job - $tls_out_peercert and $verify_mode for the job's events */
void
eng__tls_fill_job(const struct eng_session *s, struct eng_job *j)
{
    free(j->at->tls_peercert);
    j->at->tls_peercert = NULL;
    j->at->tls_verify_mode[0] = '\0';
    if (s->tls == NULL)
        return;
    if (s->tls_peercert != NULL && (j->at->tls_peercert = strdup(s->tls_peercert)) == NULL)
        abort(); /* out of memory, as everywhere in the engine */
    snprintf(j->at->tls_verify_mode, sizeof(j->at->tls_verify_mode), "%s",
             s->tls_verify_mode ? s->tls_verify_mode : "");
}

/* eng__tls_worker_free - the worker stops: free its DNSSEC resolver */
void
eng__tls_worker_free(struct eng_worker *w)
{
    if (w->dnssec != NULL)
        dnssec_resolver_free(w->dnssec);
    w->dnssec = NULL;
}
