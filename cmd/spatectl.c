/*
 * spatectl.c - the command-line client of spated's HTTP API.
 *
 * Synopsis:
 *   spatectl [--url http://127.0.0.1:8025] [--token-file F] [--json]
 *            [--timeout SECONDS] COMMAND
 *   COMMAND: stats | summary (GET /api/v1/queue) | inject FILE.json ("-"
 *            reads stdin) | an admin command
 *            (spatectl_admin.c: queue, show, destinations, suspend, resume,
 *            bounce, retry, freeze, thaw, delete, rebind, qshape, requeue) | top
 *            [--interval SECONDS] [--count N] (spatectl_top.c)
 *
 * Talks HTTP/1.1 over a plain socket (one request, "Connection: close"),
 * so it needs nothing but jansson. The URL may also come from $SPATECTL_URL;
 * only http:// is understood, with an optional path prefix for a daemon
 * behind a proxy. Output is human-readable tables; --json prints the
 * daemon's JSON answer unchanged, for scripts.
 *
 * --token-file F sends "Authorization: Bearer TOKEN", TOKEN being the last
 * word of F's first line (the daemon's admin_token_file works as is).
 *
 * Exit status: 0 success; 1 the request failed or the daemon refused it
 * (or the command is not supported yet); 2 usage error.
 */
#include "cmd/spatectl.h"

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
#define CTL_MAX_FILE (512u << 20) /* bytes of inject file read at most */

/* ctl_usage - print the synopsis; returns 2 */
static int
ctl_usage(void)
{
    fprintf(stderr,
            "usage: spatectl [--url URL] [--token-file F] [--json] [--timeout SECONDS] "
            "[--progress] COMMAND\n"
            "commands:\n"
            "  stats                         counters, gauges and commit latency\n"
            "  inject FILE                   submit messages from a JSON file (- for stdin)\n"
            "  summary                       per-destination queue summary (no token needed)\n"
            "  queue [--domain D] [--sender S] [--state ready|scheduled|frozen]\n"
            "        [--older-than 1h]       queued messages, oldest first\n"
            "  show ID                       one message in full\n"
            "  destinations                  destinations and suspended domains\n"
            "  suspend DOMAIN... [--for 1h] [--reason TEXT]   hold the domains' mail\n"
            "  resume DOMAIN...              end their suspension\n"
            "  bounce ID... | bounce --domain D [--reason TEXT]\n"
            "  retry ID... | retry --domain D\n"
            "  freeze ID... | thaw ID... | delete ID...\n"
            "  rebind --domain D --transport T | rebind ID... --transport T\n"
            "  qshape [--by sender|destination]   queue age buckets\n"
            "  requeue DIR                   queue the exports a queuefile transport wrote\n"
            "  top [--interval SECONDS] [--count N]   live rates, destinations, errors\n"
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

/* ctl_read_token - the token from F: the last word of its first line
 * that is neither empty nor a comment (so the daemon's file serves) */
static int
ctl_read_token(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[1024], *w, *save, *last;

    if (f == NULL) {
        fprintf(stderr, "spatectl: %s: %s\n", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        last = NULL;
        for (w = strtok_r(line, " \t\r\n", &save); w; w = strtok_r(NULL, " \t\r\n", &save))
            last = w;
        if (last != NULL && line[0] != '#' && strlen(last) < sizeof(ctl_token)) {
            snprintf(ctl_token, sizeof(ctl_token), "%s", last);
            break;
        }
    }
    fclose(f);
    if (ctl_token[0] == '\0')
        fprintf(stderr, "spatectl: %s: no token in the file\n", path);
    return ctl_token[0] ? 0 : -1;
}

/* ctl_options - parse leading options; index of the command, -1 usage
 * error, -2 an unreadable token file */
static int
ctl_options(int argc, char **argv, const char **url)
{
    int i;

    for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            ctl_json = 1;
        } else if (strcmp(argv[i], "--progress") == 0) {
            ctl_progress = 1;
        } else if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) {
            *url = argv[++i];
        } else if (strncmp(argv[i], "--url=", 6) == 0) {
            *url = argv[i] + 6;
        } else if (strcmp(argv[i], "--token-file") == 0 && i + 1 < argc) {
            if (ctl_read_token(argv[++i]) < 0)
                return -2;
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
    const char *url = getenv("SPATECTL_URL");
    struct ctl_url u;
    int i, rc;

    if (url == NULL || *url == '\0')
        url = CTL_DEFAULT_URL;
    i = ctl_options(argc, argv, &url);
    if (i == -2)
        return 1;
    if (i < 0)
        return ctl_usage();
    if (ctl_parse_url(url, &u) < 0) {
        fprintf(stderr, "spatectl: bad URL %s (expected http://host[:port][/prefix])\n", url);
        return 2;
    }
    if (strcmp(argv[i], "stats") == 0 && i + 1 == argc)
        return ctl_get(&u, "stats", "/api/v1/stats", ctl_print_stats);
    if (strcmp(argv[i], "summary") == 0 && i + 1 == argc)
        return ctl_get(&u, "summary", "/api/v1/queue", ctl_print_queue);
    if (strcmp(argv[i], "inject") == 0 && i + 2 == argc)
        return ctl_inject(&u, argv[i + 1]);
    if (strcmp(argv[i], "requeue") == 0 && i + 2 == argc)
        return ctl_requeue(&u, argv[i + 1]);
    if (strcmp(argv[i], "top") == 0) /* spatectl_top.c */
        return ctl_top(&u, argc - i, argv + i);
    rc = ctl_admin(&u, argc - i, argv + i);
    return rc == -1 ? ctl_usage() : rc;
}
