/*
 * inject_check.h - what the validators of an inject request share (the
 *                  JSON body, inject_json.c and inject_scan.c; the query
 *                  string of a raw upload, inject_query.c): the error
 *                  record and the check of one address field.
 *
 * Pure; any thread.
 */
#ifndef SPATE_API_INJECT_CHECK_H
#define SPATE_API_INJECT_CHECK_H

#include <stddef.h>

#include "api/inject_json.h"

/* inject_fail - fill err: status, the field pfx + name ("messages[2]" +
 * "content" -> "messages[2].content"; a name starting with '[' is joined
 * without the dot) and the message; returns -1 */
int inject_fail(struct inject_error *err, int status, const char *pfx, const char *name,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* inject_mailbox - s (len octets, no NUL among them) as an address field:
 * "" only when allow_null (the null sender), at most ADDR_MAX - 2 octets,
 * a valid mailbox (UTF-8 allowed); 0, or -1 with err naming pfx + name */
int inject_mailbox(const char *s, size_t len, int allow_null, const char *pfx, const char *name,
                   struct inject_error *err);

#endif
