/*
 * api.h - the ways mail and requests come in: the SMTP injection listener
 *         and the HTTP API (inject, metrics, stats).
 *
 * SMTP (RFC 5321): one listener thread running an engine loop and many
 * non-blocking sessions (api/smtp_int.h lists the files). Extensions
 * advertised: PIPELINING, SIZE, 8BITMIME, SMTPUTF8, CHUNKING, STARTTLS,
 * AUTH (PLAIN, LOGIN), ENHANCEDSTATUSCODES, DSN. A message is acknowledged
 * with 250 only once the spool's done callback reports it durable; a spool
 * failure answers 451. Each stage runs its ACL (acl_smtp_connect ...
 * acl_smtp_quit, conf/acl.h); without acl_smtp_rcpt, recipients are
 * accepted only from relay_from_hosts, from authenticated clients, or for
 * local_domains (550 5.7.1 otherwise): never an open relay by default.
 *
 * HTTP (libmicrohttpd, its own threads):
 *   POST /api/v1/inject    single message or {"messages": [...]}, or the
 *                          message itself (Content-Type: message/rfc822,
 *                          envelope in the query string); 200 only after
 *                          the commit; 400 naming the bad field; 503 when
 *                          the spool cannot commit.
 *   GET  /metrics          Prometheus text exposition format 0.0.4
 *   GET  /api/v1/stats     the same figures as JSON
 *   GET  /api/v1/queue     per-destination summary (JSON)
 *
 * Thread rules: start/stop from the main thread.
 */
#ifndef SPATE_API_API_H
#define SPATE_API_API_H

#include <stddef.h>

#include "conf/config.h"
#include "spool/spool.h"

/* api_smtp_start - bind every smtp_listen address and start serving; 0 or -1 with err */
int api_smtp_start(const struct cfg *cfg, spool *sp, char *err, size_t errlen);
/* api_smtp_stop - stop accepting; sessions waiting for a commit get their
 * answer; others get 421; returns when the listener thread has ended */
void api_smtp_stop(void);

/* api_smtp_reload - sessions use cfg from now on (limits, relay_from_hosts,
 * host name); listen addresses change only at restart. cfg must outlive the
 * listener. Main thread. */
void api_smtp_reload(const struct cfg *cfg);

/* api_http_start - bind every http_listen address; 0 or -1 with err */
int api_http_start(const struct cfg *cfg, spool *sp, char *err, size_t errlen);
void api_http_stop(void);
/* api_http_reload - requests use cfg from now on (listen addresses change
 * only at restart); cfg must outlive the server. Main thread. */
void api_http_reload(const struct cfg *cfg);

/* api_received_header - build the Received: trace header spate prepends
 * (CRLF-terminated, folded) into a malloc'd string. with_proto e.g. "esmtp"
 * or "http"; helo and host may be NULL/""; rcpt is given only when the
 * message has a single recipient (as Exim does). */
char *api_received_header(const struct cfg *cfg, const char *helo, const char *host,
                          const char *with_proto, const char *id, const char *rcpt);

/* api_normalize_body - message text to CRLF wire form: LF and bare CR become
 * CRLF; a final line without a newline gets CRLF. Returns a malloc'd buffer
 * of *outlen bytes with `prefix` (may be NULL) in front. */
char *api_normalize_body(const char *prefix, const char *text, size_t len, size_t *outlen);

/* api_headers_edit - a copy of the CRLF message body[0, len) whose header
 * section, from offset `from` on (what comes before, e.g. the Received:
 * line spate prepends, is kept as it is), loses every field named in
 * remove (case-insensitive, continuation lines included) and gains the
 * CRLF-terminated lines add[0, addlen) at its end (before the blank line;
 * a message without a header section gets them at its start). malloc'd,
 * *outlen set; NULL when out of memory. (ACL add_header / remove_header,
 * RFC 5322 §2.2.) */
char *api_headers_edit(const char *body, size_t len, size_t from, const char *add, size_t addlen,
                       char *const *remove, size_t nremove, size_t *outlen);

#endif
