/*
 * sess_prdr.c - PRDR on a delivery session (seed "PRDR support",
 *               draft-hall-prdr-00): whether a transaction asks for it
 *               (hosts_try_prdr, default "*", and at least two recipients,
 *               as Exim does), and the replies after the data: "353", then
 *               one reply per recipient accepted at RCPT, in RCPT order,
 *               then a final reply. A server that answers the data with
 *               anything but 3xx has done without PRDR: that reply is the
 *               final one for every recipient, as usual.
 *
 * Each recipient's own reply decides it, unless the final reply is a
 * refusal (4xx or 5xx): then the recipients accepted on their own get the
 * final reply (as in Exim's client, the message was not taken after all),
 * and those refused keep their own refusal.
 *
 * Calls sess_conn.c (results) and sess_io.c (timer); called by sess_txn.c.
 * Thread rules: everything here runs on the session's worker thread.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "engine/worker_int.h"

/* cur_sa - the address in use as a socket address, or NULL */
static const struct sockaddr *
cur_sa(const struct eng_session *s, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, s->cur_ip, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        return (const struct sockaddr *)ss;
    }
    if (inet_pton(AF_INET6, s->cur_ip, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        return (const struct sockaddr *)ss;
    }
    return NULL;
}

/* eng__prdr_wanted - see worker_int.h */
int
eng__prdr_wanted(const struct eng_session *s)
{
    struct sockaddr_storage ss;
    const struct cfg_hostlist *l = &s->d->tp->hosts_try_prdr;
    if (!s->prdr || s->job->n < 2 || l->n == 0)
        return 0;
    return cfg_hostlist_match_host(l, s->d->hosts[s->host_i < s->d->nhosts ? s->host_i : 0].name,
                                   cur_sa(s, &ss));
}

/* nth_accepted - the job index of the i-th recipient accepted at RCPT */
static size_t
nth_accepted(const struct eng_session *s, size_t i)
{
    for (size_t k = 0; k < s->job->n; k++)
        if (s->rcpt_ok[k] && i-- == 0)
            return k;
    return s->job->n;
}

/* prdr_begin - the 353: per-recipient replies follow */
static void
prdr_begin(struct eng_session *s)
{
    size_t n = s->job->n;
    s->prdr_reading = 1;
    s->prdr_i = 0;
    s->prdr_n = n;
    if ((s->prdr_code = calloc(n, sizeof(*s->prdr_code))) == NULL ||
        (s->prdr_text = calloc(n, sizeof(*s->prdr_text))) == NULL)
        abort();
    s->st = SS_DATA;
    eng__sess_timer(s, s->d->tp->data_timeout_s);
}

/* prdr_note - one recipient's reply */
static void
prdr_note(struct eng_session *s, int code)
{
    size_t k = nth_accepted(s, s->prdr_i++);
    if (k >= s->job->n)
        return;
    s->prdr_code[k] = code;
    if ((s->prdr_text[k] = strdup(s->reply.text)) == NULL)
        abort();
}

/* prdr_final - the final reply: set the results it leaves to each
 * recipient's own reply; the caller gives the final reply to the rest */
static void
prdr_final(struct eng_session *s, int code)
{
    struct eng_job *j = s->job;
    for (size_t k = 0; k < j->n; k++) {
        int c = s->prdr_code[k];
        if (c == 0 || (code / 100 != 2 && c / 100 == 2))
            continue;
        if (c / 100 == 2)
            eng__job_set(j, k, c, "%s", s->prdr_text[k]);
        else
            eng__job_set(j, k, c, "SMTP error from remote mail server after end of data: %s",
                         s->prdr_text[k]);
    }
}

/* eng__prdr_reply - see worker_int.h */
int
eng__prdr_reply(struct eng_session *s, int code)
{
    if (!s->prdr_reading) {
        if (code / 100 != 3)
            return 0; /* the server did without PRDR */
        prdr_begin(s);
        return 1;
    }
    eng__sess_timer(s, s->d->tp->data_timeout_s);
    if (s->prdr_i < (size_t)s->accepted) {
        prdr_note(s, code);
        return 1;
    }
    prdr_final(s, code);
    return 0;
}
