/*
 * dkim_sign.h - DKIM signing on the smtp transport (RFC 6376, RFC 8463):
 *               the transport's dkim_* options expanded per message, keys
 *               parsed once and cached, the signature fields computed once
 *               per message and transport and kept on the message for its
 *               later attempts.
 *
 * Who calls what: the scheduler, once a message's recipients are routed to
 * a signing transport, has the fields computed on a signing thread
 * (dkim_pool.c: eng_dkim_compute, then eng_dkim_keep on the scheduler
 * thread) before the jobs are lent; the worker then only puts the kept
 * fields in front of the body (eng_dkim_sign). Variables in the options:
 * $sender_address, $sender_address_domain, $message_id, $dkim_domain
 * (selector and later), $dkim_selector (private key and later).
 */
#ifndef SPATE_ENGINE_DKIM_SIGN_H
#define SPATE_ENGINE_DKIM_SIGN_H

#include <stddef.h>

#include "conf/config.h"
#include "spool/spool.h"

/* One transport's fields for one message; a list owned by the message. */
struct eng_dkim_sig;

/* eng_dkim_wanted - 1 when tp has dkim_domain, dkim_selector and
 * dkim_private_key all set (signing may still expand to nothing) */
int eng_dkim_wanted(const struct cfg_transport *tp);

/* eng_dkim_compute - tp's DKIM-Signature fields for m, whose body (as
 * read from the spool) is body[0..len): *hdrs malloc'd, NULL for none.
 * 1 signed, 0 nothing to do (options unset, or a domain, selector or key
 * expanding to "", "0" or "false", or forced failure), -1 on an error,
 * logged with the message id: the message then goes out unsigned, as Exim
 * does without dkim_strict. Blocking (lookups in the expansions; an
 * RSA-2048 signature costs about 0.3-0.8 ms): a signing thread's work. Any
 * thread; the key cache is shared under a mutex. */
int eng_dkim_compute(const struct cfg_transport *tp, const struct spool_msg *m, const char *body,
                     size_t len, char **hdrs);

/* eng_dkim_keep - remember hdrs (copied; NULL: unsigned) as tp's fields on
 * *list, unless tp already has an entry there. Any thread (one mutex). */
void eng_dkim_keep(struct eng_dkim_sig **list, const struct cfg_transport *tp, const char *hdrs);

/* eng_dkim_known - 1 if *list has tp's entry. Any thread. */
int eng_dkim_known(struct eng_dkim_sig *const *list, const struct cfg_transport *tp);

/* eng_dkim_forget - free *list and set it to NULL. Any thread. */
void eng_dkim_forget(struct eng_dkim_sig **list);

/* eng_dkim_sign - put tp's fields kept on *list in front of the message
 * *body (*len bytes, malloc'd; replaced by a new malloc'd buffer). When
 * none are kept (a job that did not pass the signing threads) they are
 * computed here and kept. 1 signed, 0 unsigned, -1 signing failed
 * (logged; sent unsigned). Worker thread. */
int eng_dkim_sign(const struct cfg_transport *tp, const struct spool_msg *m,
                  struct eng_dkim_sig **list, char **body, size_t *len);

#endif
