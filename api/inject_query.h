/*
 * inject_query.h - the envelope of a raw upload, POST /api/v1/inject with
 *                  Content-Type: message/rfc822, from its query string:
 *
 *     envelope_sender=alice%40example.com&recipient=bob%40example.net&recipient=...
 *
 * The text after the '?' is decoded as application/x-www-form-urlencoded
 * (what HTML forms, URLSearchParams and Python's urlencode write): pairs
 * separated by '&' (empty ones skipped), "name=value" (a pair without '='
 * has an empty value), "%HH" is the octet HH (hex, either case) and '+'
 * is a space, so a '+' in an address is written %2B.
 *
 * Fields, checked as the JSON form's are (inject_json.h), the first
 * problem ending it with the status, a message and the field:
 *   envelope_sender   required, exactly once; empty = the null sender
 *   recipient         required, once per recipient, at most
 *                     INJECT_MAX_RCPTS (413); errors name "recipient[i]",
 *                     the i-th recipient field (0-based)
 * A name other than these is an error (unknown field), as is "%" without
 * two hex digits after it or an escape that makes a NUL octet. Pairs are
 * decoded in order, so a malformed escape or unknown name is reported
 * before any check of the values; the values are then checked sender
 * first, then the recipients in order.
 *
 * Pure: any thread.
 */
#ifndef SPATE_API_INJECT_QUERY_H
#define SPATE_API_INJECT_QUERY_H

#include <stddef.h>

#include "api/inject_json.h"

/* inject_query_parse - decode and check the query string q (len octets,
 * need not be NUL-terminated). 0 and *out filled as one message (sender
 * and rcpts point into msgs[0].buf; content NULL; free with
 * inject_batch_free), or -1 and *err filled (status 400 or 413; 500 when
 * out of memory). */
int inject_query_parse(const char *q, size_t len, struct inject_batch *out,
                       struct inject_error *err);

#endif
