/*
 * spatectl.h - what spatectl's files share: spatectl.c (main, options,
 *              stats, summary, inject) calls spatectl_admin.c (the admin
 *              commands, docs/admin-api.md); both call spatectl_http.c (the
 *              HTTP exchange and the output helpers).
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

/* ctl_request - one HTTP exchange; 0 and *r filled, or -1 (reported) */
int ctl_request(const struct ctl_url *u, const char *method, const char *path, const char *body,
                size_t blen, struct ctl_resp *r);
/* ctl_print_raw - the body as received; 0 for a 2xx answer, else 1 */
int ctl_print_raw(const struct ctl_resp *r);
/* ctl_fail - report a non-2xx answer from its JSON error; returns 1 */
int ctl_fail(const char *what, const struct ctl_resp *r, json_t *j);
/* ctl_cell - a scalar JSON value as table text (buf when converted) */
const char *ctl_cell(json_t *v, char *buf, size_t len);
/* ctl_print_table - an array of objects as a table (the first row's keys) */
void ctl_print_table(json_t *rows);

/* ctl_get - GET path; print(json) on 200, the raw answer with --json; exit status */
int ctl_get(const struct ctl_url *u, const char *what, const char *path, void (*print)(json_t *));

/* spatectl_admin.c: run admin command argv[0] (argc words); exit status,
 * or -1 when argv[0] is not an admin command */
int ctl_admin(const struct ctl_url *u, int argc, char **argv);

/* spatectl_top.c: "top" (argv[0]) with its options, a live view of the
 * daemon (rates, destinations, errors); exit status */
int ctl_top(const struct ctl_url *u, int argc, char **argv);

#endif
