/*
 * record.c - the spool's record format (one LMDB value per message: the
 *            envelope, each recipient's state, where the body lies), and
 *            freeing records and submissions. See spool.h.
 *
 * Layout, integers in host byte order: version (1 octet), id (16), arrival
 * us (8), flags (4), body length (8), segment (4), offset (8), then the
 * strings sender, proto, host, helo (each a 4-octet length and the octets),
 * [version 2: DSN RET (1), ENVID (string)], the recipient count (4) and per
 * recipient: address (string), state (1), attempts (2), first failure (8),
 * next try (8), last interval (4) [version 2: NOTIFY (1), ORCPT (string)].
 * A NULL ENVID or ORCPT is stored as the empty string (neither can be empty
 * when given). Version 1 records (before DSN) still load, with no DSN data.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spool/spool.h"

#define REC_VERSION 2
#define REC_VERSION_V1 1 /* no DSN fields */

struct wbuf {
    unsigned char *p;
    size_t len, cap;
};

/* wb_put - append bytes, growing the buffer */
static void
wb_put(struct wbuf *w, const void *d, size_t n)
{
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 256;
        while (cap < w->len + n)
            cap *= 2;
        w->p = realloc(w->p, cap);
        if (w->p == NULL)
            abort();
        w->cap = cap;
    }
    memcpy(w->p + w->len, d, n);
    w->len += n;
}

/* wb_str - append a length-prefixed string (NULL as empty) */
static void
wb_str(struct wbuf *w, const char *s)
{
    uint32_t n = s ? (uint32_t)strlen(s) : 0;
    wb_put(w, &n, sizeof(n));
    wb_put(w, s ? s : "", n);
}

/* spool_msg_encode - the record for msg */
void *
spool_msg_encode(const struct spool_msg *m, size_t *len)
{
    struct wbuf w = {0};
    uint8_t ver = REC_VERSION;
    wb_put(&w, &ver, 1);
    wb_put(&w, m->id, SPOOL_ID_LEN);
    wb_put(&w, &m->arrival_us, 8);
    wb_put(&w, &m->flags, 4);
    wb_put(&w, &m->body_len, 8);
    wb_put(&w, &m->body_seg, 4);
    wb_put(&w, &m->body_off, 8);
    wb_str(&w, m->sender);
    wb_str(&w, m->proto);
    wb_str(&w, m->host);
    wb_str(&w, m->helo);
    wb_put(&w, &m->dsn_ret, 1);
    wb_str(&w, m->dsn_envid);
    wb_put(&w, &m->nrcpt, 4);
    for (uint32_t i = 0; i < m->nrcpt; i++) {
        const struct spool_rcpt *r = &m->rcpt[i];
        wb_str(&w, r->address);
        wb_put(&w, &r->state, 1);
        wb_put(&w, &r->attempts, 2);
        wb_put(&w, &r->first_failure, 8);
        wb_put(&w, &r->next_try, 8);
        wb_put(&w, &r->last_interval, 4);
        wb_put(&w, &r->dsn_notify, 1);
        wb_str(&w, r->dsn_orcpt);
    }
    *len = w.len;
    return w.p;
}

struct rbuf {
    const unsigned char *p;
    size_t len, off;
    int bad;
};

/* rb_get - take n bytes, or mark the record bad */
static void
rb_get(struct rbuf *r, void *d, size_t n)
{
    if (r->bad || r->len - r->off < n) {
        r->bad = 1;
        memset(d, 0, n);
        return;
    }
    memcpy(d, r->p + r->off, n);
    r->off += n;
}

/* rb_str - take a length-prefixed string as a malloc'd C string */
static char *
rb_str(struct rbuf *r)
{
    uint32_t n;
    char *s;
    rb_get(r, &n, 4);
    if (r->bad || r->len - r->off < n || memchr(r->p + r->off, '\0', n) != NULL) {
        r->bad = 1;
        return NULL;
    }
    s = malloc((size_t)n + 1);
    if (s == NULL)
        abort();
    memcpy(s, r->p + r->off, n);
    s[n] = '\0';
    r->off += n;
    return s;
}

/* rb_empty_null - an empty decoded string stands for "not given" */
static char *
rb_empty_null(char *s)
{
    if (s != NULL && *s == '\0') {
        free(s);
        return NULL;
    }
    return s;
}

/* rc_state_bad - nonzero if a decoded record holds impossible values */
static int
rc_state_bad(const struct spool_msg *m)
{
    for (int i = 0; i < SPOOL_ID_LEN; i++)
        if (m->id[i] == '\0')
            return 1;
    for (uint32_t i = 0; i < m->nrcpt; i++)
        if (m->rcpt[i].state > SPOOL_RCPT_FAILED || m->rcpt[i].address == NULL)
            return 1;
    return 0;
}

/* spool_msg_decode - parse a record; NULL if malformed */
struct spool_msg *
spool_msg_decode(const void *buf, size_t len)
{
    struct rbuf r = {.p = buf, .len = len};
    struct spool_msg *m = calloc(1, sizeof(*m));
    uint8_t ver = 0;
    if (m == NULL)
        abort();
    rb_get(&r, &ver, 1);
    rb_get(&r, m->id, SPOOL_ID_LEN);
    rb_get(&r, &m->arrival_us, 8);
    rb_get(&r, &m->flags, 4);
    rb_get(&r, &m->body_len, 8);
    rb_get(&r, &m->body_seg, 4);
    rb_get(&r, &m->body_off, 8);
    m->sender = rb_str(&r);
    m->proto = rb_str(&r);
    m->host = rb_str(&r);
    m->helo = rb_str(&r);
    if (ver == REC_VERSION) {
        rb_get(&r, &m->dsn_ret, 1);
        m->dsn_envid = rb_empty_null(rb_str(&r));
    }
    rb_get(&r, &m->nrcpt, 4);
    if (r.bad || (ver != REC_VERSION && ver != REC_VERSION_V1) || m->nrcpt == 0 ||
        m->nrcpt > (len - r.off) / 27 || m->dsn_ret > SPOOL_RET_HDRS) {
        m->nrcpt = 0;
        spool_msg_free(m);
        return NULL;
    }
    m->rcpt = calloc(m->nrcpt, sizeof(*m->rcpt));
    if (m->rcpt == NULL)
        abort();
    for (uint32_t i = 0; i < m->nrcpt && !r.bad; i++) {
        struct spool_rcpt *rc = &m->rcpt[i];
        rc->address = rb_str(&r);
        rb_get(&r, &rc->state, 1);
        rb_get(&r, &rc->attempts, 2);
        rb_get(&r, &rc->first_failure, 8);
        rb_get(&r, &rc->next_try, 8);
        rb_get(&r, &rc->last_interval, 4);
        if (ver == REC_VERSION) {
            rb_get(&r, &rc->dsn_notify, 1);
            rc->dsn_orcpt = rb_empty_null(rb_str(&r));
        }
    }
    if (r.bad || r.off != len || rc_state_bad(m)) {
        spool_msg_free(m);
        return NULL;
    }
    return m;
}

/* spool_msg_free - free a record */
void
spool_msg_free(struct spool_msg *m)
{
    if (m == NULL)
        return;
    for (uint32_t i = 0; i < m->nrcpt && m->rcpt; i++) {
        free(m->rcpt[i].address);
        free(m->rcpt[i].dsn_orcpt);
    }
    free(m->rcpt);
    free(m->dsn_envid);
    free(m->sender);
    free(m->proto);
    free(m->host);
    free(m->helo);
    free(m);
}

/* spool_submission_free - free a submission and what it points to */
void
spool_submission_free(struct spool_submission *sub)
{
    if (sub == NULL)
        return;
    for (size_t i = 0; i < sub->nrcpt && sub->rcpts; i++)
        free(sub->rcpts[i]);
    for (size_t i = 0; i < sub->nrcpt && sub->dsn_orcpt; i++)
        free(sub->dsn_orcpt[i]);
    free(sub->rcpts);
    free(sub->dsn_orcpt);
    free(sub->dsn_notify);
    free(sub->dsn_envid);
    free(sub->sender);
    free(sub->body);
    free(sub->proto);
    free(sub->host);
    free(sub->helo);
    free(sub);
}
