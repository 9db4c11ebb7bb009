/*
 * spatectl_admin.c - spatectl's admin commands (docs/admin-api.md):
 *
 *   queue [--domain D] [--sender S] [--state ready|scheduled|frozen]
 *         [--older-than 1h]         every page of GET /api/v1/admin/messages,
 *                                   shown like Exim's -bp
 *   show ID                         GET /api/v1/admin/messages/ID
 *   destinations                    GET /api/v1/admin/destinations
 *   suspend DOMAIN [--for 1h] [--reason TEXT] | resume DOMAIN
 *   bounce ID... | bounce --domain D [--reason TEXT]
 *   retry ID... | retry --domain D
 *   freeze, thaw, delete ID... | --domain D
 *   rebind --domain D | ID... --transport T
 *                                       POST /api/v1/admin/ACTION; each
 *                                       action also takes --progress
 *   qshape [--by sender|destination]    age buckets, Postfix qshape style
 *   requeue DIR                         not supported yet (exit 1)
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/spatectl.h"

#define CTL_PAGE 1000 /* messages asked per page */
#define QS_BUCKETS 10 /* qshape: 5 10 20 40 80 160 320 640 1280 1280+ minutes */

/* Options an admin command may take. */
struct adm_opts {
    const char *domain, *sender, *state, *older, *reason, *dur, *transport, *by;
    char **words; /* positional words (ids, a domain, a directory) */
    int nwords;
};

/* take_opts - argv[1..] into o; 0, or -1 for an unknown or incomplete option */
static int
take_opts(int argc, char **argv, struct adm_opts *o)
{
    static const char *const names[] = {"--domain", "--sender", "--state",     "--older-than",
                                        "--reason", "--for",    "--transport", "--by"};
    const char **dst[] = {&o->domain, &o->sender, &o->state,     &o->older,
                          &o->reason, &o->dur,    &o->transport, &o->by};
    int k;

    o->words = argv + 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--progress") == 0) {
            ctl_progress = 1;
            continue;
        }
        if (strncmp(argv[i], "--", 2) != 0) {
            o->words[o->nwords++] = argv[i];
            continue;
        }
        for (k = 0; k < 8 && strcmp(argv[i], names[k]) != 0; k++)
            ;
        if (k == 8 || i + 1 >= argc)
            return -1;
        *dst[k] = argv[++i];
    }
    return 0;
}

/* url_enc - append value percent-encoded to buf */
static void
url_enc(char *buf, size_t len, const char *value)
{
    size_t off = strlen(buf);

    for (const unsigned char *p = (const unsigned char *)value; *p && off + 4 < len; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~@", *p))
            buf[off++] = (char)*p;
        else
            off += (size_t)snprintf(buf + off, len - off, "%%%02X", *p);
    }
    buf[off] = '\0';
}

/* url_add - append "&name=value" (percent-encoded) to buf */
static void
url_add(char *buf, size_t len, const char *name, const char *value)
{
    size_t off = strlen(buf);

    if (value == NULL)
        return;
    snprintf(buf + off, len > off ? len - off : 0, "&%s=", name);
    url_enc(buf, len, value);
}

/* fetch_all - every page of the listing; {"messages": [...]} or NULL */
static json_t *
fetch_all(const struct ctl_url *u, const struct adm_opts *o)
{
    json_t *all = json_array(), *page;
    const char *next = NULL;
    char path[4096], cur[64] = "";

    do {
        snprintf(path, sizeof(path), "/api/v1/admin/messages?limit=%d", CTL_PAGE);
        url_add(path, sizeof(path), "domain", o->domain);
        url_add(path, sizeof(path), "sender", o->sender);
        url_add(path, sizeof(path), "state", o->state);
        url_add(path, sizeof(path), "older_than", o->older);
        url_add(path, sizeof(path), "cursor", cur[0] ? cur : NULL);
        if ((page = ctl_get_json(u, "queue", path)) == NULL) {
            json_decref(all);
            return NULL;
        }
        json_array_extend(all, json_object_get(page, "messages"));
        next = json_string_value(json_object_get(page, "next_cursor"));
        snprintf(cur, sizeof(cur), "%s", next ? next : "");
        json_decref(page);
    } while (cur[0] != '\0');
    return json_pack("{s:o}", "messages", all);
}

/* age_text - seconds as Exim's -bp age: 45s 12m 3h 2d */
static void
age_text(json_int_t s, char *out, size_t len)
{
    if (s < 60)
        snprintf(out, len, "%llds", (long long)s);
    else if (s < 3600)
        snprintf(out, len, "%lldm", (long long)(s / 60));
    else if (s < 2 * 86400)
        snprintf(out, len, "%lldh", (long long)(s / 3600));
    else
        snprintf(out, len, "%lldd", (long long)(s / 86400));
}

/* size_text - bytes as 512 1.2K 3.4M */
static void
size_text(json_int_t n, char *out, size_t len)
{
    if (n < 1024)
        snprintf(out, len, "%lld", (long long)n);
    else if (n < 1024 * 1024)
        snprintf(out, len, "%.1fK", (double)n / 1024);
    else
        snprintf(out, len, "%.1fM", (double)n / (1024 * 1024));
}

/* print_bp - one message as -bp shows it: age, size, id, <sender>, state,
 * then its recipients (D delivered, F failed) */
static void
print_bp(json_t *m)
{
    char age[32], size[32];
    const char *state = json_string_value(json_object_get(m, "state"));
    json_t *rc;
    size_t i;

    age_text(json_integer_value(json_object_get(m, "age_s")), age, sizeof(age));
    size_text(json_integer_value(json_object_get(m, "size")), size, sizeof(size));
    printf("%4s %6s %s <%s>%s\n", age, size, json_string_value(json_object_get(m, "id")),
           json_string_value(json_object_get(m, "sender")),
           state && strcmp(state, "frozen") == 0 ? " *** frozen ***" : "");
    json_array_foreach(json_object_get(m, "recipients"), i, rc)
    {
        const char *st = json_string_value(json_object_get(rc, "state"));
        printf("        %s %s\n",
               st && strcmp(st, "delivered") == 0 ? "D"
               : st && strcmp(st, "failed") == 0  ? "F"
                                                  : " ",
               json_string_value(json_object_get(rc, "address")));
    }
    putchar('\n');
}

/* cmd_queue - the listing, every page */
static int
cmd_queue(const struct ctl_url *u, const struct adm_opts *o)
{
    json_t *all = fetch_all(u, o), *m;
    size_t i;

    if (all == NULL)
        return 1;
    if (ctl_json) {
        char *t = json_dumps(all, JSON_COMPACT);
        printf("%s\n", t ? t : "");
        free(t);
    } else {
        json_array_foreach(json_object_get(all, "messages"), i, m) print_bp(m);
    }
    json_decref(all);
    return 0;
}

/* print_show - one message in full: its fields, then its recipients */
static void
print_show(json_t *m)
{
    const char *k;
    json_t *v;
    char buf[64];
    size_t r;

    json_object_foreach(m, k, v)
    {
        if (!json_is_array(v) && !json_is_object(v))
            printf("%-16s %s\n", k, ctl_cell(v, buf, sizeof(buf)));
    }
    printf("\nrecipients\n");
    json_array_foreach(json_object_get(m, "recipients"), r, v)
    {
        json_t *n = json_object_get(v, "dsn_notify");
        if (json_is_array(n)) { /* a list does not fit a table cell: join it */
            char words[64] = "";
            size_t i;
            json_t *w;
            json_array_foreach(n, i, w)
                snprintf(words + strlen(words), sizeof(words) - strlen(words), "%s%s", i ? "," : "",
                         json_string_value(w));
            json_object_set_new(v, "dsn_notify", json_string(words));
        }
    }
    ctl_print_table(json_object_get(m, "recipients"));
}

/* print_dests - destinations, then suspended domains */
static void
print_dests(json_t *j)
{
    json_t *d;
    size_t i;

    printf("messages: %lld  recipients: %lld\n\n",
           (long long)json_integer_value(json_object_get(j, "messages")),
           (long long)json_integer_value(json_object_get(j, "recipients")));
    json_array_foreach(json_object_get(j, "destinations"), i, d)
        json_object_del(d, "hosts"); /* the key names them */
    ctl_print_table(json_object_get(j, "destinations"));
    if (json_array_size(json_object_get(j, "suspended")) > 0) {
        printf("\nsuspended\n");
        ctl_print_table(json_object_get(j, "suspended"));
    }
}

#define CTL_LATE "the scheduler did not finish in time" /* api/admin.c's 503 */

/* An action's progress while spatectl waits for it. */
struct act_wait {
    const struct ctl_url *u;
    struct ctl_prog p;
    struct timespec t0;
    int show, tty, shown, seen;
};

/* wait_poll - GET /api/v1/admin/actions into w->p; 1 listed, 0 not, -1 no answer */
static int
wait_poll(struct act_wait *w)
{
    struct ctl_resp r = {0};
    json_t *j;
    int listed;

    if (ctl_request(w->u, "GET", "/api/v1/admin/actions", "", 0, &r) < 0)
        return -1;
    j = r.status == 200 ? json_loadb(r.body, r.len, 0, NULL) : NULL;
    listed = j ? ctl_prog_pick(&w->p, j) : -1;
    w->seen |= listed == 1;
    json_decref(j);
    free(r.body);
    return listed;
}

/* wait_show - the progress line on stderr: in place on a terminal, else one a line */
static void
wait_show(struct act_wait *w)
{
    struct timespec now;
    char line[256];

    if (!w->show)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    ctl_prog_line(&w->p, (long)(now.tv_sec - w->t0.tv_sec), line, sizeof(line));
    fprintf(stderr, w->tty ? "\r%s\033[K" : "%s\n", line);
    fflush(stderr);
    w->shown = 1;
}

/* on_tick - ctl_request_wait's tick: show the action's state */
static void
on_tick(void *arg)
{
    struct act_wait *w = arg;

    if (w->show && wait_poll(w) == 1)
        wait_show(w);
}

/* wait_clear - take the progress line away (a terminal's) */
static void
wait_clear(struct act_wait *w)
{
    if (w->shown && w->tty)
        fputs("\r\033[K", stderr);
    w->shown = 0;
}

/* wait_late - the daemon stopped waiting (503): follow the action until it
 * is no longer listed; 0 and its last count on stdout, or 1 when it never
 * was listed (nothing to say) */
static int
wait_late(struct act_wait *w, const char *name)
{
    int listed;
    struct timespec half = {0, CTL_TICK_MS * 1000000L};

    while ((listed = wait_poll(w)) == 1) {
        wait_show(w);
        nanosleep(&half, NULL);
    }
    wait_clear(w);
    if (!w->seen || listed < 0)
        return 1;
    printf("%s: %ld message(s)\n", name, w->p.affected);
    fprintf(stderr,
            "spatectl: %s: the daemon stopped waiting; the count is the last seen "
            "before the action ended\n",
            name);
    return 0;
}

/* is_late - the 503 the daemon gives when an action outlasts its wait */
static int
is_late(const struct ctl_resp *r, json_t *j)
{
    const char *e = json_string_value(json_object_get(j, "error"));

    return r->status == 503 && e != NULL && strncmp(e, CTL_LATE, strlen(CTL_LATE)) == 0;
}

/* wait_init - w for the action name with body's selection */
static void
wait_init(struct act_wait *w, const struct ctl_url *u, const char *name, json_t *body)
{
    json_t *v;
    size_t i;

    memset(w, 0, sizeof(*w));
    w->u = u;
    w->p.op = name;
    w->p.domain = json_string_value(json_object_get(body, "domain"));
    json_array_foreach(json_object_get(body, "ids"), i, v)
    {
        if (w->p.id0 == NULL || strcmp(json_string_value(v), w->p.id0) < 0)
            w->p.id0 = json_string_value(v);
    }
    w->tty = isatty(STDERR_FILENO);
    w->show = ctl_progress || w->tty;
    clock_gettime(CLOCK_MONOTONIC, &w->t0);
}

/* post_report - the answer to POST name: printed; exit status */
static int
post_report(struct act_wait *w, const char *name, const struct ctl_resp *r)
{
    json_t *j = json_loadb(r->body, r->len, 0, NULL);
    int rc;

    if (ctl_json)
        rc = ctl_print_raw(r);
    else if (is_late(r, j) && (rc = wait_late(w, name)) == 0)
        ;
    else if (r->status != 200)
        rc = ctl_fail(name, r, j);
    else
        rc = (printf("%s: %lld message(s)\n", name,
                     (long long)json_integer_value(json_object_get(j, "affected"))),
              0);
    json_decref(j);
    return rc;
}

/* post_action - POST {body} to /api/v1/admin/NAME and report, showing
 * the action's progress while it runs (stderr a terminal, or --progress) */
static int
post_action(const struct ctl_url *u, const char *name, json_t *body)
{
    struct ctl_resp r = {0};
    struct act_wait w;
    char path[128], *text = json_dumps(body, JSON_COMPACT);
    int rc;

    wait_init(&w, u, name, body);
    snprintf(path, sizeof(path), "/api/v1/admin/%s", name);
    if (text == NULL ||
        ctl_request_wait(u, "POST", path, text, strlen(text), &r, on_tick, &w) < 0) {
        wait_clear(&w);
        free(text);
        json_decref(body);
        return 1;
    }
    wait_clear(&w);
    rc = post_report(&w, name, &r);
    free(text);
    free(r.body);
    json_decref(body); /* last: w points into it */
    return rc;
}

/* selector - {"ids": [...]} from the words, or {"domain": D}; NULL when
 * neither or both were given */
static json_t *
selector(const struct adm_opts *o, int ids_ok, int domain_ok)
{
    json_t *b = json_object(), *ids = json_array();

    for (int i = 0; i < o->nwords; i++)
        json_array_append_new(ids, json_string(o->words[i]));
    if ((o->nwords > 0) == (o->domain != NULL) || (o->nwords > 0 && !ids_ok) ||
        (o->domain != NULL && !domain_ok)) {
        json_decref(ids);
        json_decref(b);
        return NULL;
    }
    if (o->nwords > 0)
        json_object_set_new(b, "ids", ids);
    else
        json_decref(ids);
    if (o->domain != NULL)
        json_object_set_new(b, "domain", json_string(o->domain));
    if (o->reason != NULL)
        json_object_set_new(b, "reason", json_string(o->reason));
    return b;
}

/* cmd_action - the actions on messages: bounce retry freeze thaw delete */
static int
cmd_action(const struct ctl_url *u, const char *name, const struct adm_opts *o)
{
    json_t *b;

    if (o->dur || o->transport || o->sender || o->state || o->older || o->by ||
        (o->reason && strcmp(name, "bounce") != 0 && strcmp(name, "delete") != 0))
        return -1;
    if ((b = selector(o, 1, 1)) == NULL)
        return -1;
    return post_action(u, name, b);
}

/* domains_body - {"domain": D} for one word, {"domains": [...]} for several */
static json_t *
domains_body(const struct adm_opts *o)
{
    json_t *list;

    if (o->nwords == 1)
        return json_pack("{s:s}", "domain", o->words[0]);
    list = json_array();
    for (int i = 0; i < o->nwords; i++)
        json_array_append_new(list, json_string(o->words[i]));
    return json_pack("{s:o}", "domains", list);
}

/* cmd_domain - suspend DOMAIN... [--for T] [--reason R] | resume DOMAIN... */
static int
cmd_domain(const struct ctl_url *u, const char *name, const struct adm_opts *o)
{
    int susp = strcmp(name, "suspend") == 0;
    json_t *b;

    if (o->nwords < 1 || o->domain || o->transport || o->sender || o->state || o->older || o->by ||
        (!susp && (o->dur || o->reason)))
        return -1;
    b = domains_body(o);
    if (o->dur != NULL)
        json_object_set_new(b, "duration", json_string(o->dur));
    if (o->reason != NULL)
        json_object_set_new(b, "reason", json_string(o->reason));
    return post_action(u, name, b);
}

/* cmd_rebind - rebind --domain D --transport T | rebind ID... --transport T */
static int
cmd_rebind(const struct ctl_url *u, const struct adm_opts *o)
{
    json_t *b;

    if (o->transport == NULL || o->reason || o->dur || o->sender || o->state || o->older || o->by)
        return -1;
    if ((b = selector(o, 1, 1)) == NULL)
        return -1;
    json_object_set_new(b, "transport", json_string(o->transport));
    return post_action(u, "rebind", b);
}

/* A qshape row: a domain and its counts, total first, then per bucket. */
struct qs_row {
    char name[256];
    long n[QS_BUCKETS + 1];
};

struct qs_table {
    struct qs_row *rows; /* rows[0] is TOTAL */
    size_t nrows;
};

/* qs_bucket - the bucket of an age: < 5 min, < 10, ... < 1280, more */
static int
qs_bucket(json_int_t age_s)
{
    long lim = 5;

    for (int b = 0; b < QS_BUCKETS - 1; b++, lim *= 2)
        if (age_s < lim * 60)
            return b;
    return QS_BUCKETS - 1;
}

/* qs_add - count one under domain (and TOTAL) */
static void
qs_add(struct qs_table *t, const char *domain, int bucket)
{
    size_t i;

    for (i = 1; i < t->nrows && strcmp(t->rows[i].name, domain) != 0; i++)
        ;
    if (i == t->nrows) {
        if ((t->rows = realloc(t->rows, (t->nrows + 1) * sizeof(*t->rows))) == NULL)
            abort();
        memset(&t->rows[i], 0, sizeof(t->rows[i]));
        snprintf(t->rows[i].name, sizeof(t->rows[i].name), "%s", domain);
        t->nrows++;
    }
    for (size_t k = 0; k <= i; k += i ? i : 1) {
        t->rows[k].n[0]++;
        t->rows[k].n[bucket + 1]++;
    }
}

/* domain_of - the part after the last @, "" for none */
static const char *
domain_of(const char *a)
{
    const char *at = a ? strrchr(a, '@') : NULL;

    return at ? at + 1 : "";
}

/* qs_cmp - rows by total, largest first */
static int
qs_cmp(const void *a, const void *b)
{
    long x = ((const struct qs_row *)a)->n[0], y = ((const struct qs_row *)b)->n[0];

    return x < y   ? 1
           : x > y ? -1
                   : strcmp(((const struct qs_row *)a)->name, ((const struct qs_row *)b)->name);
}

/* qs_print - the table, or JSON with --json */
static void
qs_print(struct qs_table *t)
{
    static const char *const head[] = {"T",   "5",   "10",  "20",   "40",   "80",
                                       "160", "320", "640", "1280", "1280+"};

    qsort(t->rows + 1, t->nrows - 1, sizeof(*t->rows), qs_cmp);
    if (ctl_json) {
        json_t *o = json_object();
        for (size_t i = 0; i < t->nrows; i++) {
            json_t *a = json_array();
            for (int b = 0; b <= QS_BUCKETS; b++)
                json_array_append_new(a, json_integer(t->rows[i].n[b]));
            json_object_set_new(o, t->rows[i].name, a);
        }
        char *s = json_dumps(o, JSON_COMPACT);
        printf("%s\n", s ? s : "{}");
        free(s);
        json_decref(o);
        return;
    }
    printf("%30s", "");
    for (int b = 0; b <= QS_BUCKETS; b++)
        printf(" %6s", head[b]);
    putchar('\n');
    for (size_t i = 0; i < t->nrows; i++) {
        printf("%30.30s", t->rows[i].name);
        for (int b = 0; b <= QS_BUCKETS; b++)
            printf(" %6ld", t->rows[i].n[b]);
        putchar('\n');
    }
}

/* cmd_qshape - queue age buckets by recipient domain (pending recipients)
 * or by sender domain (messages) */
static int
cmd_qshape(const struct ctl_url *u, const struct adm_opts *o)
{
    struct qs_table t = {calloc(1, sizeof(struct qs_row)), 1};
    int by_sender = o->by != NULL && strcmp(o->by, "sender") == 0;
    json_t *all, *m, *rc;
    size_t i, k;

    if ((o->by && !by_sender && strcmp(o->by, "destination") != 0) || o->nwords || !t.rows) {
        free(t.rows);
        return -1;
    }
    snprintf(t.rows[0].name, sizeof(t.rows[0].name), "TOTAL");
    struct adm_opts none = {0};
    if ((all = fetch_all(u, &none)) == NULL) {
        free(t.rows);
        return 1;
    }
    json_array_foreach(json_object_get(all, "messages"), i, m)
    {
        int b = qs_bucket(json_integer_value(json_object_get(m, "age_s")));
        if (by_sender)
            qs_add(&t, domain_of(json_string_value(json_object_get(m, "sender"))), b);
        else
            json_array_foreach(
                json_object_get(m, "recipients"), k,
                rc) if (strcmp(json_string_value(json_object_get(rc, "state")), "pending") == 0)
                qs_add(&t, domain_of(json_string_value(json_object_get(rc, "address"))), b);
    }
    qs_print(&t);
    free(t.rows);
    json_decref(all);
    return 0;
}

/* cmd_show - show ID */
static int
cmd_show(const struct ctl_url *u, const struct adm_opts *o)
{
    char path[128];

    if (o->nwords != 1 || o->domain || o->reason || o->dur || o->transport || o->by)
        return -1;
    snprintf(path, sizeof(path), "/api/v1/admin/messages/");
    url_enc(path, sizeof(path), o->words[0]);
    return ctl_get(u, "show", path, print_show);
}

/* ctl_admin - run admin command argv[0]; exit status, or -1 if not one */
int
ctl_admin(const struct ctl_url *u, int argc, char **argv)
{
    const char *c = argv[0];
    struct adm_opts o = {0};
    int rc;

    if (take_opts(argc, argv, &o) < 0)
        return 2;
    if (strcmp(c, "queue") == 0)
        rc = o.nwords || o.reason || o.dur || o.transport || o.by ? -1 : cmd_queue(u, &o);
    else if (strcmp(c, "show") == 0)
        rc = cmd_show(u, &o);
    else if (strcmp(c, "destinations") == 0)
        rc = argc == 1 ? ctl_get(u, "destinations", "/api/v1/admin/destinations", print_dests) : -1;
    else if (strcmp(c, "suspend") == 0 || strcmp(c, "resume") == 0)
        rc = cmd_domain(u, c, &o);
    else if (strcmp(c, "bounce") == 0 || strcmp(c, "retry") == 0 || strcmp(c, "freeze") == 0 ||
             strcmp(c, "thaw") == 0 || strcmp(c, "delete") == 0)
        rc = cmd_action(u, c, &o);
    else if (strcmp(c, "rebind") == 0)
        rc = cmd_rebind(u, &o);
    else if (strcmp(c, "qshape") == 0)
        rc = cmd_qshape(u, &o);
    else if (strcmp(c, "requeue") == 0)
        rc = (fprintf(stderr, "spatectl: %s: not supported yet\n", c), 1);
    else
        return -1;
    return rc == -1 ? 2 : rc;
}
