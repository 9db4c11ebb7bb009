/*
 * spatectl_http.c - spatectl's HTTP exchange (HTTP/1.1 over a plain socket,
 *                   one request, "Connection: close", chunked answers
 *                   decoded) and the output helpers its commands share.
 */
#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cmd/spatectl.h"

#define CTL_MAX_RESPONSE (64u << 20) /* bytes of answer read at most */

int ctl_json;         /* --json */
int ctl_progress;     /* --progress */
int ctl_timeout = 60; /* --timeout, seconds */
char ctl_token[512];  /* --token-file: the bearer token, "" none */

/* ctl_connect - a connected socket to u, with send/receive timeouts; -1 on failure */
static int
ctl_connect(const struct ctl_url *u)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
    struct timeval tv = {.tv_sec = ctl_timeout};
    int fd = -1, rc;

    rc = getaddrinfo(u->host, u->port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "spatectl: %s: %s\n", u->host, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        rc = errno;
        close(fd);
        fd = -1;
        errno = rc;
    }
    if (fd < 0)
        fprintf(stderr, "spatectl: cannot connect to %s port %s: %s\n", u->host, u->port,
                strerror(errno));
    freeaddrinfo(res);
    return fd;
}

/* ctl_send_all - write the whole buffer; 0 or -1 */
static int
ctl_send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* ctl_recv_all - read until the peer closes; malloc'd, NUL-terminated; NULL on error */
static char *
ctl_recv_all(int fd, size_t *len)
{
    size_t cap = 16384, n = 0;
    char *buf = malloc(cap), *p;
    ssize_t k;

    while (buf != NULL) {
        if (cap - n < 4096) {
            if (cap >= CTL_MAX_RESPONSE || (p = realloc(buf, cap * 2)) == NULL)
                break;
            buf = p;
            cap *= 2;
        }
        k = recv(fd, buf + n, cap - n - 1, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            break;
        if (k == 0) {
            buf[n] = '\0';
            *len = n;
            return buf;
        }
        n += (size_t)k;
    }
    free(buf);
    return NULL;
}

/* ctl_dechunk - decode a chunked body in place; 0 or -1 */
static int
ctl_dechunk(char *body, size_t *len)
{
    char *in = body, *end = body + *len, *out = body;

    for (int guard = 0; guard < 1000000 && in < end; guard++) {
        unsigned long sz = strtoul(in, NULL, 16);
        char *eol = strstr(in, "\r\n");
        if (eol == NULL)
            return -1;
        in = eol + 2;
        if (sz == 0) {
            *len = (size_t)(out - body);
            *out = '\0';
            return 0;
        }
        if (sz > (size_t)(end - in))
            return -1;
        memmove(out, in, sz);
        out += sz;
        in += sz + 2;
    }
    return -1;
}

/* ctl_parse_resp - status line, headers and body of a whole response */
static int
ctl_parse_resp(char *raw, size_t n, struct ctl_resp *r)
{
    char *hend = strstr(raw, "\r\n\r\n"), *h;
    int chunked = 0;
    long clen = -1;

    if (hend == NULL || sscanf(raw, "HTTP/1.%*d %d", &r->status) != 1)
        return -1;
    *hend = '\0';
    for (h = strstr(raw, "\r\n"); h != NULL; h = strstr(h + 2, "\r\n")) {
        if (strncasecmp(h + 2, "Content-Length:", 15) == 0)
            clen = strtol(h + 17, NULL, 10);
        if (strncasecmp(h + 2, "Transfer-Encoding:", 18) == 0 && strcasestr(h + 20, "chunked"))
            chunked = 1;
    }
    r->len = n - (size_t)(hend + 4 - raw);
    memmove(raw, hend + 4, r->len + 1);
    r->body = raw;
    if (chunked)
        return ctl_dechunk(r->body, &r->len);
    if (clen >= 0 && (size_t)clen < r->len)
        r->body[r->len = (size_t)clen] = '\0';
    return 0;
}

/* ctl_ms - a monotonic clock in milliseconds */
static long long
ctl_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ctl_wait_answer - until fd is readable, call tick(arg) each CTL_TICK_MS;
 * 0, or -1 with errno EAGAIN when ctl_timeout passed first */
static int
ctl_wait_answer(int fd, ctl_tick_fn tick, void *arg)
{
    long long end = ctl_ms() + (long long)ctl_timeout * 1000;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int n;

    while (tick != NULL) {
        n = poll(&pfd, 1, CTL_TICK_MS);
        if (n > 0 || (n < 0 && errno != EINTR))
            return 0; /* readable, closed or failed: recv tells */
        if (ctl_ms() >= end) {
            errno = EAGAIN;
            return -1;
        }
        if (n == 0)
            tick(arg);
    }
    return 0;
}

/* ctl_send_request - connect and send the request; the socket, or -1 (reported) */
static int
ctl_send_request(const struct ctl_url *u, const char *method, const char *path, const char *body,
                 size_t blen)
{
    char head[4096];
    int fd, hl;

    hl = snprintf(head, sizeof(head),
                  "%s %s%s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: spatectl\r\n"
                  "Accept: application/json\r\nConnection: close\r\n%s%s%s"
                  "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                  method, u->prefix, path, u->host, u->port,
                  ctl_token[0] ? "Authorization: Bearer " : "", ctl_token,
                  ctl_token[0] ? "\r\n" : "", blen);
    if (hl < 0 || (size_t)hl >= sizeof(head))
        return -1;
    fd = ctl_connect(u);
    if (fd < 0)
        return -1;
    if (ctl_send_all(fd, head, (size_t)hl) < 0 || ctl_send_all(fd, body, blen) < 0) {
        fprintf(stderr, "spatectl: sending the request: %s\n", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* ctl_request_wait - ctl_request, calling tick(arg) every CTL_TICK_MS
 * while the answer has not begun (tick NULL: none) */
int
ctl_request_wait(const struct ctl_url *u, const char *method, const char *path, const char *body,
                 size_t blen, struct ctl_resp *r, ctl_tick_fn tick, void *arg)
{
    char *raw = NULL;
    size_t n;
    int fd = ctl_send_request(u, method, path, body, blen);

    if (fd < 0)
        return -1;
    if (ctl_wait_answer(fd, tick, arg) == 0)
        raw = ctl_recv_all(fd, &n);
    close(fd);
    if (raw == NULL) {
        fprintf(stderr, "spatectl: reading the answer: %s\n",
                errno == EAGAIN ? "timed out" : strerror(errno));
        return -1;
    }
    if (ctl_parse_resp(raw, n, r) < 0) {
        fprintf(stderr, "spatectl: malformed HTTP answer\n");
        free(raw);
        return -1;
    }
    return 0;
}

/* ctl_request - one HTTP exchange; 0 and *r filled, or -1 (reported) */
int
ctl_request(const struct ctl_url *u, const char *method, const char *path, const char *body,
            size_t blen, struct ctl_resp *r)
{
    return ctl_request_wait(u, method, path, body, blen, r, NULL, NULL);
}

/* ctl_print_raw - --json output: the body as received, newline-ended */
int
ctl_print_raw(const struct ctl_resp *r)
{
    fwrite(r->body, 1, r->len, stdout);
    if (r->len == 0 || r->body[r->len - 1] != '\n')
        putchar('\n');
    return r->status >= 200 && r->status < 300 ? 0 : 1;
}

/* ctl_fail - report a non-2xx answer from its JSON error; returns 1 */
int
ctl_fail(const char *what, const struct ctl_resp *r, json_t *j)
{
    json_t *err = json_object_get(j, "error"), *field = json_object_get(j, "field");

    fprintf(stderr, "spatectl: %s: HTTP %d: %s", what, r->status,
            json_is_string(err) ? json_string_value(err) : "(no error text)");
    if (json_is_string(field))
        fprintf(stderr, " (field %s)", json_string_value(field));
    fputc('\n', stderr);
    return 1;
}

/* ctl_cell - a scalar JSON value as table text into buf */
const char *
ctl_cell(json_t *v, char *buf, size_t len)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v))
        snprintf(buf, len, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, len, "%.3f", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(buf, len, "%s", json_is_true(v) ? "yes" : "no");
    else
        snprintf(buf, len, "-");
    return buf;
}

/* ctl_print_table - an array of objects as a table: columns are the first
 * row's keys (at most CTL_COLS), each as wide as its widest cell */
void
ctl_print_table(json_t *rows)
{
    enum { CTL_COLS = 32 };
    const char *col[CTL_COLS];
    int width[CTL_COLS], ncol = 0;
    json_t *row, *v;
    const char *k;
    size_t i;
    char buf[64];

    json_object_foreach(json_array_get(rows, 0), k, v)
    {
        if (ncol < CTL_COLS) {
            col[ncol] = k;
            width[ncol++] = (int)strlen(k);
        }
    }
    if (ncol == 0) {
        printf("(empty)\n");
        return;
    }
    json_array_foreach(rows, i, row)
    {
        for (int c = 0; c < ncol; c++) {
            int w = (int)strlen(ctl_cell(json_object_get(row, col[c]), buf, sizeof(buf)));
            if (w > width[c])
                width[c] = w > 60 ? 60 : w;
        }
    }
    for (int c = 0; c < ncol; c++)
        printf("%-*s%s", width[c], col[c], c + 1 < ncol ? "  " : "\n");
    json_array_foreach(rows, i, row)
    {
        for (int c = 0; c < ncol; c++)
            printf("%-*s%s", width[c], ctl_cell(json_object_get(row, col[c]), buf, sizeof(buf)),
                   c + 1 < ncol ? "  " : "\n");
    }
}

/* ctl_get_json - GET path; its JSON on a 200 answer, or NULL (reported) */
json_t *
ctl_get_json(const struct ctl_url *u, const char *what, const char *path)
{
    struct ctl_resp r = {0};
    json_t *j;

    if (ctl_request(u, "GET", path, "", 0, &r) < 0)
        return NULL;
    j = json_loadb(r.body, r.len, 0, NULL);
    if (r.status != 200) {
        ctl_fail(what, &r, j);
        json_decref(j);
        j = NULL;
    } else if (j == NULL) {
        fprintf(stderr, "spatectl: %s: %s: the answer is not JSON\n", what, path);
    }
    free(r.body);
    return j;
}

/* ctl_get - GET path and print it (stats or queue); exit status */
int
ctl_get(const struct ctl_url *u, const char *what, const char *path, void (*print)(json_t *))
{
    struct ctl_resp r = {0};
    json_t *j;
    int rc;

    if (ctl_request(u, "GET", path, "", 0, &r) < 0)
        return 1;
    if (ctl_json) {
        rc = ctl_print_raw(&r);
        free(r.body);
        return rc;
    }
    j = json_loadb(r.body, r.len, 0, NULL);
    if (r.status != 200)
        rc = ctl_fail(what, &r, j);
    else if (j == NULL)
        rc = (fprintf(stderr, "spatectl: %s: the answer is not JSON\n", what), 1);
    else
        rc = (print(j), 0);
    json_decref(j);
    free(r.body);
    return rc;
}
