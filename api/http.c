/*
 * http.c - the HTTP API: inject, metrics, stats, queue (libmicrohttpd).
 *
 * Routes (SPEC §2, api.h):
 *   POST /api/v1/inject   validate (inject_json.c), spool every message, wait
 *                         for the commit, then 200 {"ids","accepted","rejected"};
 *                         400/413 {"error","field"}; 503 when the spool fails
 *                         (ids that did commit are listed so a client can tell).
 *   GET  /metrics         Prometheus text format 0.0.4 (metrics.c)
 *   GET  /api/v1/stats    the same figures as JSON
 *   GET  /api/v1/queue    eng_queue_json(); 503 when the scheduler does not answer
 * Anything else is 404; a known path with the wrong method 405.
 *
 * Threads: one libmicrohttpd daemon per http_listen address, each with its
 * own polling thread and one thread per connection, so a request blocked
 * waiting for a group commit holds up nobody else. The spool's done callback
 * runs on the writer thread; it only records the status and signals the
 * waiting request (struct http_wait, freed by whoever lets go of it last, so
 * a request that gives up after HTTP_COMMIT_WAIT_S cannot be written to after
 * it is gone).
 *
 * The request body is limited to twice message_size_limit plus 1 MiB (JSON
 * escaping can double a message), at most HTTP_BODY_MAX; a larger
 * Content-Length is refused with 413 before the body is read.
 *
 * Diagnostics: one "<=" main-log line per committed message; spool failures
 * and libmicrohttpd's own errors at warning level.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "api/inject_json.h"
#include "engine/engine.h"
#include "base/log.h"
#include "base/metrics.h"

#define HTTP_BODY_MAX (256ull << 20)                /* request body, whatever the size limit */
#define HTTP_DISCARD_MAX (1ull << 30)               /* an over-long chunked body is cut off here */
#define HTTP_COMMIT_WAIT_S 120                      /* longest wait for the spool's answer */
#define HTTP_CONN_LIMIT 512                         /* concurrent connections per listener */
#define HTTP_IDLE_TIMEOUT_S 120                     /* idle connection timeout */
#define HTTP_STOP_GRACE_S (HTTP_COMMIT_WAIT_S + 10) /* wait for injects at stop */
#define HTTP_JSON "application/json"
#define HTTP_PROM "text/plain; version=0.0.4; charset=utf-8"

static struct MHD_Daemon **http_daemons;
static size_t http_ndaemons;
static atomic_int http_injects;  /* inject requests handed to the spool, not yet answered */
static atomic_int http_stopping; /* set by api_http_stop: no new submissions */
static int http_marker;          /* con_cls of a GET between its two calls */
static const struct cfg *_Atomic http_cfg; /* swapped by api_http_reload */
static spool *http_spool;

/* Body of a POST being received (MHD's con_cls). */
struct http_req {
    char *buf;
    size_t len, cap, limit;
    unsigned long long discarded; /* bytes dropped once over the limit */
    int too_big;
    int counted; /* in http_injects */
};

/* One message of an inject request waiting for the spool. */
struct http_item {
    struct http_wait *w;
    int status; /* 1 = no answer yet */
    char id[SPOOL_ID_SIZE];
};

/* An inject request waiting for its messages' done callbacks. */
struct http_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t pending;
    size_t refs; /* callbacks still due + the request itself */
    size_t n;
    struct http_item item[];
};

/* http_wait_release - drop one reference (mu held); frees on the last */
static void
http_wait_release(struct http_wait *w)
{
    int last = --w->refs == 0;

    pthread_mutex_unlock(&w->mu);
    if (last) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w);
    }
}

/* http_wait_new - a waiter for n messages, or NULL */
static struct http_wait *
http_wait_new(size_t n)
{
    struct http_wait *w = calloc(1, sizeof(*w) + n * sizeof(w->item[0]));
    pthread_condattr_t ca;

    if (w == NULL)
        return NULL;
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
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
}

/* http_commit_done - spool done callback (writer thread): log, record, signal */
static void
http_commit_done(struct spool_submission *sub, int status, void *arg)
{
    struct http_item *it = arg;
    struct http_wait *w = it->w;

    if (status == 0)
        http_log_arrival(sub);
    pthread_mutex_lock(&w->mu);
    it->status = status;
    w->pending--;
    pthread_cond_signal(&w->cv);
    http_wait_release(w);
}

/* http_wait_all - wait for every callback; 0, or -ETIMEDOUT (mu held on return) */
static int
http_wait_all(struct http_wait *w)
{
    struct timespec dl;
    int rc = 0;

    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += HTTP_COMMIT_WAIT_S;
    pthread_mutex_lock(&w->mu);
    while (w->pending > 0 && rc == 0)
        rc = pthread_cond_timedwait(&w->cv, &w->mu, &dl);
    return w->pending > 0 ? -ETIMEDOUT : 0;
}

/* http_reply - queue a response taking ownership of body (malloc'd) */
static enum MHD_Result
http_reply_allow(struct MHD_Connection *c, unsigned status, const char *ctype, char *body,
                 size_t len, const char *allow)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (allow != NULL) /* 405: RFC 9110 15.5.6 says which methods are allowed */
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* http_reply - queue a response (body malloc'd, taken over) */
static enum MHD_Result
http_reply(struct MHD_Connection *c, unsigned status, const char *ctype, char *body, size_t len)
{
    return http_reply_allow(c, status, ctype, body, len, NULL);
}

/* http_reply_json - queue j (reference taken over) as a JSON response */
static enum MHD_Result
http_reply_json_allow(struct MHD_Connection *c, unsigned status, json_t *j, const char *allow)
{
    char *s = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    char *t;
    size_t n;

    json_decref(j);
    if (s == NULL)
        return MHD_NO;
    n = strlen(s);
    t = realloc(s, n + 2);
    if (t == NULL) {
        free(s);
        return MHD_NO;
    }
    t[n++] = '\n';
    t[n] = '\0';
    return http_reply_allow(c, status, HTTP_JSON, t, n, allow);
}

/* http_reply_json - queue j (reference taken over) as a JSON response */
static enum MHD_Result
http_reply_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
    return http_reply_json_allow(c, status, j, NULL);
}

/* http_not_allowed - 405 naming the methods the path accepts */
static enum MHD_Result
http_not_allowed(struct MHD_Connection *c, const char *allow)
{
    char msg[64];
    snprintf(msg, sizeof(msg), "use %s", allow);
    return http_reply_json_allow(c, MHD_HTTP_METHOD_NOT_ALLOWED,
                                 json_pack("{s:s, s:o}", "error", msg, "field", json_null()),
                                 allow);
}

/* http_error - {"error": msg, "field": field-or-null} */
static enum MHD_Result
http_error(struct MHD_Connection *c, unsigned status, const char *msg, const char *field)
{
    json_t *j = json_pack("{s:s, s:o}", "error", msg, "field",
                          field != NULL && *field ? json_string(field) : json_null());

    return http_reply_json(c, status, j);
}

/* http_client - the peer's address as an RFC 5321 address literal for the
 * Received: header ("[192.0.2.1]", "[IPv6:2001:db8::1]") and as "[ip]:port"
 * for the log and the spool */
static void
http_client(struct MHD_Connection *c, char *lit, size_t litlen, char *host, size_t hostlen)
{
    const union MHD_ConnectionInfo *ci;
    char ip[INET6_ADDRSTRLEN + 8] = "unknown", port[16] = "0";
    socklen_t sl = sizeof(struct sockaddr_in6);

    ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci != NULL && ci->client_addr != NULL) {
        if (ci->client_addr->sa_family == AF_INET)
            sl = sizeof(struct sockaddr_in);
        if (getnameinfo(ci->client_addr, sl, ip, (socklen_t)sizeof(ip), port, sizeof(port),
                        NI_NUMERICHOST | NI_NUMERICSERV) != 0)
            snprintf(ip, sizeof(ip), "unknown");
    }
    snprintf(host, hostlen, "[%s]:%s", ip, port);
    snprintf(lit, litlen, "[%s%s]", strchr(ip, ':') != NULL ? "IPv6:" : "", ip);
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

/* http_build_sub - one spool submission for m, or NULL when out of memory */
static struct spool_submission *
http_build_sub(const struct inject_msg *m, const char *lit, const char *host, struct http_item *it)
{
    struct spool_submission *sub = calloc(1, sizeof(*sub));
    char *hdr;

    if (sub == NULL)
        return NULL;
    spool_new_id(http_spool, sub->id);
    memcpy(it->id, sub->id, SPOOL_ID_SIZE);
    sub->sender = strdup(m->sender);
    sub->rcpts = http_strdupv(m->rcpts, m->nrcpt);
    if (sub->rcpts != NULL)
        sub->nrcpt = m->nrcpt;
    hdr = api_received_header(http_cfg, NULL, lit, "HTTP", sub->id,
                              m->nrcpt == 1 ? m->rcpts[0] : NULL);
    if (hdr != NULL)
        sub->body = api_normalize_body(hdr, m->content, m->content_len, &sub->body_len);
    free(hdr);
    sub->proto = strdup("http");
    sub->host = strdup(host);
    sub->done = http_commit_done;
    sub->arg = it;
    if (sub->sender == NULL || sub->rcpts == NULL || sub->body == NULL || sub->proto == NULL ||
        sub->host == NULL) {
        spool_submission_free(sub);
        return NULL;
    }
    return sub;
}

/* http_inject_answer - the response once every message has an answer */
static enum MHD_Result
http_inject_answer(struct MHD_Connection *c, const struct inject_batch *b, struct http_wait *w,
                   int timed_out, const char *host, json_t *rejected)
{
    json_t *ids = json_array();
    int bad = 0;
    size_t accepted = 0;
    char msg[128];

    for (size_t i = 0; i < b->n; i++) {
        if (w->item[i].status != 0) {
            if (bad == 0)
                bad = w->item[i].status;
            continue;
        }
        json_array_append_new(ids, json_string(w->item[i].id));
        accepted += b->msgs[i].nrcpt;
    }
    if (bad == 0)
        return http_reply_json(c, MHD_HTTP_OK,
                               json_pack("{s:o, s:I, s:o}", "ids", ids, "accepted",
                                         (json_int_t)accepted, "rejected", rejected));
    json_decref(rejected);
    if (timed_out)
        snprintf(msg, sizeof(msg), "spool commit timed out after %d s", HTTP_COMMIT_WAIT_S);
    else
        snprintf(msg, sizeof(msg), "spool commit failed: %s", strerror(bad < 0 ? -bad : EIO));
    log_warn("HTTP inject from %s: %s", host, msg);
    return http_reply_json(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                           json_pack("{s:s, s:o}", "error", msg, "ids", ids));
}

/* http_inject_submit - build every submission, submit, wait, answer */
static enum MHD_Result
http_inject_submit(struct MHD_Connection *c, const struct inject_batch *b, json_t *rejected)
{
    char lit[INET6_ADDRSTRLEN + 16], host[INET6_ADDRSTRLEN + 16];
    struct spool_submission **subs = calloc(b->n, sizeof(*subs));
    struct http_wait *w = http_wait_new(b->n);
    enum MHD_Result ret;
    size_t i;
    int rc;

    if (b->n == 0) { /* every recipient was rejected: nothing to spool */
        free(subs);
        if (w != NULL) {
            pthread_mutex_lock(&w->mu);
            http_wait_release(w);
        }
        return http_reply_json(c, MHD_HTTP_OK, json_pack("{s:[], s:I, s:o}", "ids", "accepted",
                                                         (json_int_t)0, "rejected", rejected));
    }
    http_client(c, lit, sizeof(lit), host, sizeof(host));
    for (i = 0; subs != NULL && w != NULL && i < b->n; i++)
        if ((subs[i] = http_build_sub(&b->msgs[i], lit, host, &w->item[i])) == NULL)
            break;
    if (subs == NULL || w == NULL || i < b->n) {
        while (subs != NULL && i > 0)
            spool_submission_free(subs[--i]);
        free(subs);
        if (w != NULL) {
            pthread_mutex_lock(&w->mu);
            http_wait_release(w);
        }
        json_decref(rejected);
        return http_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", NULL);
    }
    w->pending = b->n;
    w->refs += b->n;
    for (i = 0; i < b->n; i++)
        spool_submit(http_spool, subs[i]);
    free(subs);
    rc = http_wait_all(w);
    ret = http_inject_answer(c, b, w, rc < 0, host, rejected);
    http_wait_release(w);
    return ret;
}

/* http_inject - validate the received body and spool it */
static enum MHD_Result
http_inject(struct MHD_Connection *c, struct http_req *rq)
{
    struct inject_batch b;
    struct inject_error e;
    enum MHD_Result ret;
    json_t *rejected;

    if (rq->too_big) {
        metrics_inc(MC_REJECTED);
        return http_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large", NULL);
    }
    if (inject_json_parse(rq->buf != NULL ? rq->buf : "", rq->len, http_cfg->message_size_limit, &b,
                          &e) < 0) {
        metrics_inc(MC_REJECTED);
        return http_error(c, (unsigned)e.status, e.error, e.field);
    }
    free(rq->buf); /* the JSON tree holds its own copy; keep the peak down */
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
    rejected = json_array();
    inject_json_screen(&b, http_cfg->allow_domain_literals, rejected);
    ret = http_inject_submit(c, &b, rejected);
    inject_batch_free(&b);
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
        size_t cap = rq->cap ? rq->cap : 65536;
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

/* http_inject_step - the POST state machine: start, body pieces, end */
static enum MHD_Result
http_inject_step(struct MHD_Connection *c, const char *method, const char *data, size_t *size,
                 void **con_cls)
{
    struct http_req *rq = *con_cls;
    const char *cl;

    if (rq == NULL) {
        if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
            return http_not_allowed(c, "POST");
        rq = calloc(1, sizeof(*rq));
        if (rq == NULL)
            return MHD_NO;
        rq->limit = http_body_limit();
        *con_cls = rq;
        cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl != NULL && strtoull(cl, NULL, 10) > rq->limit) {
            metrics_inc(MC_REJECTED);
            return http_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large", NULL);
        }
        return MHD_YES;
    }
    if (*size > 0) {
        int rc = http_req_append(rq, data, *size);
        *size = 0;
        return rc < 0 ? MHD_NO : MHD_YES;
    }
    return http_inject(c, rq);
}

/* http_metrics - GET /metrics */
static enum MHD_Result
http_metrics(struct MHD_Connection *c)
{
    struct metrics_snapshot s;
    size_t len;
    char *text;

    metrics_snapshot(&s);
    text = metrics_prometheus_text(&s, &len);
    if (text == NULL)
        return http_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", NULL);
    return http_reply(c, MHD_HTTP_OK, HTTP_PROM, text, len);
}

/* http_stats - GET /api/v1/stats */
static enum MHD_Result
http_stats(struct MHD_Connection *c)
{
    struct metrics_snapshot s;
    json_t *counters = json_object(), *gauges = json_object(), *buckets = json_object();
    uint64_t rss, cum = 0;
    double cpu;
    char le[32];

    metrics_snapshot(&s);
    for (int i = 0; i < MC__COUNT; i++)
        json_object_set_new(counters, metrics_counter_name(i),
                            json_integer((json_int_t)s.counter[i]));
    for (int i = 0; i < MG__COUNT; i++)
        json_object_set_new(gauges, metrics_gauge_name(i), json_integer((json_int_t)s.gauge[i]));
    for (int i = 0; i <= METRICS_COMMIT_BUCKETS; i++) {
        cum += s.commit_bucket[i];
        if (i < METRICS_COMMIT_BUCKETS)
            snprintf(le, sizeof(le), "%g", metrics_commit_bounds[i]);
        else
            snprintf(le, sizeof(le), "+Inf");
        json_object_set_new(buckets, le, json_integer((json_int_t)cum));
    }
    metrics_process(&rss, &cpu);
    return http_reply_json(c, MHD_HTTP_OK,
                           json_pack("{s:o, s:o, s:{s:I, s:f, s:o}, s:{s:I, s:f}}", "counters",
                                     counters, "gauges", gauges, "spool_commit", "count",
                                     (json_int_t)s.commit_count, "sum_seconds", s.commit_sum_s,
                                     "buckets", buckets, "process", "resident_memory_bytes",
                                     (json_int_t)rss, "cpu_seconds", cpu));
}

/* http_queue - GET /api/v1/queue */
static enum MHD_Result
http_queue(struct MHD_Connection *c)
{
    char *text = eng_queue_json();

    if (text == NULL)
        return http_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "queue summary not available", NULL);
    return http_reply(c, MHD_HTTP_OK, HTTP_JSON, text, strlen(text));
}

/* http_handler - libmicrohttpd access handler: route the request */
static enum MHD_Result
http_handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
             const char *version, const char *data, size_t *size, void **con_cls)
{
    static const struct {
        const char *path;
        enum MHD_Result (*fn)(struct MHD_Connection *);
    } gets[] = {
        {"/metrics", http_metrics}, {"/api/v1/stats", http_stats}, {"/api/v1/queue", http_queue}};

    (void)cls;
    (void)version;
    if (strcmp(url, "/api/v1/inject") == 0)
        return http_inject_step(c, method, data, size, con_cls);
    for (size_t i = 0; i < sizeof(gets) / sizeof(gets[0]); i++) {
        if (strcmp(url, gets[i].path) != 0)
            continue;
        if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
            return http_not_allowed(c, "GET, HEAD");
        /* answer on the second call, once the request is complete: an
         * answer queued earlier makes libmicrohttpd close the connection */
        if (*con_cls == NULL) {
            *con_cls = &http_marker;
            return MHD_YES;
        }
        *size = 0;
        return gets[i].fn(c);
    }
    return http_error(c, MHD_HTTP_NOT_FOUND, "no such resource", NULL);
}

/* http_completed - free a request's body buffer */
static void
http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
               enum MHD_RequestTerminationCode toe)
{
    struct http_req *rq = *con_cls;

    (void)cls;
    (void)c;
    (void)toe;
    if (rq != NULL && rq != (void *)&http_marker) {
        if (rq->counted)
            atomic_fetch_sub(&http_injects, 1);
        free(rq->buf);
        free(rq);
    }
    *con_cls = NULL;
}

/* http_mhd_log - route libmicrohttpd's messages to the main log */
static void
http_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    size_t n;

    (void)cls;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    n = strlen(buf);
    while (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    log_warn("HTTP: %s", buf);
}

/* http_listen_socket - a bound, listening socket for a; -1 with err */
static int
http_listen_socket(const struct net_addr *a, char *err, size_t errlen)
{
    int fd, on = 1;
    int family = a->ss.ss_family;

    fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "HTTP listener %s: socket: %s", a->text, strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
    if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0 || listen(fd, 128) < 0) {
        snprintf(err, errlen, "HTTP listener %s: %s", a->text, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* http_start_one - a libmicrohttpd daemon on one address */
static struct MHD_Daemon *
http_start_one(const struct net_addr *a, char *err, size_t errlen)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    struct MHD_Daemon *d;
    int fd = http_listen_socket(a, err, errlen);

    if (fd < 0)
        return NULL;
    if (a->ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* the logger must come first to catch messages about the other options */
    d = MHD_start_daemon(flags, 0, NULL, NULL, http_handler, NULL, MHD_OPTION_EXTERNAL_LOGGER,
                         http_mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONN_LIMIT,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_TIMEOUT_S,
                         MHD_OPTION_NOTIFY_COMPLETED, http_completed, NULL, MHD_OPTION_END);
    if (d == NULL) {
        snprintf(err, errlen, "HTTP listener %s: cannot start the HTTP server", a->text);
        close(fd);
    }
    return d;
}

/* api_http_start - start a daemon on every http_listen address */
int
api_http_start(const struct cfg *cfg, spool *sp, char *err, size_t errlen)
{
    if (http_daemons != NULL) {
        snprintf(err, errlen, "HTTP API already started");
        return -1;
    }
    http_cfg = cfg;
    http_spool = sp;
    if (cfg->n_http_listen == 0)
        return 0;
    http_daemons = calloc(cfg->n_http_listen, sizeof(*http_daemons));
    if (http_daemons == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < cfg->n_http_listen; i++) {
        http_daemons[i] = http_start_one(&cfg->http_listen[i], err, errlen);
        if (http_daemons[i] == NULL) {
            api_http_stop();
            return -1;
        }
        http_ndaemons++;
        log_info("HTTP API listening on %s", cfg->http_listen[i].text);
    }
    return 0;
}

/* api_http_reload - requests read the new configuration from now on */
void
api_http_reload(const struct cfg *cfg)
{
    atomic_store(&http_cfg, cfg);
}

/* api_http_stop - stop accepting, let inject requests get their answer
 * (bounded), then stop every daemon */
void
api_http_stop(void)
{
    MHD_socket fd[http_ndaemons > 0 ? http_ndaemons : 1];
    struct timespec tick = {0, 10 * 1000 * 1000};

    atomic_store(&http_stopping, 1);
    for (size_t i = 0; i < http_ndaemons; i++)
        fd[i] = MHD_quiesce_daemon(http_daemons[i]);
    for (int t = 0; t < HTTP_STOP_GRACE_S * 100 && atomic_load(&http_injects) > 0; t++)
        nanosleep(&tick, NULL);
    if (atomic_load(&http_injects) > 0)
        log_warn("HTTP API: stopping with %d inject request(s) unanswered",
                 atomic_load(&http_injects));
    for (size_t i = 0; i < http_ndaemons; i++) {
        MHD_stop_daemon(http_daemons[i]);
        if (fd[i] != MHD_INVALID_SOCKET)
            close(fd[i]);
    }
    free(http_daemons);
    http_daemons = NULL;
    http_ndaemons = 0;
    atomic_store(&http_stopping, 0);
}
