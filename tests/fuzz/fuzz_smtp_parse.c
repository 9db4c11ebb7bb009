/*
 * fuzz_smtp_parse.c - libFuzzer target for the SMTP command parser: any
 *                     octets as one command line, with and without the
 *                     SMTPUTF8 flag; a successful parse must leave
 *                     NUL-terminated fields within their bounds, and an
 *                     xtext the parser accepted must decode.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/smtp_parse.h"

/* check_result - invariants of a successful parse */
static void
check_result(const struct smtp_cmd *c)
{
    char buf[SMTP_ORCPT_MAX + 1];

    if (memchr(c->arg, '\0', sizeof(c->arg)) == NULL ||
        memchr(c->envid, '\0', sizeof(c->envid)) == NULL ||
        memchr(c->orcpt, '\0', sizeof(c->orcpt)) == NULL)
        abort();
    if (c->envid[0] != '\0' && smtp_xtext_decode(c->envid, buf, sizeof(buf)) < 0)
        abort();
    if ((c->verb == SMTP_V_MAIL && c->arg[0] != '\0') || c->verb == SMTP_V_RCPT)
        if (!addr_valid_mailbox(c->arg, 1, NULL))
            abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct smtp_cmd c;
    char *line = malloc(size ? size : 1); /* exact size: ASan sees over-reads */

    if (line == NULL)
        return 0;
    memcpy(line, data, size);
    for (unsigned flags = 0; flags <= SMTP_PARSE_UTF8; flags++) {
        int rc = smtp_parse(line, size, flags, &c);
        if (rc == 0)
            check_result(&c);
        else if (rc < 500 && rc != 553 && rc != 555 && rc != 501 && rc != 500)
            abort();
        else if (memchr(c.reply, '\0', sizeof(c.reply)) == NULL)
            abort();
    }
    free(line);
    return 0;
}
