/*
 * smtp_tls.c - STARTTLS on the SMTP server (RFC 3207) over tls/'s server
 *              connections: the command, the handshake driven by the
 *              session's event loop, the tls:cert event, and what the
 *              session learns ($tls_in_cipher, $tls_in_peerdn, $tls_in_sni,
 *              $tls_in_ocsp; X= and CV= on "<=" lines).
 *
 * STARTTLS is offered when tls_certificate is set, the client matches
 * tls_advertise_hosts and the session is not yet encrypted. Input that the
 * client sent after STARTTLS, before the 220, is never read as commands
 * after the handshake (CVE-2011-0411 class): with smtp_enforce_sync the
 * client is dropped for it, otherwise it is discarded. After the handshake
 * the session starts again from the greeting's state: the client must send
 * EHLO again (RFC 3207 §4.2) and sees no STARTTLS in its answer; an AUTH
 * that succeeded in clear text (auth_advertise_hosts) is forgotten as well,
 * so the client must authenticate again over TLS.
 *
 * Client certificates: tls_verify_hosts requires one that verifies to
 * tls_verify_certificates (the handshake fails otherwise), tls_try_verify_hosts
 * asks for one; each certificate of the client's chain that passes its checks
 * raises the main section's tls:cert event (a non-empty result fails the
 * handshake).
 *
 * A failed handshake is logged ("TLS error on connection from ...") and the
 * connection closed; nothing is written in clear text after the 220.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/smtp_int.h"
#include "base/log.h"
#include "engine/event.h"
#include "tls/tls.h"

/* smtp_tls_offered - is STARTTLS offered to this session now? */
int
smtp_tls_offered(const struct sess *s)
{
    return s->lis->tls != NULL && s->tls == NULL &&
           cfg_hostlist_match(&s->lis->cfg->tls_advertise_hosts, (const struct sockaddr *)&s->peer);
}

/* smtp_cmd_starttls - STARTTLS: 220, then the handshake once the reply is out */
void
smtp_cmd_starttls(struct sess *s)
{
    if (!smtp_tls_offered(s)) {
        smtp_reply(s, "503 5.5.1 STARTTLS not available");
        return;
    }
    s->inoff = s->inlen; /* whatever follows is not a command (enforce_sync drops it first) */
    smtp_txn_reset(s);
    smtp_reply(s, "220 2.0.0 Ready to start TLS");
    s->st = SS_TLS_START;
}

/* verify_mode - what to ask of the client's certificate */
static int
verify_mode(const struct sess *s)
{
    const struct cfg *c = s->lis->cfg;
    const struct sockaddr *sa = (const struct sockaddr *)&s->peer;

    if (cfg_hostlist_match(&c->tls_in_verify_hosts, sa))
        return TLS_VERIFY_REQUIRE;
    if (cfg_hostlist_match(&c->tls_in_try_verify_hosts, sa))
        return TLS_VERIFY_TRY;
    return TLS_VERIFY_NONE;
}

/* on_cert - tls:cert for one certificate of the client's chain */
static int
on_cert(void *arg, int depth, const char *pem, const char *subject)
{
    struct sess *s = arg;
    struct event_ctx ev = {0};
    char d[16], *res = NULL;
    int refuse;

    (void)subject;
    if (s->lis->cfg->event_action == NULL)
        return 0;
    snprintf(d, sizeof(d), "%d", depth);
    ev.v[EV_EVENT_NAME] = "tls:cert";
    ev.v[EV_EVENT_DATA] = d;
    ev.v[EV_TLS_IN_PEERCERT] = pem;
    ev.v[EV_SENDER_HOST_ADDRESS] = s->ip;
    ev.v[EV_PRIMARY_HOSTNAME] = s->lis->cfg->primary_hostname;
    refuse = event_raise(&ev, s->lis->cfg->event_action, &res) == 0 && res != NULL && *res;
    if (refuse)
        log_info("TLS client certificate at depth %d from %s refused by tls:cert: %s", depth,
                 s->host, res);
    free(res);
    return refuse;
}

/* tls_begin - the 220 is out: make the server connection */
static int
tls_begin(struct sess *s)
{
    char err[256];

    s->tls = tls_conn_new_server(s->lis->tls, s->io.fd, verify_mode(s), err, sizeof(err));
    if (s->tls == NULL) {
        log_warn("TLS error on connection from %s: %s", s->host, err);
        return -1;
    }
    tls_conn_set_cert_arg(s->tls, s);
    s->st = SS_TLS;
    return 0;
}

/* tls_done - the handshake is over: note what it established, start anew */
static void
tls_done(struct sess *s)
{
    struct tls_info in;
    struct tls_server_info si;

    if (tls_conn_info(s->tls, &in) == 0) {
        snprintf(s->tls_x, sizeof(s->tls_x), "%s", in.x);
        snprintf(s->tls_cipher, sizeof(s->tls_cipher), "%s", in.cipher);
        s->tls_cv = in.cv == TLS_CV_YES;
    }
    if (tls_conn_server_info(s->tls, &si) == 0) {
        snprintf(s->tls_sni, sizeof(s->tls_sni), "%s", si.sni);
        snprintf(s->tls_peerdn, sizeof(s->tls_peerdn), "%s", si.peer_dn);
        s->tls_ocsp = (int)si.ocsp;
    }
    s->st = SS_CMD;
    s->greeted = s->esmtp = 0;
    s->helo[0] = '\0';
    s->inoff = s->inlen = 0;
    free(s->auth_id); /* a login made in clear text is forgotten too */
    s->auth_id = NULL;
    s->auth_name[0] = '\0';
}

/* smtp_tls_step - drive the handshake; 1 done, 0 waiting, -1 closed */
int
smtp_tls_step(struct sess *s)
{
    int rc;

    if (s->st == SS_TLS_START && tls_begin(s) < 0) {
        smtp_sess_close(s);
        return -1;
    }
    rc = tls_conn_handshake(s->tls);
    s->tls_want = rc == TLS_WANT_READ || rc == TLS_WANT_WRITE ? rc : 0;
    if (rc == TLS_OK) {
        tls_done(s);
        return 1;
    }
    if (rc == TLS_WANT_READ || rc == TLS_WANT_WRITE) {
        smtp_sess_update_io(s);
        return 0;
    }
    log_info("TLS error on connection from %s (handshake): %s", s->host, tls_conn_error(s->tls));
    smtp_sess_close(s);
    return -1;
}

/* smtp_tls_var - $tls_in_* of the session, or NULL for another name */
const char *
smtp_tls_var(struct sess *s, const char *name)
{
    if (strncmp(name, "tls_in_", 7) != 0)
        return NULL;
    name += 7;
    if (strcmp(name, "cipher") == 0)
        return s->tls_cipher;
    if (strcmp(name, "peerdn") == 0)
        return s->tls_peerdn;
    if (strcmp(name, "sni") == 0)
        return s->tls_sni;
    if (strcmp(name, "certificate_verified") == 0)
        return s->tls ? (s->tls_cv ? "1" : "0") : "";
    if (strcmp(name, "ocsp") == 0) {
        snprintf(s->tls_ocsp_text, sizeof(s->tls_ocsp_text), "%d", s->tls ? s->tls_ocsp : 0);
        return s->tls_ocsp_text;
    }
    if (strcmp(name, "ver") == 0 || strcmp(name, "version") == 0) {
        const char *colon = strchr(s->tls_x, ':');
        snprintf(s->tls_ver, sizeof(s->tls_ver), "%.*s", colon ? (int)(colon - s->tls_x) : 0,
                 s->tls_x);
        return s->tls_ver;
    }
    return NULL;
}

/* smtp_tls_ctx_new - the STARTTLS context for cfg: *out NULL when no
 * tls_certificate is set; 0, or -1 with err (unreadable or mismatched files) */
int
smtp_tls_ctx_new(const struct cfg *c, struct tls_server_ctx **out, char *err, size_t errlen)
{
    struct tls_server_params p = {0};

    *out = NULL;
    if (c->n_tls_in_certificates == 0)
        return 0;
    p.certs = (const char *const *)c->tls_in_certificates;
    p.keys = c->n_tls_in_privatekeys ? (const char *const *)c->tls_in_privatekeys : NULL;
    p.ncerts = c->n_tls_in_certificates;
    p.ciphers = c->tls_in_require_ciphers;
    p.min_version = c->tls_in_min_version;
    p.verify_certificates = c->tls_in_verify_certificates;
    p.ocsp_file = c->tls_in_ocsp_file;
    p.on_cert = on_cert;
    *out = tls_server_ctx_new(&p, err, errlen);
    return *out != NULL ? 0 : -1;
}
