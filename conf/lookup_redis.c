/*
 * lookup_redis.c - ${lookup redis{COMMAND args}}: the redis_servers list,
 *                  per-thread connection pools, and reply conversion.
 *                  See lookup.h for the syntax and the contract.
 *
 * Configuration: lookup_redis_configure() parses the list into an immutable
 * struct redis_conf and publishes it with an atomic pointer; replaced lists
 * are kept on a retired chain (never freed, they are small and a lookup on
 * another thread may still read one).
 *
 * Connections: each thread has a pool of REDIS_POOL_SLOTS blocking hiredis
 * contexts keyed by the server's identity (host, port, db, password), so a
 * reloaded configuration keeps its connections. Connect and command timeouts
 * bound every call. A server whose connection fails is marked down for
 * REDIS_DOWN_MS (process-wide, an atomic in the shared list) and skipped
 * meanwhile. A pooled connection that turns out to be closed (EOF/reset on
 * its next command) is reconnected once; a timeout is not retried.
 * The pool is freed by a pthread key destructor when the thread exits.
 */
#include <ctype.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "conf/lookup.h"

#define REDIS_POOL_SLOTS 4
#define REDIS_DOWN_MS 1000
#define REDIS_DEFAULT_TIMEOUT_MS 1000
#define REDIS_MAX_ARGS 1024

struct redis_server {
    char *key;   /* pool key: "host\nport\ndb\npassword" */
    char *label; /* "host:port" or the socket path, for messages */
    char *host;  /* NULL for a Unix socket */
    char *path;  /* Unix socket path, or NULL */
    int port;
    int db;
    char *password; /* NULL: none */
    _Atomic uint64_t down_until_ms;
};

struct redis_conf {
    struct redis_server *v;
    size_t n;
    int connect_ms, command_ms;
    struct redis_conf *retired; /* the list this one replaced */
};

static _Atomic(struct redis_conf *) redis_conf;
static pthread_mutex_t redis_conf_lock = PTHREAD_MUTEX_INITIALIZER;

struct pool_slot {
    char *key;
    redisContext *c;
    uint64_t used; /* pool tick at last use, for eviction */
};

struct pool {
    struct pool_slot s[REDIS_POOL_SLOTS];
    uint64_t tick;
};

static pthread_key_t pool_key;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static _Thread_local struct pool *tl_pool;

/* now_ms - monotonic milliseconds */
static uint64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* xstrdup - strdup; out of memory is fatal in the engine */
static char *
xstrdup(const char *s)
{
    char *p = strdup(s);
    if (p == NULL)
        abort();
    return p;
}

/* ---- the server list ---- */

/* server_free - release one parsed server's strings */
static void
server_free(struct redis_server *s)
{
    free(s->key);
    free(s->label);
    free(s->host);
    free(s->path);
    free(s->password);
}

/* parse_port - "6379" to a port; -1 if bad */
static int
parse_port(const char *s, size_t n)
{
    int v = 0;
    if (n == 0 || n > 5)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v >= 1 && v <= 65535 ? v : -1;
}

/* parse_host - "host", "host(port)", "host:port", "[v6]:port", "[v6]" or a bare IPv6 */
static int
parse_host(struct redis_server *s, const char *h, char *err, size_t errlen)
{
    size_t n = strlen(h);
    const char *paren = strchr(h, '('), *colon = strchr(h, ':');

    s->port = 6379;
    if (paren != NULL) {
        if (h[n - 1] != ')' || (s->port = parse_port(paren + 1, h + n - 2 - paren)) < 0)
            goto bad;
        n = paren - h;
    } else if (h[0] == '[') {
        const char *close = strchr(h, ']');
        if (close == NULL || (close[1] != '\0' && close[1] != ':'))
            goto bad;
        if (close[1] == ':' && (s->port = parse_port(close + 2, strlen(close + 2))) < 0)
            goto bad;
        h++;
        n = close - h;
    } else if (colon != NULL && strchr(colon + 1, ':') == NULL) {
        if ((s->port = parse_port(colon + 1, strlen(colon + 1))) < 0)
            goto bad;
        n = colon - h;
    }
    if (n == 0)
        goto bad;
    s->host = xstrdup(h);
    s->host[n] = '\0';
    return 0;
bad:
    snprintf(err, errlen, "redis_servers: bad host \"%s\"", h);
    return -1;
}

/* split_right - cut the last '/'-field off item; the field, or NULL if no '/' */
static char *
split_right(char *item)
{
    char *slash = strrchr(item, '/');
    if (slash == NULL)
        return NULL;
    *slash = '\0';
    return slash + 1;
}

/* parse_server - one "host/db/password" item (item is modified) */
static int
parse_server(char *item, struct redis_server *s, char *err, size_t errlen)
{
    char *db = NULL, *pw = NULL, *hostpart = item, *slash;
    char key[1024];

    memset(s, 0, sizeof *s);
    if (item[0] == '/') {
        pw = split_right(item);
        db = pw != NULL ? split_right(item) : NULL;
        if (db == NULL || item[0] == '\0') {
            snprintf(err, errlen,
                     "redis_servers: write a socket as path/db/password, e.g. /run/redis.sock//");
            return -1;
        }
        s->path = xstrdup(item);
    } else {
        slash = strchr(item, '/');
        if (slash != NULL) {
            *slash = '\0';
            db = slash + 1;
            slash = strchr(db, '/');
            if (slash != NULL) {
                *slash = '\0';
                pw = slash + 1;
            }
        }
        if (parse_host(s, hostpart, err, errlen) != 0)
            return -1;
    }
    if (db != NULL && *db != '\0') {
        char *end;
        long v = strtol(db, &end, 10);
        if (!isdigit((unsigned char)*db) || *end != '\0' || v > 100000) {
            snprintf(err, errlen, "redis_servers: bad database number \"%s\"", db);
            server_free(s);
            return -1;
        }
        s->db = (int)v;
    }
    if (pw != NULL && *pw != '\0')
        s->password = xstrdup(pw);
    if (s->path != NULL)
        snprintf(key, sizeof key, "%s", s->path);
    else
        snprintf(key, sizeof key, s->host[0] != '\0' && strchr(s->host, ':') ? "[%s]:%d" : "%s:%d",
                 s->host, s->port);
    s->label = xstrdup(key);
    snprintf(key, sizeof key, "%s\n%d\n%s", s->label, s->db, s->password ? s->password : "");
    s->key = xstrdup(key);
    return 0;
}

/* next_item - the next Exim list item (sep doubled = literal), trimmed; NULL at end */
static char *
next_item(const char **pp, char sep)
{
    const char *p = *pp;
    size_t n = 0, cap = strlen(p) + 1;
    char *out;

    while (isspace((unsigned char)*p))
        p++;
    if (*p == '\0')
        return NULL;
    out = malloc(cap);
    if (out == NULL)
        abort();
    for (; *p != '\0'; p++) {
        if (*p == sep) {
            if (p[1] != sep)
                break;
            p++;
        }
        out[n++] = *p;
    }
    if (*p == sep)
        p++;
    while (n > 0 && isspace((unsigned char)out[n - 1]))
        n--;
    out[n] = '\0';
    *pp = p;
    return out;
}

/* conf_free - release a list that was never published */
static void
conf_free(struct redis_conf *c)
{
    for (size_t i = 0; i < c->n; i++)
        server_free(&c->v[i]);
    free(c->v);
    free(c);
}

/* parse_list - the whole option into c */
static int
parse_list(const char *list, struct redis_conf *c, char *err, size_t errlen)
{
    const char *p = list;
    char sep = ':', *item;

    while (isspace((unsigned char)*p))
        p++;
    if (p[0] == '<' && p[1] != '\0' && !isspace((unsigned char)p[1])) {
        sep = p[1];
        p += 2;
    }
    while ((item = next_item(&p, sep)) != NULL) {
        if (item[0] != '\0') {
            struct redis_server *v = realloc(c->v, (c->n + 1) * sizeof *v);
            if (v == NULL)
                abort();
            c->v = v;
            if (parse_server(item, &c->v[c->n], err, errlen) != 0) {
                free(item);
                return -1;
            }
            c->n++;
        }
        free(item);
    }
    return 0;
}

/* lookup_redis_configure - parse and publish redis_servers */
int
lookup_redis_configure(const char *servers, int connect_timeout_ms, int command_timeout_ms,
                       char *err, size_t errlen)
{
    struct redis_conf *c = calloc(1, sizeof *c);

    if (c == NULL)
        abort();
    c->connect_ms = connect_timeout_ms > 0 ? connect_timeout_ms : REDIS_DEFAULT_TIMEOUT_MS;
    c->command_ms = command_timeout_ms > 0 ? command_timeout_ms : REDIS_DEFAULT_TIMEOUT_MS;
    if (servers != NULL && parse_list(servers, c, err, errlen) != 0) {
        conf_free(c);
        return -1;
    }
    pthread_mutex_lock(&redis_conf_lock);
    c->retired = atomic_load(&redis_conf);
    atomic_store(&redis_conf, c);
    pthread_mutex_unlock(&redis_conf_lock);
    return 0;
}

/* ---- the per-thread pool ---- */

/* pool_destroy - close a pool's connections and free it */
static void
pool_destroy(void *arg)
{
    struct pool *p = arg;

    if (p == NULL)
        return;
    for (int i = 0; i < REDIS_POOL_SLOTS; i++) {
        if (p->s[i].c != NULL)
            redisFree(p->s[i].c);
        free(p->s[i].key);
    }
    free(p);
}

/* pool_key_make - create the key whose destructor closes a thread's pool */
static void
pool_key_make(void)
{
    pthread_key_create(&pool_key, pool_destroy);
}

/* pool_slot_for - this thread's slot for a server, evicting the least recently used */
static struct pool_slot *
pool_slot_for(const struct redis_server *srv)
{
    struct pool *p = tl_pool;
    struct pool_slot *victim;

    if (p == NULL) {
        pthread_once(&pool_once, pool_key_make);
        p = tl_pool = calloc(1, sizeof *p);
        if (p == NULL)
            abort();
        pthread_setspecific(pool_key, p);
    }
    p->tick++;
    victim = &p->s[0];
    for (int i = 0; i < REDIS_POOL_SLOTS; i++) {
        struct pool_slot *s = &p->s[i];
        if (s->key != NULL && strcmp(s->key, srv->key) == 0) {
            s->used = p->tick;
            return s;
        }
        if (s->key == NULL || s->used < victim->used)
            victim = s;
    }
    if (victim->c != NULL)
        redisFree(victim->c);
    free(victim->key);
    victim->c = NULL;
    victim->key = xstrdup(srv->key);
    victim->used = p->tick;
    return victim;
}

/* lookup__redis_thread_done - close this thread's connections now */
void
lookup__redis_thread_done(void)
{
    if (tl_pool == NULL)
        return;
    pthread_setspecific(pool_key, NULL);
    pool_destroy(tl_pool);
    tl_pool = NULL;
}

/* ---- talking to a server ---- */

/* tv_ms - milliseconds as a struct timeval */
static struct timeval
tv_ms(int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

/* setup_cmd - run AUTH / SELECT on a new connection; 0 or -1 with err */
static int
setup_cmd(redisContext *c, const struct redis_server *srv, const char *what, const char *arg,
          char *err, size_t errlen)
{
    const char *argv[2] = {what, arg};
    redisReply *r = redisCommandArgv(c, 2, argv, NULL);
    int ok = r != NULL && r->type != REDIS_REPLY_ERROR;

    if (!ok)
        snprintf(err, errlen, "%s: %s failed: %s", srv->label, what,
                 r != NULL ? r->str : c->errstr);
    if (r != NULL)
        freeReplyObject(r);
    return ok ? 0 : -1;
}

/* server_connect - a new connection, authenticated and on the right db; NULL with err */
static redisContext *
server_connect(const struct redis_server *srv, const struct redis_conf *conf, char *err,
               size_t errlen)
{
    redisContext *c;
    char db[16];

    if (srv->path != NULL)
        c = redisConnectUnixWithTimeout(srv->path, tv_ms(conf->connect_ms));
    else
        c = redisConnectWithTimeout(srv->host, srv->port, tv_ms(conf->connect_ms));
    if (c == NULL)
        abort();
    if (c->err != 0) {
        snprintf(err, errlen, "%s: %s", srv->label, c->errstr);
        goto bad;
    }
    if (redisSetTimeout(c, tv_ms(conf->command_ms)) != REDIS_OK) {
        snprintf(err, errlen, "%s: cannot set the command timeout", srv->label);
        goto bad;
    }
    if (srv->password != NULL && setup_cmd(c, srv, "AUTH", srv->password, err, errlen) != 0)
        goto bad;
    snprintf(db, sizeof db, "%d", srv->db);
    if (srv->db != 0 && setup_cmd(c, srv, "SELECT", db, err, errlen) != 0)
        goto bad;
    return c;
bad:
    redisFree(c);
    return NULL;
}

/* A growable text buffer for replies. */
struct rbuf {
    char *s;
    size_t len, cap;
};

/* rb_add - append n bytes */
static void
rb_add(struct rbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->s = realloc(b->s, cap);
        if (b->s == NULL)
            abort();
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

/* reply_append - a reply (or array element) as text; nil appends nothing */
static void
reply_append(const redisReply *r, struct rbuf *b)
{
    char num[32];

    switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        rb_add(b, r->str, r->len);
        break;
    case REDIS_REPLY_INTEGER:
        rb_add(b, num, (size_t)snprintf(num, sizeof num, "%lld", r->integer));
        break;
    case REDIS_REPLY_ARRAY:
        for (size_t i = 0; i < r->elements; i++) {
            if (i > 0)
                rb_add(b, "\n", 1);
            reply_append(r->element[i], b);
        }
        break;
    default:
        break;
    }
}

/* Outcome of one attempt on one server. */
enum attempt { A_DONE, A_NEXT, A_DOWN };

/* convert_reply - the lookup result of a reply */
static enum attempt
convert_reply(const struct redis_server *srv, redisReply *r, enum lookup_rc *rc, char **result,
              char *err, size_t errlen)
{
    struct rbuf b = {0};

    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "%s: %s", srv->label, r->str);
        return A_NEXT; /* e.g. READONLY, LOADING: another server may do */
    }
    if (r->type == REDIS_REPLY_NIL) {
        *rc = LOOKUP_NOTFOUND;
        return A_DONE;
    }
    rb_add(&b, "", 0);
    reply_append(r, &b);
    *result = b.s;
    *rc = LOOKUP_OK;
    return A_DONE;
}

/* try_server - run the command on one server, reconnecting a stale pooled connection once */
static enum attempt
try_server(const struct redis_server *srv, const struct redis_conf *conf, int argc,
           const char **argv, const size_t *lens, enum lookup_rc *rc, char **result, char *err,
           size_t errlen)
{
    struct pool_slot *slot = pool_slot_for(srv);
    redisReply *r;
    enum attempt a;

    for (int attempt = 0; attempt < 2; attempt++) {
        int pooled = slot->c != NULL;
        if (!pooled && (slot->c = server_connect(srv, conf, err, errlen)) == NULL)
            return A_DOWN;
        r = redisCommandArgv(slot->c, argc, argv, lens);
        if (r != NULL) {
            a = convert_reply(srv, r, rc, result, err, errlen);
            freeReplyObject(r);
            return a;
        }
        int timed_out = slot->c->err == REDIS_ERR_IO &&
                        (errno == EAGAIN || errno == EWOULDBLOCK ||
                         strstr(slot->c->errstr, "temporarily unavailable") != NULL);
        snprintf(err, errlen, "%s: %s", srv->label,
                 timed_out ? "command timed out" : slot->c->errstr);
        redisFree(slot->c);
        slot->c = NULL;
        if (!pooled || timed_out)
            break;
    }
    return A_DOWN;
}

/* split_args - the query split at white space; '\' protects the next character.
 * The arguments point into *buf. Their number, or -1 if there are too many. */
static int
split_args(const char *q, char **buf, char ***argv, size_t **lens)
{
    size_t n = 0, qlen = strlen(q);
    char *o = *buf = malloc(qlen + 1);
    char **v = malloc(sizeof *v * REDIS_MAX_ARGS);
    size_t *l = malloc(sizeof *l * REDIS_MAX_ARGS);

    if (*buf == NULL || v == NULL || l == NULL)
        abort();
    while (isspace((unsigned char)*q))
        q++;
    while (*q != '\0' && n < REDIS_MAX_ARGS) {
        v[n] = o;
        for (; *q != '\0' && !isspace((unsigned char)*q); q++) {
            if (*q == '\\' && q[1] != '\0')
                q++;
            *o++ = *q;
        }
        l[n] = o - v[n];
        *o++ = '\0';
        n++;
        while (isspace((unsigned char)*q))
            q++;
    }
    *argv = v;
    *lens = l;
    return *q != '\0' ? -1 : (int)n;
}

/* lookup__redis_query - the Redis lookup */
enum lookup_rc
lookup__redis_query(const char *query, char **result, char *err, size_t errlen)
{
    struct redis_conf *conf = atomic_load(&redis_conf);
    enum lookup_rc rc = LOOKUP_DEFER;
    char **argv, *buf;
    size_t *lens;
    int argc, done = 0;

    if (conf == NULL || conf->n == 0) {
        snprintf(err, errlen, "no Redis servers defined (redis_servers option)");
        return LOOKUP_DEFER;
    }
    argc = split_args(query, &buf, &argv, &lens);
    if (argc <= 0) {
        snprintf(err, errlen, argc == 0 ? "empty Redis command" : "more than %d arguments",
                 REDIS_MAX_ARGS);
        rc = LOOKUP_ERROR;
        goto out;
    }
    for (size_t i = 0; i < conf->n && !done; i++) {
        struct redis_server *srv = &conf->v[i];
        uint64_t now = now_ms();
        if (atomic_load(&srv->down_until_ms) > now) {
            if (err[0] == '\0')
                snprintf(err, errlen, "%s: marked down after a recent failure", srv->label);
            continue;
        }
        switch (try_server(srv, conf, argc, (const char **)argv, lens, &rc, result, err, errlen)) {
        case A_DONE:
            done = 1;
            break;
        case A_DOWN:
            atomic_store(&srv->down_until_ms, now_ms() + REDIS_DOWN_MS);
            break;
        case A_NEXT:
            break;
        }
    }
    if (!done)
        rc = LOOKUP_DEFER;
out:
    free(buf);
    free(argv);
    free(lens);
    return rc;
}

/* ---- commands for other modules (conf/ratelimit_redis.c) ---- */

/* lookup_redis_command - run one command, given as arguments, on the first
 * server of redis_servers that answers */
enum lookup_rc
lookup_redis_command(int argc, const char **argv, const size_t *lens, char **result, char *err,
                     size_t errlen)
{
    struct redis_conf *conf = atomic_load(&redis_conf);
    enum lookup_rc rc = LOOKUP_DEFER;

    *result = NULL;
    if (conf == NULL || conf->n == 0) {
        snprintf(err, errlen, "no Redis servers defined (redis_servers option)");
        return LOOKUP_DEFER;
    }
    for (size_t i = 0; i < conf->n; i++) {
        struct redis_server *srv = &conf->v[i];
        if (atomic_load(&srv->down_until_ms) > now_ms()) {
            snprintf(err, errlen, "%s: marked down after a recent failure", srv->label);
            continue;
        }
        switch (try_server(srv, conf, argc, argv, lens, &rc, result, err, errlen)) {
        case A_DONE:
            return rc;
        case A_DOWN:
            atomic_store(&srv->down_until_ms, now_ms() + REDIS_DOWN_MS);
            break;
        case A_NEXT:
            break;
        }
    }
    return LOOKUP_DEFER;
}
