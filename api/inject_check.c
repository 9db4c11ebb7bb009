/*
 * inject_check.c - the error record and the address check that the JSON
 *                  and query-string forms of an inject request share; see
 *                  inject_check.h.
 *
 * Diagnostics: every failure fills struct inject_error; nothing is logged.
 */
#include "api/inject_check.h"

#include <stdarg.h>
#include <stdio.h>

#include "conf/address.h"

/* inject_fail - record an error for field pfx + name; returns -1 */
int
inject_fail(struct inject_error *err, int status, const char *pfx, const char *name,
            const char *fmt, ...)
{
    va_list ap;

    err->status = status;
    snprintf(err->field, sizeof(err->field), "%s%s%s", pfx,
             *pfx && *name && *name != '[' ? "." : "", name);
    va_start(ap, fmt);
    vsnprintf(err->error, sizeof(err->error), fmt, ap);
    va_end(ap);
    return -1;
}

/* inject_mailbox - one address field */
int
inject_mailbox(const char *s, size_t len, int allow_null, const char *pfx, const char *name,
               struct inject_error *err)
{
    const char *why = NULL;

    if (len == 0) {
        if (allow_null)
            return 0;
        return inject_fail(err, 400, pfx, name, "empty address");
    }
    if (len > ADDR_MAX - 2)
        return inject_fail(err, 400, pfx, name, "address longer than %d characters", ADDR_MAX - 2);
    if (!addr_valid_mailbox(s, 1, &why))
        return inject_fail(err, 400, pfx, name, "invalid address: %s",
                           why != NULL ? why : "bad syntax");
    return 0;
}
