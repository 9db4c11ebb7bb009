/*
 * fuzz_dkim_key.c - libFuzzer target for the DKIM key-record parser
 *                   (mailauth/dkim_parse.c): any octets as a TXT record.
 *                   A refusal must say why; an accepted record is either
 *                   revoked (no key) or holds a key of the type k= names.
 */
#include <stdint.h>
#include <stdlib.h>

#include "mailauth/dkim.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dkim_key *k = NULL;
    char err[128] = "";
    if (dkim_key_parse((const char *)data, size, &k, err, sizeof err) < 0) {
        if (err[0] == '\0')
            abort();
        return 0;
    }
    if (k->pkey) {
        int id = EVP_PKEY_get_base_id(k->pkey);
        if (k->ed25519 ? id != EVP_PKEY_ED25519 : id != EVP_PKEY_RSA)
            abort();
    }
    dkim_key_free(k);
    return 0;
}
