/*
 * fuzz_sasl.c - libFuzzer target for api/sasl.c. The first byte picks the
 *               mechanism (bit 0: LOGIN) and whether the AUTH line carries
 *               an initial response (bit 1); the rest, split at '\n', is the
 *               initial response and the client's lines. Checked: every
 *               reply is a NUL-terminated line starting with a known code;
 *               a finished PLAIN exchange re-encodes to exactly the line it
 *               came from; no decoded field is over SASL_FIELD_MAX or holds
 *               a control character where a user name is; and a cancel or
 *               a refusal ends the exchange.
 */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/sasl.h"

/* check_reply - a reply line of the expected shape for rc */
static void
check_reply(int rc, const char *reply)
{
    if (memchr(reply, '\0', SASL_REPLY_MAX) == NULL)
        abort();
    const char *want = rc == SASL_MORE ? "334 " : rc == SASL_CANCEL ? "501 5.7.0" : NULL;
    if (want != NULL && strncmp(reply, want, strlen(want)) != 0)
        abort();
    if (rc == SASL_BAD && strncmp(reply, "501 5.5.2", 9) != 0 &&
        strncmp(reply, "500 5.5.6", 9) != 0)
        abort();
}

/* has_ctl - a control octet in s */
static int
has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

/* check_done - the parts of a finished exchange; line: the PLAIN response */
static void
check_done(const struct sasl *s, const char *line)
{
    for (size_t i = 0; i < s->nparts; i++)
        if (strlen(s->part[i]) > SASL_FIELD_MAX)
            abort();
    if (s->mech == SASL_LOGIN) {
        if (s->nparts != 2 || has_ctl(s->part[0]) || !s->part[0][0] || !s->part[1][0])
            abort();
        return;
    }
    if (s->nparts != 3 || has_ctl(s->part[0]) || has_ctl(s->part[1]))
        abort();
    static unsigned char raw[3 * (SASL_FIELD_MAX + 1)];
    static char enc[SASL_LINE_MAX + 4];
    size_t n = 0;
    for (int i = 0; i < 3; i++) {
        size_t k = strlen(s->part[i]);
        memcpy(raw + n, s->part[i], k);
        n += k;
        if (i < 2)
            raw[n++] = '\0';
    }
    EVP_EncodeBlock((unsigned char *)enc, raw, (int)n);
    if (strcmp(enc, line) != 0)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const prompts[2] = {"Username:", "Password:"};
    char reply[SASL_REPLY_MAX], *text, *save = NULL, *line;
    struct sasl *s;
    int rc;

    if (size == 0)
        return 0;
    text = malloc(size);
    s = malloc(sizeof *s);
    if (text == NULL || s == NULL)
        abort();
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    enum sasl_mech mech = (data[0] & 1) ? SASL_LOGIN : SASL_PLAIN;
    line = strtok_r(text, "\n", &save);
    const char *initial = (data[0] & 2) ? (line != NULL ? line : "") : NULL;
    if (initial != NULL)
        line = strtok_r(NULL, "\n", &save);
    rc = sasl_start(s, mech, prompts, initial, reply, sizeof reply);
    check_reply(rc, reply);
    const char *last = initial != NULL && strcmp(initial, "=") != 0 ? initial : "";
    while (rc == SASL_MORE && line != NULL) {
        rc = sasl_step(s, line, reply, sizeof reply);
        check_reply(rc, reply);
        last = line;
        line = strtok_r(NULL, "\n", &save);
    }
    if (rc == SASL_DONE)
        check_done(s, last);
    if (rc != SASL_MORE && sasl_step(s, "YQ==", reply, sizeof reply) != SASL_BAD)
        abort();
    free(s);
    free(text);
    return 0;
}
