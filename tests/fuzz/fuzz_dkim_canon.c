/*
 * fuzz_dkim_canon.c - libFuzzer target for DKIM canonicalization and
 *                     verification (mailauth/dkim_canon.c, dkim_verify.c):
 *                     any octets as a message. Every header field is
 *                     canonicalized both ways (relaxed output must hold no
 *                     CR, LF or WSP run), the body hashed both ways, and
 *                     every signature checked against a fixed Ed25519 key
 *                     record (the RFC 8463 one: the A.3 message in the
 *                     corpus passes); a verdict must always carry a reason
 *                     except a pass.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mailauth/dkim.h"
#include "mailauth/dkim_int.h"

static const char KEY[] = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

/* check_relaxed - no CR/LF and no doubled WSP in a relaxed field */
static void
check_relaxed(const struct dkim_buf *b)
{
    for (size_t i = 0; i < b->len; i++) {
        if (b->p[i] == '\r' || b->p[i] == '\n' || b->p[i] == '\t')
            abort();
        if (i > 0 && b->p[i] == ' ' && b->p[i - 1] == ' ')
            abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *msg = (const char *)data;
    struct dkim_msg m;
    if (dkim__msg_split(msg, size, &m) == 0) {
        for (size_t k = 0; k < m.nh; k++) {
            struct dkim_buf b = {0};
            dkim__canon_header_n(DKIM_CANON_RELAXED, m.h[k].p, m.h[k].len, &b);
            check_relaxed(&b);
            b.len = 0;
            dkim__canon_header_n(DKIM_CANON_SIMPLE, m.h[k].p, m.h[k].len, &b);
            free(b.p);
        }
        unsigned char md[EVP_MAX_MD_SIZE];
        size_t cl;
        dkim__body_hash(DKIM_CANON_SIMPLE, DKIM_RSA_SHA256, m.body, m.body_len, -1, md, &cl);
        dkim__body_hash(DKIM_CANON_RELAXED, DKIM_RSA_SHA1, m.body, m.body_len, 5, md, &cl);
    }
    free(m.h);
    struct dkim_verify *v = dkim_verify_begin(msg, size, 4);
    for (size_t k = 0; v && k < dkim_verify_count(v); k++) {
        struct dkim_result r;
        dkim_verify_one(v, k, DKIM_DNS_OK, KEY, sizeof KEY - 1, 0, &r);
        if (r.reason == NULL || r.status > DKIM_INVALID ||
            (r.status == DKIM_PASS) != (r.reason[0] == '\0'))
            abort();
    }
    dkim_verify_free(v);
    return 0;
}
