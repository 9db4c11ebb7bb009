/*
 * smtp_dmarc_report.c - what DMARC leaves behind a message (seed "DMARC
 *                       Support" §5): the OpenDMARC history entry and the
 *                       failure report (RFC 6591, RFC 7489 §7.3).
 *
 * Synopsis
 *   smtp__dmarc_history(s, ctx)          (smtp_dmarc.c, once per message)
 *   smtp__dmarc_forensic(s, result, ar)  (smtp_dmarc.c, a failed message)
 *
 * Description
 *   History: with dmarc_history_file set, a message whose From domain has a
 *   DMARC record gets one entry (mailauth/dmarc.h's dmarc_history: the
 *   lines opendmarc-import reads) appended by one write() on a descriptor
 *   opened O_APPEND, so entries of concurrent writers never interleave;
 *   the file is opened and closed per message (rotation needs no signal).
 *   A failure is logged and changes nothing for the message.
 *
 *   Failure report: a multipart/report (report-type=feedback-report) with
 *   a human part, a message/feedback-report part (Feedback-Type:
 *   auth-failure, Auth-Failure: dmarc) and the original header section as
 *   text/rfc822-headers (RFC 6591 §3.1: headers only). Envelope sender and
 *   From: dmarc_forensic_sender, default do-not-reply@primary_hostname; the
 *   recipients: the mailto: URIs of the record's ruf= (a "!size" suffix
 *   dropped; other schemes ignored). It goes to spate's own queue like a
 *   DSN (spool_submit; the queue delivers it), logged as
 *   "ID <= SENDER U=spate P=local S=N for ADDRS (DMARC failure report for
 *   MSGID)".
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/smtp_int.h"
#include "base/log.h"
#include "mailauth/dmarc.h"

#define RUF_MAX 8 /* ruf= addresses used */

/* smtp__dmarc_history - append the message's entry to dmarc_history_file */
void
smtp__dmarc_history(struct sess *s, const struct dmarc_ctx *c)
{
    const char *file = s->lis->cfg->dmarc_history_file;
    const char *at = s->sender != NULL ? strrchr(s->sender, '@') : NULL;
    struct dmarc_hist_in in = {.job = s->id,
                               .reporter = s->lis->cfg->primary_hostname,
                               .received = time(NULL),
                               .ipaddr = s->ip,
                               .mfrom = at != NULL ? at + 1 : ""};
    char buf[8192];
    int n, fd;

    if (file == NULL || (n = dmarc_history(c, &in, buf, sizeof(buf))) < 0)
        return;
    fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0 || write(fd, buf, (size_t)n) != n)
        log_warn("%s dmarc_history_file %s: cannot append: %m", s->id, file);
    if (fd >= 0)
        close(fd);
}

/* ruf_addrs - the mailto: addresses of an ruf= value; count */
static size_t
ruf_addrs(const char *ruf, char **out)
{
    size_t n = 0;

    for (const char *p = ruf; *p && n < RUF_MAX;) {
        size_t len = strcspn(p, ",");
        const char *u = p;
        while (len > 0 && (*u == ' ' || *u == '\t'))
            u++, len--;
        if (len > 7 && strncasecmp(u, "mailto:", 7) == 0) {
            size_t a = strcspn(u + 7, "!, \t");
            if (a > 0 && a <= len - 7 && memchr(u + 7, '@', a) != NULL &&
                (out[n] = strndup(u + 7, a)) != NULL)
                n++;
        }
        p += strcspn(p, ",");
        p += *p == ',';
    }
    return n;
}

/* date_now - an RFC 5322 date */
static void
date_now(char *out, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;

    localtime_r(&t, &tm);
    strftime(out, len, "%a, %d %b %Y %H:%M:%S %z", &tm);
}

/* report_text - the whole report message (malloc'd) */
static char *
report_text(struct sess *s, const struct dmarc_result *r, const char *ar, const char *from,
            char *const *to, size_t nto, const char *id)
{
    char date[64], *text = NULL, tolist[2048] = "";
    const char *host = s->lis->cfg->primary_hostname;
    size_t hl = s->hdrlen < s->blen ? s->blen - s->hdrlen : 0;
    const char *hdr = s->body + s->hdrlen, *end = hl ? memmem(hdr, hl, "\r\n\r\n", 4) : NULL;
    int hlen = end != NULL ? (int)(end - hdr) + 2 : (int)hl;

    for (size_t i = 0; i < nto; i++)
        snprintf(tolist + strlen(tolist), sizeof(tolist) - strlen(tolist), "%s%s", i ? ", " : "",
                 to[i]);
    date_now(date, sizeof(date));
    if (asprintf(&text,
                 "From: %s\r\nTo: %s\r\nDate: %s\r\nMessage-ID: <%s@%s>\r\n"
                 "Subject: DMARC failure report for %s from %s\r\nMIME-Version: 1.0\r\n"
                 "Auto-Submitted: auto-generated\r\n"
                 "Content-Type: multipart/report; report-type=feedback-report;\r\n"
                 "\tboundary=\"%s.dmarc\"\r\n\r\n"
                 "--%s.dmarc\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
                 "A message from %s with the From domain %s failed DMARC (policy %s).\r\n\r\n"
                 "--%s.dmarc\r\nContent-Type: message/feedback-report\r\n\r\n"
                 "Feedback-Type: auth-failure\r\nUser-Agent: spate\r\nVersion: 1\r\n"
                 "Original-Mail-From: <%s>\r\nArrival-Date: %s\r\nSource-IP: %s\r\n"
                 "Reported-Domain: %s\r\n%s\r\nAuth-Failure: dmarc\r\n\r\n"
                 "--%s.dmarc\r\nContent-Type: text/rfc822-headers\r\n\r\n%.*s\r\n"
                 "--%s.dmarc--\r\n",
                 from, tolist, date, id, host, r->from_domain, s->ip, id, id, s->ip, r->from_domain,
                 dmarc_policy_word(r->policy), id, s->sender != NULL ? s->sender : "", date, s->ip,
                 r->from_domain, ar, id, hlen, hdr, id) < 0)
        abort();
    return text;
}

/* smtp__dmarc_forensic - queue a failure report to the record's ruf= */
void
smtp__dmarc_forensic(struct sess *s, const struct dmarc_result *r, const char *ar)
{
    struct spool_submission *sub = calloc(1, sizeof(*sub));
    char *to[RUF_MAX], from[300];
    size_t n = ruf_addrs(r->rec.ruf, to);

    if (sub == NULL)
        abort();
    if (n == 0) {
        free(sub);
        return;
    }
    if (s->lis->cfg->dmarc_forensic_sender != NULL)
        snprintf(from, sizeof(from), "%s", s->lis->cfg->dmarc_forensic_sender);
    else
        snprintf(from, sizeof(from), "do-not-reply@%s", s->lis->cfg->primary_hostname);
    spool_new_id(s->lis->sp, sub->id);
    if ((sub->rcpts = calloc(n, sizeof(*sub->rcpts))) == NULL)
        abort();
    memcpy(sub->rcpts, to, n * sizeof(*to));
    sub->nrcpt = n;
    sub->sender = strdup(from);
    sub->body = report_text(s, r, ar, from, to, n, sub->id);
    sub->body_len = strlen(sub->body);
    sub->proto = strdup("local");
    if (sub->sender == NULL || sub->proto == NULL)
        abort();
    log_info("%s <= %s U=spate P=local S=%zu for %s%s (DMARC failure report for %s)", sub->id, from,
             sub->body_len, to[0], n > 1 ? " ..." : "", s->id);
    spool_submit(s->lis->sp, sub);
}
