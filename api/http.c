/*
 * http.c - the HTTP API: inject, metrics, stats, queue (libmicrohttpd).
 *
 * Routes (SPEC §2, api.h):
 *   POST /api/v1/inject   http_inject.c: validate, spool, answer after the
 *                         commit (200, 400/413 naming the field, 503); a
 *                         JSON body, or with Content-Type: message/rfc822
 *                         the message itself, its envelope in the query
 *                         string (kept as sent by http_uri_log)
 *   GET  /metrics         Prometheus text format 0.0.4 (metrics.c)
 *   GET  /api/v1/stats    the same figures as JSON
 *   GET  /api/v1/queue    eng_queue_json(); 503 when the scheduler does not answer
 *   GET  /, /dashboard.js, /dashboard.css, /favicon.ico, /api/v1/errors  dashboard.c
 *   /api/v1/admin/...     admin.c: the admin API (docs/admin-api.md); the
 *                         only paths served on admin_listen addresses
 *   POST /api/v1/admin/requeue  admin_requeue.c: queuefile exports back to the spool
 * Anything else is 404; a known path with the wrong method 405. The
 * responses are built by http_reply.c (http_int.h).
 *
 * Threads: one libmicrohttpd daemon per http_listen address, each an epoll
 * event loop on HTTP_POLL_THREADS internal threads; no thread per
 * connection, so idle or slow clients cost a socket and a little memory,
 * not a thread. Nothing on those threads waits for long: an inject request
 * is suspended while the spool commits (http_inject.c); GET /api/v1/queue
 * waits at most 2 s for the scheduler, holding up only the connections of
 * its own thread.
 *
 * Connection limits (docs/options.md): http_accept_max connections at
 * once, http_accept_max_per_host from one IP address (0: no limit), and a
 * connection on which nothing arrives for http_connection_timeout is closed
 * (a suspended inject request is not). They are read at start; a reload
 * does not change them.
 *
 * Framing (RFC 9112): the access handler checks the header fields of every
 * request before anything else and answers 400 with Connection: close,
 * before the body is read, when they could be framed two ways: both
 * Content-Length and Transfer-Encoding (6.1), two of either, a
 * Transfer-Encoding other than "chunked", whitespace in a field name or
 * before its colon (5.1), or an HTTP/1.1 request with no Host or two (3.2).
 * Nothing behind such a request on the connection is taken as a request.
 * libmicrohttpd 0.9.75 does none of this itself: at every
 * MHD_OPTION_STRICT_FOR_CLIENT level it keeps "Name :" as a field named
 * "Name " and frames Content-Length + chunked by the chunks; levels 1 and 2
 * add only the Host check, answered with a malformed response (the status
 * line and header block twice), so it runs at 0 and the check is here.
 *
 * Diagnostics: libmicrohttpd's own errors at warning level.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "api/http_int.h"
#include "base/log.h"
#include "base/metrics.h"
#include "engine/engine.h"

#define HTTP_POLL_THREADS 4   /* event-loop threads per listener */
#define HTTP_STOP_GRACE_S 130 /* wait for inject requests to be answered at stop */
#define HTTP_PROM "text/plain; version=0.0.4; charset=utf-8"

static struct MHD_Daemon **http_daemons;
static size_t http_ndaemons;
static int http_admin_only = 1;                 /* the handler's cls on admin_listen daemons */
static enum http_kind http_marker = HTTP_K_GET; /* con_cls of a GET between its two calls */

/* What http_header_scan found among a request's header fields. */
struct http_hdr_scan {
    int bad_name;        /* whitespace in a field name */
    int ncl, nte, nhost; /* Content-Length, Transfer-Encoding, Host fields */
};

/* http_header_scan - MHD_KeyValueIterator over the request's header fields */
static enum MHD_Result
http_header_scan(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct http_hdr_scan *hs = cls;

    (void)kind;
    (void)value;
    if (strpbrk(key, " \t") != NULL)
        hs->bad_name = 1;
    hs->ncl += strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0;
    hs->nte += strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0;
    hs->nhost += strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0;
    return MHD_YES;
}

/* http_bad_framing - why the request's framing is refused, or NULL: both
 * Content-Length and Transfer-Encoding (RFC 9112 6.1), more than one of
 * either, a Transfer-Encoding other than chunked, whitespace in a field
 * name (5.1), no Host in HTTP/1.1 or more than one (3.2) */
static const char *
http_bad_framing(struct MHD_Connection *c, const char *version)
{
    struct http_hdr_scan hs = {0, 0, 0, 0};
    const char *te;

    MHD_get_connection_values(c, MHD_HEADER_KIND, http_header_scan, &hs);
    if (hs.bad_name)
        return "whitespace in a header field name";
    if (hs.ncl > 0 && hs.nte > 0)
        return "both Content-Length and Transfer-Encoding";
    if (hs.ncl > 1 || hs.nte > 1)
        return "more than one Content-Length or Transfer-Encoding";
    te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (te != NULL && strcasecmp(te, "chunked") != 0)
        return "unsupported Transfer-Encoding";
    if (hs.nhost > 1 || (hs.nhost == 0 && strcmp(version, MHD_HTTP_VERSION_1_1) == 0))
        return "an HTTP/1.1 request needs exactly one Host";
    return NULL;
}

/* http_refuse_framing - 400 and close the connection after it */
static enum MHD_Result
http_refuse_framing(struct MHD_Connection *c, const char *why)
{
    struct http_hdr h = {MHD_HTTP_HEADER_CONNECTION, "close"};
    char msg[96];

    metrics_inc(MC_REJECTED);
    snprintf(msg, sizeof(msg), "bad request framing: %s", why);
    return http_error_hdr(c, MHD_HTTP_BAD_REQUEST, msg, NULL, &h);
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

/* http_kind_of - what a non-NULL con_cls holds */
static enum http_kind
http_kind_of(const void *con_cls)
{
    return *(const enum http_kind *)con_cls;
}

/* http_uri_log - libmicrohttpd's URI log callback, called with the request
 * line's URI before it is split and unescaped: keep the query string, if
 * any, for the access handler's first call (as the request's con_cls) */
static void *
http_uri_log(void *cls, const char *uri, struct MHD_Connection *c)
{
    const char *qm = strchr(uri, '?');
    struct http_query *q;
    size_t n;

    (void)cls;
    (void)c;
    if (qm == NULL)
        return NULL;
    n = strlen(qm + 1);
    q = malloc(sizeof(*q) + n + 1);
    if (q == NULL)
        return NULL; /* as if there were none */
    q->kind = HTTP_K_QUERY;
    q->len = n;
    memcpy(q->text, qm + 1, n + 1);
    return q;
}

/* http_route - the access handler's work; q is the request's query string
 * on the first call, NULL otherwise; admin_only on admin_listen daemons */
static enum MHD_Result
http_route(struct MHD_Connection *c, const char *url, const char *method, const char *version,
           const char *data, size_t *size, void **con_cls, const struct http_query *q,
           int admin_only)
{
    static const struct {
        const char *path;
        enum MHD_Result (*fn)(struct MHD_Connection *);
    } gets[] = {{"/metrics", http_metrics},
                {"/api/v1/stats", http_stats},
                {"/api/v1/queue", http_queue},
                /* dashboard.c */
                {"/", http_dashboard_page},
                {"/dashboard.js", http_dashboard_js},
                {"/dashboard.css", http_dashboard_css},
                {"/api/v1/errors", http_dashboard_errors},
                {"/favicon.ico", http_dashboard_icon}};
    const char *bad;

    if (*con_cls == NULL && (bad = http_bad_framing(c, version)) != NULL)
        return http_refuse_framing(c, bad);
    if (strcmp(url, "/api/v1/admin/requeue") == 0) /* admin_requeue.c */
        return http_requeue_step(c, method, data, size, con_cls);
    if (strncmp(url, "/api/v1/admin", 13) == 0 && (url[13] == '/' || url[13] == '\0'))
        return http_admin_step(c, url, method, data, size, con_cls);
    if (admin_only)
        return http_error(c, MHD_HTTP_NOT_FOUND, "no such resource", NULL);
    if (strcmp(url, "/api/v1/inject") == 0)
        return http_inject_step(c, method, data, size, con_cls, q);
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

/* http_handler - libmicrohttpd access handler: take the saved query
 * string off con_cls on the first call, then route the request */
static enum MHD_Result
http_handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
             const char *version, const char *data, size_t *size, void **con_cls)
{
    struct http_query *q = NULL;
    enum MHD_Result ret;

    if (*con_cls != NULL && http_kind_of(*con_cls) == HTTP_K_QUERY) {
        q = *con_cls;
        *con_cls = NULL;
    }
    ret = http_route(c, url, method, version, data, size, con_cls, q, cls != NULL);
    free(q);
    return ret;
}

/* http_completed - libmicrohttpd's request-over notice: release the state */
static void
http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
               enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    if (*con_cls != NULL && http_kind_of(*con_cls) == HTTP_K_INJECT)
        http_inject_done(*con_cls);
    else if (*con_cls != NULL && http_kind_of(*con_cls) == HTTP_K_QUERY)
        free(*con_cls); /* the handler never ran */
    else if (*con_cls != NULL && http_kind_of(*con_cls) == HTTP_K_ADMIN)
        http_admin_done(*con_cls);
    else if (*con_cls != NULL && http_kind_of(*con_cls) == HTTP_K_REQUEUE)
        http_requeue_done(*con_cls);
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
    if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0 || listen(fd, 1024) < 0) {
        snprintf(err, errlen, "HTTP listener %s: %s", a->text, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* http_start_one - a libmicrohttpd daemon on one address: epoll event loop
 * on HTTP_POLL_THREADS threads, suspend/resume for inject requests;
 * admin_only for an admin_listen address */
static struct MHD_Daemon *
http_start_one(const struct cfg *cfg, const struct net_addr *a, int admin_only, char *err,
               size_t errlen)
{
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    struct MHD_Daemon *d;
    int fd = http_listen_socket(a, err, errlen);

    if (fd < 0)
        return NULL;
    if (a->ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* the logger must come first to catch messages about the other options */
    d = MHD_start_daemon(flags, 0, NULL, NULL, http_handler, admin_only ? &http_admin_only : NULL,
                         MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET,
                         fd, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)HTTP_POLL_THREADS,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->http_accept_max,
                         MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                         (unsigned)cfg->http_accept_max_per_host, MHD_OPTION_CONNECTION_TIMEOUT,
                         (unsigned)cfg->http_connection_timeout_s, MHD_OPTION_STRICT_FOR_CLIENT,
                         (int)0, MHD_OPTION_NOTIFY_COMPLETED, http_completed, NULL,
                         MHD_OPTION_URI_LOG_CALLBACK, http_uri_log, NULL, MHD_OPTION_END);
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
    http_dashboard_init(); /* dashboard.c: keep recent errors from the log */
    if (cfg->n_http_listen + cfg->n_admin_listen == 0)
        return 0;
    http_daemons = calloc(cfg->n_http_listen + cfg->n_admin_listen, sizeof(*http_daemons));
    if (http_daemons == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < cfg->n_http_listen + cfg->n_admin_listen; i++) {
        int adm = i >= cfg->n_http_listen; /* admin_listen: the admin API alone */
        const struct net_addr *a =
            adm ? &cfg->admin_listen[i - cfg->n_http_listen] : &cfg->http_listen[i];
        http_daemons[i] = http_start_one(cfg, a, adm, err, errlen);
        if (http_daemons[i] == NULL) {
            api_http_stop();
            return -1;
        }
        http_ndaemons++;
        log_info("%s listening on %s", adm ? "admin API" : "HTTP API", a->text);
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
    if (atomic_load(&http_injects) > 0) {
        log_warn("HTTP API: stopping with %d inject request(s) unanswered by the spool",
                 atomic_load(&http_injects));
        /* libmicrohttpd must not be stopped with a connection suspended */
        http_inject_resume_all();
        for (int t = 0; t < 200 && atomic_load(&http_injects) > 0; t++)
            nanosleep(&tick, NULL);
    }
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
