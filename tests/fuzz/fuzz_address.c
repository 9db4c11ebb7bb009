/*
 * fuzz_address.c - libFuzzer target for conf/address.c: any octets as a
 *                  path (with and without null path and UTF-8) and as a
 *                  mailbox; a path that parses must yield a valid mailbox.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/address.h"

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
        } else if (why == NULL)
            abort();
    }
    s[size] = '\0';
    (void)addr_valid_mailbox(s, 1, &why);
    (void)addr_domain(s);
    free(s);
    return 0;
}
