/*
 * http_int.h - what the three files of the HTTP API share; not for other
 *              modules. The calls run one way:
 *                api/http.c        the daemons, routing, GET resources;
 *                                  calls http_inject.c and http_reply.c
 *                api/http_inject.c POST /api/v1/inject; calls http_reply.c
 *                api/http_reply.c  the shared state below, the response
 *                                  helpers and http_client; calls neither
 *
 * Threads: everything here runs on libmicrohttpd's polling threads, except
 * the spool's done callback in http_inject.c (writer thread). The globals
 * (defined in http_reply.c) are set by api_http_start/_reload/_stop on the
 * main thread.
 */
#ifndef SPATE_API_HTTP_INT_H
#define SPATE_API_HTTP_INT_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stddef.h>

#include "base/log.h"
#include "conf/config.h"
#include "spool/spool.h"

#define HTTP_JSON "application/json"

/* http_reply.c: shared state */
extern const struct cfg *_Atomic http_cfg; /* swapped by api_http_reload */
extern spool *http_spool;
extern atomic_int http_injects;  /* inject requests handed to the spool, not yet answered */
extern atomic_int http_stopping; /* set by api_http_stop: no new submissions */

/* What a request's *con_cls holds: NULL before the access handler's first
 * call, or one of the structs below or in http_inject.c, told apart by
 * their first member. */
enum http_kind {
    HTTP_K_QUERY = 1, /* struct http_query, from the URI log callback */
    HTTP_K_GET,       /* a GET between its two calls (http.c) */
    HTTP_K_INJECT,    /* struct http_req (http_inject.c) */
    HTTP_K_ADMIN,     /* struct http_admin (admin.c) */
    HTTP_K_REQUEUE,   /* struct http_requeue (admin_requeue.c) */
};

/* A request's query string as it came, before libmicrohttpd splits and
 * unescapes it (http.c saves it; the raw inject form decodes it itself). */
struct http_query {
    enum http_kind kind; /* HTTP_K_QUERY */
    size_t len;
    char text[]; /* NUL-terminated */
};

/* An extra response header: Allow: for a 405, Connection: close. */
struct http_hdr {
    const char *name, *value;
};

/* http_reply.c: responses. Each takes over what it is given and returns
 * MHD_NO when out of memory (libmicrohttpd then closes the connection). */

/* http_reply - queue body (malloc'd, taken over) with Content-Type ctype */
enum MHD_Result http_reply(struct MHD_Connection *c, unsigned status, const char *ctype, char *body,
                           size_t len);

/* http_reply_json - queue j (reference taken over) as a JSON response */
enum MHD_Result http_reply_json(struct MHD_Connection *c, unsigned status, json_t *j);

/* http_error - queue {"error": msg, "field": field-or-null} */
enum MHD_Result http_error(struct MHD_Connection *c, unsigned status, const char *msg,
                           const char *field);

/* http_error_hdr - http_error with one extra header when h is not NULL */
enum MHD_Result http_error_hdr(struct MHD_Connection *c, unsigned status, const char *msg,
                               const char *field, const struct http_hdr *h);

/* http_not_allowed - 405 naming the methods the path accepts (Allow:) */
enum MHD_Result http_not_allowed(struct MHD_Connection *c, const char *allow);

/* http_client - the peer as an address literal ("[192.0.2.1]",
 * "[IPv6:2001:db8::1]") for Received: and as "[ip]:port" for the log */
void http_client(struct MHD_Connection *c, char *lit, size_t litlen, char *host, size_t hostlen);

/* http_inject.c: POST /api/v1/inject, called from http.c */

/* http_inject_step - the access handler's work for /api/v1/inject; *con_cls
 * is the request's state, created on the first call (see http_inject.c),
 * which reads q, the request's query string (NULL when it has none) */
enum MHD_Result http_inject_step(struct MHD_Connection *c, const char *method, const char *data,
                                 size_t *size, void **con_cls, const struct http_query *q);

/* http_inject_done - the request is over (answered, or the connection
 * closed): release what http_inject_step left in con_cls */
void http_inject_done(void *con_cls);

/* http_inject_resume_all - at stop, once the grace is over: resume every
 * inject request the spool has not answered (each gets a 503 listing the
 * ids that did commit); returns how many. Any thread. */
int http_inject_resume_all(void);

/* admin.c, admin_auth.c: the admin API (/api/v1/admin/..., docs/admin-api.md) */

/* http_admin_step - the access handler's work for /api/v1/admin paths:
 * access check on the first call, the body gathered, the answer once the
 * request is complete; *con_cls holds the request's state (HTTP_K_ADMIN) */
enum MHD_Result http_admin_step(struct MHD_Connection *c, const char *url, const char *method,
                                const char *data, size_t *size, void **con_cls);

/* http_admin_done - release what http_admin_step left in con_cls */
void http_admin_done(void *con_cls);

enum http_admin_scope { HTTP_ADMIN_NONE = 0, HTTP_ADMIN_READ, HTTP_ADMIN_FULL };

/* http_admin_access - may this request use the admin API? The scope, with
 * "who" ("[ip]:port scope=admin via loopback") for the log; or
 * HTTP_ADMIN_NONE with *why (a static text) and *status (401/403): then
 * the refusal has been logged, not answered. Loopback (both ends 127.0.0.1
 * or ::1) needs no token; elsewhere a bearer token from admin_token_file
 * is required; a read token allows only GET and HEAD. */
enum http_admin_scope http_admin_access(struct MHD_Connection *c, const char *method,
                                        const char *url, char *who, size_t wholen, const char **why,
                                        unsigned *status);

/* http_admin_token_scope - the scope that token (len bytes) has in the
 * token file text (NUL-terminated): each line "admin TOKEN", "read TOKEN"
 * or a lone "TOKEN" (admin); "#" comments. Compared as SHA-256 digests
 * with CRYPTO_memcmp over every line. HTTP_ADMIN_NONE when none matches. */
enum http_admin_scope http_admin_token_scope(const char *file_text, const char *token, size_t len);
/* admin_requeue.c: POST /api/v1/admin/requeue (queuefile exports back into
 * the spool). http_requeue_step - the access handler's work, *con_cls its
 * state; http_requeue_done - free that state (the request is over) */
enum MHD_Result http_requeue_step(struct MHD_Connection *c, const char *method, const char *data,
                                  size_t *size, void **con_cls);
void http_requeue_done(void *con_cls);

/* dashboard.c: the built-in dashboard (GET /, /dashboard.js, /dashboard.css,
 * /favicon.ico)
 * and GET /api/v1/errors, answered from http.c's GET table; each queues its
 * response (MHD_NO when out of memory). */
enum MHD_Result http_dashboard_page(struct MHD_Connection *c);
enum MHD_Result http_dashboard_js(struct MHD_Connection *c);
enum MHD_Result http_dashboard_css(struct MHD_Connection *c);
enum MHD_Result http_dashboard_errors(struct MHD_Connection *c);
enum MHD_Result http_dashboard_icon(struct MHD_Connection *c); /* 204: there is none */
/* http_dashboard_init - set the log tap that keeps recent errors (main thread) */
void http_dashboard_init(void);
/* http_dashboard_note - the tap (base/log.h log_tap_fn): keep line (len
 * bytes, no newline) if it is a deferral "==", a failure "**" or LOG_ERR;
 * local parts of addresses become "*". Any thread. */
void http_dashboard_note(enum log_level level, const char *line, size_t len);
/* http_dashboard_errors_json - {"capacity":N,"errors":[{"time","kind",
 * "text"}...]} newest first, kind "defer", "fail" or "error"; a new
 * reference, NULL when out of memory */
json_t *http_dashboard_errors_json(void);

#endif
