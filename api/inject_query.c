/*
 * inject_query.c - decode the query string of a raw upload into its
 *                  envelope and check it as the JSON fields are checked;
 *                  see inject_query.h.
 *
 * One pass splits and decodes every pair into one buffer (a decoded text
 * is never longer than its encoding, plus a NUL per pair), noting the
 * sender and the recipients; then the values are checked.
 *
 * Diagnostics: every failure fills struct inject_error; nothing is logged.
 */
#include "api/inject_query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/inject_check.h"
#include "api/wire.h"

#define QUERY_NAME_SHOWN 64 /* an unknown name longer than this is not echoed */

/* hexval - the value of one hex digit, or -1 */
static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* query_decode - decode s[0..n) into out (NUL-terminated); its length, or
 * -1 for a malformed escape or one that makes a NUL */
static long
query_decode(const char *s, size_t n, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] != '%') {
            out[o++] = s[i];
        } else {
            int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
            int lo = hi >= 0 ? hexval(s[i + 2]) : -1;
            if (lo < 0 || (hi == 0 && lo == 0))
                return -1;
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        }
    }
    out[o] = '\0';
    return (long)o;
}

/* query_showable - a name that may go into the error's field: short,
 * well-formed UTF-8, no control characters */
static int
query_showable(const char *s, size_t n)
{
    if (n == 0 || n > QUERY_NAME_SHOWN)
        return 0;
    for (size_t i = 0, k; i < n; i += k) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || (k = wire_utf8_len((const unsigned char *)s + i, n - i)) == 0)
            return 0;
    }
    return 1;
}

/* The pairs decoded so far. */
struct query_state {
    char *mem; /* decoded names and values */
    size_t used;
    const char *sender;
    size_t sender_len;
    int nsender;
    struct inject_msg *m;
    size_t *rlen; /* length of each recipient */
};

/* query_pair - decode one "name=value" (n octets) and note it; 0 or -1 */
static int
query_pair(struct query_state *st, const char *p, size_t n, struct inject_error *err)
{
    const char *eq = memchr(p, '=', n);
    size_t nlen = eq != NULL ? (size_t)(eq - p) : n;
    char *name = st->mem + st->used, *val;
    long k, v;
    char field[48];

    if ((k = query_decode(p, nlen, name)) < 0)
        return inject_fail(err, 400, "", "", "malformed %%-escape in a field name");
    val = name + k + 1;
    v = eq != NULL ? query_decode(eq + 1, n - nlen - 1, val) : (*val = '\0', 0);
    st->used += (size_t)k + 1 + (size_t)(v < 0 ? 0 : v) + 1;
    if (strcmp(name, "envelope_sender") == 0) {
        if (v < 0)
            return inject_fail(err, 400, "", "envelope_sender", "malformed %%-escape");
        if (++st->nsender > 1)
            return inject_fail(err, 400, "", "envelope_sender", "given more than once");
        st->sender = val;
        st->sender_len = (size_t)v;
        return 0;
    }
    if (strcmp(name, "recipient") == 0) {
        snprintf(field, sizeof(field), "recipient[%zu]", st->m->nrcpt);
        if (v < 0)
            return inject_fail(err, 400, "", field, "malformed %%-escape");
        if (st->m->nrcpt == INJECT_MAX_RCPTS)
            return inject_fail(err, 413, "", "recipient", "more than %d recipients",
                               INJECT_MAX_RCPTS);
        st->rlen[st->m->nrcpt] = (size_t)v;
        st->m->rcpts[st->m->nrcpt++] = val;
        return 0;
    }
    if (query_showable(name, (size_t)k))
        return inject_fail(err, 400, "", name, "unknown field");
    return inject_fail(err, 400, "", "", "unknown field in the query string");
}

/* query_check - the values, sender first */
static int
query_check(const struct query_state *st, struct inject_error *err)
{
    char field[48];

    if (st->sender == NULL)
        return inject_fail(err, 400, "", "envelope_sender", "missing required field");
    if (inject_mailbox(st->sender, st->sender_len, 1, "", "envelope_sender", err) < 0)
        return -1;
    if (st->m->nrcpt == 0)
        return inject_fail(err, 400, "", "recipient", "missing required field");
    for (size_t i = 0; i < st->m->nrcpt; i++) {
        snprintf(field, sizeof(field), "recipient[%zu]", i);
        if (inject_mailbox(st->m->rcpts[i], st->rlen[i], 0, "", field, err) < 0)
            return -1;
    }
    return 0;
}

/* inject_query_parse - split, decode, check */
int
inject_query_parse(const char *q, size_t len, struct inject_batch *out, struct inject_error *err)
{
    struct query_state st = {0};
    size_t npairs = 1, i = 0;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    memset(err, 0, sizeof(*err));
    for (size_t k = 0; k < len; k++)
        npairs += q[k] == '&';
    out->msgs = st.m = calloc(1, sizeof(*out->msgs));
    if (st.m != NULL) {
        out->n = 1;
        st.m->buf = st.mem = malloc(len + 2 * npairs + 1);
        st.m->rcpts = calloc(npairs, sizeof(*st.m->rcpts));
    }
    st.rlen = calloc(npairs, sizeof(*st.rlen));
    if (st.m == NULL || st.mem == NULL || st.m->rcpts == NULL || st.rlen == NULL) {
        rc = inject_fail(err, 500, "", "", "out of memory");
    }
    while (rc == 0 && i < len) {
        const char *amp = memchr(q + i, '&', len - i);
        size_t n = amp != NULL ? (size_t)(amp - q) - i : len - i;
        if (n > 0)
            rc = query_pair(&st, q + i, n, err);
        i += n + 1;
    }
    if (rc == 0)
        rc = query_check(&st, err);
    free(st.rlen);
    if (rc < 0) {
        inject_batch_free(out);
        return -1;
    }
    st.m->sender = st.sender;
    st.m->buf_len = st.used;
    out->nrcpt = st.m->nrcpt;
    return 0;
}
