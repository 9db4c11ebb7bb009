/*
 * spatectl.c - the command-line client of spated's HTTP API.
 *
 * Synopsis:
 *   spatectl [--url http://127.0.0.1:8025] [--json] [--timeout SECONDS] COMMAND
 *   COMMAND: stats | queue | inject FILE.json ("-" reads stdin)
 *            | bounce | retry | suspend | resume   (not supported yet)
 *
 * Talks HTTP/1.1 over a plain socket (one request, "Connection: close"),
 * so it needs nothing but jansson. The URL may also come from $SPATECTL_URL;
 * only http:// is understood, with an optional path prefix for a daemon
 * behind a proxy. Output is human-readable tables; --json prints the
 * daemon's JSON answer unchanged, for scripts.
 *
 * Exit status: 0 success; 1 the request failed or the daemon refused it;
 * 2 usage error or a command not supported yet.
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define CTL_DEFAULT_URL "http://127.0.0.1:8025"
#define CTL_MAX_RESPONSE (64u << 20) /* bytes of answer read at most */
#define CTL_MAX_FILE (512u << 20)    /* bytes of inject file read at most */

struct ctl_url {
    char host[256];
    char port[8];
    char prefix[512];
};

struct ctl_resp {
    int status;
    char *body; /* NUL-terminated */
    size_t len;
};

static int ctl_json; /* --json */
static int ctl_timeout = 60;

/* ctl_usage - print the synopsis; returns 2 */
static int
ctl_usage(void)
{
    fprintf(stderr, "usage: spatectl [--url URL] [--json] [--timeout SECONDS] COMMAND\n"
                    "commands:\n"
                    "  stats            counters, gauges and commit latency\n"
                    "  queue            per-destination queue summary\n"
                    "  inject FILE      submit messages from a JSON file (- for stdin)\n"
                    "  requeue DIR      queue the exports a queuefile transport wrote to DIR\n"
                    "  bounce, retry, suspend, resume   not supported yet\n"
                    "URL defaults to $SPATECTL_URL or " CTL_DEFAULT_URL "\n");
    return 2;
}

/* ctl_parse_url - "http://host[:port][/prefix]" into u; 0 or -1 */
static int
ctl_parse_url(const char *s, struct ctl_url *u)
{
    const char *h, *end, *slash;
    size_t n;

    if (strncasecmp(s, "http://", 7) != 0)
        return -1;
    h = s + 7;
    slash = h + strcspn(h, "/");
    snprintf(u->prefix, sizeof(u->prefix), "%s", slash);
    n = strlen(u->prefix);
    while (n > 0 && u->prefix[n - 1] == '/')
        u->prefix[--n] = '\0';
    if (*h == '[') {
        end = memchr(h, ']', (size_t)(slash - h));
        if (end == NULL)
            return -1;
        snprintf(u->host, sizeof(u->host), "%.*s", (int)(end - h - 1), h + 1);
        end++;
    } else {
        end = memchr(h, ':', (size_t)(slash - h));
        if (end == NULL)
            end = slash;
        snprintf(u->host, sizeof(u->host), "%.*s", (int)(end - h), h);
    }
    if (*end == ':')
        snprintf(u->port, sizeof(u->port), "%.*s", (int)(slash - end - 1), end + 1);
    else if (end == slash)
        snprintf(u->port, sizeof(u->port), "80");
    else
        return -1;
    return u->host[0] != '\0' && u->port[0] != '\0' &&
                   strspn(u->port, "0123456789") == strlen(u->port)
               ? 0
               : -1;
}

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

/* ctl_request - one HTTP exchange; 0 and *r filled, or -1 (reported) */
static int
ctl_request(const struct ctl_url *u, const char *method, const char *path, const char *body,
            size_t blen, struct ctl_resp *r)
{
    char head[2048];
    char *raw;
    size_t n;
    int fd, hl;

    hl = snprintf(head, sizeof(head),
                  "%s %s%s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: spatectl\r\n"
                  "Accept: application/json\r\nConnection: close\r\n"
                  "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                  method, u->prefix, path, u->host, u->port, blen);
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

/* ctl_print_raw - --json output: the body as received, newline-ended */
static int
ctl_print_raw(const struct ctl_resp *r)
{
    fwrite(r->body, 1, r->len, stdout);
    if (r->len == 0 || r->body[r->len - 1] != '\n')
        putchar('\n');
    return r->status >= 200 && r->status < 300 ? 0 : 1;
}

/* ctl_fail - report a non-2xx answer from its JSON error; returns 1 */
static int
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

/* ctl_print_pairs - "  name    value" lines for an object of numbers */
static void
ctl_print_pairs(const char *title, json_t *o)
{
    const char *k;
    json_t *v;

    if (!json_is_object(o))
        return;
    printf("%s\n", title);
    json_object_foreach(o, k, v)
    {
        if (json_is_integer(v))
            printf("  %-40s %20lld\n", k, (long long)json_integer_value(v));
        else if (json_is_real(v))
            printf("  %-40s %20.6f\n", k, json_real_value(v));
    }
}

/* ctl_print_stats - human-readable /api/v1/stats */
static void
ctl_print_stats(json_t *j)
{
    json_t *sc = json_object_get(j, "spool_commit");
    json_int_t count = json_integer_value(json_object_get(sc, "count"));
    double sum = json_number_value(json_object_get(sc, "sum_seconds"));
    const char *k;
    json_t *v;

    ctl_print_pairs("Counters", json_object_get(j, "counters"));
    ctl_print_pairs("Gauges", json_object_get(j, "gauges"));
    printf("Spool commits\n  %-40s %20lld\n  %-40s %20.3f\n", "count", (long long)count,
           "mean milliseconds", count > 0 ? sum * 1000 / (double)count : 0.0);
    json_object_foreach(json_object_get(sc, "buckets"), k, v)
    {
        printf("  <= %-37s %20lld\n", k, (long long)json_integer_value(v));
    }
    ctl_print_pairs("Process", json_object_get(j, "process"));
}

/* ctl_cell - a scalar JSON value as table text into buf */
static const char *
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
static void
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

/* ctl_print_queue - human-readable /api/v1/queue: scalars, then any table */
static void
ctl_print_queue(json_t *j)
{
    const char *k;
    json_t *v;
    char buf[64];

    if (json_is_array(j)) {
        ctl_print_table(j);
        return;
    }
    json_object_foreach(j, k, v)
    {
        if (!json_is_array(v) && !json_is_object(v))
            printf("%s: %s\n", k, ctl_cell(v, buf, sizeof(buf)));
    }
    json_object_foreach(j, k, v)
    {
        if (json_is_array(v)) {
            printf("\n%s\n", k);
            ctl_print_table(v);
        }
    }
}

/* ctl_get - GET path and print it (stats or queue); exit status */
static int
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

/* ctl_read_file - whole file (or stdin for "-") into a malloc'd buffer */
static char *
ctl_read_file(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    size_t cap = 65536, n = 0, k;
    char *buf = NULL, *p;

    if (f == NULL)
        return NULL;
    while ((p = realloc(buf, cap)) != NULL) {
        buf = p;
        k = fread(buf + n, 1, cap - n, f);
        n += k;
        if (n < cap || cap >= CTL_MAX_FILE)
            break;
        cap *= 2;
    }
    if (p == NULL || ferror(f) || (n == cap && cap >= CTL_MAX_FILE)) {
        free(buf);
        buf = NULL;
        errno = p == NULL ? ENOMEM : ferror(f) ? EIO : EFBIG;
    }
    if (f != stdin)
        fclose(f);
    *len = n;
    return buf;
}

/* ctl_print_inject - report an inject answer, success or failure */
static int
ctl_print_inject(const struct ctl_resp *r, json_t *j)
{
    json_t *ids = json_object_get(j, "ids"), *v;
    size_t i;

    if (r->status != 200) {
        ctl_fail("inject", r, j);
        if (json_array_size(ids) > 0)
            fprintf(stderr, "spatectl: committed despite the error:");
        json_array_foreach(ids, i, v) fprintf(stderr, " %s", json_string_value(v));
        if (json_array_size(ids) > 0)
            fputc('\n', stderr);
        return 1;
    }
    printf("accepted %lld recipient(s) in %zu message(s)\n",
           (long long)json_integer_value(json_object_get(j, "accepted")), json_array_size(ids));
    json_array_foreach(ids, i, v) printf("%s\n", json_string_value(v));
    return 0;
}

/* ctl_inject - POST a file to /api/v1/inject; exit status */
static int
ctl_inject(const struct ctl_url *u, const char *path)
{
    struct ctl_resp r = {0};
    size_t len;
    char *body = ctl_read_file(path, &len);
    json_t *j;
    int rc;

    if (body == NULL) {
        fprintf(stderr, "spatectl: %s: %s\n", path, strerror(errno));
        return 1;
    }
    rc = ctl_request(u, "POST", "/api/v1/inject", body, len, &r);
    free(body);
    if (rc < 0)
        return 1;
    if (ctl_json) {
        rc = ctl_print_raw(&r);
    } else {
        j = json_loadb(r.body, r.len, 0, NULL);
        rc = ctl_print_inject(&r, j);
        json_decref(j);
    }
    free(r.body);
    return rc;
}

/* ctl_print_requeue - the counts, then each file left in place; 1 if any */
static int
ctl_print_requeue(json_t *j)
{
    json_t *failed = json_object_get(j, "failed"), *v;
    size_t i;

    printf("requeued %lld, skipped %lld (already queued or nothing pending), left %zu%s\n",
           (long long)json_integer_value(json_object_get(j, "requeued")),
           (long long)json_integer_value(json_object_get(j, "skipped")), json_array_size(failed),
           json_is_true(json_object_get(j, "more")) ? "; more files remain, run again" : "");
    json_array_foreach(failed, i, v)
        printf("%s: %s\n", json_string_value(json_object_get(v, "file")),
               json_string_value(json_object_get(v, "error")));
    return json_array_size(failed) > 0;
}

/* ctl_requeue - POST /api/v1/admin/requeue {"directory": DIR}; exit status */
static int
ctl_requeue(const struct ctl_url *u, const char *dir)
{
    char abs[PATH_MAX], *body;
    struct ctl_resp r = {0};
    json_t *j;
    int rc;

    if (realpath(dir, abs) == NULL) {
        fprintf(stderr, "spatectl: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    j = json_pack("{s:s}", "directory", abs);
    body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    rc = body ? ctl_request(u, "POST", "/api/v1/admin/requeue", body, strlen(body), &r) : -1;
    free(body);
    if (rc < 0)
        return 1;
    j = json_loadb(r.body, r.len, 0, NULL);
    if (ctl_json)
        rc = ctl_print_raw(&r);
    else if (r.status != 200)
        rc = ctl_fail("requeue", &r, j);
    else
        rc = ctl_print_requeue(j);
    json_decref(j);
    free(r.body);
    return rc;
}

/* ctl_options - parse leading options; index of the command or -1 */
static int
ctl_options(int argc, char **argv, const char **url)
{
    int i;

    for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            ctl_json = 1;
        } else if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) {
            *url = argv[++i];
        } else if (strncmp(argv[i], "--url=", 6) == 0) {
            *url = argv[i] + 6;
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            ctl_timeout = atoi(argv[++i]);
            if (ctl_timeout <= 0 || ctl_timeout > 86400)
                return -1;
        } else {
            return -1;
        }
    }
    return i < argc ? i : -1;
}

int
main(int argc, char **argv)
{
    static const char *const admin[] = {"bounce", "retry", "suspend", "resume"};
    const char *url = getenv("SPATECTL_URL");
    struct ctl_url u;
    int i;

    if (url == NULL || *url == '\0')
        url = CTL_DEFAULT_URL;
    i = ctl_options(argc, argv, &url);
    if (i < 0)
        return ctl_usage();
    if (ctl_parse_url(url, &u) < 0) {
        fprintf(stderr, "spatectl: bad URL %s (expected http://host[:port][/prefix])\n", url);
        return 2;
    }
    for (size_t k = 0; k < sizeof(admin) / sizeof(admin[0]); k++)
        if (strcmp(argv[i], admin[k]) == 0) {
            fprintf(stderr, "spatectl: %s: not supported yet\n", argv[i]);
            return 2;
        }
    if (strcmp(argv[i], "stats") == 0 && i + 1 == argc)
        return ctl_get(&u, "stats", "/api/v1/stats", ctl_print_stats);
    if (strcmp(argv[i], "queue") == 0 && i + 1 == argc)
        return ctl_get(&u, "queue", "/api/v1/queue", ctl_print_queue);
    if (strcmp(argv[i], "inject") == 0 && i + 2 == argc)
        return ctl_inject(&u, argv[i + 1]);
    if (strcmp(argv[i], "requeue") == 0 && i + 2 == argc)
        return ctl_requeue(&u, argv[i + 1]);
    return ctl_usage();
}
