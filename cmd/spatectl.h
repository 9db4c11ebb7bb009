/*
 * spatectl.h - what spatectl's files share: spatectl.c (main, options,
 *              stats, summary, inject) calls spatectl_admin.c (the admin
 *              commands, docs/admin-api.md); both call spatectl_http.c (the
 *              HTTP exchange and the output helpers); spatectl_admin.c
 *              calls spatectl_progress.c (an action's progress line).
 *
 * Exit status of every command: 0 success; 1 the request failed or the
 * daemon refused it (its message on stderr); 2 usage error.
 */
#ifndef SPATE_CMD_SPATECTL_H
#define SPATE_CMD_SPATECTL_H

#include <jansson.h>
#include <stddef.h>

struct ctl_url {
    char host[256];
    char port[8];
    char prefix[512];
};

struct ctl_resp {
    int status;
    char *body; /* NUL-terminated, malloc'd */
    size_t len;
};

/* spatectl_http.c */
extern int ctl_json;        /* --json: print the daemon's JSON as it came */
extern int ctl_timeout;     /* --timeout: seconds for connect, send and receive */
extern char ctl_token[512]; /* --token-file: the bearer token, "" for none */
extern int ctl_progress;    /* --progress: progress lines on stderr even off a terminal */

#define CTL_TICK_MS 500 /* ctl_request_wait: milliseconds between ticks */
typedef void (*ctl_tick_fn)(void *arg);

/* ctl_request - one HTTP exchange; 0 and *r filled, or -1 (reported) */
int ctl_request(const struct ctl_url *u, const char *method, const char *path, const char *body,
                size_t blen, struct ctl_resp *r);
/* ctl_request_wait - ctl_request that, once the request is sent, calls
 * tick(arg) every CTL_TICK_MS until the answer begins to arrive (tick
 * NULL: none; on the calling thread, so a tick delays reading by its own
 * length); gives up after ctl_timeout seconds without an answer */
int ctl_request_wait(const struct ctl_url *u, const char *method, const char *path,
                     const char *body, size_t blen, struct ctl_resp *r, ctl_tick_fn tick,
                     void *arg);
/* ctl_print_raw - the body as received; 0 for a 2xx answer, else 1 */
int ctl_print_raw(const struct ctl_resp *r);
/* ctl_fail - report a non-2xx answer from its JSON error; returns 1 */
int ctl_fail(const char *what, const struct ctl_resp *r, json_t *j);
/* ctl_cell - a scalar JSON value as table text (buf when converted) */
const char *ctl_cell(json_t *v, char *buf, size_t len);
/* ctl_print_table - an array of objects as a table (the first row's keys) */
void ctl_print_table(json_t *rows);

/* ctl_get_json - GET path; the parsed answer on a 200 answer (the caller
 * decrefs it), or NULL: the request failed, the daemon refused it (its
 * error reported as for what), or the answer is not JSON ("spatectl: WHAT:
 * PATH: the answer is not JSON"), each reported on stderr */
json_t *ctl_get_json(const struct ctl_url *u, const char *what, const char *path);
/* ctl_get - GET path; print(json) on 200, the raw answer with --json; exit status */
int ctl_get(const struct ctl_url *u, const char *what, const char *path, void (*print)(json_t *));

/* spatectl_admin.c: run admin command argv[0] (argc words); exit status,
 * or -1 when argv[0] is not an admin command */
int ctl_admin(const struct ctl_url *u, int argc, char **argv);

/* spatectl_progress.c: an action's progress, as GET /api/v1/admin/actions
 * shows it. Pure functions: no I/O. */
struct ctl_prog {
    const char *op;                 /* the action's name: "freeze", ... */
    const char *domain;             /* the selected domain, or NULL (by ids) */
    const char *id0;                /* by ids: the smallest id given (the selector's first) */
    long long id;                   /* the daemon's id of the action once seen, else 0 */
    long visited, queued, affected; /* its last state seen */
    char selector[64];              /* its selector, cut to fit, control characters as '?' */
};
/* ctl_prog_pick - find p's action in answer ({"actions": [...]}): the one
 * with p->id once seen, else the newest whose op is p->op and whose
 * domain is p->domain (by ids: selector "ids=" p->id0 ...); 1 and p
 * updated, or 0 when it is not listed */
int ctl_prog_pick(struct ctl_prog *p, json_t *answer);
/* ctl_prog_line - "OP SELECTOR: V/Q messages visited, A affected, S s"
 * into buf (len bytes, cut to fit) */
void ctl_prog_line(const struct ctl_prog *p, long secs, char *buf, size_t len);

/* spatectl_top.c: "top" (argv[0]) with its options, a live view of the
 * daemon (rates, destinations, errors); exit status */
int ctl_top(const struct ctl_url *u, int argc, char **argv);

#endif
