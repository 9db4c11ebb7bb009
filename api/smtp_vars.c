/*
 * smtp_vars.c - the expansion variables of an SMTP session, as ACLs,
 *               authenticators and events see them (Exim's names):
 *
 *   $sender_host_address $sender_host_port    the client
 *   $received_ip_address $received_port       where it connected to
 *   $sender_helo_name                         the EHLO/HELO argument
 *   $sender_address                           MAIL FROM ("" for <>)
 *   $recipients_count                         recipients accepted so far
 *   $message_size                             octets received (-1 before the text)
 *   $authenticated_id                         "" when not authenticated
 *   $prdr_requested                           "yes" after MAIL ... PRDR
 *   $primary_hostname $smtp_command           ...
 *   $tls_in_cipher $tls_in_peerdn $tls_in_sni $tls_in_ocsp $tls_in_ver
 *   $tls_in_certificate_verified              (smtp_tls.c)
 *   $proxy_session $proxy_host_address $proxy_host_port $proxy_target_address
 *   $proxy_target_port                        (smtp_proxy.c; $sender_host_* are
 *                                             the proxied client's)
 *   $dkim_* $authentication_results           (smtp_dkim.c)
 *
 * Values are valid until the session changes; the text buffers live in the
 * session (no allocation).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "api/smtp_int.h"

/* local_ip - the address the client connected to, as text, and its port */
static const char *
local_ip(struct sess *s, int port)
{
    char ip[INET6_ADDRSTRLEN] = "";
    unsigned p = 0;

    if (s->local.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&s->local;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
        p = ntohs(a->sin_port);
    } else if (s->local.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&s->local;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
        p = ntohs(a->sin6_port);
    }
    if (port)
        snprintf(s->vbuf, sizeof(s->vbuf), "%u", p);
    else
        snprintf(s->vbuf, sizeof(s->vbuf), "%s", ip);
    return s->vbuf;
}

/* number - a number in the session's scratch buffer */
static const char *
number(struct sess *s, long long v)
{
    snprintf(s->vbuf, sizeof(s->vbuf), "%lld", v);
    return s->vbuf;
}

/* smtp_var - the value of an expansion variable of session s (arg), ""
 * when known but unset, NULL for a name it does not know */
const char *
smtp_var(void *arg, const char *name)
{
    struct sess *s = arg;
    const char *v;

    if (strcmp(name, "sender_host_address") == 0)
        return s->ip;
    if (strcmp(name, "sender_host_port") == 0)
        return s->port;
    if (strcmp(name, "received_ip_address") == 0 || strcmp(name, "received_port") == 0)
        return local_ip(s, name[9] == 'p');
    if (strcmp(name, "sender_helo_name") == 0)
        return s->helo;
    if (strcmp(name, "sender_address") == 0)
        return s->sender != NULL ? s->sender : "";
    if (strcmp(name, "recipients_count") == 0)
        return number(s, (long long)s->nrcpt);
    if (strcmp(name, "message_size") == 0)
        return number(s, s->blen > s->hdrlen ? (long long)(s->blen - s->hdrlen) : -1);
    if (strcmp(name, "authenticated_id") == 0)
        return s->auth_id != NULL ? s->auth_id : "";
    if (strcmp(name, "primary_hostname") == 0)
        return s->lis->cfg->primary_hostname;
    if (strcmp(name, "prdr_requested") == 0)
        return s->prdr ? "yes" : "";
    if (strcmp(name, "message_exim_id") == 0 || strcmp(name, "message_id") == 0)
        return s->id;
    if ((v = smtp_tls_var(s, name)) != NULL)
        return v;
    if ((v = smtp_proxy_var(s, name)) != NULL) /* PROXY protocol */
        return v;
    if ((v = smtp_spf_var(s, name)) != NULL) /* $spf_* */
        return v;
    if ((v = smtp_dmarc_var(s, name)) != NULL) /* $dmarc_* */
        return v;
    if ((v = smtp_dkim_var(s, name)) != NULL) /* $dkim_*, $authentication_results */
        return v;
    return NULL;
}
