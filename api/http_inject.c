/*
 * http_inject.c - POST /api/v1/inject: receive the body, validate it
 *                 (inject_json.c), spool every message, and answer once the
 *                 spool has reported on each: 200 {"ids","accepted",
 *                 "rejected"}; 400/413 {"error","field"}; 503 when the spool
 *                 fails (the ids that did commit are listed).
 *
 * Threads: the access handler runs on one of libmicrohttpd's polling
 * threads, which serve many connections each, so it never waits. Once the
 * messages are handed to the spool the connection is suspended
 * (MHD_suspend_connection) and the thread goes on with other connections.
 * The spool's done callback runs on the writer thread: it logs the arrival,
 * records the status and, for the last message of the request, resumes the
 * connection; libmicrohttpd then calls the access handler again on the
 * polling thread, which sends the answer. The connection is suspended
 * before the first submission, so the resume always comes after it.
 *
 * Ownership: struct http_wait is shared by the request and its pending
 * callbacks (refs, under mu) and freed by whoever lets go of it last. Its
 * conn is the connection to resume; http_inject_done clears it under mu
 * when libmicrohttpd reports the request over, so no callback touches a
 * connection that is gone (MHD_resume_connection is called with mu held).
 * The spool calls every done callback exactly once (spool.h), so a
 * suspended request always gets its answer.
 *
 * The request body is limited to twice message_size_limit plus 1 MiB (JSON
 * escaping can double a message), at most HTTP_BODY_MAX; a larger
 * Content-Length is refused with 413 before the body is read.
 *
 * Copies: the body is gathered once (in a buffer sized from
 * Content-Length). inject_json_parse_opts() then decodes each message's
 * content once, straight into the buffer that becomes the spool body, in
 * CRLF wire form after room for the longest Received: header this request
 * can have (http_head_room); the header, which needs the spool id and the
 * recipients, goes into that room and the text is moved up against it
 * (one memmove, no second pass).
 *
 * The raw form (Content-Type: message/rfc822, the envelope in the query
 * string, inject_query.c) has its envelope before its body: the query is
 * checked and the Received: header written when the request starts, and
 * each piece of the body is put straight after it in CRLF wire form as it
 * arrives (wire.c). Its body is the message, so it may be at most
 * message_size_limit octets (HTTP_BODY_MAX when there is none). A bad
 * query, a body too large or an empty one is answered once the body is in
 * (read and dropped), as a bad JSON body is, so the connection stays open.
 *
 * Diagnostics: one "<=" main-log line per committed message, written
 * before the 200; spool failures at warning level.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/http_int.h"
#include "api/inject_json.h"
#include "api/inject_query.h"
#include "api/smtp_parse.h"
#include "api/wire.h"
#include "base/log.h"
#include "base/log_record.h"
#include "base/metrics.h"
#include "conf/address.h"

#define HTTP_BODY_MAX (256ull << 20)  /* request body, whatever the size limit */
#define HTTP_DISCARD_MAX (1ull << 30) /* an over-long chunked body is cut off here */
#define HTTP_HOST_MAX (INET6_ADDRSTRLEN + 16)
#define HTTP_RFC822 "message/rfc822"

/* One message of an inject request waiting for the spool. */
struct http_item {
    struct http_wait *w;
    int status;   /* 1 = no answer yet, 0 = durable, else -errno */
    size_t nrcpt; /* recipients, for "accepted" */
    char id[SPOOL_ID_SIZE];
};

/* An inject request waiting for its messages' done callbacks. */
struct http_wait {
    struct http_wait *prev, *next; /* http_suspended, under http_susp_mu */
    pthread_mutex_t mu;
    size_t pending;              /* callbacks still due */
    size_t refs;                 /* callbacks still due + the request itself */
    struct MHD_Connection *conn; /* suspended; NULL once the request is over */
    size_t n;
    struct http_item item[];
};

/* Body and state of a POST being received (MHD's con_cls). */
struct http_req {
    enum http_kind kind; /* HTTP_K_INJECT */
    char *buf;
    size_t len, cap, limit;
    unsigned long long want;      /* Content-Length, 0 when not given */
    unsigned long long discarded; /* bytes dropped once over the limit */
    int too_big;
    int counted;         /* in http_injects */
    struct http_wait *w; /* set once the messages are with the spool */
    json_t *rejected;    /* recipients refused before spooling, with reasons */
    char host[HTTP_HOST_MAX];
    /* the raw form (Content-Type: message/rfc822) */
    int raw;
    unsigned long long got;  /* body octets received */
    struct inject_batch env; /* the envelope, from the query string */
    struct inject_error bad; /* what is wrong with the query (status 0: nothing) */
    struct wire body;        /* the Received: header, then the body; buf NULL: dropped */
    char id[SPOOL_ID_SIZE];
};

/* Suspended inject requests, so that api_http_stop can resume any the
 * spool has not answered in time (libmicrohttpd must not be stopped with a
 * connection suspended). Lock order: http_susp_mu, then a wait's mu. */
static pthread_mutex_t http_susp_mu = PTHREAD_MUTEX_INITIALIZER;
static struct http_wait *http_suspended;

/* http_wait_release - drop one reference (mu held); frees on the last */
static void
http_wait_release(struct http_wait *w)
{
    int last = --w->refs == 0;

    pthread_mutex_unlock(&w->mu);
    if (last) {
        pthread_mutex_destroy(&w->mu);
        free(w);
    }
}

/* http_wait_new - a waiter for n messages, or NULL */
static struct http_wait *
http_wait_new(size_t n)
{
    struct http_wait *w = calloc(1, sizeof(*w) + n * sizeof(w->item[0]));

    if (w == NULL)
        return NULL;
    pthread_mutex_init(&w->mu, NULL);
    w->n = n;
    w->refs = 1;
    for (size_t i = 0; i < n; i++) {
        w->item[i].w = w;
        w->item[i].status = 1;
    }
    return w;
}

/* http_log_arrival - the "<=" line and counters for one committed message;
 * written from the done callback, so it precedes any delivery record */
static void
http_log_arrival(const struct spool_submission *sub)
{
    char rcpts[LOG_LINE_MAX / 2];
    size_t off = 0;

    rcpts[0] = '\0';
    for (size_t i = 0; i < sub->nrcpt && off < sizeof(rcpts); i++) {
        int k = snprintf(rcpts + off, sizeof(rcpts) - off, " %s", sub->rcpts[i]);
        if (k < 0)
            break;
        off += (size_t)k;
    }
    log_info("%s <= %s H=%s P=http S=%zu for%s", sub->id, *sub->sender ? sub->sender : "<>",
             sub->host, sub->body_len, rcpts);
    metrics_inc(MC_RECEIVED);
    metrics_inc(MC_RECEIVED_HTTP);
    log_record(&(struct log_rec){.kind = LOG_REC_RECEPTION,
                                 .id = sub->id,
                                 .sender = sub->sender,
                                 .size = (int64_t)sub->body_len,
                                 .nrcpt = (int)sub->nrcpt,
                                 .protocol = "http",
                                 .client = sub->host});
}

/* http_commit_done - spool done callback (writer thread): log, record, and
 * resume the connection on the request's last message */
static void
http_commit_done(struct spool_submission *sub, int status, void *arg)
{
    struct http_item *it = arg;
    struct http_wait *w = it->w;

    if (status == 0)
        http_log_arrival(sub);
    pthread_mutex_lock(&w->mu);
    it->status = status;
    if (--w->pending == 0 && w->conn != NULL)
        MHD_resume_connection(w->conn);
    http_wait_release(w);
}

/* http_strdupv - copy n strings; NULL on out of memory (nothing leaked) */
static char **
http_strdupv(const char *const *v, size_t n)
{
    char **out = calloc(n, sizeof(*out));

    for (size_t i = 0; out != NULL && i < n; i++)
        if ((out[i] = strdup(v[i])) == NULL) {
            while (i > 0)
                free(out[--i]);
            free(out);
            out = NULL;
        }
    return out;
}

/* http_sub_dsn - the DSN request of m into sub, in the wire forms the spool
 * keeps (ENVID and ORCPT's address as xtext); -1 when out of memory */
static int
http_sub_dsn(const struct inject_msg *m, struct spool_submission *sub)
{
    sub->dsn_ret = (uint8_t)m->ret; /* INJECT_RET_* and SPOOL_RET_* agree */
    if (m->envid != NULL && (sub->dsn_envid = smtp_xtext_encode(m->envid)) == NULL)
        return -1;
    if (m->notify == 0 && m->orcpt == NULL)
        return 0;
    sub->dsn_notify = calloc(m->nrcpt, 1);
    sub->dsn_orcpt = calloc(m->nrcpt, sizeof(char *));
    if (sub->dsn_notify == NULL || sub->dsn_orcpt == NULL)
        return -1;
    for (size_t i = 0; i < m->nrcpt; i++) {
        sub->dsn_notify[i] = (uint8_t)m->notify; /* INJECT_NOTIFY_* = SPOOL_NOTIFY_* */
        if (m->orcpt != NULL && m->orcpt[i] != NULL &&
            (sub->dsn_orcpt[i] = smtp_orcpt_encode(m->orcpt[i])) == NULL)
            return -1;
    }
    return 0;
}

/* http_new_sub - a spool submission for m's envelope under id, its body
 * left to the caller; NULL when out of memory */
static struct spool_submission *
http_new_sub(const struct inject_msg *m, const char *id, const char *host, struct http_item *it)
{
    struct spool_submission *sub = calloc(1, sizeof(*sub));

    if (sub == NULL)
        return NULL;
    memcpy(sub->id, id, SPOOL_ID_SIZE);
    memcpy(it->id, id, SPOOL_ID_SIZE);
    it->nrcpt = m->nrcpt;
    sub->sender = strdup(m->sender);
    sub->rcpts = http_strdupv(m->rcpts, m->nrcpt);
    if (sub->rcpts != NULL)
        sub->nrcpt = m->nrcpt;
    sub->proto = strdup("http");
    sub->host = strdup(host);
    sub->done = http_commit_done;
    sub->arg = it;
    if (sub->sender == NULL || sub->rcpts == NULL || sub->proto == NULL || sub->host == NULL ||
        http_sub_dsn(m, sub) < 0) {
        spool_submission_free(sub);
        return NULL;
    }
    return sub;
}

/* http_head_room - room for any Received: header of a request from lit:
 * the header without its "for" clause, and the longest clause (the date
 * may grow by a digit meanwhile) */
static size_t
http_head_room(const char *lit)
{
    char id[SPOOL_ID_SIZE], *hdr;
    size_t n;

    memset(id, 'x', SPOOL_ID_LEN);
    id[SPOOL_ID_LEN] = '\0';
    hdr = api_received_header(http_cfg, NULL, lit, "HTTP", id, NULL);
    n = hdr != NULL ? strlen(hdr) : 1024;
    free(hdr);
    return n + sizeof("\r\n\tfor <>") + ADDR_MAX + 8;
}

/* http_head_body - hdr put in front of m's wire-form content (after head
 * octets of room) in m's buffer, which is taken: the text moves up to
 * right after the header. The body, or NULL when out of memory. */
static char *
http_head_body(const char *hdr, struct inject_msg *m, size_t head, size_t *len)
{
    size_t h = strlen(hdr);
    char *b = m->buf;

    if (h > head && (b = realloc(m->buf, h + m->buf_len + 1)) == NULL)
        return NULL;
    memmove(b + h, b + head, m->buf_len + 1);
    memcpy(b, hdr, h);
    m->buf = NULL;
    *len = h + m->buf_len;
    return b;
}

/* http_build_sub - one spool submission for m (its content in wire form
 * after head octets, taken), or NULL when out of memory */
static struct spool_submission *
http_build_sub(struct inject_msg *m, const char *lit, size_t head, const char *host,
               struct http_item *it)
{
    char id[SPOOL_ID_SIZE];
    struct spool_submission *sub;
    char *hdr;

    spool_new_id(http_spool, id);
    if ((sub = http_new_sub(m, id, host, it)) == NULL)
        return NULL;
    hdr = api_received_header(http_cfg, NULL, lit, "HTTP", sub->id,
                              m->nrcpt == 1 ? m->rcpts[0] : NULL);
    if (hdr != NULL)
        sub->body = http_head_body(hdr, m, head, &sub->body_len);
    free(hdr);
    if (sub->body == NULL) {
        spool_submission_free(sub);
        return NULL;
    }
    return sub;
}

/* http_inject_answer - the answer's status and body from the items'
 * outcomes (w->mu held); *bad is the first failure, 0 when none */
static json_t *
http_inject_answer(const struct http_wait *w, json_t *rejected, int *bad)
{
    json_t *ids = json_array();
    size_t accepted = 0;
    char msg[128];

    *bad = 0;
    for (size_t i = 0; i < w->n; i++) {
        if (w->item[i].status != 0) {
            if (*bad == 0)
                *bad = w->item[i].status;
            continue;
        }
        json_array_append_new(ids, json_string(w->item[i].id));
        accepted += w->item[i].nrcpt;
    }
    if (*bad == 0)
        return json_pack("{s:o, s:I, s:O}", "ids", ids, "accepted", (json_int_t)accepted,
                         "rejected", rejected);
    if (*bad == 1)
        snprintf(msg, sizeof(msg), "stopped before the spool answered");
    else
        snprintf(msg, sizeof(msg), "spool commit failed: %s", strerror(*bad < 0 ? -*bad : EIO));
    return json_pack("{s:s, s:o}", "error", msg, "ids", ids);
}

/* http_inject_resumed - called again after the resume: send the answer */
static enum MHD_Result
http_inject_resumed(struct MHD_Connection *c, struct http_req *rq)
{
    json_t *j;
    int bad;

    /* under mu: every status written by a callback is seen, and none is
     * written meanwhile (a forced resume at stop may come with some due) */
    pthread_mutex_lock(&rq->w->mu);
    j = http_inject_answer(rq->w, rq->rejected, &bad);
    pthread_mutex_unlock(&rq->w->mu);
    if (bad == 0)
        return http_reply_json(c, MHD_HTTP_OK, j);
    log_warn("HTTP inject from %s: %s", rq->host, json_string_value(json_object_get(j, "error")));
    return http_reply_json(c, MHD_HTTP_SERVICE_UNAVAILABLE, j);
}

/* http_submit_all - suspend c, then hand every submission to the spool */
static void
http_submit_all(struct MHD_Connection *c, struct http_wait *w, struct spool_submission **subs)
{
    w->pending = w->n;
    w->refs += w->n;
    w->conn = c;
    pthread_mutex_lock(&http_susp_mu);
    w->next = http_suspended;
    if (http_suspended != NULL)
        http_suspended->prev = w;
    http_suspended = w;
    MHD_suspend_connection(c);
    pthread_mutex_unlock(&http_susp_mu);
    for (size_t i = 0; i < w->n; i++)
        spool_submit(http_spool, subs[i]);
}

/* http_inject_submit - build every submission, suspend, submit */
static enum MHD_Result
http_inject_submit(struct MHD_Connection *c, struct http_req *rq, struct inject_batch *b,
                   const char *lit, size_t head)
{
    struct spool_submission **subs = calloc(b->n, sizeof(*subs));
    struct http_wait *w = http_wait_new(b->n);
    size_t i;

    for (i = 0; subs != NULL && w != NULL && i < b->n; i++)
        if ((subs[i] = http_build_sub(&b->msgs[i], lit, head, rq->host, &w->item[i])) == NULL)
            break;
    if (subs == NULL || w == NULL || i < b->n) {
        while (subs != NULL && i > 0)
            spool_submission_free(subs[--i]);
        free(subs);
        if (w != NULL) {
            pthread_mutex_lock(&w->mu);
            http_wait_release(w);
        }
        return http_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", NULL);
    }
    rq->w = w; /* the request's reference */
    http_submit_all(c, w, subs);
    free(subs);
    return MHD_YES;
}

/* http_inject - the body is complete: validate it and spool it; or, once
 * resumed, answer */
static enum MHD_Result
http_inject(struct MHD_Connection *c, struct http_req *rq)
{
    struct inject_batch b;
    struct inject_error e;
    enum MHD_Result ret;
    char lit[HTTP_HOST_MAX];
    size_t head;

    if (rq->w != NULL)
        return http_inject_resumed(c, rq);
    if (rq->too_big) {
        metrics_inc(MC_REJECTED);
        return http_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large", NULL);
    }
    http_client(c, lit, sizeof(lit), rq->host, sizeof(rq->host));
    head = http_head_room(lit);
    if (inject_json_parse_opts(rq->buf != NULL ? rq->buf : "", rq->len,
                               http_cfg->message_size_limit, INJECT_PARSE_WIRE, head, &b, &e) < 0) {
        metrics_inc(MC_REJECTED);
        return http_error(c, (unsigned)e.status, e.error, e.field);
    }
    free(rq->buf); /* the batch holds what it needs; keep the peak down */
    rq->buf = NULL;
    rq->len = rq->cap = 0;
    /* counted before the check, so api_http_stop either waits for this
     * request or this request sees it stopping and submits nothing */
    rq->counted = 1;
    atomic_fetch_add(&http_injects, 1);
    if (atomic_load(&http_stopping)) {
        inject_batch_free(&b);
        return http_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down", NULL);
    }
    rq->rejected = json_array();
    inject_json_screen(&b, http_cfg->allow_domain_literals, rq->rejected);
    if (b.n == 0) { /* every recipient was refused: nothing to spool */
        inject_batch_free(&b);
        return http_reply_json(c, MHD_HTTP_OK,
                               json_pack("{s:[], s:I, s:O}", "ids", "accepted", (json_int_t)0,
                                         "rejected", rq->rejected));
    }
    ret = http_inject_submit(c, rq, &b, lit, head);
    inject_batch_free(&b); /* the submissions hold copies or took the bodies */
    return ret;
}

/* http_body_limit - the largest inject request body accepted */
static size_t
http_body_limit(void)
{
    unsigned long long lim = http_cfg->message_size_limit;

    if (lim == 0 || lim > HTTP_BODY_MAX / 2)
        return HTTP_BODY_MAX;
    lim = lim * 2 + (1u << 20);
    return lim > HTTP_BODY_MAX ? HTTP_BODY_MAX : (size_t)lim;
}

/* http_req_append - add a piece of the body, or note that it is too big */
static int
http_req_append(struct http_req *rq, const char *data, size_t n)
{
    if (rq->too_big || n > rq->limit - rq->len) {
        rq->too_big = 1;
        rq->discarded += n;
        return rq->discarded > HTTP_DISCARD_MAX ? -1 : 0;
    }
    if (rq->len + n > rq->cap) {
        size_t cap = rq->cap ? rq->cap : rq->want > 65536 ? (size_t)rq->want : 65536;
        while (cap < rq->len + n)
            cap *= 2;
        if (cap > rq->limit)
            cap = rq->limit;
        char *p = realloc(rq->buf, cap);
        if (p == NULL)
            return -1;
        rq->buf = p;
        rq->cap = cap;
    }
    memcpy(rq->buf + rq->len, data, n);
    rq->len += n;
    return 0;
}

/* http_is_rfc822 - the Content-Type is message/rfc822 (any case,
 * parameters allowed) */
static int
http_is_rfc822(const char *ct)
{
    size_t n = strlen(HTTP_RFC822);

    if (ct == NULL)
        return 0;
    ct += strspn(ct, " \t");
    if (strncasecmp(ct, HTTP_RFC822, n) != 0)
        return 0;
    ct += n;
    ct += strspn(ct, " \t");
    return *ct == '\0' || *ct == ';';
}

/* http_raw_limit - the largest raw upload: the message itself */
static size_t
http_raw_limit(void)
{
    unsigned long long lim = http_cfg->message_size_limit;

    return lim == 0 || lim > HTTP_BODY_MAX ? HTTP_BODY_MAX : (size_t)lim;
}

/* http_raw_too_big - the 413 for a raw body of size octets */
static enum MHD_Result
http_raw_too_big(struct MHD_Connection *c, unsigned long long size)
{
    unsigned long long lim = http_cfg->message_size_limit;
    char msg[128];

    metrics_inc(MC_REJECTED);
    if (lim == 0 || lim > HTTP_BODY_MAX)
        return http_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large", NULL);
    snprintf(msg, sizeof(msg), "message of %llu bytes is over the size limit of %llu bytes", size,
             lim);
    return http_error(c, MHD_HTTP_CONTENT_TOO_LARGE, msg, "content");
}

/* http_raw_begin - a raw upload starts: check its query; when some
 * recipient is left, write the Received: header where the body will go */
static enum MHD_Result
http_raw_begin(struct MHD_Connection *c, struct http_req *rq, const struct http_query *q)
{
    char lit[HTTP_HOST_MAX], *hdr;
    const struct inject_msg *m;
    size_t h;

    rq->rejected = json_array();
    if (rq->rejected == NULL)
        return MHD_NO;
    http_client(c, lit, sizeof(lit), rq->host, sizeof(rq->host));
    if (inject_query_parse(q != NULL ? q->text : "", q != NULL ? q->len : 0, &rq->env, &rq->bad) <
        0)
        return MHD_YES; /* answered once the body is in */
    inject_json_screen(&rq->env, http_cfg->allow_domain_literals, rq->rejected);
    if (rq->env.n == 0)
        return MHD_YES; /* every recipient refused: nothing to keep */
    m = &rq->env.msgs[0];
    spool_new_id(http_spool, rq->id);
    hdr = api_received_header(http_cfg, NULL, lit, "HTTP", rq->id,
                              m->nrcpt == 1 ? m->rcpts[0] : NULL);
    h = hdr != NULL ? strlen(hdr) : 0;
    if (hdr == NULL || wire_open(&rq->body, h, rq->want + rq->want / 32 + 256) < 0) {
        free(hdr);
        return MHD_NO;
    }
    memcpy(rq->body.buf, hdr, h);
    free(hdr);
    return MHD_YES;
}

/* http_raw_append - a piece of a raw body: into the wire form, or counted
 * only (over the limit, or nothing to keep); -1 to close the connection */
static int
http_raw_append(struct http_req *rq, const char *data, size_t n)
{
    if (rq->too_big || n > rq->limit - rq->got) {
        rq->too_big = 1;
        rq->discarded += n;
        wire_free(&rq->body);
        return rq->discarded > HTTP_DISCARD_MAX ? -1 : 0;
    }
    rq->got += n;
    return rq->body.buf != NULL ? wire_put(&rq->body, data, n) : 0;
}

/* http_raw_end - the raw body is in: answer what is wrong with it, or
 * spool it; or, once resumed, answer */
static enum MHD_Result
http_raw_end(struct MHD_Connection *c, struct http_req *rq)
{
    struct spool_submission *sub;
    struct http_wait *w;

    if (rq->w != NULL)
        return http_inject_resumed(c, rq);
    if (rq->too_big)
        return http_raw_too_big(c, rq->got + rq->discarded);
    if (rq->bad.status != 0 || rq->got == 0) {
        metrics_inc(MC_REJECTED);
        if (rq->bad.status != 0)
            return http_error(c, (unsigned)rq->bad.status, rq->bad.error, rq->bad.field);
        return http_error(c, MHD_HTTP_BAD_REQUEST, "empty message", "content");
    }
    rq->counted = 1; /* as in http_inject */
    atomic_fetch_add(&http_injects, 1);
    if (atomic_load(&http_stopping))
        return http_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down", NULL);
    if (rq->env.n == 0)
        return http_reply_json(c, MHD_HTTP_OK,
                               json_pack("{s:[], s:I, s:O}", "ids", "accepted", (json_int_t)0,
                                         "rejected", rq->rejected));
    w = http_wait_new(1);
    sub = w != NULL && wire_end(&rq->body) == 0
              ? http_new_sub(&rq->env.msgs[0], rq->id, rq->host, &w->item[0])
              : NULL;
    if (sub == NULL) {
        if (w != NULL) {
            pthread_mutex_lock(&w->mu);
            http_wait_release(w);
        }
        return http_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", NULL);
    }
    sub->body = rq->body.buf;
    sub->body_len = rq->body.len;
    rq->body.buf = NULL;
    rq->w = w; /* the request's reference */
    http_submit_all(c, w, &sub);
    return MHD_YES;
}

/* http_inject_start - the first call: the request's state, or a 405 / 413 */
static enum MHD_Result
http_inject_start(struct MHD_Connection *c, const char *method, void **con_cls,
                  const struct http_query *q)
{
    struct http_req *rq;
    const char *cl;

    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
        return http_not_allowed(c, "POST");
    rq = calloc(1, sizeof(*rq));
    if (rq == NULL)
        return MHD_NO;
    rq->kind = HTTP_K_INJECT;
    rq->raw = http_is_rfc822(
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE));
    rq->limit = rq->raw ? http_raw_limit() : http_body_limit();
    *con_cls = rq;
    cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl != NULL && (rq->want = strtoull(cl, NULL, 10)) > rq->limit) {
        if (rq->raw)
            return http_raw_too_big(c, rq->want);
        metrics_inc(MC_REJECTED);
        return http_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large", NULL);
    }
    return rq->raw ? http_raw_begin(c, rq, q) : MHD_YES;
}

/* http_inject_step - the POST state machine: start, body pieces, end, resumed */
enum MHD_Result
http_inject_step(struct MHD_Connection *c, const char *method, const char *data, size_t *size,
                 void **con_cls, const struct http_query *q)
{
    struct http_req *rq = *con_cls;

    if (rq == NULL)
        return http_inject_start(c, method, con_cls, q);
    if (*size > 0) {
        int rc = rq->raw ? http_raw_append(rq, data, *size) : http_req_append(rq, data, *size);
        *size = 0;
        return rc < 0 ? MHD_NO : MHD_YES;
    }
    return rq->raw ? http_raw_end(c, rq) : http_inject(c, rq);
}

/* http_inject_done - the request is over: detach it from its callbacks */
void
http_inject_done(void *con_cls)
{
    struct http_req *rq = con_cls;

    if (rq->w != NULL) {
        struct http_wait *w = rq->w;
        pthread_mutex_lock(&http_susp_mu);
        if (w->prev != NULL)
            w->prev->next = w->next;
        else
            http_suspended = w->next;
        if (w->next != NULL)
            w->next->prev = w->prev;
        pthread_mutex_lock(&w->mu);
        w->conn = NULL;
        http_wait_release(w);
        pthread_mutex_unlock(&http_susp_mu);
    }
    if (rq->counted)
        atomic_fetch_sub(&http_injects, 1);
    json_decref(rq->rejected);
    inject_batch_free(&rq->env);
    wire_free(&rq->body);
    free(rq->buf);
    free(rq);
}

/* http_inject_resume_all - resume every inject request still waiting for
 * the spool; each is answered 503 with the ids that did commit */
int
http_inject_resume_all(void)
{
    int n = 0;

    pthread_mutex_lock(&http_susp_mu);
    for (struct http_wait *w = http_suspended; w != NULL; w = w->next) {
        pthread_mutex_lock(&w->mu);
        if (w->conn != NULL && w->pending > 0) {
            MHD_resume_connection(w->conn);
            n++;
        }
        pthread_mutex_unlock(&w->mu);
    }
    pthread_mutex_unlock(&http_susp_mu);
    return n;
}
