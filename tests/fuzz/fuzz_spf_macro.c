/*
 * fuzz_spf_macro.c - libFuzzer target for SPF macro expansion (RFC 7208
 *                    §7): the first octet picks domain-spec or explanation
 *                    rules, the rest is the macro-string. An accepted string
 *                    must expand to a NUL-terminated text within the buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mailauth/spf.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[512];
    if (size == 0)
        return 0;
    memset(out, 'x', sizeof out);
    if (spf_macro_check((const char *)data + 1, size - 1, data[0] & 1, out, sizeof out) == 0 &&
        memchr(out, '\0', sizeof out) == NULL)
        abort();
    return 0;
}
