/*
 * spatectl_top.c - "spatectl top": a live view of the daemon.
 *
 * Synopsis:
 *   spatectl [--url URL] [--token-file F] [--json] top [--interval SECONDS]
 *            [--count N] [--json]
 *
 * Every SECONDS (default 2, fractions allowed) it reads GET /metrics, GET
 * /api/v1/admin/destinations and GET /api/v1/errors and draws a frame
 * (spatectl_topdata.c builds it, spatectl_toptext.c writes it): the time and
 * the queue, rates a second from the counter differences between two
 * readings (the first frame has none), the destinations with the most ready
 * jobs first, and the newest errors. So the URL is an http_listen address
 * (an admin_listen one serves no /metrics); the token, when needed, is the
 * admin API's (a read token is enough).
 *
 * Output: on a terminal with no --count, each frame replaces the last (clear
 * and home; the cursor is hidden meanwhile and shown again on exit), cut to
 * the terminal's size (TIOCGWINSZ, read again every frame). Otherwise, or
 * with --count N, frames follow one another separated by a blank line, with
 * no escape sequence; N frames and exit, or until a signal without --count.
 * --json prints each frame as one JSON object a line (spatectl_top.h,
 * top_frame).
 *
 * Signals: SIGINT and SIGTERM end it with status 0; during the wait between
 * frames the loop ends normally, during a request the handler shows the
 * cursor again and exits at once (a request may take --timeout seconds).
 *
 * Exit status: 0 (count reached or signal); 1 a request failed, was refused
 * or answered something unreadable (message on stderr); 2 usage error.
 */
#include "cmd/spatectl_top.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cmd/spatectl.h"

#define TOP_INTERVAL_MAX 86400.0 /* seconds between frames at most */
#define TOP_FRAME_ERRORS 10      /* errors a frame carries */
#define TOP_SHOW_CURSOR "\033[?25h"
#define TOP_HIDE_CURSOR "\033[?25l"
#define TOP_CLEAR "\033[H\033[2J"

/* What "top" was asked. */
struct top_opts {
    double interval; /* seconds */
    long count;      /* frames; 0 until a signal */
    int json;        /* one JSON object a frame */
    int live;        /* redraw in place (a terminal, no --count, no --json) */
};

static volatile sig_atomic_t top_stop; /* a signal came */
static volatile sig_atomic_t top_busy; /* a request is under way */
static volatile sig_atomic_t top_live; /* the cursor is hidden */

/* top_on_signal - SIGINT/SIGTERM: stop after this wait, or now when a
 * request is under way (async-signal-safe: write and _exit only) */
static void
top_on_signal(int sig)
{
    (void)sig;
    top_stop = 1;
    if (!top_busy)
        return;
    if (top_live) {
        ssize_t w = write(STDOUT_FILENO, TOP_SHOW_CURSOR "\n", sizeof(TOP_SHOW_CURSOR));
        (void)w;
    }
    _exit(0);
}

/* top_signals - catch SIGINT and SIGTERM, without restarting calls (so the
 * wait between frames ends at once) */
static void
top_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = top_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* top_seconds - s as a number of seconds in (0, TOP_INTERVAL_MAX]; -1 when not */
static double
top_seconds(const char *s)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (end == s || *end != '\0' || errno != 0 || !isfinite(v) || v <= 0 || v > TOP_INTERVAL_MAX)
        return -1;
    return v;
}

/* top_count - s as a frame count >= 1; -1 when not */
static long
top_count(const char *s)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || v < 1)
        return -1;
    return v;
}

/* top_parse - the words after "top" into o; 0, or -1 for a usage error */
static int
top_parse(int argc, char **argv, struct top_opts *o)
{
    *o = (struct top_opts){.interval = 2.0, .json = ctl_json};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        if (strcmp(a, "--json") == 0) {
            o->json = 1;
            continue;
        }
        if ((strcmp(a, "--interval") == 0 || strcmp(a, "--count") == 0) && i + 1 < argc)
            val = argv[++i];
        else if (strncmp(a, "--interval=", 11) == 0 || strncmp(a, "--count=", 8) == 0)
            val = strchr(a, '=') + 1;
        if (val == NULL)
            return -1;
        if (a[2] == 'i' && (o->interval = top_seconds(val)) < 0)
            return -1;
        if (a[2] == 'c' && (o->count = top_count(val)) < 0)
            return -1;
    }
    o->live = !o->json && o->count == 0 && isatty(STDOUT_FILENO);
    return 0;
}

/* top_metrics - GET /metrics into s; 0 or -1 (reported) */
static int
top_metrics(const struct ctl_url *u, struct top_sample *s)
{
    struct ctl_resp r = {0};
    int rc = -1;

    if (ctl_request(u, "GET", "/metrics", "", 0, &r) < 0)
        return -1;
    if (r.status != 200)
        fprintf(stderr, "spatectl: top: /metrics: HTTP %d\n", r.status);
    else if (top_prom_fill(r.body, r.len, s) < 0)
        fprintf(stderr, "spatectl: top: /metrics: not Prometheus text\n");
    else
        rc = 0;
    free(r.body);
    return rc;
}

/* top_read - one reading of the daemon into s; 0 or -1 (reported) */
static int
top_read(const struct ctl_url *u, struct top_sample *s)
{
    struct timespec ts;
    json_t *errs;
    int rc = -1;

    top_busy = 1;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    s->mono = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    s->wall = time(NULL);
    if (top_metrics(u, s) == 0 &&
        (s->dests = ctl_get_json(u, "top", "/api/v1/admin/destinations")) != NULL &&
        (errs = ctl_get_json(u, "top", "/api/v1/errors")) != NULL) {
        s->errors = json_incref(json_object_get(errs, "errors"));
        json_decref(errs);
        rc = 0;
    }
    top_busy = 0;
    return rc;
}

/* top_wait - sleep seconds, or less when a signal comes */
static void
top_wait(double seconds)
{
    struct timespec left = {.tv_sec = (time_t)seconds};

    left.tv_nsec = (long)((seconds - (double)left.tv_sec) * 1e9);
    while (!top_stop && nanosleep(&left, &left) < 0 && errno == EINTR)
        ;
}

/* top_draw - one frame on stdout in the form o asks */
static void
top_draw(const struct top_opts *o, json_t *frame, long n)
{
    struct winsize ws = {0};

    if (o->json) {
        json_dumpf(frame, stdout, JSON_COMPACT);
        putchar('\n');
    } else if (o->live) {
        ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws);
        fputs(TOP_CLEAR, stdout);
        top_render(stdout, frame, ws.ws_row > 1 ? ws.ws_row - 1 : 0, ws.ws_col);
    } else {
        if (n > 0)
            putchar('\n');
        top_render(stdout, frame, 0, 0);
    }
    fflush(stdout);
}

/* top_loop - read, draw, wait, until the count or a signal; exit status */
static int
top_loop(const struct ctl_url *u, const struct top_opts *o)
{
    struct top_sample prev = {0}, cur = {0};
    json_t *frame;
    int rc = 0;

    for (long n = 0; !top_stop && (o->count == 0 || n < o->count); n++) {
        if (n > 0)
            top_wait(o->interval);
        if (top_stop)
            break;
        if (top_read(u, &cur) < 0) {
            rc = 1;
            break;
        }
        frame = top_frame(n > 0 ? &prev : NULL, &cur, TOP_FRAME_ERRORS);
        if (frame != NULL)
            top_draw(o, frame, n);
        json_decref(frame);
        top_sample_clear(&prev);
        prev = cur;
        memset(&cur, 0, sizeof(cur));
    }
    top_sample_clear(&cur);
    top_sample_clear(&prev);
    return rc;
}

/* ctl_top - "top" (argv[0]) and its options; exit status */
int
ctl_top(const struct ctl_url *u, int argc, char **argv)
{
    struct top_opts o;
    int rc;

    if (top_parse(argc, argv, &o) < 0) {
        fprintf(stderr, "usage: spatectl top [--interval SECONDS] [--count N] [--json]\n"
                        "  SECONDS > 0 (default 2), N >= 1 (default: until interrupted)\n");
        return 2;
    }
    top_signals();
    if (o.live) {
        fputs(TOP_HIDE_CURSOR, stdout);
        top_live = 1;
    }
    rc = top_loop(u, &o);
    if (o.live) {
        top_live = 0;
        fputs(TOP_SHOW_CURSOR, stdout);
        fflush(stdout);
    }
    return rc;
}
