/*
 * dkim_sign.h - DKIM signing on the smtp transport (RFC 6376, RFC 8463):
 *               the transport's dkim_* options expanded per message, keys
 *               parsed once and cached, the signatures computed once per
 *               message and kept for its later attempts.
 */
#ifndef SPATE_ENGINE_DKIM_SIGN_H
#define SPATE_ENGINE_DKIM_SIGN_H

#include <stddef.h>

#include "conf/config.h"
#include "spool/spool.h"

/* eng_dkim_sign - put tp's DKIM-Signature fields in front of the message
 * *body (*len bytes, malloc'd, as read from the spool; replaced by a new
 * malloc'd buffer). Variables in the options: $sender_address,
 * $sender_address_domain, $message_id, $dkim_domain (selector and later),
 * $dkim_selector (private key and later). 1 signed, 0 nothing to do
 * (options unset, or a domain, selector or key expanding to "", "0" or
 * "false", or forced failure), -1 on an error, logged with the message id:
 * the message then goes out unsigned, as Exim does without dkim_strict.
 * Any thread; the caches are shared under a mutex. */
int eng_dkim_sign(const struct cfg_transport *tp, const struct spool_msg *m, char **body,
                  size_t *len);

#endif
