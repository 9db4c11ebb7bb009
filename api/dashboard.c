/*
 * dashboard.c - the built-in dashboard of the HTTP API.
 *
 * Routes (called from http.c's GET table):
 *   GET /               the page (api/dashboard/index.html)
 *   GET /dashboard.js   its script: polls /api/v1/stats, /api/v1/queue and
 *                       /api/v1/errors and draws throughput, queues, the
 *                       slowest and most-deferred destinations, TLS/DANE
 *                       shares and the recent errors
 *   GET /dashboard.css  its style
 *   GET /favicon.ico    204: there is none (so that browsers log no 404)
 *   GET /api/v1/errors  the last DASH_RING deferral ("==") and failure
 *                       ("**") records of the main log, and error-level
 *                       records, newest first:
 *                       {"capacity":N,"errors":[{"time","kind","text"}]}
 *                       kind is "defer", "fail" or "error"
 * The three files are compiled in (api/dashboard/embed.cmake writes them
 * as C arrays at build time): the page needs nothing from the network
 * beyond its own origin, and says so to the browser with
 * Content-Security-Policy: default-src 'self' (no inline script or style,
 * no other host).
 *
 * Recent errors: http_dashboard_init() sets a log tap (base/log.h) that
 * copies matching records into a ring of DASH_RING lines of at most
 * DASH_LINE bytes. The local part of every address in them is replaced by
 * "*" (the endpoint needs no token, like /api/v1/queue, so it names
 * domains, not mailboxes); bytes outside printable ASCII become "?".
 *
 * Threads: http_dashboard_note runs on whatever thread logs; the ring is
 * guarded by a mutex taken only for matching records. The handlers run on
 * libmicrohttpd's threads; the embedded files are read-only.
 */
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "api/http_int.h"
#include "base/log.h"

#define DASH_RING 50  /* recent errors kept */
#define DASH_LINE 480 /* bytes kept of each, NUL included */
#define DASH_STAMP 23 /* "YYYY-MM-DD HH:MM:SS.mmm" */
#define DASH_CSP "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/* api/dashboard/embed.cmake, generated into the build tree */
extern const unsigned char dash_index_html[], dash_dashboard_js[], dash_dashboard_css[];
extern const unsigned long dash_index_html_len, dash_dashboard_js_len, dash_dashboard_css_len;

/* One kept record. */
struct dash_err {
    char kind; /* 'd' defer, 'f' fail, 'e' error */
    char line[DASH_LINE];
};

static struct {
    pthread_mutex_t mu;
    unsigned next, count; /* next slot to write; slots in use */
    struct dash_err e[DASH_RING];
} dash_ring = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* dash_kind - 'd', 'f', 'e' for a record worth keeping, 0 otherwise: the
 * word after the message id is "==" or "**", or the level is LOG_ERR */
static char
dash_kind(enum log_level level, const char *line, size_t len)
{
    const char *p = line + DASH_STAMP + 1, *end = line + len, *sp;

    if (len <= DASH_STAMP + 1)
        return 0;
    sp = memchr(p, ' ', (size_t)(end - p));
    if (sp != NULL && end - sp >= 4 && sp[3] == ' ') {
        if (sp[1] == '=' && sp[2] == '=')
            return 'd';
        if (sp[1] == '*' && sp[2] == '*')
            return 'f';
    }
    return level >= LOG_ERR ? 'e' : 0;
}

/* dash_local_start - where the local part ending at out[n] begins: a
 * quoted one from its opening quote, else after the last delimiter */
static size_t
dash_local_start(const char *out, size_t n)
{
    if (n > 1 && out[n - 1] == '"') {
        for (size_t q = n - 1; q > 0; q--)
            if (out[q - 1] == '"')
                return q - 1;
    }
    while (n > 0 && strchr(" <>()[]:;=,\"'@", out[n - 1]) == NULL)
        n--;
    return n;
}

/* dash_copy - line into out (size DASH_LINE): local parts as "*", bytes
 * outside printable ASCII as "?" */
static void
dash_copy(char *out, const char *line, size_t len)
{
    size_t o = 0;

    for (size_t i = 0; i < len && o < DASH_LINE - 2; i++) {
        unsigned char ch = (unsigned char)line[i];
        if (ch == '@') {
            size_t s = dash_local_start(out, o);
            if (s < o) {
                out[s] = '*';
                o = s + 1;
            }
        }
        out[o++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    out[o] = '\0';
}

/* http_dashboard_note - the log tap: keep the record if it is a deferral,
 * a failure or an error */
void
http_dashboard_note(enum log_level level, const char *line, size_t len)
{
    char kind = dash_kind(level, line, len);
    struct dash_err *e;

    if (kind == 0)
        return;
    pthread_mutex_lock(&dash_ring.mu);
    e = &dash_ring.e[dash_ring.next];
    e->kind = kind;
    dash_copy(e->line, line, len);
    dash_ring.next = (dash_ring.next + 1) % DASH_RING;
    if (dash_ring.count < DASH_RING)
        dash_ring.count++;
    pthread_mutex_unlock(&dash_ring.mu);
}

/* dash_entry - one kept record as {"time","kind","text"} */
static json_t *
dash_entry(const struct dash_err *e)
{
    const char *kind = e->kind == 'd' ? "defer" : e->kind == 'f' ? "fail" : "error";
    size_t n = strlen(e->line);

    if (n <= DASH_STAMP + 1)
        return json_pack("{s:s, s:s, s:s}", "time", "", "kind", kind, "text", e->line);
    return json_pack("{s:s%, s:s, s:s}", "time", e->line, (size_t)DASH_STAMP, "kind", kind, "text",
                     e->line + DASH_STAMP + 1);
}

/* http_dashboard_errors_json - the kept records, newest first */
json_t *
http_dashboard_errors_json(void)
{
    json_t *list = json_array();

    if (list == NULL)
        return NULL;
    pthread_mutex_lock(&dash_ring.mu);
    for (unsigned i = 1; i <= dash_ring.count; i++) {
        unsigned k = (dash_ring.next + DASH_RING - i) % DASH_RING;
        json_array_append_new(list, dash_entry(&dash_ring.e[k]));
    }
    pthread_mutex_unlock(&dash_ring.mu);
    return json_pack("{s:i, s:o}", "capacity", DASH_RING, "errors", list);
}

/* http_dashboard_init - start keeping recent errors (main thread, once
 * logging is set up; again is harmless) */
void
http_dashboard_init(void)
{
    log_set_tap(http_dashboard_note);
}

/* dash_static - queue one of the embedded files with the page's headers */
static enum MHD_Result
dash_static(struct MHD_Connection *c, const unsigned char *data, unsigned long len,
            const char *ctype)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    r = MHD_create_response_from_buffer((size_t)len, (void *)data, MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, "Content-Security-Policy", DASH_CSP);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* http_dashboard_page - GET / */
enum MHD_Result
http_dashboard_page(struct MHD_Connection *c)
{
    return dash_static(c, dash_index_html, dash_index_html_len, "text/html; charset=utf-8");
}

/* http_dashboard_js - GET /dashboard.js */
enum MHD_Result
http_dashboard_js(struct MHD_Connection *c)
{
    return dash_static(c, dash_dashboard_js, dash_dashboard_js_len,
                       "text/javascript; charset=utf-8");
}

/* http_dashboard_css - GET /dashboard.css */
enum MHD_Result
http_dashboard_css(struct MHD_Connection *c)
{
    return dash_static(c, dash_dashboard_css, dash_dashboard_css_len, "text/css; charset=utf-8");
}

/* http_dashboard_errors - GET /api/v1/errors */
enum MHD_Result
http_dashboard_errors(struct MHD_Connection *c)
{
    json_t *j = http_dashboard_errors_json();

    if (j == NULL)
        return http_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", NULL);
    return http_reply_json(c, MHD_HTTP_OK, j);
}

/* http_dashboard_icon - GET /favicon.ico: 204, no icon */
enum MHD_Result
http_dashboard_icon(struct MHD_Connection *c)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret;

    if (r == NULL)
        return MHD_NO;
    ret = MHD_queue_response(c, MHD_HTTP_NO_CONTENT, r);
    MHD_destroy_response(r);
    return ret;
}
