/*
 * fuzz_dmarc_record.c - libFuzzer target for the DMARC record parser
 *                       (dmarc_record_parse, dmarc_record_select): any
 *                       octets give one of the three results; a parsed
 *                       record has p set, pct within 0..100, NUL-terminated
 *                       rua/ruf/fo/rf; the input split at its first NUL into
 *                       two TXT strings goes through dmarc_record_select.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mailauth/dmarc.h"

/* check - the invariants of a parsed record */
static void
check(const struct dmarc_record *r)
{
    if (r->p == DMARC_POLICY_UNSET || r->pct > 100)
        abort();
    if (memchr(r->rua, '\0', sizeof(r->rua)) == NULL ||
        memchr(r->ruf, '\0', sizeof(r->ruf)) == NULL ||
        memchr(r->fo, '\0', sizeof(r->fo)) == NULL || memchr(r->rf, '\0', sizeof(r->rf)) == NULL)
        abort();
    if (r->psd != 'y' && r->psd != 'n' && r->psd != 'u')
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data, *txt[2];
    struct dmarc_record r;
    size_t len[2];
    int rc = dmarc_record_parse(s, size, &r);
    const char *nul = memchr(s, '\0', size);

    if (rc != DMARC_REC_OK && rc != DMARC_REC_INVALID && rc != DMARC_REC_NOT_DMARC)
        abort();
    if (rc == DMARC_REC_OK)
        check(&r);
    txt[0] = s;
    len[0] = nul ? (size_t)(nul - s) : size;
    txt[1] = nul ? nul + 1 : s;
    len[1] = nul ? size - len[0] - 1 : 0;
    rc = dmarc_record_select(txt, len, nul ? 2 : 1, &r);
    if (rc < DMARC_SEL_ONE || rc > DMARC_SEL_INVALID)
        abort();
    if (rc == DMARC_SEL_ONE)
        check(&r);
    return 0;
}
