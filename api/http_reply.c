/*
 * http_reply.c - what api/http.c and api/http_inject.c both use: the HTTP
 *                API's shared state (configuration, spool, inject count,
 *                stopping flag), the response helpers (plain, JSON, the
 *                {"error","field"} body, 405 with Allow:) and the peer's
 *                address. It calls neither of them.
 *
 * Threads: the helpers run on libmicrohttpd's polling threads and keep no
 * state of their own. http_cfg, http_spool and http_stopping are set by
 * api_http_start/_reload/_stop on the main thread; http_injects is counted
 * up and down by the inject requests (atomics, any thread).
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "api/http_int.h"

atomic_int http_injects;
atomic_int http_stopping;
const struct cfg *_Atomic http_cfg;
spool *http_spool;

/* http_reply_hdr - queue a response taking ownership of body (malloc'd),
 * with one extra header when h is not NULL */
static enum MHD_Result
http_reply_hdr(struct MHD_Connection *c, unsigned status, const char *ctype, char *body, size_t len,
               const struct http_hdr *h)
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
    if (h != NULL)
        MHD_add_response_header(r, h->name, h->value);
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* http_reply - queue a response (body malloc'd, taken over) */
enum MHD_Result
http_reply(struct MHD_Connection *c, unsigned status, const char *ctype, char *body, size_t len)
{
    return http_reply_hdr(c, status, ctype, body, len, NULL);
}

/* http_reply_json_hdr - queue j (reference taken over) as a JSON response */
static enum MHD_Result
http_reply_json_hdr(struct MHD_Connection *c, unsigned status, json_t *j, const struct http_hdr *h)
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
    return http_reply_hdr(c, status, HTTP_JSON, t, n, h);
}

/* http_reply_json - queue j (reference taken over) as a JSON response */
enum MHD_Result
http_reply_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
    return http_reply_json_hdr(c, status, j, NULL);
}

/* http_error_json - {"error": msg, "field": field-or-null} */
static json_t *
http_error_json(const char *msg, const char *field)
{
    return json_pack("{s:s, s:o}", "error", msg, "field",
                     field != NULL && *field ? json_string(field) : json_null());
}

/* http_error_hdr - {"error": msg, "field": field-or-null}, with one extra
 * header when h is not NULL */
enum MHD_Result
http_error_hdr(struct MHD_Connection *c, unsigned status, const char *msg, const char *field,
               const struct http_hdr *h)
{
    return http_reply_json_hdr(c, status, http_error_json(msg, field), h);
}

/* http_error - {"error": msg, "field": field-or-null} */
enum MHD_Result
http_error(struct MHD_Connection *c, unsigned status, const char *msg, const char *field)
{
    return http_error_hdr(c, status, msg, field, NULL);
}

/* http_not_allowed - 405 naming the methods the path accepts (RFC 9110 15.5.6) */
enum MHD_Result
http_not_allowed(struct MHD_Connection *c, const char *allow)
{
    struct http_hdr h = {MHD_HTTP_HEADER_ALLOW, allow};
    char msg[64];

    snprintf(msg, sizeof(msg), "use %s", allow);
    return http_error_hdr(c, MHD_HTTP_METHOD_NOT_ALLOWED, msg, NULL, &h);
}

/* http_client - the peer's address as an RFC 5321 address literal for the
 * Received: header ("[192.0.2.1]", "[IPv6:2001:db8::1]") and as "[ip]:port"
 * for the log and the spool */
void
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
