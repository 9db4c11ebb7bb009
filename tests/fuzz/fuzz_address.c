/*
 * fuzz_address.c - libFuzzer target for conf/address.c: any octets as a
 *                  path (with and without null path and UTF-8) and as a
 *                  mailbox; a path that parses must yield a valid mailbox
 *                  whose domain addr_rcpt_check() and the literal / A-label
 *                  helpers agree on.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/address.h"

/* check_domain - a valid mailbox's domain: a literal yields its address and
 * is refused only when literals are not allowed; a name converts or is a 501 */
static void
check_domain(const char *mailbox)
{
    const char *d = addr_domain(mailbox), *why = NULL;
    char ip[64], ascii[ADDR_MAX + 1];
    int code = addr_rcpt_check(mailbox, 0, &why);

    if (d[0] == '[') {
        if (addr_literal_ip(d, ip, sizeof(ip)) != 0 || code != 550 ||
            addr_rcpt_check(mailbox, 1, &why) != 0)
            abort();
    } else if ((code == 0) != (addr_domain_ascii(d, ascii, sizeof(ascii), &why) == 0) ||
               (code != 0 && code != 501)) {
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[ADDR_MAX + 1], low[ADDR_MAX + 1];
    const char *end, *why;
    char *s = malloc(size + 1);

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    for (int mode = 0; mode < 4; mode++) {
        int allow_null = mode & 1, utf8 = (mode >> 1) & 1;
        if (addr_parse_path(s, size, allow_null, utf8, out, sizeof(out), &end, &why) == 0) {
            if (end < s || end > s + size || end[-1] != '>')
                abort();
            if (out[0] != '\0' && !addr_valid_mailbox(out, utf8, &why))
                abort();
            if (out[0] != '\0' && addr_domain_lower(out, low, sizeof(low)) != 0)
                abort();
            if (out[0] != '\0')
                check_domain(out);
        } else if (why == NULL)
            abort();
    }
    s[size] = '\0';
    (void)addr_valid_mailbox(s, 1, &why);
    (void)addr_domain(s);
    free(s);
    return 0;
}
