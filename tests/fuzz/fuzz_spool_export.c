/*
 * fuzz_spool_export.c - libFuzzer target for spool/export.c, the reader
 *                       requeue feeds every file of a queuefile directory
 *                       to: any octets as an export. A refused input must
 *                       carry a reason; an accepted one must have a valid
 *                       id, at least one recipient, a body of the size it
 *                       declared inside the input, and must encode again to
 *                       an export that decodes to the same envelope.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spool/spool.h"

/* same_msg - the envelope fields the format carries */
static void
same_msg(const struct spool_msg *a, const struct spool_msg *b)
{
    if (strcmp(a->id, b->id) != 0 || strcmp(a->sender, b->sender) != 0 || a->nrcpt != b->nrcpt ||
        a->flags != b->flags || a->dsn_ret != b->dsn_ret)
        abort();
    for (uint32_t i = 0; i < a->nrcpt; i++)
        if (strcmp(a->rcpt[i].address, b->rcpt[i].address) != 0 ||
            a->rcpt[i].state != b->rcpt[i].state || a->rcpt[i].dsn_notify != b->rcpt[i].dsn_notify)
            abort();
}

/* check_again - encode x and decode the result: the same message */
static void
check_again(const struct spool_export *x)
{
    struct spool_export y;
    char err[256];
    size_t len;
    void *buf =
        spool_export_encode(x->msg, x->origin[0] ? x->origin : NULL, x->body, x->body_len, &len);
    if (buf == NULL)
        abort(); /* whatever decodes must encode */
    if (spool_export_decode(buf, len, &y, err, sizeof(err)) != 0)
        abort();
    same_msg(x->msg, y.msg);
    if (y.body_len != x->body_len || memcmp(y.body, x->body, x->body_len) != 0)
        abort();
    spool_export_clear(&y);
    free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct spool_export x;
    char err[256] = "";
    if (spool_export_decode(data, size, &x, err, sizeof(err)) != 0) {
        if (err[0] == '\0')
            abort();
        return 0;
    }
    if (!spool_export_id_ok(x.msg->id) || x.msg->nrcpt == 0 || x.body_len > size ||
        x.msg->sender == NULL)
        abort();
    check_again(&x);
    spool_export_clear(&x);
    return 0;
}
